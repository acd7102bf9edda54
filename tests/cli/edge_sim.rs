//! `mmops edge-sim` end to end.
