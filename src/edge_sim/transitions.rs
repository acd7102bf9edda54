//! The profile changes of a replay, kept in bounded memory whatever the change rate.
//!
//! A replay of a million windows that switches every few windows has hundreds of thousands of
//! changes, and the report prints all of them after the run. The first [`IN_MEMORY`] are kept as
//! small fixed-size records; the rest go to an anonymous scratch file (unlinked at creation, so
//! nothing is ever left on disk) and are read back, record by record, when the report is printed
//! or the chart drawn. [`Transition`]s with their strings are only built while printing.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;

use anyhow::{Context as _, Result};
use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};

use super::Transition;
use super::rules::{Change, Reason, Rules};

/// Changes kept in memory before the rest goes to the scratch file.
const IN_MEMORY: usize = 4096;
/// Bytes of one stored change.
const RECORD: usize = 8 * 4 + 4 * 2 + 1 + 8 + 4 + 1;

/// One change as recorded during the replay: plain numbers, no strings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StoredChange {
    pub close: i64,
    pub position: u64,
    pub ema1h: f64,
    pub ema24h: f64,
    pub change: Change,
}

impl StoredChange {
    pub(crate) fn of(window: &super::simulate::WindowOutcome, change: Change) -> StoredChange {
        StoredChange {
            close: window.close,
            position: window.position,
            ema1h: window.ema1h,
            ema24h: window.ema24h,
            change,
        }
    }

    fn encode(&self) -> [u8; RECORD] {
        let mut bytes = [0u8; RECORD];
        let (kind, value, windows, rule) = self.change.reason.encode();
        let mut at = 0;
        let mut put = |part: &[u8]| {
            bytes[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        };
        put(&self.close.to_le_bytes());
        put(&self.position.to_le_bytes());
        put(&self.ema1h.to_le_bytes());
        put(&self.ema24h.to_le_bytes());
        put(&(self.change.from as u32).to_le_bytes());
        put(&(self.change.to as u32).to_le_bytes());
        put(&[kind]);
        put(&value.to_le_bytes());
        put(&windows.to_le_bytes());
        put(&[rule]);
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<StoredChange> {
        let eight = |at: usize| -> [u8; 8] { bytes[at..at + 8].try_into().unwrap_or_default() };
        let four = |at: usize| -> [u8; 4] { bytes[at..at + 4].try_into().unwrap_or_default() };
        let reason = Reason::decode(
            bytes[40],
            f64::from_le_bytes(eight(41)),
            u32::from_le_bytes(four(49)),
            bytes[53],
        )?;
        Some(StoredChange {
            close: i64::from_le_bytes(eight(0)),
            position: u64::from_le_bytes(eight(8)),
            ema1h: f64::from_le_bytes(eight(16)),
            ema24h: f64::from_le_bytes(eight(24)),
            change: Change {
                from: u32::from_le_bytes(four(32)) as usize,
                to: u32::from_le_bytes(four(36)) as usize,
                reason,
            },
        })
    }
}

/// Every change of one replay, in order.
#[derive(Debug)]
pub(crate) struct TransitionLog {
    rules: Rules,
    head: Vec<StoredChange>,
    spilled: Option<BufWriter<File>>,
    count: u64,
}

impl TransitionLog {
    pub(crate) fn new(rules: &Rules) -> TransitionLog {
        TransitionLog { rules: rules.clone(), head: Vec::new(), spilled: None, count: 0 }
    }

    pub(crate) fn push(&mut self, change: StoredChange) -> Result<()> {
        self.count += 1;
        if self.head.len() < IN_MEMORY {
            self.head.push(change);
            return Ok(());
        }
        let spilled = match &mut self.spilled {
            Some(spilled) => spilled,
            None => {
                let file =
                    tempfile::tempfile().context("cannot create a scratch file for the profile changes")?;
                self.spilled.insert(BufWriter::with_capacity(64 * 1024, file))
            }
        };
        spilled.write_all(&change.encode()).context("cannot write the profile changes to a scratch file")
    }

    /// Flushes the scratch file; call once after the replay, before reading.
    pub(crate) fn finish(&mut self) -> Result<()> {
        if let Some(spilled) = &mut self.spilled {
            spilled.flush().context("cannot write the profile changes to a scratch file")?;
        }
        Ok(())
    }

    pub(crate) fn len(&self) -> u64 {
        self.count
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Calls `each` with every change in order, built into a [`Transition`].
    pub(crate) fn each(&self, mut each: impl FnMut(Transition) -> Result<()>) -> Result<()> {
        self.each_stored(|stored| each(Transition::from_stored(&self.rules, &stored)))
    }

    pub(crate) fn each_stored(&self, mut each: impl FnMut(StoredChange) -> Result<()>) -> Result<()> {
        for stored in &self.head {
            each(*stored)?;
        }
        let Some(spilled) = &self.spilled else { return Ok(()) };
        let file = spilled.get_ref();
        let mut buffer = vec![0u8; RECORD * 1024];
        let mut offset = 0u64;
        loop {
            // Positioned reads: the writer's file offset is left alone.
            let mut filled = 0;
            while filled < buffer.len() {
                let read = file
                    .read_at(&mut buffer[filled..], offset + filled as u64)
                    .context("cannot read the profile changes back from the scratch file")?;
                if read == 0 {
                    break;
                }
                filled += read;
            }
            for record in buffer[..filled - filled % RECORD].chunks_exact(RECORD) {
                let stored = StoredChange::decode(record)
                    .context("the scratch file of profile changes was altered while in use")?;
                each(stored)?;
            }
            if filled < buffer.len() {
                return Ok(());
            }
            offset += filled as u64;
        }
    }
}

impl Serialize for TransitionLog {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sequence = serializer.serialize_seq(usize::try_from(self.count).ok())?;
        let mut failure: Option<S::Error> = None;
        let walked = self.each(|transition| {
            if let Err(error) = sequence.serialize_element(&transition) {
                failure = Some(error);
                anyhow::bail!("stop");
            }
            Ok(())
        });
        if let Some(error) = failure {
            return Err(error);
        }
        walked.map_err(|error| S::Error::custom(crate::output::error_line(&error)))?;
        sequence.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge_sim::rules::tests::default_rules;

    #[test]
    fn many_changes_spill_and_read_back_in_order() {
        let rules = default_rules();
        let mut log = TransitionLog::new(&rules);
        let total = IN_MEMORY as u64 * 3 + 17;
        for index in 0..total {
            let degrade = index.is_multiple_of(2);
            let reason = if degrade {
                Reason::Degraded { threshold: -0.5, windows: 3 }
            } else {
                Reason::Recovered { threshold: 1.5, windows: 1 }
            };
            let change = Change { from: usize::from(!degrade), to: usize::from(degrade), reason };
            log.push(StoredChange {
                close: index as i64 * 10,
                position: index,
                ema1h: -1.0,
                ema24h: 2.5,
                change,
            })
            .unwrap();
        }
        log.finish().unwrap();
        assert!(log.head.len() == IN_MEMORY && log.spilled.is_some());
        let mut seen = 0u64;
        log.each_stored(|stored| {
            assert_eq!(stored.position, seen);
            assert_eq!(stored.close, seen as i64 * 10);
            assert_eq!(stored.change.to, usize::from(seen.is_multiple_of(2)));
            seen += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((seen, log.len()), (total, total));
        let json = serde_json::to_value(&log).unwrap();
        assert_eq!(json.as_array().unwrap().len() as u64, total);
        assert_eq!(json[total as usize - 1]["reason"], "ema1h < -0.5 for 3 consecutive 30m windows");
    }
}
