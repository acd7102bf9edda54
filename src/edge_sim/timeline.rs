//! `--timeline FILE.csv`: one row per window, streamed to a temporary file and put in place
//! atomically at the end, so a failed run leaves no half-written timeline.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context as _, Result};

use super::rules::Rules;
use super::simulate::WindowOutcome;
use crate::atomic_write::AtomicFile;
use crate::clock::format_micros;
use crate::sanitize::display_path;

pub(crate) const HEADER: &str = "ts,ema1h,ema24h,profile,streak,recovery_streak,changed";

pub(crate) struct TimelineWriter {
    out: BufWriter<AtomicFile>,
    name: String,
    with_rule: bool,
}

impl TimelineWriter {
    pub(crate) fn create(path: &Path, rules: &Rules) -> Result<TimelineWriter> {
        let name = display_path(path);
        let file = AtomicFile::create(path).with_context(|| format!("cannot create the timeline {name}"))?;
        let with_rule = rules.extended();
        let mut writer = TimelineWriter { out: BufWriter::with_capacity(256 * 1024, file), name, with_rule };
        // The `rule` column only with an anti-flap rule: default timelines keep their bytes.
        writeln!(writer.out, "{HEADER}{}", if with_rule { ",rule" } else { "" })
            .with_context(|| format!("cannot write the timeline {}", writer.name))?;
        Ok(writer)
    }

    /// `ts,ema1h,ema24h,profile,streak,recovery_streak,changed` for one window: the profile and
    /// streaks after its close.
    pub(crate) fn row(&mut self, rules: &Rules, window: &WindowOutcome) -> Result<()> {
        let rule = match (self.with_rule, window.change, window.held) {
            (false, _, _) => String::new(),
            (true, Some(change), _) => format!(",{}", change.reason.rule()),
            (true, None, Some((_, held))) => format!(",held_by_{}", held.rule()),
            (true, None, None) => ",".to_string(),
        };
        writeln!(
            self.out,
            "{},{},{},{},{},{},{}{rule}",
            format_micros(window.close),
            window.ema1h,
            window.ema24h,
            rules.profiles[window.machine.profile].name,
            window.machine.streak,
            window.machine.recovery_streak,
            u8::from(window.change.is_some())
        )
        .with_context(|| format!("cannot write the timeline {}", self.name))
    }

    /// Flushes the rows; the caller commits the file with the other outputs.
    pub(crate) fn finish(self) -> Result<AtomicFile> {
        let name = self.name;
        self.out
            .into_inner()
            .map_err(|error| error.into_error())
            .with_context(|| format!("cannot write the timeline {name}"))
    }
}
