//! `mmops rotate` end to end.
