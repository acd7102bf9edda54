//! `mmops cron-sentinel` (being built; see its issue).

use anyhow::{Result, bail};

use crate::cli::CronSentinelArgs;
use crate::context::Context;
use crate::outcome::Verdict;

pub fn run(_args: &CronSentinelArgs, _context: &Context) -> Result<Verdict> {
    bail!("mmops cron-sentinel is not built yet")
}
