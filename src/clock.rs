//! Wall-clock timestamps as RFC 3339 UTC strings, without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// `time` as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds; times before 1970 clamp to 1970).
pub fn rfc3339(time: SystemTime) -> String {
    let mut out = String::with_capacity(20);
    push_rfc3339(&mut out, time, false);
    out
}

/// `time` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, milliseconds): log lines and the HTTP
/// operations API.
pub fn rfc3339_millis(time: SystemTime) -> String {
    let mut out = String::with_capacity(24);
    push_rfc3339(&mut out, time, true);
    out
}

/// Appends `time` to `out`, digit by digit: every log line starts with one, and the
/// `format!` this replaced was a tenth of an access-log line's instructions.
pub fn push_rfc3339(out: &mut String, time: SystemTime, millis: bool) {
    let at = Civil::of(time);
    push_digits(out, at.year, 4);
    out.push('-');
    push_digits(out, at.month, 2);
    out.push('-');
    push_digits(out, at.day, 2);
    out.push('T');
    at.push_time_of_day(out);
    if millis {
        out.push('.');
        push_digits(out, at.millis, 3);
    }
    out.push('Z');
}

/// Appends `time` as an HTTP-date (RFC 9110 §5.6.7, `Sun, 06 Nov 1994 08:49:37 GMT`): the
/// `Date` field of every HTTP answer.
pub fn push_http_date(out: &mut String, time: SystemTime) {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let at = Civil::of(time);
    // 1970-01-01 was a Thursday.
    out.push_str(WEEKDAYS[(at.days % 7) as usize]);
    out.push_str(", ");
    push_digits(out, at.day, 2);
    out.push(' ');
    out.push_str(MONTHS[(at.month as usize).clamp(1, 12) - 1]);
    out.push(' ');
    push_digits(out, at.year, 4);
    out.push(' ');
    at.push_time_of_day(out);
    out.push_str(" GMT");
}

/// A moment split into what both formats print (UTC; before 1970 clamps to 1970).
struct Civil {
    /// Whole days since 1970-01-01.
    days: u64,
    year: u32,
    month: u32,
    day: u32,
    second_of_day: u64,
    millis: u32,
}

impl Civil {
    fn of(time: SystemTime) -> Civil {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let days = secs / 86_400;
        let (year, month, day) = civil_from_days(days as i64);
        Civil {
            days,
            year: u32::try_from(year).unwrap_or(9999).min(9999),
            month,
            day,
            second_of_day: secs % 86_400,
            millis: since.subsec_millis(),
        }
    }

    /// `HH:MM:SS`.
    fn push_time_of_day(&self, out: &mut String) {
        let s = self.second_of_day;
        push_digits(out, (s / 3600) as u32, 2);
        out.push(':');
        push_digits(out, (s % 3600 / 60) as u32, 2);
        out.push(':');
        push_digits(out, (s % 60) as u32, 2);
    }
}

/// The last `width` decimal digits of `n`, zero-padded.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = n / 10u32.pow(place) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days` algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_dates() {
        let at = |secs: u64| rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(at(4_102_444_799), "2099-12-31T23:59:59Z");
        let precise = UNIX_EPOCH + Duration::from_millis(951_782_400_007);
        assert_eq!(rfc3339_millis(precise), "2000-02-29T00:00:00.007Z");
        let late = UNIX_EPOCH + Duration::from_millis(4_102_444_799_999);
        assert_eq!(rfc3339_millis(late), "2099-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn http_dates() {
        let at = |secs: u64| {
            let mut out = String::new();
            push_http_date(&mut out, UNIX_EPOCH + Duration::from_secs(secs));
            out
        };
        // RFC 9110's own example, the epoch, a leap day and the day this was written.
        assert_eq!(at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(1_796_322_128), "Thu, 03 Dec 2026 18:22:08 GMT");
    }
}
