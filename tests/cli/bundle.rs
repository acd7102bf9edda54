//! `mmops bundle` end to end.
