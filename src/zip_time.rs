//! Zip's MS-DOS timestamps, shared by every zip mmops writes (bundle releases, rotate archives):
//! one conversion and one clamp, so a date DOS cannot hold is never mangled.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// An MS-DOS date and time, as zip stores them (local time without a zone: mmops stores UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DosTime {
    pub(crate) time: u16,
    pub(crate) date: u16,
}

/// The DOS form of an instant, clamped to the range DOS can express (1980-01-01 to 2107-12-31);
/// seconds are rounded down to even, the format's resolution.
pub(crate) fn dos_time(instant: DateTime<Utc>) -> DosTime {
    let year = instant.year();
    if year < 1980 {
        return DosTime { time: 0, date: (1 << 5) | 1 };
    }
    if year > 2107 {
        return DosTime { time: (23 << 11) | (59 << 5) | 29, date: (127 << 9) | (12 << 5) | 31 };
    }
    let time =
        ((instant.hour() as u16) << 11) | ((instant.minute() as u16) << 5) | (instant.second() as u16 / 2);
    let date = (((year - 1980) as u16) << 9) | ((instant.month() as u16) << 5) | instant.day() as u16;
    DosTime { time, date }
}
