//! Time as the tool writes and reads it: RFC 3339 timestamps (Kubernetes, Argo CD, the
//! journal, the lock), Kubernetes' MicroTime, compact stamps for run ids and file names, and
//! durations for people.
//!
//! Owns: formatting and parsing times and durations (UTC only, no time zones database).
//! Does not own: measuring time or waiting (`retry`, the steps), parsing duration flags of one
//! command (`sync_homes`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2026-11-21T06:17:46Z` (UTC, whole seconds), as Kubernetes and Argo CD write times.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `2026-11-21T06:17:46.123456Z`: Kubernetes' MicroTime (Lease times).
pub fn rfc3339_micros(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let whole = rfc3339(UNIX_EPOCH + Duration::from_secs(d.as_secs()));
    format!("{}.{:06}Z", whole.trim_end_matches('Z'), d.subsec_micros())
}

/// Reads an RFC 3339 time (`2026-11-21T06:17:46Z`, `…46.123Z`, `…46+01:00`) as the time since
/// the Unix epoch; `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<Duration> {
    let s = s.trim();
    let num = |a: usize, b: usize| -> Option<i64> {
        let part = s.get(a..b)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    if s.get(4..5)? != "-" || s.get(7..8)? != "-" || !matches!(s.get(10..11)?, "T" | "t" | " ") {
        return None;
    }
    let (h, mi, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = s.get(19..)?;
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let text: String = frac[..digits]
            .chars()
            .chain("000000000".chars())
            .take(9)
            .collect();
        nanos = text.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let hh: i64 = o.get(1..3)?.parse().ok()?;
            let mm: i64 = o.get(4..6)?.parse().ok()?;
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (hh * 3600 + mm * 60)
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some(Duration::new(u64::try_from(secs).ok()?, nanos))
}

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `20261121T061746Z`, for file names and run ids.
pub fn compact(t: SystemTime) -> String {
    rfc3339(t).replace(['-', ':'], "")
}

/// A duration for messages and reports: `90ms`, `12s`, `1.5s`, `4m05s`, `1h02m`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let s = d.as_secs_f64();
        if s.fract() < 0.05 {
            format!("{}s", s.round())
        } else {
            format!("{s:.1}s")
        }
    } else if ms < 3_600_000 {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = d.as_secs() / 60;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_times() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_241_866);
        let s = rfc3339(t);
        assert_eq!(s, "2026-11-21T06:17:46Z");
        assert_eq!(parse_rfc3339(&s), Some(Duration::from_secs(1_795_241_866)));
        assert_eq!(
            parse_rfc3339("2026-11-21T07:17:46.5+01:00"),
            Some(Duration::new(1_795_241_866, 500_000_000))
        );
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let micro = rfc3339_micros(t + Duration::from_micros(1234));
        assert_eq!(micro, "2026-11-21T06:17:46.001234Z");
        assert_eq!(
            parse_rfc3339(&micro),
            Some(Duration::new(1_795_241_866, 1_234_000))
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00Z"),
            Some(Duration::from_secs(951_782_400))
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(rfc3339(leap), "2024-02-29T12:34:56Z");
        assert_eq!(compact(leap), "20240229T123456Z");
        assert_eq!(parse_rfc3339("2026-11-21T06:17:46"), None);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(90)), "90ms");
        assert_eq!(human(Duration::from_secs(12)), "12s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_secs(245)), "4m05s");
        assert_eq!(human(Duration::from_secs(3720)), "1h02m");
        assert_eq!(
            compact(UNIX_EPOCH + Duration::from_secs(1_795_241_866)),
            "20261121T061746Z"
        );
    }
}
