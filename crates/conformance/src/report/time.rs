//! time: formats seconds since the Unix epoch as RFC 3339 in UTC, the one date format the
//! reports use (JUnit `timestamp`, ConformanceReport `date`). Civil-date arithmetic on days,
//! so no date crate is needed for one function.

/// `1700000000` → `2023-11-14T22:13:20Z`.
pub fn rfc3339_utc(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let seconds_of_day = unix_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar. Works in
/// 400-year eras (146097 days), which repeat exactly; the year is taken to start in March so
/// the leap day is the last day of a year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        // A leap day and the turn of a century that is a leap year.
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(rfc3339_utc(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn every_day_follows_the_previous_one() {
        // Walks 200 years day by day: dates must advance by exactly one calendar day.
        let mut previous = civil_from_days(-1);
        for days in 0..73_000 {
            let current = civil_from_days(days);
            let next_day = previous.2 + 1;
            let expected = if current.2 == 1 {
                let month = previous.1 % 12 + 1;
                let year = if month == 1 {
                    previous.0 + 1
                } else {
                    previous.0
                };
                (year, month, 1)
            } else {
                (previous.0, previous.1, next_day)
            };
            assert_eq!(current, expected, "day {days}");
            if current.2 == 1 {
                assert!(matches!(previous.2, 28..=31), "day {days}: {previous:?}");
            }
            previous = current;
        }
    }
}
