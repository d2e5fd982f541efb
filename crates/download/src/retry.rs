//! When to try again and how long to wait: exponential backoff with jitter, and the server's
//! own `Retry-After` (seconds or an HTTP date) when it gives one.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The delay before retry number `attempt` (0 for the first retry): `base * 2^attempt`, capped
/// at `max`, then scaled by a random factor in [0.5, 1.0] so parallel clients that failed
/// together do not come back together.
pub fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exponential = base.saturating_mul(1u32 << attempt.min(16));
    let capped = exponential.min(max);
    capped.mul_f64(0.5 + 0.5 * random_unit())
}

/// A number in [0, 1) from the standard library's per-process random hash keys: enough for
/// jitter, and no extra dependency.
fn random_unit() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Parses `Retry-After`: delta-seconds, or an IMF-fixdate such as
/// `Sun, 06 Nov 1994 08:49:37 GMT` (a date in the past means "now").
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// IMF-fixdate to seconds since the epoch.
fn parse_http_date(value: &str) -> Option<u64> {
    let mut words = value.split_whitespace();
    let _weekday = words.next()?;
    let day: u32 = words.next()?.parse().ok()?;
    let month = match words.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = words.next()?.parse().ok()?;
    let mut clock = words.next()?.split(':');
    let hour: u32 = clock.next()?.parse().ok()?;
    let minute: u32 = clock.next()?.parse().ok()?;
    let second: u32 = clock.next()?.parse().ok()?;
    if words.next()? != "GMT" {
        return None;
    }
    stdx::time::Utc {
        year,
        month,
        day,
        hour,
        minute,
        second,
    }
    .to_unix_seconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters_within_bounds() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for attempt in 0..8 {
            let delay = backoff(base, max, attempt);
            let full = (base * 2u32.pow(attempt)).min(max);
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
        }
        assert!(backoff(base, max, 60) <= max);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
