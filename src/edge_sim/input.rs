//! Streaming reader for the metrics series: CSV with a header, or JSON Lines.
//!
//! Two shapes are accepted: pre-computed EMAs per window (`ts`, `ema1h`, `ema24h`) or raw edge
//! samples (`ts`, `edge_bps`), which are averaged here (see [`super::ema`]). Either way the
//! caller receives batches of [`Sample`]s `(ts, ema1h, ema24h)` and memory stays constant: the
//! file is read in fixed-size chunks and only the current batch is kept.
//!
//! The CSV reader is hand-written for this all-numeric format (no quoting beyond an optional
//! pair of double quotes around a field): it is the hot path of a 10-million-row replay, and it
//! reports every bad value as `file:line: column N "name": what is wrong`.

use std::io::Read;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};

use super::ema::EdgeEmas;

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

/// What the first line told us.
#[derive(Debug, Clone)]
struct Header {
    format: InputFormat,
    kind: SeriesKind,
    /// CSV: index of ts, first value (ema1h or edge_bps), second value (ema24h); names for errors.
    columns: [usize; 3],
    names: Vec<String>,
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
    /// [`fast_csv_row`].
    fast_layout: Option<bool>,
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
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if self.header.is_none() {
                // Spreadsheet exports often start with a UTF-8 byte order mark.
                let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
                if !self.read_header(line)? {
                    continue;
                }
            }
            let format = self.header.as_ref().map_or(InputFormat::Csv, |header| header.format);
            let (ts, first, second) = match format {
                InputFormat::Csv => match self.fast_layout.and_then(|two| fast_csv_row(line, two)) {
                    Some(row) => row,
                    None => self.csv_row(line)?,
                },
                InputFormat::JsonLines => self.json_row(line)?,
            };
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
        }
        Ok(())
    }

    /// The first non-blank line: a CSV header, or the first JSON object. Returns whether the
    /// line is also a data row (JSON Lines).
    fn read_header(&mut self, line: &[u8]) -> Result<bool> {
        let first = line.iter().find(|byte| !byte.is_ascii_whitespace()).copied();
        let format = self.format.unwrap_or(if first == Some(b'{') {
            InputFormat::JsonLines
        } else {
            InputFormat::Csv
        });
        match format {
            InputFormat::Csv => {
                let names: Vec<String> = split_fields(line)
                    .map(|field| String::from_utf8_lossy(field).trim().to_ascii_lowercase())
                    .collect();
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
    fn column_label(&self, which: usize) -> String {
        let Some(header) = &self.header else { return String::new() };
        let index = header.columns[which];
        match header.format {
            InputFormat::Csv => format!("column {} {:?}", index + 1, header.names[index]),
            InputFormat::JsonLines => format!("field {:?}", header.names[index]),
        }
    }

    fn csv_row(&self, line: &[u8]) -> Result<(i64, f64, f64)> {
        let header = self.header.as_ref().expect("header read before rows");
        let mut fields: [&[u8]; 3] = [&[], &[], &[]];
        let mut found = [false; 3];
        let mut count = 0;
        for (index, field) in split_fields(line).enumerate() {
            count = index + 1;
            for which in 0..3 {
                if header.columns[which] == index {
                    fields[which] = field;
                    found[which] = true;
                }
            }
        }
        if let Some(which) = found.iter().position(|present| !present) {
            bail!(
                "{}:{}: {} is missing (the row has {count} column{}, the header {})",
                self.origin,
                self.line,
                self.column_label(which),
                if count == 1 { "" } else { "s" },
                header.names.len()
            );
        }
        let ts = self.timestamp(trim(fields[0]))?;
        let first = self.number(trim(fields[1]), 1)?;
        let second = if header.kind == SeriesKind::Emas { self.number(trim(fields[2]), 2)? } else { first };
        Ok((ts, first, second))
    }

    fn json_object(&self, line: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>> {
        serde_json::from_slice(line).map_err(|error| {
            let message = error.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_string();
            anyhow!("{}:{}:{}: not a JSON object: {message}", self.origin, self.line, error.column())
        })
    }

    fn json_row(&self, line: &[u8]) -> Result<(i64, f64, f64)> {
        let header = self.header.as_ref().expect("header read before rows");
        let object = self.json_object(line)?;
        let field = |which: usize| -> Result<&serde_json::Value> {
            let name = &header.names[header.columns[which]];
            match object.get(name) {
                None => bail!("{}:{}: {} is missing", self.origin, self.line, self.column_label(which)),
                Some(serde_json::Value::Null) => {
                    bail!("{}:{}: {} is empty (null)", self.origin, self.line, self.column_label(which))
                }
                Some(value) => Ok(value),
            }
        };
        let ts = match field(0)? {
            serde_json::Value::String(text) => self.timestamp(text.trim().as_bytes())?,
            serde_json::Value::Number(number) => self.timestamp(number.to_string().as_bytes())?,
            other => bail!(
                "{}:{}: {}: {other} is not a timestamp; {TS_HINT}",
                self.origin,
                self.line,
                self.column_label(0)
            ),
        };
        let number = |which: usize| -> Result<f64> {
            match field(which)? {
                serde_json::Value::Number(number) => {
                    number.as_f64().filter(|value| value.is_finite()).ok_or_else(|| {
                        anyhow!(
                            "{}:{}: {}: {number} is not a finite number",
                            self.origin,
                            self.line,
                            self.column_label(which)
                        )
                    })
                }
                other => bail!(
                    "{}:{}: {}: {other} is not a number",
                    self.origin,
                    self.line,
                    self.column_label(which)
                ),
            }
        };
        let first = number(1)?;
        let second = if header.kind == SeriesKind::Emas { number(2)? } else { first };
        Ok((ts, first, second))
    }

    fn timestamp(&self, text: &[u8]) -> Result<i64> {
        if text.is_empty() {
            bail!("{}:{}: {} is empty; {TS_HINT}", self.origin, self.line, self.column_label(0));
        }
        parse_timestamp(text).ok_or_else(|| {
            anyhow!(
                "{}:{}: {}: {:?} is not a timestamp; {TS_HINT}",
                self.origin,
                self.line,
                self.column_label(0),
                String::from_utf8_lossy(text)
            )
        })
    }

    fn number(&self, text: &[u8], which: usize) -> Result<f64> {
        if text.is_empty() {
            bail!(
                "{}:{}: {} is empty; every row needs a number there",
                self.origin,
                self.line,
                self.column_label(which)
            );
        }
        match parse_number(text) {
            Some(value) if value.is_finite() => Ok(value),
            Some(_) => bail!(
                "{}:{}: {}: {:?} is not a finite number",
                self.origin,
                self.line,
                self.column_label(which),
                String::from_utf8_lossy(text)
            ),
            None => bail!(
                "{}:{}: {}: {:?} is not a number",
                self.origin,
                self.line,
                self.column_label(which),
                String::from_utf8_lossy(text)
            ),
        }
    }
}

const TS_HINT: &str = "use RFC 3339 (2025-10-11T14:30:00Z) or Unix seconds (1760193000 or 1760193000.25)";

/// The fields of one CSV line, each without an optional pair of surrounding double quotes.
fn split_fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|byte| *byte == b',').map(|field| {
        let field = trim(field);
        match field {
            [b'"', inner @ .., b'"'] => inner,
            other => other,
        }
    })
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// An instant as `2025-10-11T14:30:00Z` (with fractional seconds when it has them).
pub(crate) fn format_micros(ts: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(ts) {
        Some(instant) if ts % 1_000_000 == 0 => crate::clock::format_utc(instant),
        Some(instant) => instant.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => format!("{ts}us"),
    }
}

/// RFC 3339 or Unix seconds (integer or decimal, up to microseconds; finer digits are dropped)
/// to microseconds since 1970.
pub(crate) fn parse_timestamp(text: &[u8]) -> Option<i64> {
    if let Some(micros) = parse_unix_seconds(text) {
        return Some(micros);
    }
    if text.len() >= 10 && text[4] == b'-' {
        let text = std::str::from_utf8(text).ok()?;
        return chrono::DateTime::parse_from_rfc3339(text).ok().map(|instant| instant.timestamp_micros());
    }
    None
}

fn parse_unix_seconds(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    let (whole, fraction) = match memchr::memchr(b'.', digits) {
        Some(dot) => (&digits[..dot], &digits[dot + 1..]),
        None => (digits, &[][..]),
    };
    if whole.is_empty() || whole.len() > 12 || !whole.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if !fraction.iter().all(u8::is_ascii_digit) || (fraction.is_empty() && digits.len() != whole.len()) {
        return None;
    }
    let seconds = whole.iter().fold(0i64, |acc, digit| acc * 10 + i64::from(digit - b'0'));
    let mut micros = 0i64;
    for position in 0..6 {
        micros = micros * 10 + fraction.get(position).map_or(0, |digit| i64::from(digit - b'0'));
    }
    let value = seconds * 1_000_000 + micros;
    Some(if negative { -value } else { value })
}

/// One pass over a plain row `ts,a[,b]` (Unix seconds, plain decimals of up to 15 digits, no
/// spaces or quotes), which is what exporters write. `None` for anything else: the general path
/// then parses the row or says exactly what is wrong with it. Both paths give identical values.
#[inline]
fn fast_csv_row(line: &[u8], two_values: bool) -> Option<(i64, f64, f64)> {
    let mut position = 0;
    let mut seconds: i64 = 0;
    while let Some(digit) = line.get(position).filter(|byte| byte.is_ascii_digit()) {
        // Wrapping: a run of more than 12 digits is rejected just below, whatever it summed to
        // (found by fuzzing: a 20-digit timestamp overflowed here).
        seconds = seconds.wrapping_mul(10).wrapping_add(i64::from(digit - b'0'));
        position += 1;
    }
    if position == 0 || position > 12 {
        return None;
    }
    let mut micros: i64 = 0;
    if line.get(position) == Some(&b'.') {
        position += 1;
        let start = position;
        while let Some(digit) = line.get(position).filter(|byte| byte.is_ascii_digit()) {
            if position - start < 6 {
                micros = micros * 10 + i64::from(digit - b'0');
            }
            position += 1;
        }
        let fraction = position - start;
        if fraction == 0 {
            return None;
        }
        for _ in fraction..6 {
            micros *= 10;
        }
    }
    if line.get(position) != Some(&b',') {
        return None;
    }
    let (first, end) = fast_decimal(line, position + 1)?;
    if !two_values {
        return (end == line.len()).then_some((seconds * 1_000_000 + micros, first, first));
    }
    if line.get(end) != Some(&b',') {
        return None;
    }
    let (second, end) = fast_decimal(line, end + 1)?;
    (end == line.len()).then_some((seconds * 1_000_000 + micros, first, second))
}

/// A plain decimal starting at `start`: its value and where it ends (see [`parse_number`]).
#[inline]
fn fast_decimal(line: &[u8], start: usize) -> Option<(f64, usize)> {
    let mut position = start;
    let negative = line.get(position) == Some(&b'-');
    position += usize::from(negative);
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    while let Some(digit) = line.get(position).filter(|byte| byte.is_ascii_digit()) {
        mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit - b'0'));
        digits += 1;
        position += 1;
    }
    let mut fraction_digits = 0;
    if line.get(position) == Some(&b'.') {
        position += 1;
        while let Some(digit) = line.get(position).filter(|byte| byte.is_ascii_digit()) {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit - b'0'));
            digits += 1;
            fraction_digits += 1;
            position += 1;
        }
    }
    if digits == 0 || digits > 15 {
        return None;
    }
    let magnitude = mantissa as f64 / POWERS_OF_TEN[fraction_digits];
    Some((if negative { -magnitude } else { magnitude }, position))
}

/// Exact powers of ten for the fast path (all representable in an f64).
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    1e19, 1e20, 1e21, 1e22,
];

/// Parses a decimal number. Plain decimals with at most 15 significant digits take a fast path
/// (an exact integer divided by an exact power of ten is correctly rounded, so the result equals
/// the standard parser's); anything else goes to `str::parse`. NaN and infinities parse here and
/// are refused by the caller with a clearer message.
pub(crate) fn parse_number(text: &[u8]) -> Option<f64> {
    let (negative, body) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut fraction_digits = 0usize;
    let mut seen_dot = false;
    let mut plain = !body.is_empty() && body.len() <= 24;
    if plain {
        for &byte in body {
            match byte {
                b'0'..=b'9' => {
                    mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(byte - b'0'));
                    digits += 1;
                    fraction_digits += usize::from(seen_dot);
                }
                b'.' if !seen_dot => seen_dot = true,
                _ => {
                    plain = false;
                    break;
                }
            }
        }
    }
    if plain && digits > 0 && digits <= 15 && fraction_digits < POWERS_OF_TEN.len() {
        let magnitude = mantissa as f64 / POWERS_OF_TEN[fraction_digits];
        return Some(if negative { -magnitude } else { magnitude });
    }
    std::str::from_utf8(text).ok()?.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp(b"1760191200"), Some(T0));
        assert_eq!(parse_timestamp(b"1760191200.0000019"), Some(T0 + 1));
        assert_eq!(parse_timestamp(b"2025-10-11T16:00:00+02:00"), Some(T0));
        assert_eq!(parse_timestamp(b"1760191200."), None);
        assert_eq!(parse_timestamp(b"1.7e9"), None);
        assert_eq!(format_micros(T0), "2025-10-11T14:00:00Z");
    }

    #[test]
    fn fast_path_takes_plain_rows_and_declines_the_rest() {
        assert_eq!(fast_csv_row(b"1760191200,-1.25,0.5", true), Some((T0, -1.25, 0.5)));
        assert_eq!(fast_csv_row(b"1760191200.5,2", false), Some((T0 + 500_000, 2.0, 2.0)));
        for declined in
            [&b"1760191200,1"[..], b"1760191200, 1,2", b"1760191200,1,2,3", b"1760191200.,1,2", b"x,1,2"]
        {
            assert_eq!(fast_csv_row(declined, true), None, "{}", String::from_utf8_lossy(declined));
        }
    }

    proptest! {
        #[test]
        fn fast_number_parser_agrees_with_the_standard_one(
            negative in any::<bool>(), whole in 0u64..10_000_000, fraction in "[0-9]{0,9}"
        ) {
            let text = format!("{}{whole}{}{fraction}", if negative { "-" } else { "" }, if fraction.is_empty() { "" } else { "." });
            prop_assert_eq!(parse_number(text.as_bytes()), Some(text.parse::<f64>().unwrap()));
        }

        #[test]
        fn fast_rows_agree_with_the_general_parser(
            seconds in 0i64..100_000_000_000, fraction in "(\\.[0-9]{1,8})?",
            first in "-?[0-9]{1,9}(\\.[0-9]{0,8})?", second in "-?[0-9]{0,9}(\\.[0-9]{0,8})?x?",
        ) {
            let line = format!("{seconds}{fraction},{first},{second}");
            let fast = fast_csv_row(line.as_bytes(), true);
            let ts = parse_timestamp(format!("{seconds}{fraction}").as_bytes());
            let general = match (ts, parse_number(first.as_bytes()), parse_number(second.as_bytes())) {
                (Some(ts), Some(a), Some(b)) => Some((ts, a, b)),
                _ => None,
            };
            // The fast path may decline (None) but never disagree.
            if let Some(row) = fast {
                prop_assert_eq!(Some(row), general, "{}", line);
            }
        }

        #[test]
        fn any_number_text_parses_like_std(value in any::<f64>()) {
            let text = format!("{value}");
            prop_assert_eq!(parse_number(text.as_bytes()).map(f64::to_bits), text.parse::<f64>().ok().map(f64::to_bits));
        }
    }
}
