//! `mmops bundle` (being built; see its issue).

use anyhow::{Result, bail};

use crate::cli::BundleArgs;
use crate::context::Context;
use crate::outcome::Verdict;

pub fn run(_args: &BundleArgs, _context: &Context) -> Result<Verdict> {
    bail!("mmops bundle is not built yet")
}
