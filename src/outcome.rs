//! How a run ends: the closed set of exit codes and the errors that map to them.
//!
//! Subcommands never pick a number: they return a [`Verdict`] (through their report's marker) or an
//! error. An error is exit 2 ("could not run, nothing changed") unless it is a [`CheckFailed`] or a
//! [`Partial`] (exit 1) or an [`Interrupted`] (exit 130).

use std::fmt;
use std::process::ExitCode;

/// Every exit code mmops uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The check passed / the job was done.
    Success,
    /// The check failed: stale task, not ready, bundle mismatch, some deletions failed.
    CheckFailed,
    /// Could not run: bad flag, bad config, unreadable input. Nothing was changed on disk.
    Usage,
    /// SIGINT or SIGTERM stopped the run at a safe point; the report says what was done.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::CheckFailed => 1,
            Exit::Usage => 2,
            Exit::Interrupted => 130,
        }
    }

    /// The exit code for an error that ended the run.
    pub fn for_error(error: &anyhow::Error) -> Exit {
        if carries::<Interrupted>(error) {
            Exit::Interrupted
        } else if carries::<CheckFailed>(error) || carries::<Partial>(error) {
            Exit::CheckFailed
        } else {
            Exit::Usage
        }
    }
}

/// Whether `error` carries a `T` anywhere: as its root or a source in its chain, or attached as
/// anyhow context (`error.context(Partial(…))`), which the chain shows only as a wrapper.
fn carries<T: std::error::Error + Send + Sync + 'static>(error: &anyhow::Error) -> bool {
    error.downcast_ref::<T>().is_some() || error.chain().any(|cause| cause.downcast_ref::<T>().is_some())
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// Whether a subcommand's check passed; decides the marker's OK/FAIL and exit 0/1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// Stopped by SIGINT/SIGTERM: marked `FAIL` (with the value `INTERRUPTED`), exit 130.
    Interrupted,
}

impl Verdict {
    pub fn from_passed(passed: bool) -> Verdict {
        if passed { Verdict::Pass } else { Verdict::Fail }
    }

    pub fn passed(self) -> bool {
        self == Verdict::Pass
    }

    /// `OK` or `FAIL`, as in marker rows and the JSON `status` field.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "OK",
            Verdict::Fail | Verdict::Interrupted => "FAIL",
        }
    }

    pub fn exit(self) -> Exit {
        match self {
            Verdict::Pass => Exit::Success,
            Verdict::Fail => Exit::CheckFailed,
            Verdict::Interrupted => Exit::Interrupted,
        }
    }
}

/// An error that means "the check failed" (exit 1) rather than "could not run" (exit 2), for the
/// few failures found before a report exists: a lock held by another run, a release that would be
/// overwritten. Wrap it with `anyhow::Error::new(CheckFailed(message))`.
#[derive(Debug)]
pub struct CheckFailed(pub String);

impl fmt::Display for CheckFailed {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for CheckFailed {}

/// An error at a place in a file: `file:line:column: message`. Parsers return it so that
/// `--format json` errors can carry the location as fields.
#[derive(Debug)]
pub struct Located {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
    }
}

impl std::error::Error for Located {}

/// A failure after something irreversible was done (files deleted, a final name committed): exit
/// 1, never 2, because exit 2 promises that nothing changed. The message says what was done.
#[derive(Debug)]
pub struct Partial(pub String);

impl fmt::Display for Partial {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for Partial {}

/// An error whose report is already on stdout (a dry run whose real run would be refused):
/// exit 2 as any error, the message on stderr, but no JSON error document after the report, so
/// stdout stays one document.
#[derive(Debug)]
pub struct Reported(pub String);

impl fmt::Display for Reported {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for Reported {}

/// SIGINT/SIGTERM ended the run before it had a report (exit 130). Runs with a report use
/// [`Verdict::Interrupted`] instead.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl fmt::Display for Interrupted {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn exit_codes_are_fixed() {
        assert_eq!(Exit::Success.code(), 0);
        assert_eq!(Exit::CheckFailed.code(), 1);
        assert_eq!(Exit::Usage.code(), 2);
        assert_eq!(Exit::Interrupted.code(), 130);
        assert_eq!(Verdict::Interrupted.exit(), Exit::Interrupted);
        assert_eq!(Verdict::Interrupted.label(), "FAIL");
        assert_eq!(Verdict::Pass.exit(), Exit::Success);
        assert_eq!(Verdict::Fail.exit(), Exit::CheckFailed);
    }

    #[test]
    fn errors_are_usage_unless_a_check_failed() {
        let plain = anyhow::anyhow!("bad config");
        assert_eq!(Exit::for_error(&plain), Exit::Usage);
        let failed: anyhow::Result<()> = Err(anyhow::Error::new(CheckFailed("lock held".into())));
        let wrapped = failed.context("cannot rotate").unwrap_err();
        assert_eq!(Exit::for_error(&wrapped), Exit::CheckFailed);
        let partial = anyhow::Error::new(Partial("deleted 3 files, then the report failed".into()));
        assert_eq!(Exit::for_error(&partial.context("cannot write")), Exit::CheckFailed);
        let interrupted = anyhow::Error::new(Interrupted("stopped".into()));
        assert_eq!(Exit::for_error(&interrupted), Exit::Interrupted);
    }

    /// Regression: `PromFile::commit_after` attaches `Partial` as anyhow *context*; the chain then
    /// holds a context wrapper, not a `Partial`, and the run ended exit 2 after the zip was placed.
    #[test]
    fn markers_attached_as_context_count_too() {
        let root = anyhow::anyhow!("No space left on device (os error 28)");
        let partial = root.context(Partial("placed the zip, but the Prometheus file was not updated".into()));
        assert_eq!(Exit::for_error(&partial), Exit::CheckFailed);
        assert_eq!(Exit::for_error(&partial.context("outer context")), Exit::CheckFailed);
        let failed = anyhow::anyhow!("held").context(CheckFailed("lock held".into()));
        assert_eq!(Exit::for_error(&failed), Exit::CheckFailed);
        let interrupted = anyhow::anyhow!("signal").context(Interrupted("stopped".into())).context("x");
        assert_eq!(Exit::for_error(&interrupted), Exit::Interrupted);
    }
}
