//! End-to-end tests: the real `mmops` binary in temporary folders, one module per subcommand.

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
