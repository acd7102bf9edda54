//! `mmops edge-sim` (being built; see its issue).

use anyhow::{Result, bail};

use crate::cli::EdgeSimArgs;
use crate::context::Context;
use crate::outcome::Verdict;

pub fn run(_args: &EdgeSimArgs, _context: &Context) -> Result<Verdict> {
    bail!("mmops edge-sim is not built yet")
}
