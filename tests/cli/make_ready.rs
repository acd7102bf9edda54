//! `mmops make-ready` end to end.
