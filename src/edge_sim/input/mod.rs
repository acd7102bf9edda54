//! Streaming reader for the metrics series: CSV with a header, or JSON Lines.
//!
//! Two shapes are accepted: pre-computed EMAs per window (`ts`, `ema1h`, `ema24h`) or raw edge
//! samples (`ts`, `edge_bps`), which are averaged here (see [`super::ema`]). Either way the
//! caller receives batches of [`Sample`]s `(ts, ema1h, ema24h)` and memory stays constant: the
//! file is read in fixed-size chunks and only the current batch is kept.
//!
//! Layout: [`header`] reads the first line (which columns, which kind), [`csv`] and
//! [`json_lines`] turn one row into a sample, [`numbers`] parses the values; timestamps are
//! parsed by [`crate::clock`]. Every bad value is reported as
//! `file:line: column N "name": what is wrong`.

mod csv;
mod header;
mod json_lines;
mod numbers;

use std::io::Read;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};

use super::ema::EdgeEmas;
use crate::clock::format_micros;
use header::Header;

/// One row after averaging: a timestamp (microseconds since 1970) and the two EMAs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    pub ts: i64,
    pub ema1h: f64,
    pub ema24h: f64,
}

/// Which columns the series has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SeriesKind {
    /// `ts, ema1h, ema24h`, as exported from the bot's gauges.
    Emas,
    /// `ts, edge_bps`, averaged here.
    RawSamples,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum InputFormat {
    Csv,
    JsonLines,
}

/// What was read, for the summary.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeriesInfo {
    pub kind: SeriesKind,
    pub format: InputFormat,
    pub rows: u64,
}

/// Rows handed to the caller at a time.
pub(crate) const BATCH_ROWS: usize = 16 * 1024;
const CHUNK_BYTES: usize = 1 << 20;
/// A longer line is certainly not this format; refusing it keeps memory bounded.
const MAX_LINE_BYTES: usize = 64 * 1024;

const SHAPES: &str = "expected columns ts,ema1h,ema24h (pre-computed EMAs) or ts,edge_bps (raw samples)";

/// Opens `--input` (`-` = stdin) and guesses the format from the extension when it tells.
pub(crate) fn open(path: &Path) -> Result<(Box<dyn Read + Send>, String, Option<InputFormat>)> {
    if path == Path::new("-") {
        return Ok((Box::new(std::io::stdin()), "<stdin>".to_string(), None));
    }
    let origin = crate::sanitize::display_path(path);
    let file = std::fs::File::open(path).with_context(|| format!("cannot open input {origin}"))?;
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let format = match extension.as_deref() {
        Some("csv") => Some(InputFormat::Csv),
        Some("jsonl" | "ndjson" | "json") => Some(InputFormat::JsonLines),
        _ => None,
    };
    Ok((Box::new(file), origin, format))
}

/// Reads the whole series, calling `sink` with each batch of samples in file order.
pub(crate) fn read_series(
    mut source: impl Read,
    origin: &str,
    format: Option<InputFormat>,
    mut sink: impl FnMut(&[Sample]) -> Result<()>,
) -> Result<SeriesInfo> {
    let mut parser = Parser {
        origin,
        format,
        header: None,
        line: 0,
        previous: None,
        emas: EdgeEmas::new(),
        batch: Vec::with_capacity(BATCH_ROWS),
        rows: 0,
        fast_layout: None,
        open_record: Vec::new(),
        open_record_line: 0,
    };
    let mut buffer = vec![0u8; CHUNK_BYTES];
    let mut filled = 0;
    loop {
        let read = loop {
            match source.read(&mut buffer[filled..]) {
                Ok(read) => break read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(anyhow!(error).context(format!("cannot read {origin}"))),
            }
        };
        filled += read;
        let at_end = read == 0;
        let complete = if at_end {
            filled
        } else {
            match memchr::memrchr(b'\n', &buffer[..filled]) {
                Some(last) => last + 1,
                None if filled == buffer.len() => {
                    bail!(
                        "{origin}:{}: line longer than {MAX_LINE_BYTES} bytes; is this a CSV or JSON Lines series?",
                        parser.line + 1
                    )
                }
                None => continue,
            }
        };
        parser.lines(&buffer[..complete], &mut sink)?;
        buffer.copy_within(complete..filled, 0);
        filled -= complete;
        if at_end {
            break;
        }
        // Keep room for at least one whole line after the carried-over tail.
        if buffer.len() - filled < MAX_LINE_BYTES {
            buffer.resize(filled + CHUNK_BYTES, 0);
        }
    }
    if !parser.open_record.is_empty() {
        bail!(
            "{origin}:{}: a quoted field opened here is never closed; close its double quote",
            parser.open_record_line
        );
    }
    if !parser.batch.is_empty() {
        sink(&parser.batch)?;
    }
    let Some(header) = parser.header else {
        bail!("{origin}: the input is empty; {SHAPES}");
    };
    if parser.rows == 0 {
        bail!("{origin}: no data rows after the header; nothing to simulate");
    }
    Ok(SeriesInfo { kind: header.kind, format: header.format, rows: parser.rows })
}

struct Parser<'a> {
    origin: &'a str,
    format: Option<InputFormat>,
    header: Option<Header>,
    line: u64,
    /// Timestamp and line of the previous row, to refuse going backwards.
    previous: Option<(i64, u64)>,
    emas: EdgeEmas,
    batch: Vec<Sample>,
    rows: u64,
    /// The CSV is exactly `ts,a,b` (`Some(true)`) or `ts,a` (`Some(false)`): rows may take
    /// [`csv::fast_csv_row`].
    fast_layout: Option<bool>,
    /// A CSV record whose quoted field is still open at the end of a line, and its first line.
    open_record: Vec<u8>,
    open_record_line: u64,
}

impl Parser<'_> {
    fn lines(&mut self, bytes: &[u8], sink: &mut impl FnMut(&[Sample]) -> Result<()>) -> Result<()> {
        let mut start = 0;
        while start < bytes.len() {
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |offset| start + offset);
            let mut line = &bytes[start..end];
            start = end + 1;
            self.line += 1;
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            if line.len() > MAX_LINE_BYTES {
                bail!("{}:{}: line longer than {MAX_LINE_BYTES} bytes", self.origin, self.line);
            }
            if self.open_record.is_empty() {
                // The hot path: a plain row of the plain layout (never a quoted one).
                if let Some(two_values) = self.fast_layout
                    && let Some(row) = csv::fast_csv_row(line, two_values)
                {
                    self.push_row(row, sink)?;
                    continue;
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if !(self.is_csv(line) && memchr::memchr(b'"', line).is_some()) {
                    self.record(line, sink)?;
                    continue;
                }
                self.open_record_line = self.line;
            } else {
                // A quoted field may hold a line break (RFC 4180): the record goes on here.
                self.open_record.push(b'\n');
            }
            self.open_record.extend_from_slice(line);
            if self.open_record.len() > MAX_LINE_BYTES {
                bail!(
                    "{}:{}: a quoted field opened here is still open after {MAX_LINE_BYTES} bytes; close its \
                     double quote (write \"\" for a quote inside a quoted field)",
                    self.origin,
                    self.open_record_line
                );
            }
            if csv::ends_inside_quotes(&self.open_record) {
                continue;
            }
            let record = std::mem::take(&mut self.open_record);
            // Errors name the line the record starts on.
            let physical_line = std::mem::replace(&mut self.line, self.open_record_line);
            self.record(&record, sink)?;
            self.line = physical_line;
            self.open_record = record;
            self.open_record.clear();
        }
        Ok(())
    }

    /// Whether `line` is CSV: the header says so, or (for the first line) the format does.
    fn is_csv(&self, line: &[u8]) -> bool {
        match &self.header {
            Some(header) => header.format == InputFormat::Csv,
            None => match self.format {
                Some(format) => format == InputFormat::Csv,
                None => line.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{'),
            },
        }
    }

    /// One whole record (a CSV record or a JSON line) that the fast path did not take.
    fn record(&mut self, line: &[u8], sink: &mut impl FnMut(&[Sample]) -> Result<()>) -> Result<()> {
        if self.header.is_none() {
            // Spreadsheet exports often start with a UTF-8 byte order mark.
            let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            if !self.read_header(line)? {
                return Ok(());
            }
        }
        let format = self.header.as_ref().map_or(InputFormat::Csv, |header| header.format);
        let row = match format {
            InputFormat::Csv => self.csv_row(line)?,
            InputFormat::JsonLines => self.json_row(line)?,
        };
        self.push_row(row, sink)
    }

    /// Checks the order of a parsed row, averages raw samples, and hands full batches on.
    #[inline]
    fn push_row(
        &mut self,
        (ts, first, second): (i64, f64, f64),
        sink: &mut impl FnMut(&[Sample]) -> Result<()>,
    ) -> Result<()> {
        let kind = self.header.as_ref().map(|h| h.kind).unwrap_or(SeriesKind::Emas);
        if let Some((previous, previous_line)) = self.previous
            && ts < previous
        {
            bail!(
                "{}:{}: {} {} is earlier than {} on line {previous_line}; timestamps must not go backwards (sort the input by time)",
                self.origin,
                self.line,
                self.column_label(0),
                format_micros(ts),
                format_micros(previous)
            );
        }
        self.previous = Some((ts, self.line));
        let sample = match kind {
            SeriesKind::Emas => Sample { ts, ema1h: first, ema24h: second },
            SeriesKind::RawSamples => {
                let (ema1h, ema24h) = self.emas.update(ts, first);
                Sample { ts, ema1h, ema24h }
            }
        };
        self.batch.push(sample);
        self.rows += 1;
        if self.batch.len() == BATCH_ROWS {
            sink(&self.batch)?;
            self.batch.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<(Vec<Sample>, SeriesInfo)> {
        read_as(text, None)
    }

    fn read_as(text: &str, format: Option<InputFormat>) -> Result<(Vec<Sample>, SeriesInfo)> {
        let mut samples = Vec::new();
        let info = read_series(text.as_bytes(), "in.csv", format, |batch| {
            samples.extend_from_slice(batch);
            Ok(())
        })?;
        Ok((samples, info))
    }

    fn error_of(text: &str) -> String {
        crate::output::error_line(&read(text).unwrap_err())
    }

    const T0: i64 = 1_760_191_200_000_000; // 2025-10-11T14:00:00Z

    #[test]
    fn csv_with_emas_in_any_column_order_and_both_timestamp_forms() {
        let text = "ema24h,ts,ema1h,extra\r\n1.5,2025-10-11T14:00:00Z,-0.25,x\r\n\r\n2,1760193000.5,0.5,y\n";
        let (samples, info) = read(text).unwrap();
        assert_eq!(info.kind, SeriesKind::Emas);
        assert_eq!(info.rows, 2);
        assert_eq!(
            samples,
            [
                Sample { ts: T0, ema1h: -0.25, ema24h: 1.5 },
                Sample { ts: T0 + 1_800_500_000, ema1h: 0.5, ema24h: 2.0 },
            ]
        );
    }

    // Issue 11 item 21: the comma inside the quotes was split first, so ema1h read `b"`.
    #[test]
    fn a_quoted_comma_is_one_field() {
        let text = "ts,note,ema1h,ema24h\n1760142600,\"a,b\",0.1,1\n1760144400,plain,0.2,1\n";
        let (samples, info) = read(text).unwrap();
        assert_eq!(info.rows, 2);
        assert_eq!(samples[0], Sample { ts: 1_760_142_600_000_000, ema1h: 0.1, ema24h: 1.0 });
        assert_eq!(samples[1].ema1h, 0.2);
    }

    #[test]
    fn a_quoted_line_break_continues_the_record_and_errors_name_its_first_line() {
        let text = "\"ts\",\"note\",\"ema1h\",\"ema24h\"\r\n1760142600,\"two\r\n\r\nlines, \"\"quoted\"\"\",0.1,1\r\n1760144400,x,0.2,1\n";
        let (samples, info) = read(text).unwrap();
        assert_eq!((info.rows, samples[0].ema1h, samples[1].ema1h), (2, 0.1, 0.2));
        let bad = "ts,note,ema1h,ema24h\n1760142600,\"two\nlines\",oops,1\n";
        assert_eq!(error_of(bad), "in.csv:2: column 3 \"ema1h\": \"oops\" is not a number");
        let open =
            "ts,note,ema1h,ema24h\n1760142600,x,0.1,1\n1760144400,\"never closed,0.1,1\n1760146200,x,0.1,1\n";
        assert_eq!(
            error_of(open),
            "in.csv:3: a quoted field opened here is never closed; close its double quote"
        );
    }

    #[test]
    fn a_byte_order_mark_before_the_header_is_ignored() {
        let (samples, _) = read("\u{feff}ts,ema1h,ema24h\n1760191200,1,2\n").unwrap();
        assert_eq!(samples, [Sample { ts: T0, ema1h: 1.0, ema24h: 2.0 }]);
    }

    #[test]
    fn raw_samples_are_averaged() {
        let (samples, info) = read("ts,edge_bps\n0,0\n3600,1\n").unwrap();
        assert_eq!(info.kind, SeriesKind::RawSamples);
        assert_eq!(samples[0], Sample { ts: 0, ema1h: 0.0, ema24h: 0.0 });
        assert!((samples[1].ema1h - 0.632_120_558_828_557_7).abs() < 1e-15);
    }

    #[test]
    fn json_lines_detected_from_the_first_byte() {
        let text = "{\"ts\":\"2025-10-11T14:00:00Z\",\"ema1h\":-1,\"ema24h\":2}\n{\"ts\":1760193000,\"ema1h\":0.5,\"ema24h\":2.5}\n";
        let (samples, info) = read(text).unwrap();
        assert_eq!(info.format, InputFormat::JsonLines);
        assert_eq!(info.rows, 2);
        assert_eq!(samples[0], Sample { ts: T0, ema1h: -1.0, ema24h: 2.0 });
        assert_eq!(samples[1].ts, T0 + 1_800_000_000);
    }

    #[test]
    fn bad_values_name_line_and_column() {
        let h = "ts,ema1h,ema24h\n";
        let ok = "1760191200,0,0\n";
        assert_eq!(
            error_of(&format!("{h}{ok}1760193000,abc,0\n")),
            "in.csv:3: column 2 \"ema1h\": \"abc\" is not a number"
        );
        assert_eq!(
            error_of(&format!("{h}{ok}1760193000,1,NaN\n")),
            "in.csv:3: column 3 \"ema24h\": \"NaN\" is not a finite number"
        );
        assert_eq!(
            error_of(&format!("{h}{ok}1760193000,inf,0\n")),
            "in.csv:3: column 2 \"ema1h\": \"inf\" is not a finite number"
        );
        assert_eq!(
            error_of(&format!("{h}{ok}1760193000,,0\n")),
            "in.csv:3: column 2 \"ema1h\" is empty; every row needs a number there"
        );
        assert_eq!(
            error_of(&format!("{h}{ok}1760193000,1\n")),
            "in.csv:3: column 3 \"ema24h\" is missing (the row has 2 columns, the header 3)"
        );
        assert!(
            error_of(&format!("{h}{ok}yesterday,1,1\n"))
                .starts_with("in.csv:3: column 1 \"ts\": \"yesterday\" is not a timestamp")
        );
        assert_eq!(
            error_of(&format!("{h}1760193000,0,0\n{ok}")),
            "in.csv:3: column 1 \"ts\" 2025-10-11T14:00:00Z is earlier than 2025-10-11T14:30:00Z on line 2; \
             timestamps must not go backwards (sort the input by time)"
        );
        assert!(error_of("ts,ema1h\n1,2\n").starts_with("in.csv:1: the header has no \"ema24h\" column"));
        assert!(error_of("time,edge\n1,2\n").starts_with("in.csv:1: the header has no \"ts\" column"));
        assert_eq!(error_of("ts,edge_bps\n"), "in.csv: no data rows after the header; nothing to simulate");
        assert!(error_of("").starts_with("in.csv: the input is empty"));
    }

    #[test]
    fn bad_json_lines_name_line_and_field() {
        let first = "{\"ts\":1,\"ema1h\":0,\"ema24h\":0}\n";
        assert_eq!(
            error_of(&format!("{first}{{\"ts\":2,\"ema1h\":0}}\n")),
            "in.csv:2: field \"ema24h\" is missing"
        );
        assert_eq!(
            error_of(&format!("{first}{{\"ts\":2,\"ema1h\":\"x\",\"ema24h\":0}}\n")),
            "in.csv:2: field \"ema1h\": \"x\" is not a number"
        );
        assert_eq!(
            error_of(&format!("{first}{{\"ts\":2,\"ema1h\":null,\"ema24h\":0}}\n")),
            "in.csv:2: field \"ema1h\" is empty (null)"
        );
        assert!(
            error_of(&format!("{first}{{\"ts\":2,\n")).starts_with("in.csv:2:"),
            "{}",
            error_of(&format!("{first}{{\"ts\":2,\n"))
        );
    }

    #[test]
    fn several_chunks_and_batches_stream_in_order() {
        let mut text = String::from("ts,edge_bps\n");
        for second in 0..100_000 {
            text.push_str(&format!("{second},{}.25\n", second % 7));
        }
        let mut count = 0u64;
        let mut last = -1;
        let info = read_series(text.as_bytes(), "big", None, |batch| {
            assert!(batch.len() <= BATCH_ROWS);
            assert!(batch[0].ts > last);
            last = batch[batch.len() - 1].ts;
            count += batch.len() as u64;
            Ok(())
        })
        .unwrap();
        assert_eq!((count, info.rows, last), (100_000, 100_000, 99_999_000_000));
    }
}
