//! When to try a failed report again: the backoff schedule, `Retry-After`, and which
//! answers are worth another attempt.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The first wait after a failure is at most this (and at least half of it).
pub(crate) const FIRST_WAIT: Duration = Duration::from_millis(100);

/// The longest wait between attempts: a collector that stays down is tried every
/// 5–10 s, not hammered.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(10);

/// What a failed attempt says about the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// It may pass later: connection refused, reset or closed, a timeout, HTTP 408, 429,
    /// 500, 502, 503, 504; gRPC UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, and
    /// RESOURCE_EXHAUSTED for a quota. Retried within the call's deadline.
    Later,
    /// A refusal that the same request would get again (HTTP 400, 401, 403, 404, a
    /// redirect, …; gRPC INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED,
    /// UNIMPLEMENTED, …): not retried within the call; the spans wait for a later report.
    Refused,
    /// The request was too big for the collector (HTTP 413; gRPC's bare
    /// `RESOURCE_EXHAUSTED` or `OUT_OF_RANGE` for a request bigger than any it took, as
    /// `grpc.rs` judges): the report is split and the halves are sent.
    Split,
}

impl Retry {
    /// How an HTTP status other than 200 is treated.
    pub(crate) fn for_status(status: u16) -> Retry {
        match status {
            408 | 429 | 500 | 502 | 503 | 504 => Retry::Later,
            413 => Retry::Split,
            _ => Retry::Refused,
        }
    }
}

/// Exponential backoff with jitter: the n-th consecutive failure waits a random time in
/// [½, 1] × min(`MAX_WAIT`, `FIRST_WAIT` × 2ⁿ⁻¹).
#[derive(Debug)]
pub(crate) struct Backoff {
    rng: SmallRng,
}

impl Backoff {
    pub(crate) fn new(seed: u64) -> Backoff {
        Backoff {
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// The wait after the `failures`-th consecutive failure (from 1).
    pub(crate) fn wait(&mut self, failures: u32) -> Duration {
        let ceiling = ceiling(failures);
        let fraction: f64 = self.rng.random_range(0.5..=1.0);
        ceiling.mul_f64(fraction)
    }
}

/// The longest wait after the `failures`-th consecutive failure.
pub(crate) fn ceiling(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_WAIT.saturating_mul(1 << doublings).min(MAX_WAIT)
}

/// Reads a `Retry-After` value, relative to `now`: a number of seconds, or an HTTP date
/// (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`; a date in the past means no wait).
/// Anything else is ignored (`None`).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Capped: a collector asking for days is as good as asking for a day.
        return Some(Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX)).min(DAY));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or_default().min(DAY))
}

pub(crate) const DAY: Duration = Duration::from_secs(24 * 3600);

/// An IMF-fixdate (RFC 9110, the form every HTTP/1.1 sender must use).
fn parse_http_date(value: &str) -> Option<SystemTime> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let (_weekday, rest) = value.split_once(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u32 = digits(day, 2)?;
    let month = 1 + [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u32;
    let year: i64 = i64::from(digits(year, 4)?);
    let hms: Vec<&str> = time.split(':').collect();
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    let (h, m, s): (u32, u32, u32) = (digits(h, 2)?, digits(m, 2)?, digits(s, 2)?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + i64::from(h * 3600 + m * 60 + s);
    let seconds = u64::try_from(seconds).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(seconds))
}

fn digits(text: &str, len: usize) -> Option<u32> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_at_most_100_ms_up_to_the_cap() {
        let mut backoff = Backoff::new(7);
        assert_eq!(ceiling(1), Duration::from_millis(100));
        assert_eq!(ceiling(2), Duration::from_millis(200));
        assert_eq!(ceiling(4), Duration::from_millis(800));
        assert_eq!(ceiling(8), MAX_WAIT);
        assert_eq!(ceiling(u32::MAX), MAX_WAIT);
        for failures in 1..40 {
            for _ in 0..50 {
                let wait = backoff.wait(failures);
                let top = ceiling(failures);
                assert!(wait <= top && wait >= top / 2, "{failures}: {wait:?}");
            }
        }
    }

    #[test]
    fn statuses_are_sorted_into_retry_refuse_and_split() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert_eq!(Retry::for_status(status), Retry::Later, "{status}");
        }
        for status in [301, 302, 307, 308, 400, 401, 403, 404, 405, 415, 501] {
            assert_eq!(Retry::for_status(status), Retry::Refused, "{status}");
        }
        assert_eq!(Retry::for_status(413), Retry::Split);
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:30 GMT", now),
            Some(Duration::ZERO),
            "a date in the past: no wait"
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", UNIX_EPOCH),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("99999999999999999999999", now), Some(DAY));
        for junk in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 12, 1), 20_788);
    }
}
