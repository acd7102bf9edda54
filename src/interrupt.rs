//! The one interrupt path: SIGINT and SIGTERM during a run's irreversible phase.
//!
//! Until a [`Watch`] starts, the signals keep their default action: a run that has changed
//! nothing yet simply dies, which changes nothing. From then on until the process exits, the first
//! signal only sets a flag; the subcommand stops at its next safe point (between two files, after
//! killing its steps), reports what it did, and ends with the marker value `INTERRUPTED` and exit
//! 130 ([`crate::outcome::Verdict::Interrupted`]). A second signal kills at once, as the operator
//! pressing Ctrl-C twice expects.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result};
use signal_hook::consts::{SIGINT, SIGTERM};

/// SIGINT/SIGTERM caught from [`Watch::start`] until the process exits (signal-hook cannot hand
/// the default action back, and a run's irreversible phase lasts until its report anyway).
#[derive(Debug)]
pub struct Watch {
    flag: Arc<AtomicBool>,
}

impl Watch {
    /// Starts catching SIGINT and SIGTERM.
    pub fn start() -> Result<Watch> {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            // Registered first, so it sees the flag as it was before this signal: set only by an
            // earlier one.
            signal_hook::flag::register_conditional_default(signal, Arc::clone(&flag))
                .context("cannot install the SIGINT/SIGTERM handler")?;
            signal_hook::flag::register(signal, Arc::clone(&flag))
                .context("cannot install the SIGINT/SIGTERM handler")?;
        }
        Ok(Watch { flag })
    }

    /// Whether SIGINT or SIGTERM arrived since [`Watch::start`].
    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The flag itself, for worker threads and child-process loops.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_sets_the_flag_instead_of_killing() {
        let watch = Watch::start().unwrap();
        assert!(!watch.requested());
        rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::TERM).unwrap();
        // Delivery to this process is synchronous for a self-directed signal, but allow a moment.
        for _ in 0..100 {
            if watch.requested() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(watch.requested());
    }
}
