//! CSV rows: a fast path for the plain rows exporters write (`ts,a[,b]`, Unix seconds, plain
//! decimals), which is the hot path of a 10-million-row replay, and the general path for
//! everything else.

use anyhow::{Result, bail};

use super::numbers::POWERS_OF_TEN;
use super::{Parser, SeriesKind};

impl Parser<'_> {
    /// A row the fast path did not take: any column order, RFC 3339 timestamps, quoting.
    pub(super) fn csv_row(&self, record: &[u8]) -> Result<(i64, f64, f64)> {
        let header = self.header.as_ref().expect("header read before rows");
        with_fields(record, |fields| {
            let mut picked: [Option<&[u8]>; 3] = [None; 3];
            let mut count = 0;
            for (index, field) in fields.enumerate() {
                count = index + 1;
                for (slot, column) in picked.iter_mut().zip(header.columns) {
                    if column == index {
                        *slot = Some(field);
                    }
                }
            }
            let [Some(ts), Some(first), Some(second)] = picked else {
                let which = picked.iter().position(Option::is_none).unwrap_or(0);
                bail!(
                    "{}:{}: {} is missing (the row has {count} column{}, the header {})",
                    self.origin,
                    self.line,
                    self.column_label(which),
                    crate::units::plural_s(count),
                    header.names.len()
                );
            };
            let ts = self.timestamp(ts)?;
            let first = self.number(first, 1)?;
            let second = if header.kind == SeriesKind::Emas { self.number(second, 2)? } else { first };
            Ok((ts, first, second))
        })
    }
}

/// Calls `use_fields` with the trimmed fields of one CSV record. A record holding a double quote
/// is parsed by the `csv` crate (RFC 4180: commas, line breaks and `""` inside a quoted field);
/// one without is split at its commas, which is the same thing without an allocation.
pub(super) fn with_fields<T>(
    record: &[u8],
    use_fields: impl FnOnce(&mut dyn Iterator<Item = &[u8]>) -> T,
) -> T {
    if memchr::memchr(b'"', record).is_none() {
        return use_fields(&mut record.split(|byte| *byte == b',').map(<[u8]>::trim_ascii));
    }
    let mut reader = ::csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(record);
    let mut parsed = ::csv::ByteRecord::new();
    // Reading from memory has no I/O error, and csv_core accepts any bytes: the result is only
    // "no record" for an empty input, which the caller reports as missing columns.
    let _ = reader.read_byte_record(&mut parsed);
    use_fields(&mut parsed.iter().map(unquote_padded))
}

/// Trims a parsed field. `1, "2"` has a space before the quote, so RFC 4180 keeps the quotes
/// as text; earlier versions accepted it, and a pair of quotes around a whole field is unwrapped.
fn unquote_padded(field: &[u8]) -> &[u8] {
    match field.trim_ascii() {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    }
}

/// Whether a CSV record ends inside a quoted field (so the next line continues it). The same
/// rules as the `csv` crate: a quote opens a quoted field only at the start of a field, and
/// inside one `""` is a literal quote.
pub(super) fn ends_inside_quotes(record: &[u8]) -> bool {
    let mut inside = false;
    let mut field_start = true;
    let mut bytes = record.iter().peekable();
    while let Some(&byte) = bytes.next() {
        if inside {
            if byte == b'"' {
                if bytes.peek() == Some(&&b'"') {
                    bytes.next();
                } else {
                    inside = false;
                }
            }
        } else if byte == b'"' && field_start {
            inside = true;
            field_start = false;
        } else {
            field_start = byte == b',' || byte == b'\n';
        }
    }
    inside
}

/// One pass over a plain row `ts,a[,b]` (Unix seconds, plain decimals of up to 15 digits, no
/// spaces or quotes), which is what exporters write. `None` for anything else: the general path
/// then parses the row or says exactly what is wrong with it. Both paths give identical values.
#[inline]
pub(super) fn fast_csv_row(line: &[u8], two_values: bool) -> Option<(i64, f64, f64)> {
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

/// A plain decimal starting at `start`: its value and where it ends (see [`super::numbers::parse_number`]).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_timestamp;
    use crate::edge_sim::input::numbers::parse_number;
    use proptest::prelude::*;

    const T0: i64 = 1_760_191_200_000_000; // 2025-10-11T14:00:00Z

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

    /// The csv crate reading `text` to its end: the records, as strings.
    fn records_of(text: &str) -> Vec<Vec<String>> {
        let mut reader =
            ::csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
        reader
            .byte_records()
            .map(|r| r.unwrap().iter().map(|f| String::from_utf8_lossy(f).into()).collect())
            .collect()
    }

    #[test]
    fn quoted_fields_follow_rfc_4180() {
        let fields = |record: &str| {
            with_fields(record.as_bytes(), |fields| {
                fields.map(|field| String::from_utf8_lossy(field).into_owned()).collect::<Vec<_>>()
            })
        };
        assert_eq!(fields("1760142600,\"a,b\",0.1,1"), ["1760142600", "a,b", "0.1", "1"]);
        assert_eq!(fields("1,\"say \"\"hi\"\"\",2"), ["1", "say \"hi\"", "2"]);
        assert_eq!(fields("1,\"two\nlines\",2"), ["1", "two\nlines", "2"]);
        assert_eq!(fields(" 1 , \"2\" ,3"), ["1", "2", "3"]);
        assert!(ends_inside_quotes(b"1,\"open"));
        assert!(ends_inside_quotes(b"1,\"a\"\""));
        assert!(!ends_inside_quotes(b"1,\"a\"\"b\""));
        assert!(!ends_inside_quotes(b"1,a\"b"));
    }

    proptest! {
        /// Lines are joined while a quoted field is open, exactly as long as the csv crate reads
        /// them as one record: the joined text is one record, and never two.
        #[test]
        fn quote_tracking_agrees_with_the_csv_crate(lines in proptest::collection::vec("[a,\"]{0,6}", 1..6)) {
            let mut record = String::new();
            for (index, line) in lines.iter().enumerate() {
                if index > 0 {
                    record.push('\n');
                }
                record.push_str(line);
                if !ends_inside_quotes(record.as_bytes()) {
                    break;
                }
            }
            if !ends_inside_quotes(record.as_bytes()) {
                prop_assert_eq!(records_of(&record).len(), usize::from(!record.is_empty()), "{:?}", record);
            }
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
    }
}
