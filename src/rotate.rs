//! `mmops rotate` (being built; see its issue).

use anyhow::{Result, bail};

use crate::cli::RotateArgs;
use crate::context::Context;
use crate::outcome::Verdict;

pub fn run(_args: &RotateArgs, _context: &Context) -> Result<Verdict> {
    bail!("mmops rotate is not built yet")
}
