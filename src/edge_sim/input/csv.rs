//! CSV rows: a fast path for the plain rows exporters write (`ts,a[,b]`, Unix seconds, plain
//! decimals), which is the hot path of a 10-million-row replay, and the general path for
//! everything else.

use anyhow::{Result, bail};

use super::numbers::POWERS_OF_TEN;
use super::{Parser, SeriesKind};

impl Parser<'_> {
    pub(super) fn csv_row(&self, line: &[u8]) -> Result<(i64, f64, f64)> {
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
}

/// The fields of one CSV line, each without an optional pair of surrounding double quotes.
pub(super) fn split_fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
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

    proptest! {
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
