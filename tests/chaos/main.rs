//! Chaos suite: every writer in mmops is killed with SIGKILL at random moments, and the files
//! under final names are checked afterwards. One module per writer; `harness.rs` holds the
//! seeded randomness and the kill loop. Set `MMOPS_CHAOS_SEED` to replay a failing run.

// Trial counts go to stderr (`--nocapture` shows them) for the chaos report.
#![allow(clippy::print_stderr)]
// Tests build fixtures with std::fs and time their runs; clippy.toml's rules are for mmops.
#![allow(clippy::disallowed_methods)]

mod harness;
// The CLI fixture's tool checks (`tool_available`, `mount_namespace_available`), shared so both
// test binaries follow one rule for missing tools.
#[path = "../cli/support.rs"]
mod support;
// promtool and node_exporter, shared with the CLI metrics tests.
#[path = "../cli/prom_tools.rs"]
mod prom_tools;

mod bundle;
mod cron_sentinel;
mod edge_sim;
mod limits;
mod make_ready;
mod metrics;
mod rotate;
mod rotate_roots;
mod tricky_trees;
