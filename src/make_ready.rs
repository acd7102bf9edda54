//! `mmops make-ready` (being built; see its issue).

use anyhow::{Result, bail};

use crate::cli::MakeReadyArgs;
use crate::context::Context;
use crate::outcome::Verdict;

pub fn run(_args: &MakeReadyArgs, _context: &Context) -> Result<Verdict> {
    bail!("mmops make-ready is not built yet")
}
