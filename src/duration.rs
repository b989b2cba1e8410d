//! Go-style durations (`250ms`, `90s`, `5m`, `1h30m`, bare seconds) in and out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses `250ms`, `1.5s`, `90s`, `5m`, `1h30m`, `2h`, or bare (possibly fractional) seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("expected a duration such as 90s, 5m or 1h30m".into());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return seconds(secs);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or("expected a unit (ms, s, m, h) after the number")?;
        if num_len == 0 {
            return Err("expected a duration such as 90s, 5m or 1h30m".into());
        }
        let num: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("{:?} is not a number", &rest[..num_len]))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            u => return Err(format!("unknown unit {u:?} (use ms, s, m or h)")),
        };
        total += num * factor;
        rest = &rest[unit_len..];
    }
    seconds(total)
}

fn seconds(secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err("must be a positive duration".into());
    }
    // A year is far beyond any useful wait and keeps the arithmetic safe.
    if secs > 366.0 * 24.0 * 3600.0 {
        return Err("must be at most a year".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Formats like Go's `time.Duration`: `250ms`, `41.2s`, `5m0s`, `1h30m0s`.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let tenths = (ms + 50) / 100;
    if tenths < 600 {
        let (s, t) = (tenths / 10, tenths % 10);
        return if t == 0 {
            format!("{s}s")
        } else {
            format!("{s}.{t}s")
        };
    }
    let secs = (ms + 500) / 1000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else {
        format!("{m}m{s}s")
    }
}

/// A UTC civil time as a `SystemTime` (days-from-civil, Howard Hinnant); `None` before 1970
/// or out of range. Years are the four-digit ones RFC 3339 and HTTP dates can carry: a wider
/// year, which a server's header can hold, would overflow the arithmetic below.
pub fn civil_time(y: i64, m: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<SystemTime> {
    let fields = [
        (y, 0, 9999),
        (m, 1, 12),
        (d, 1, 31),
        (h, 0, 23),
        (mi, 0, 59),
        (s, 0, 60),
    ];
    if fields.iter().any(|&(v, lo, hi)| !(lo..=hi).contains(&v)) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + h * 3600 + mi * 60 + s).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// An RFC 3339 UTC time with `digits` (3 or 6) fractional digits, without a date-time crate
/// (days-to-civil, Howard Hinnant): `2026-11-22T02:18:43.123Z` for the JSON lines' `time`,
/// `2026-11-22T02:18:43.123456Z` for an Event's `eventTime` (a Kubernetes MicroTime).
pub fn format_rfc3339(t: SystemTime, digits: u32) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let frac = if digits >= 6 {
        format!("{:06}", d.subsec_micros())
    } else {
        format!("{:03}", d.subsec_millis())
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{frac}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
    )
}

/// An RFC 3339 time as Kubernetes writes it (`2026-11-22T05:00:00Z`, fractional seconds and
/// numeric offsets allowed).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = rest[1..].split_once(':')?;
            if oh.len() != 2 || om.len() != 2 {
                return None;
            }
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    let t = civil_time(y, m, d, h, mi, sec)?;
    if offset >= 0 {
        t.checked_sub(Duration::from_secs(offset as u64))
    } else {
        t.checked_add(Duration::from_secs(offset.unsigned_abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse_with_fractions_and_offsets() {
        let at = |secs| Some(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), at(0));
        assert_eq!(parse_rfc3339("2026-11-22T05:00:00Z"), at(1_795_323_600));
        assert_eq!(
            parse_rfc3339("2026-11-22T05:00:00.123456Z"),
            at(1_795_323_600)
        );
        assert_eq!(
            parse_rfc3339("2026-11-22T07:00:00+02:00"),
            at(1_795_323_600)
        );
        assert_eq!(
            parse_rfc3339("2026-11-22T04:30:00-00:30"),
            at(1_795_323_600)
        );
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22T05:00:00",
            "2026-13-01T00:00:00Z",
            "2026-11-22T05:00:00.Z",
            "2026-11-22T05:00:00+2",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn go_style_durations_parse() {
        let cases = [
            ("250ms", 250),
            ("90s", 90_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("1.5s", 1500),
            ("10", 10_000),
            ("0", 0),
            ("2h0m5s", 7_205_000),
        ];
        for (s, ms) in cases {
            assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)), "{s}");
        }
    }

    #[test]
    fn bad_durations_say_why() {
        for s in [
            "",
            "abc",
            "5x",
            "-1s",
            "-3",
            "s",
            "1.2.3s",
            "5m30",
            "inf",
            "NaN",
            "99999999h",
        ] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::from_millis(41_230)), "41.2s");
        assert_eq!(format(Duration::from_secs(30)), "30s");
        assert_eq!(format(Duration::from_secs(300)), "5m0s");
        assert_eq!(format(Duration::from_secs(5400)), "1h30m0s");
    }
}
