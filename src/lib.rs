//! mmops: the operations toolkit for the mm-bot market maker.
//!
//! One module per subcommand (`cron_sentinel` ↔ `mmops cron-sentinel`), plus a shared layer every
//! subcommand uses: [`outcome`] (exit codes), [`output`] (marker rows, text vs JSON), [`clock`]
//! ("now"), [`config_file`], [`units`] (durations and sizes), [`atomic_write`], [`prometheus`].
//! See ARCHITECTURE.md for the map.

// Unit tests build fixtures with std::fs and time themselves; the library itself is checked by
// the plain (non-test) build, where clippy.toml's disallowed methods apply everywhere.
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod atomic_write;
pub mod cli;
pub mod clock;
pub mod config_file;
pub mod context;
#[doc(hidden)]
pub mod fuzzing;
pub mod interrupt;
pub mod limits;
pub mod object_storage;
pub mod outcome;
pub mod output;
pub mod progress;
pub mod prometheus;
pub mod readiness_doc;
pub mod sanitize;
pub mod stats;
#[cfg(test)]
mod test_tools;
pub mod units;
pub mod zip_time;

pub mod bundle;
pub mod completions;
pub mod cron_sentinel;
pub mod edge_sim;
pub mod make_ready;
pub mod man;
pub mod rotate;
