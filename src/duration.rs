//! Go-style durations (`250ms`, `90s`, `5m`, `1h30m`, bare seconds) in and out.

use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
