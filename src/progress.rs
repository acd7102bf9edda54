//! Progress bars on stderr, only when a person is watching: never in cron, CI or `--quiet` runs.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::Printer;

/// A progress bar that draws only on a terminal; elsewhere every call is a no-op.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar counting items (`deleting 1,234/5,000 files`), shown when `total >= threshold`.
    pub fn items(printer: &Printer, total: u64, threshold: u64, message: &str) -> Progress {
        Progress::new(printer, total, threshold, message, "{msg} [{bar:30}] {human_pos}/{human_len} ({eta})")
    }

    /// A bar counting bytes, shown when `total >= threshold` bytes.
    pub fn bytes(printer: &Printer, total: u64, threshold: u64, message: &str) -> Progress {
        Progress::new(
            printer,
            total,
            threshold,
            message,
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
    }

    fn new(printer: &Printer, total: u64, threshold: u64, message: &str, template: &str) -> Progress {
        if !printer.shows_progress() || total < threshold {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.to_string());
        Progress { bar: Some(bar) }
    }

    pub fn advance(&self, amount: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(amount);
        }
    }

    /// Removes the bar so the report that follows starts on a clean line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
