//! time: instants as UTC calendar dates, in the few formats the gate writes: RFC 3339 for
//! reports (`2026-11-30T16:04:05Z`), a compact form for folder names (`20261130T160405Z`), a
//! readable one for messages (`2026-11-30 16:04:05 UTC`) and a clock for log lines
//! (`16:04:05.123`). Civil-date arithmetic on days since the epoch (Howard Hinnant's
//! algorithms, proleptic Gregorian calendar), so no date crate is needed for it.

use std::time::{SystemTime, UNIX_EPOCH};

const SECONDS_PER_DAY: u64 = 86_400;
/// Days from 0000-03-01 to 1970-01-01. Years are counted from March, so a leap day is the
/// last day of its year.
const DAYS_BEFORE_EPOCH: i64 = 719_468;
/// A 400-year era, after which the Gregorian calendar repeats exactly.
const DAYS_PER_ERA: i64 = 146_097;

/// Seconds since the Unix epoch; an instant before it counts as the epoch.
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default()
}

/// A second of UTC as a calendar date and a time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Utc {
    pub fn from_unix_seconds(unix_seconds: u64) -> Utc {
        let (year, month, day) = civil_from_days((unix_seconds / SECONDS_PER_DAY) as i64);
        let of_day = (unix_seconds % SECONDS_PER_DAY) as u32;
        Utc {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day / 60 % 60,
            second: of_day % 60,
        }
    }

    /// Seconds since the epoch, or None before it. Fields out of range (a 13th month, a 25th
    /// hour) carry into the next unit rather than being refused.
    pub fn to_unix_seconds(self) -> Option<u64> {
        let days = u64::try_from(days_from_civil(self.year, self.month, self.day)).ok()?;
        Some(
            days * SECONDS_PER_DAY
                + u64::from(self.hour) * 3600
                + u64::from(self.minute) * 60
                + u64::from(self.second),
        )
    }
}

/// The date and the time of day of `unix_seconds`, joined the way `shape` says.
fn format(unix_seconds: u64, shape: fn(&Utc) -> String) -> String {
    shape(&Utc::from_unix_seconds(unix_seconds))
}

/// `1700000000` → `2023-11-14T22:13:20Z`.
pub fn rfc3339(unix_seconds: u64) -> String {
    format(unix_seconds, |t| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        )
    })
}

/// `1700000000` → `20231114T221320Z`: sorts like the instant and is safe in a file name.
pub fn compact(unix_seconds: u64) -> String {
    format(unix_seconds, |t| {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        )
    })
}

/// `1700000000` → `2023-11-14 22:13:20 UTC`, for messages people read.
pub fn readable(unix_seconds: u64) -> String {
    format(unix_seconds, |t| {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        )
    })
}

/// When a rate limit ends, for messages: `2023-11-14 22:13:20 UTC (in about 3 min)`, counted
/// from `now` and rounded up to whole minutes.
pub fn reset_time(reset_at: u64, now: u64) -> String {
    let minutes = reset_at.saturating_sub(now).div_ceil(60);
    format!("{} (in about {minutes} min)", readable(reset_at))
}

/// The time of day with milliseconds, `22:13:20.042`, for log lines whose date is known from
/// elsewhere.
pub fn clock_millis(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let utc = Utc::from_unix_seconds(since.as_secs());
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        utc.hour,
        utc.minute,
        utc.second,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month 1–12, day 1–31).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + DAYS_BEFORE_EPOCH;
    let era = shifted.div_euclid(DAYS_PER_ERA);
    let day_of_era = shifted.rem_euclid(DAYS_PER_ERA);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month 1–12, day 1–31) → days since 1970-01-01; the inverse of [`civil_from_days`].
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - DAYS_BEFORE_EPOCH
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reset_time_rounds_up_to_minutes_and_never_goes_negative() {
        assert_eq!(
            reset_time(1_700_000_000, 1_700_000_000 - 121),
            "2023-11-14 22:13:20 UTC (in about 3 min)"
        );
        assert_eq!(
            reset_time(1_700_000_000, 1_700_000_100),
            "2023-11-14 22:13:20 UTC (in about 0 min)"
        );
    }

    #[test]
    fn known_instants_in_every_format() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(compact(1_796_054_645), "20261130T160405Z");
        assert_eq!(rfc3339(1_796_054_645), "2026-11-30T16:04:05Z");
        assert_eq!(readable(784_111_777), "1994-11-06 08:49:37 UTC");
        assert_eq!(readable(1_709_251_200), "2024-03-01 00:00:00 UTC");
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_042);
        assert_eq!(clock_millis(at), "22:13:20.042");
        assert_eq!(unix_seconds(at), 1_700_000_000);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(5)), 0);
    }

    #[test]
    fn leap_days() {
        // 2000 is a leap year (divisible by 400), 2100 is not (by 100 only), 2024 is (by 4).
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(compact(951_782_400), "20000229T000000Z");
        assert_eq!(rfc3339(4_107_456_000), "2100-02-28T00:00:00Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(
            days_from_civil(2024, 2, 29) + 1,
            days_from_civil(2024, 3, 1)
        );
        assert_eq!(
            days_from_civil(2100, 2, 28) + 1,
            days_from_civil(2100, 3, 1)
        );
    }

    #[test]
    fn every_day_follows_the_previous_one_and_converts_back() {
        // Walks 200 years day by day: dates advance by exactly one calendar day, months end on
        // day 28 to 31, and each date converts back to the day it came from.
        let mut previous = civil_from_days(-1);
        for days in 0..73_000 {
            let current = civil_from_days(days);
            let expected = if current.2 == 1 {
                assert!(matches!(previous.2, 28..=31), "day {days}: {previous:?}");
                let month = previous.1 % 12 + 1;
                let year = previous.0 + i64::from(month == 1);
                (year, month, 1)
            } else {
                (previous.0, previous.1, previous.2 + 1)
            };
            assert_eq!(current, expected, "day {days}");
            assert_eq!(days_from_civil(current.0, current.1, current.2), days);
            previous = current;
        }
    }

    #[test]
    fn utc_round_trips_through_seconds() {
        for seconds in [0, 59, 86_399, 86_400, 951_868_799, 1_796_054_645] {
            let utc = Utc::from_unix_seconds(seconds);
            assert_eq!(utc.to_unix_seconds(), Some(seconds));
        }
        let before_epoch = Utc {
            year: 1969,
            month: 12,
            day: 31,
            hour: 0,
            minute: 0,
            second: 0,
        };
        assert_eq!(before_epoch.to_unix_seconds(), None);
    }
}
