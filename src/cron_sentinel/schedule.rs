//! Cron schedules: parsing 5-field expressions and finding scheduled starts in a time zone.
//!
//! The semantics are Vixie/ISC cron's as the Python package `cronsim` (Healthchecks.io's
//! parser) implements them, ported step by step so the two agree on every corner case
//! (`tests/cli/cron_reference.py` checks thousands of them):
//! - day-of-month and day-of-week are ORed unless either field starts with `*`;
//! - for an expression whose minute and hour fields are both fixed (do not start with `*`),
//!   matching happens on the local wall clock: a start time that does not exist (spring
//!   forward) runs once at the first valid minute after it, an ambiguous one (fall back) runs
//!   once, at its first occurrence;
//! - other expressions match the local fields of real instants, stepping in UTC, so
//!   `*/15 * * * *` keeps running every 15 minutes through both changes.
//!
//! Every step is checked arithmetic: near the ends of chrono's range the answer is `None`,
//! never a panic. Like cronsim, a search gives up after 50 years without a match.

use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

const MONTH_NAMES: [&str; 12] =
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const DAYS_IN_MONTH: [u32; 13] = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/// cronsim stops looking after 50 years without a match.
const GIVE_UP_YEARS: i32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl Field {
    const ALL: [Field; 5] = [Field::Minute, Field::Hour, Field::DayOfMonth, Field::Month, Field::DayOfWeek];

    fn name(self) -> &'static str {
        match self {
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
        }
    }

    fn range(self) -> (u32, u32) {
        match self {
            Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 7),
        }
    }

    fn allowed(self) -> String {
        let (low, high) = self.range();
        match self {
            Field::Month => format!("{low}-{high} or JAN-DEC"),
            Field::DayOfWeek => format!("{low}-{high} (0 and 7 are Sunday) or SUN-SAT"),
            _ => format!("{low}-{high}"),
        }
    }

    /// One value: a number in range, or a name where the field has names.
    fn value(self, text: &str) -> Result<u32, String> {
        let names: &[&str] = match self {
            Field::Month => &MONTH_NAMES,
            Field::DayOfWeek => &DAY_NAMES,
            _ => &[],
        };
        if let Some(index) = names.iter().position(|name| *name == text) {
            let first = if self == Field::Month { 1 } else { 0 };
            return Ok(index as u32 + first);
        }
        let number = digits(text).ok_or_else(|| format!("{text:?} is not a number"))?;
        let (low, high) = self.range();
        if number < low || number > high {
            return Err(format!("{text} is outside {low}-{high}"));
        }
        Ok(number)
    }

    /// The set of values one field matches, as a bit mask (cronsim's `Field.parse`).
    fn parse(self, text: &str) -> Result<u64, String> {
        let (low, high) = self.range();
        if text == "*" {
            return Ok(span(low, high));
        }
        if text.contains(',') {
            let mut mask = 0;
            for term in text.split(',') {
                mask |= self.parse(term)?;
            }
            return Ok(mask);
        }
        if let Some((term, step)) = text.split_once('/') {
            let step = digits(step)
                .filter(|step| *step > 0)
                .ok_or_else(|| format!("step {step:?} is not a whole number above 0"))?;
            let items = self.parse(term)?;
            let values: Vec<u32> = if items.count_ones() == 1 && !term.contains('-') {
                // A single start value means "from here to the end of the range"; a range of
                // one value (`25-25/2`) stays that one value, as in Vixie cron and cronsim 2.9.
                (items.trailing_zeros()..=high).collect()
            } else {
                (low..=high).filter(|value| items & (1 << value) != 0).collect()
            };
            return Ok(values.iter().step_by(step as usize).fold(0, |mask, value| mask | 1 << value));
        }
        if let Some((start, end)) = text.split_once('-') {
            let (start, end) = (self.value(start)?, self.value(end)?);
            if end < start {
                return Err(format!("range {text} ends before it starts"));
            }
            return Ok(span(start, end));
        }
        Ok(1 << self.value(text)?)
    }
}

/// A whole number written with ASCII digits only (no sign, no spaces), as cronsim takes them.
fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<u64>().ok().and_then(|value| u32::try_from(value).ok()).unwrap_or(u32::MAX))
}

fn span(low: u32, high: u32) -> u64 {
    (low..=high).fold(0, |mask, value| mask | 1 << value)
}

/// A parsed schedule. Field sets are bit masks indexed by value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// As written in the config.
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    /// Bit 0 is Sunday (7 is folded into it), 1 Monday … 6 Saturday.
    weekdays: u64,
    /// Day-of-month AND day-of-week (either field starts with `*`), else OR.
    day_and: bool,
    /// Minute and hour are both fixed: match on the local wall clock (see the module docs).
    wall_clock: bool,
}

/// Why a schedule is invalid; `Display` gives the whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScheduleError(String);

impl fmt::Display for ScheduleError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let upper = text.trim().to_ascii_uppercase();
        let expanded = match upper.as_str() {
            "@HOURLY" => "0 * * * *",
            "@DAILY" | "@MIDNIGHT" => "0 0 * * *",
            "@WEEKLY" => "0 0 * * 0",
            "@MONTHLY" => "0 0 1 * *",
            "@YEARLY" | "@ANNUALLY" => "0 0 1 1 *",
            other => other,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(ScheduleError(format!(
                "schedule {text:?} has {} field(s); write 5 (minute hour day-of-month month day-of-week, e.g. \"0 2 * * 1-5\") or one of @hourly, @daily, @weekly, @monthly, @yearly",
                parts.len()
            )));
        }
        let mut masks = [0u64; 5];
        for ((field, part), mask) in Field::ALL.iter().zip(&parts).zip(&mut masks) {
            *mask = field.parse(part).map_err(|reason| {
                ScheduleError(format!(
                    "schedule {text:?}: {} field {part:?} is invalid: {reason}; allowed: {}, *, lists (1,5), ranges (1-5) and steps (*/15)",
                    field.name(),
                    field.allowed()
                ))
            })?;
        }
        let [minutes, hours, days, months, mut weekdays] = masks;
        if weekdays & 1 << 7 != 0 {
            weekdays = (weekdays & !(1 << 7)) | 1;
        }
        let day_and = parts[2].starts_with('*') || parts[4].starts_with('*');
        let first_day = days.trailing_zeros();
        if day_and && first_day > 29 {
            let longest = (1..=12)
                .filter(|month| months & 1 << month != 0)
                .map(|month| DAYS_IN_MONTH[month])
                .max()
                .unwrap_or(0);
            if first_day > longest {
                return Err(ScheduleError(format!(
                    "schedule {text:?} never runs: day-of-month {first_day} does not occur in the months it allows"
                )));
            }
        }
        let wall_clock = !parts[0].starts_with('*') && !parts[1].starts_with('*');
        Ok(Schedule {
            text: text.trim().to_string(),
            minutes,
            hours,
            days,
            months,
            weekdays,
            day_and,
            wall_clock,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The first scheduled start strictly after `instant` (sub-seconds ignored).
    pub fn next_after(&self, zone: Tz, instant: DateTime<Utc>) -> Option<DateTime<Utc>> {
        Cursor::new(self, zone, instant, Direction::Forward)?.step()
    }

    /// The latest scheduled start at or before `instant` (sub-seconds ignored).
    pub fn latest_at_or_before(&self, zone: Tz, instant: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = instant.checked_add_signed(Duration::seconds(1))?;
        Cursor::new(self, zone, start, Direction::Backward)?.step()
    }

    /// Up to `count` starts after `instant`, in order.
    pub fn upcoming(&self, zone: Tz, instant: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let Some(mut cursor) = Cursor::new(self, zone, instant, Direction::Forward) else {
            return Vec::new();
        };
        std::iter::from_fn(|| cursor.step()).take(count).collect()
    }

    /// A cheap lower bound of [`Schedule::shortest_interval`] from the times of day alone
    /// (as if every day ran), so the day scan runs only when it can change a decision.
    pub fn shortest_interval_lower_bound(&self) -> Duration {
        let times = self.times_of_day();
        let within_day = times.windows(2).map(|pair| pair[1] - pair[0]).min().unwrap_or(i64::MAX);
        let across_midnight = 1440 - times[times.len() - 1] + times[0];
        Duration::minutes(within_day.min(across_midnight))
    }

    /// Minutes after midnight of every start, sorted.
    fn times_of_day(&self) -> Vec<i64> {
        (0..24)
            .filter(|hour| self.hours & 1 << hour != 0)
            .flat_map(|hour| {
                (0..60).filter(|minute| self.minutes & 1 << minute != 0).map(move |minute| hour * 60 + minute)
            })
            .collect()
    }

    /// The shortest time between two consecutive starts, ignoring daylight-saving changes.
    /// Days are scanned over eight years (every leap-year and weekday pattern repeats within
    /// 28, but eight years cover every month length and a Feb 29 pair); a schedule that runs
    /// at most once in them reports eight years.
    pub fn shortest_interval(&self) -> Duration {
        let times: Vec<i64> = (0..24)
            .filter(|hour| self.hours & 1 << hour != 0)
            .flat_map(|hour| {
                (0..60).filter(|minute| self.minutes & 1 << minute != 0).map(move |minute| hour * 60 + minute)
            })
            .collect();
        let within_day = times.windows(2).map(|pair| pair[1] - pair[0]).min();
        let (first, last) = (times[0], times[times.len() - 1]);
        let mut across_days: Option<i64> = None;
        let mut previous: Option<i64> = None;
        let mut day = NaiveDate::from_ymd_opt(2024, 1, 1).expect("a valid date");
        for index in 0..(8 * 366) {
            if self.months & 1 << day.month() != 0 && self.matches_day(day) {
                if let Some(previous) = previous {
                    let gap = (index - previous) * 1440 - last + first;
                    across_days = Some(across_days.map_or(gap, |best| best.min(gap)));
                }
                previous = Some(index);
            }
            day = day.succ_opt().expect("dates in 2024-2032 exist");
        }
        let minutes = [within_day, across_days].into_iter().flatten().min().unwrap_or(8 * 366 * 1440);
        Duration::minutes(minutes)
    }

    fn matches_dom(&self, day: NaiveDate) -> bool {
        self.days & 1 << day.day() != 0
    }

    fn matches_dow(&self, day: NaiveDate) -> bool {
        self.weekdays & 1 << day.weekday().num_days_from_sunday() != 0
    }

    fn matches_day(&self, day: NaiveDate) -> bool {
        if self.day_and {
            self.matches_dom(day) && self.matches_dow(day)
        } else {
            self.matches_dom(day) || self.matches_dow(day)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Backward,
}

/// cronsim's iterator state: a local wall time plus PEP 495's `fold` (which of two
/// occurrences of an ambiguous wall time is meant). In wall-clock mode it is a naive local
/// time and steps are naive too; otherwise steps go through UTC.
struct Cursor<'a> {
    schedule: &'a Schedule,
    zone: Tz,
    wall: NaiveDateTime,
    fold: bool,
    naive: bool,
    direction: Direction,
    /// Ticks left before the search gives up: a bound on the work, so no input can spin.
    budget: u32,
}

/// Far more ticks than any search within 50 years needs (that takes at most a few hundred
/// thousand, for a day-of-week fifth-Monday style scan), yet bounded.
const TICK_BUDGET: u32 = 5_000_000;

impl<'a> Cursor<'a> {
    fn new(
        schedule: &'a Schedule,
        zone: Tz,
        instant: DateTime<Utc>,
        direction: Direction,
    ) -> Option<Cursor<'a>> {
        let instant = instant.with_nanosecond(0)?;
        let (wall, fold) = from_utc(zone, instant)?;
        // UTC has no changes to handle; stepping naively there gives the same answers faster.
        let naive = schedule.wall_clock || zone == Tz::UTC;
        Some(Cursor { schedule, zone, wall, fold: fold && !naive, naive, direction, budget: TICK_BUDGET })
    }

    /// cronsim's `__next__`: one tick, then search, then fix up a wall time that does not
    /// exist by moving forward minute by minute.
    fn step(&mut self) -> Option<DateTime<Utc>> {
        self.tick(1)?;
        match self.direction {
            Direction::Forward => self.advance()?,
            Direction::Backward => self.reverse()?,
        }
        if self.schedule.wall_clock {
            self.fold = false;
            while is_imaginary(self.zone, self.wall) {
                self.wall = self.wall.checked_add_signed(Duration::minutes(1))?;
            }
        }
        to_utc(self.zone, self.wall, self.fold)
    }

    fn tick(&mut self, seconds: i64) -> Option<()> {
        self.budget = self.budget.checked_sub(1)?;
        let delta = Duration::seconds(if self.direction == Direction::Forward { seconds } else { -seconds });
        if self.naive {
            self.wall = self.wall.checked_add_signed(delta)?;
        } else {
            let instant = to_utc(self.zone, self.wall, self.fold)?.checked_add_signed(delta)?;
            (self.wall, self.fold) = from_utc(self.zone, instant)?;
        }
        Some(())
    }

    fn set_wall(&mut self, wall: NaiveDateTime) {
        self.wall = wall;
    }

    /// Starts a new day: midnight (or 23:59:59 going back), `fold` cleared as `combine` does.
    fn set_day(&mut self, day: NaiveDate) -> Option<()> {
        let time = match self.direction {
            Direction::Forward => day.and_hms_opt(0, 0, 0)?,
            Direction::Backward => day.and_hms_opt(23, 59, 59)?,
        };
        self.wall = time;
        self.fold = false;
        Some(())
    }

    fn advance(&mut self) -> Option<()> {
        let start_year = self.wall.year();
        loop {
            self.advance_month()?;
            if self.wall.year() > start_year + GIVE_UP_YEARS {
                return None;
            }
            if self.advance_day()?
                || self.advance_hour()?
                || self.advance_minute()?
                || self.advance_second()?
            {
                continue;
            }
            return Some(());
        }
    }

    fn reverse(&mut self) -> Option<()> {
        if self.schedule.wall_clock {
            while is_imaginary(self.zone, self.wall) {
                self.wall = self.wall.checked_sub_signed(Duration::minutes(1))?;
            }
        }
        let start_year = self.wall.year();
        loop {
            self.reverse_month()?;
            if self.wall.year() < start_year - GIVE_UP_YEARS {
                return None;
            }
            if self.reverse_day()?
                || self.reverse_hour()?
                || self.reverse_minute()?
                || self.reverse_second()?
            {
                continue;
            }
            return Some(());
        }
    }

    fn advance_second(&mut self) -> Option<bool> {
        let second = self.wall.second();
        if second == 0 {
            return Some(false);
        }
        self.tick(i64::from(60 - second))?;
        while self.wall.second() != 0 {
            self.tick(1)?;
        }
        Some(true)
    }

    fn reverse_second(&mut self) -> Option<bool> {
        let second = self.wall.second();
        if second == 0 {
            return Some(false);
        }
        self.tick(i64::from(second))?;
        while self.wall.second() != 0 {
            self.tick(1)?;
            if self.wall.second() == 59 {
                break;
            }
        }
        Some(true)
    }

    fn advance_minute(&mut self) -> Option<bool> {
        let minutes = self.schedule.minutes;
        if minutes & 1 << self.wall.minute() != 0 {
            return Some(false);
        }
        self.set_wall(self.wall.with_second(0)?);
        if minutes.count_ones() == 1 {
            let delta = (minutes.trailing_zeros() + 60 - self.wall.minute()) % 60;
            self.tick(i64::from(delta) * 60)?;
        }
        while minutes & 1 << self.wall.minute() == 0 {
            self.tick(60)?;
            if self.wall.minute() == 0 {
                break;
            }
        }
        Some(true)
    }

    fn reverse_minute(&mut self) -> Option<bool> {
        let minutes = self.schedule.minutes;
        if minutes & 1 << self.wall.minute() != 0 {
            return Some(false);
        }
        self.set_wall(self.wall.with_second(59)?);
        if minutes.count_ones() == 1 {
            let delta = (self.wall.minute() + 60 - minutes.trailing_zeros()) % 60;
            self.tick(i64::from(delta) * 60)?;
        }
        while minutes & 1 << self.wall.minute() == 0 {
            self.tick(60)?;
            if self.wall.minute() == 59 {
                break;
            }
        }
        Some(true)
    }

    fn advance_hour(&mut self) -> Option<bool> {
        let hours = self.schedule.hours;
        if hours & 1 << self.wall.hour() != 0 {
            return Some(false);
        }
        self.set_wall(self.wall.with_minute(0)?.with_second(0)?);
        while hours & 1 << self.wall.hour() == 0 {
            self.tick(3600)?;
            if self.wall.hour() == 0 {
                break;
            }
        }
        Some(true)
    }

    fn reverse_hour(&mut self) -> Option<bool> {
        let hours = self.schedule.hours;
        if hours & 1 << self.wall.hour() != 0 {
            return Some(false);
        }
        self.set_wall(self.wall.with_minute(59)?.with_second(59)?);
        while hours & 1 << self.wall.hour() == 0 {
            self.tick(3600)?;
            if self.wall.hour() == 23 {
                break;
            }
        }
        Some(true)
    }

    fn advance_day(&mut self) -> Option<bool> {
        let mut day = self.wall.date();
        if self.schedule.matches_day(day) {
            return Some(false);
        }
        while !self.schedule.matches_day(day) {
            day = day.succ_opt()?;
            if day.day() == 1 {
                break;
            }
        }
        self.set_day(day)?;
        Some(true)
    }

    fn reverse_day(&mut self) -> Option<bool> {
        let mut day = self.wall.date();
        if self.schedule.matches_day(day) {
            return Some(false);
        }
        let month = day.month();
        while !self.schedule.matches_day(day) {
            day = day.pred_opt()?;
            if day.month() != month {
                break;
            }
        }
        self.set_day(day)?;
        Some(true)
    }

    fn advance_month(&mut self) -> Option<()> {
        let months = self.schedule.months;
        if months & 1 << self.wall.month() != 0 {
            return Some(());
        }
        let mut day = self.wall.date();
        while months & 1 << day.month() == 0 {
            day = day.with_day(1)?.checked_add_signed(Duration::days(32))?.with_day(1)?;
        }
        self.set_day(day)
    }

    fn reverse_month(&mut self) -> Option<()> {
        let months = self.schedule.months;
        if months & 1 << self.wall.month() != 0 {
            return Some(());
        }
        let mut day = self.wall.date();
        while months & 1 << day.month() == 0 {
            day = day.with_day(1)?.pred_opt()?;
        }
        self.set_day(day)
    }
}

/// A wall time that the zone skips (spring forward).
fn is_imaginary(zone: Tz, wall: NaiveDateTime) -> bool {
    matches!(zone.from_local_datetime(&wall), LocalResult::None)
}

/// A wall time to an instant the way Python's zoneinfo does (PEP 495): an ambiguous time takes
/// its first occurrence unless `fold`; a skipped time is read with the offset from before the
/// change (or after it, with `fold`).
fn to_utc(zone: Tz, wall: NaiveDateTime, fold: bool) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&wall) {
        LocalResult::Single(local) => Some(local.with_timezone(&Utc)),
        LocalResult::Ambiguous(one, other) => {
            let (earlier, later) = if one <= other { (one, other) } else { (other, one) };
            Some(if fold { later } else { earlier }.with_timezone(&Utc))
        }
        LocalResult::None => {
            let around = if fold { Duration::days(1) } else { Duration::days(-1) };
            let probe = wall.checked_add_signed(around)?.and_utc();
            let offset = zone.offset_from_utc_datetime(&probe.naive_utc()).fix();
            let seconds = Duration::seconds(i64::from(offset.local_minus_utc()));
            Some(wall.checked_sub_signed(seconds)?.and_utc())
        }
    }
}

/// An instant to its wall time in the zone, with `fold` set on the second occurrence.
fn from_utc(zone: Tz, instant: DateTime<Utc>) -> Option<(NaiveDateTime, bool)> {
    let offset = zone.offset_from_utc_datetime(&instant.naive_utc()).fix();
    let wall = instant.naive_utc().checked_add_offset(offset)?;
    let fold = match zone.from_local_datetime(&wall) {
        LocalResult::Ambiguous(one, other) => one != other && instant == one.max(other).with_timezone(&Utc),
        _ => false,
    };
    Some((wall, fold))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    fn at(text: &str) -> DateTime<Utc> {
        parse_rfc3339(text).unwrap()
    }

    fn next(expression: &str, zone: Tz, from: &str) -> String {
        crate::clock::format_utc(Schedule::parse(expression).unwrap().next_after(zone, at(from)).unwrap())
    }

    fn latest(expression: &str, zone: Tz, from: &str) -> String {
        crate::clock::format_utc(
            Schedule::parse(expression).unwrap().latest_at_or_before(zone, at(from)).unwrap(),
        )
    }

    #[test]
    fn weekday_job_and_names() {
        let schedule = "0 2 * * MON-FRI";
        // Saturday 2026-11-28: the last start was Friday 02:00, the next is Monday.
        assert_eq!(latest(schedule, Tz::UTC, "2026-11-28T12:00:00Z"), "2026-11-27T02:00:00Z");
        assert_eq!(next(schedule, Tz::UTC, "2026-11-28T12:00:00Z"), "2026-11-30T02:00:00Z");
        assert_eq!(latest(schedule, Tz::UTC, "2026-11-30T02:00:00Z"), "2026-11-30T02:00:00Z");
        assert_eq!(next("0 0 1 jan *", Tz::UTC, "2026-03-01T00:00:00Z"), "2027-01-01T00:00:00Z");
        assert_eq!(next("@weekly", Tz::UTC, "2026-12-01T00:00:00Z"), "2026-12-06T00:00:00Z");
    }

    #[test]
    fn a_one_value_range_with_a_step_is_that_value() {
        // `25-25/2` is the 25th only; `25/2` runs from the 25th to the end of the month.
        assert_eq!(latest("0 14 25-25/2 * *", Tz::UTC, "2025-12-30T04:46:13Z"), "2025-12-25T14:00:00Z");
        assert_eq!(latest("0 14 25/2 * *", Tz::UTC, "2025-12-30T04:46:13Z"), "2025-12-29T14:00:00Z");
        assert_eq!(latest("48-48/6 16 * * *", Tz::UTC, "2025-12-30T20:00:00Z"), "2025-12-30T16:48:00Z");
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // The 13th or any Friday (Vixie cron's OR), unless a field starts with `*`.
        assert_eq!(next("0 0 13 * FRI", Tz::UTC, "2026-11-01T00:00:00Z"), "2026-11-06T00:00:00Z");
        assert_eq!(next("0 0 */13 * FRI", Tz::UTC, "2026-11-01T00:00:00Z"), "2026-11-27T00:00:00Z");
    }

    #[test]
    fn daylight_saving_changes_in_london() {
        let london = chrono_tz::Europe::London;
        // 01:30 does not exist on 2025-03-30: the run happens once, at 02:00 BST (01:00 UTC).
        assert_eq!(next("30 1 * * *", london, "2025-03-29T12:00:00Z"), "2025-03-30T01:00:00Z");
        // 01:30 happens twice on 2025-10-26: once, at the first (00:30 UTC).
        assert_eq!(next("30 1 * * *", london, "2025-10-25T12:00:00Z"), "2025-10-26T00:30:00Z");
        assert_eq!(next("30 1 * * *", london, "2025-10-26T00:30:00Z"), "2025-10-27T01:30:00Z");
        // Interval jobs keep their rhythm through the repeated hour.
        assert_eq!(next("*/20 1 * * *", london, "2025-10-26T00:40:00Z"), "2025-10-26T01:00:00Z");
        assert_eq!(latest("30 1 * * *", london, "2025-10-26T12:00:00Z"), "2025-10-26T00:30:00Z");
    }

    #[test]
    fn bad_expressions_name_the_field_and_range() {
        let error = |text: &str| Schedule::parse(text).unwrap_err().to_string();
        assert_eq!(
            error("0 25 * * *"),
            "schedule \"0 25 * * *\": hour field \"25\" is invalid: 25 is outside 0-23; allowed: 0-23, *, lists (1,5), ranges (1-5) and steps (*/15)"
        );
        assert!(error("0 2 * * FUN").contains("day-of-week field \"FUN\" is invalid: \"FUN\" is not a number; allowed: 0-7 (0 and 7 are Sunday) or SUN-SAT"));
        assert!(error("*/0 * * * *").contains("step \"0\" is not a whole number above 0"));
        assert!(error("0 0 5-1 * *").contains("range 5-1 ends before it starts"));
        assert!(error("0 0 * *").starts_with("schedule \"0 0 * *\" has 4 field(s); write 5"));
        assert!(error("0 0 31 2 *").contains("never runs"));
        assert!(error("@reboot").contains("has 1 field(s)"));
    }

    #[test]
    fn shortest_intervals() {
        let interval = |text: &str| Schedule::parse(text).unwrap().shortest_interval().num_minutes();
        assert_eq!(interval("*/15 * * * *"), 15);
        assert_eq!(interval("0 2 * * *"), 1440);
        assert_eq!(interval("0 2 * * 1-5"), 1440);
        assert_eq!(interval("50 23 * * *"), 1440);
        assert_eq!(interval("10,50 0,23 * * *"), 20);
        assert_eq!(interval("0 0 * * 0"), 7 * 1440);
        assert_eq!(interval("0 0 1 * *"), 28 * 1440);
        for text in
            ["*/15 * * * *", "0 2 * * 1-5", "10,50 0,23 * * *", "0 0 1 * *", "0 0 29 2 *", "0 */7 * * *"]
        {
            let schedule = Schedule::parse(text).unwrap();
            assert!(schedule.shortest_interval_lower_bound() <= schedule.shortest_interval(), "{text}");
        }
    }

    proptest::proptest! {
        // The fuzz target's checks over cron-like text, zones and instants anywhere in range.
        #[test]
        fn any_cron_text_parses_or_fails_cleanly(
            expression in "[0-9*/,A-Z -]{0,24}",
            zone in proptest::sample::select(vec!["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]),
            seconds in -8_000_000_000_000_i64..8_000_000_000_000,
        ) {
            crate::fuzzing::cron_schedule(format!("{expression}\n{zone}\n{seconds}\n").as_bytes());
        }
    }

    #[test]
    fn no_panic_at_the_end_of_time() {
        let schedule = Schedule::parse("* * * * *").unwrap();
        assert_eq!(schedule.next_after(Tz::UTC, DateTime::<Utc>::MAX_UTC), None);
        assert_eq!(schedule.latest_at_or_before(chrono_tz::Europe::London, DateTime::<Utc>::MIN_UTC), None);
    }
}
