//! Times as the protocol and the manifests write them: RFC 3339 in UTC, to the second
//! (`2026-11-30T05:40:06Z`), converted to and from seconds since the epoch without a clock.

/// Seconds since the epoch as an RFC 3339 UTC time, the protocol's time format.
pub fn rfc3339(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// An RFC 3339 UTC time as the protocol writes it (`2026-11-30T05:00:00Z`), in seconds since the
/// epoch; `None` for anything else.
pub fn epoch(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        text.get(r)?.bytes().try_fold(0i64, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let epoch = days * 86_400 + hh * 3600 + mm * 60 + ss;
    (rfc3339(epoch) == text).then_some(epoch)
}

#[cfg(test)]
mod tests {
    use super::{epoch, rfc3339};

    #[test]
    fn epoch_to_rfc3339_and_back() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_877_853), "2026-11-28T14:57:33Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        for t in [0, 1_795_877_853, 951_782_400, 4_102_444_799, 86_399] {
            assert_eq!(epoch(&rfc3339(t)), Some(t));
        }
        for bad in [
            "",
            "2026-02-30T00:00:00Z",
            "2026-11-28 14:57:33Z",
            "2026-11-28T14:57:33+01:00",
            "2026-13-01T00:00:00Z",
            "२०२६-11-28T14:57:33Z",
        ] {
            assert_eq!(epoch(bad), None, "{bad}");
        }
    }
}
