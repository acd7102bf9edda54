//! The first non-blank line of a series: a CSV header naming the columns, or the first JSON
//! object (which is data too). It decides the format, the kind of series and where each value is.

use anyhow::{Result, bail};

use super::csv::with_fields;
use super::{InputFormat, Parser, SHAPES, SeriesKind};

/// What the first line told us.
#[derive(Debug, Clone)]
pub(super) struct Header {
    pub format: InputFormat,
    pub kind: SeriesKind,
    /// CSV: index of ts, first value (ema1h or edge_bps), second value (ema24h); names for errors.
    pub columns: [usize; 3],
    pub names: Vec<String>,
}

impl Parser<'_> {
    /// The first non-blank line: a CSV header, or the first JSON object. Returns whether the
    /// line is also a data row (JSON Lines).
    pub(super) fn read_header(&mut self, line: &[u8]) -> Result<bool> {
        let first = line.iter().find(|byte| !byte.is_ascii_whitespace()).copied();
        let format = self.format.unwrap_or(if first == Some(b'{') {
            InputFormat::JsonLines
        } else {
            InputFormat::Csv
        });
        match format {
            InputFormat::Csv => {
                let names: Vec<String> = with_fields(line, |fields| {
                    fields.map(|field| String::from_utf8_lossy(field).trim().to_ascii_lowercase()).collect()
                });
                for (index, name) in names.iter().enumerate() {
                    if names[..index].contains(name) {
                        bail!("{}:{}: the header names column {name:?} twice", self.origin, self.line);
                    }
                }
                let find = |name: &str| names.iter().position(|n| n == name);
                let Some(ts) = find("ts") else {
                    bail!("{}:{}: the header has no \"ts\" column; {SHAPES}", self.origin, self.line);
                };
                let (kind, columns) = match (find("ema1h"), find("ema24h"), find("edge_bps")) {
                    (Some(_), Some(_), Some(_)) | (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => {
                        bail!(
                            "{}:{}: the header has both edge_bps and EMA columns; keep one kind ({SHAPES})",
                            self.origin,
                            self.line
                        )
                    }
                    (Some(ema1h), Some(ema24h), None) => (SeriesKind::Emas, [ts, ema1h, ema24h]),
                    (None, None, Some(edge)) => (SeriesKind::RawSamples, [ts, edge, edge]),
                    (Some(_), None, None) => {
                        bail!("{}:{}: the header has no \"ema24h\" column; {SHAPES}", self.origin, self.line)
                    }
                    (None, Some(_), None) => {
                        bail!("{}:{}: the header has no \"ema1h\" column; {SHAPES}", self.origin, self.line)
                    }
                    (None, None, None) => bail!(
                        "{}:{}: the header has no \"ema1h\"/\"ema24h\" or \"edge_bps\" column; {SHAPES}",
                        self.origin,
                        self.line
                    ),
                };
                self.fast_layout = match (kind, columns, names.len()) {
                    (SeriesKind::Emas, [0, 1, 2], 3) => Some(true),
                    (SeriesKind::RawSamples, [0, 1, 1], 2) => Some(false),
                    _ => None,
                };
                self.header = Some(Header { format, kind, columns, names });
            }
            InputFormat::JsonLines => {
                let object = self.json_object(line)?;
                let has = |key: &str| object.contains_key(key);
                let kind = match (has("ema1h") || has("ema24h"), has("edge_bps")) {
                    (true, true) => bail!(
                        "{}:{}: the object has both edge_bps and EMA fields; keep one kind ({SHAPES})",
                        self.origin,
                        self.line
                    ),
                    (true, false) => SeriesKind::Emas,
                    (false, true) => SeriesKind::RawSamples,
                    (false, false) => {
                        bail!(
                            "{}:{}: the object has no \"ema1h\"/\"ema24h\" or \"edge_bps\" field; {SHAPES}",
                            self.origin,
                            self.line
                        )
                    }
                };
                let names = match kind {
                    SeriesKind::Emas => vec!["ts".into(), "ema1h".into(), "ema24h".into()],
                    SeriesKind::RawSamples => vec!["ts".into(), "edge_bps".into()],
                };
                let columns = match kind {
                    SeriesKind::Emas => [0, 1, 2],
                    SeriesKind::RawSamples => [0, 1, 1],
                };
                self.header = Some(Header { format, kind, columns, names });
                // The first object is data as well as the header.
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// `column 2 "ema1h"` for CSV, `field "ema1h"` for JSON Lines; `which` is 0 (ts), 1 or 2.
    pub(super) fn column_label(&self, which: usize) -> String {
        let Some(header) = &self.header else { return String::new() };
        let index = header.columns[which];
        match header.format {
            InputFormat::Csv => format!("column {} {:?}", index + 1, header.names[index]),
            InputFormat::JsonLines => format!("field {:?}", header.names[index]),
        }
    }
}
