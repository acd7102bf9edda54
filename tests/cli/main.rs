//! End-to-end tests: the real `mmops` binary in temporary folders, one module per subcommand.

// Tests build fixtures with std::fs and time their runs; clippy.toml's rules are for mmops.
#![allow(clippy::disallowed_methods)]

mod moto;
mod prom_tools;
mod support;

mod bundle;
mod cron_sentinel;
mod docs;
mod edge_sim;
mod global;
mod make_ready;
mod metrics;
mod object_storage;
mod rotate;
