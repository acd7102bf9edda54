//! Values in a row: decimal numbers (with a fast path that equals the standard parser) and the
//! checks that turn a bad timestamp or number into an error naming line and column.

use anyhow::{Result, anyhow, bail};

use super::Parser;
use crate::clock::parse_timestamp;

pub(super) const TS_HINT: &str =
    "use RFC 3339 (2025-10-11T14:30:00Z) or Unix seconds (1760193000 or 1760193000.25)";

impl Parser<'_> {
    pub(super) fn timestamp(&self, text: &[u8]) -> Result<i64> {
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

    pub(super) fn number(&self, text: &[u8], which: usize) -> Result<f64> {
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

/// Exact powers of ten for the fast path (all representable in an f64).
pub(super) const POWERS_OF_TEN: [f64; 23] = [
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

    proptest! {
        #[test]
        fn fast_number_parser_agrees_with_the_standard_one(
            negative in any::<bool>(), whole in 0u64..10_000_000, fraction in "[0-9]{0,9}"
        ) {
            let text = format!("{}{whole}{}{fraction}", if negative { "-" } else { "" }, if fraction.is_empty() { "" } else { "." });
            prop_assert_eq!(parse_number(text.as_bytes()), Some(text.parse::<f64>().unwrap()));
        }

        #[test]
        fn any_number_text_parses_like_std(value in any::<f64>()) {
            let text = format!("{value}");
            prop_assert_eq!(parse_number(text.as_bytes()).map(f64::to_bits), text.parse::<f64>().ok().map(f64::to_bits));
        }
    }
}
