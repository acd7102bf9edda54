//! What every subcommand receives besides its own arguments: the printer and "now".

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};

use crate::cli::GlobalArgs;
use crate::clock;
use crate::output::Printer;

/// Global options resolved once, before any subcommand runs.
#[derive(Debug, Clone)]
pub struct Context {
    pub printer: Printer,
    /// The instant this run treats as "now" (`CI_FAKE_UTC` or the clock), read once so every
    /// part of a run agrees on it.
    pub now: DateTime<Utc>,
}

impl Context {
    /// Applies `-C`, reads the clock and decides output style. Fails (exit 2) on a bad `-C` or
    /// `CI_FAKE_UTC`.
    pub fn from_global(global: &GlobalArgs, printer: Printer) -> Result<Context> {
        if let Some(dir) = &global.chdir {
            std::env::set_current_dir(dir)
                .with_context(|| format!("cannot change to directory {} (-C)", dir.display()))?;
        }
        catch_file_size_signal()?;
        let now = clock::now()?;
        Ok(Context { printer, now })
    }
}

/// Past a file-size limit (`ulimit -f`, RLIMIT_FSIZE) the kernel sends SIGXFSZ, whose default
/// action kills the process mid-write with no message. With a handler installed the write
/// fails with EFBIG instead, so the run reports "File too large", removes its temp file and
/// exits non-zero like any other write error.
fn catch_file_size_signal() -> Result<()> {
    let exceeded = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGXFSZ, exceeded)
        .context("cannot install the SIGXFSZ handler")?;
    Ok(())
}
