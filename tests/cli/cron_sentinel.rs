//! `mmops cron-sentinel` end to end.
