//! Dates as legacy systems write them, to ISO `YYYY-MM-DD`: `2015-03-01`, `2015/3/1`,
//! `2015.03.01`, `20150301`, `2015年3月1日`, any of these followed by a time, Excel serial
//! numbers (1900 system with its leap-year bug, or 1904), optionally day-first or
//! month-first forms, and the words that mean "no end" for a validity end date.

use time::{Date, Month};

use super::text::halfwidth;

/// Date forms a mapping may enable (`[dates] styles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateStyle {
    /// Year first: `2015-03-01`, `2015/3/1`, `2015.03.01`, `20150301`, `2015年3月1日`.
    Ymd,
    /// Excel serial day numbers, 10000–99999 (1927–2173), fraction allowed.
    ExcelSerial,
    /// Day first with a 4-digit year last: `01/03/2015`, `1.3.2015`.
    Dmy,
    /// Month first with a 4-digit year last: `03/01/2015`.
    Mdy,
}

/// How a mapping reads dates.
#[derive(Debug, Clone)]
pub struct DateRules {
    pub styles: Vec<DateStyle>,
    /// Values of a validity end date meaning "no end" (compared after trimming).
    pub open_end: Vec<String>,
    /// Excel serials count from 1904-01-01 (old Mac workbooks) instead of 1900.
    pub excel_1904: bool,
}

impl Default for DateRules {
    fn default() -> Self {
        DateRules {
            styles: vec![DateStyle::Ymd, DateStyle::ExcelSerial],
            open_end: ["长期", "永久", "无期限", "长期有效", "无固定期限", "-", "—", "/"]
                .map(String::from)
                .to_vec(),
            excel_1904: false,
        }
    }
}

const EXPECTED: &str =
    "not a date (expected e.g. 2015-03-01, 2015/3/1, 2015.03.01, 20150301, 2015年3月1日 or an Excel serial number)";

fn calendar(y: i32, m: u32, d: u32, original: &str) -> Result<Date, String> {
    if !(1900..=2199).contains(&y) {
        return Err(format!("year {y} is out of range 1900-2199"));
    }
    Month::try_from(u8::try_from(m).unwrap_or(0))
        .ok()
        .and_then(|month| Date::from_calendar_date(y, month, u8::try_from(d).ok()?).ok())
        .ok_or_else(|| format!("{original} is not a calendar date"))
}

fn digits(s: &str, min: usize, max: usize) -> Option<u32> {
    (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Excel's last date, 9999-12-31, in the 1900 system.
const MAX_EXCEL_SERIAL: f64 = 2_958_465.0;

/// Converts an Excel serial day number to a date. In the 1900 system serial 60 is the
/// non-existent 1900-02-29 (kept by Excel for Lotus compatibility) and gives `None`.
pub fn excel_serial(serial: f64, excel_1904: bool) -> Option<Date> {
    // Beyond Excel's last day (9999-12-31) the day count would overflow `Duration::days`.
    if !serial.is_finite() || !(1.0..=MAX_EXCEL_SERIAL).contains(&serial) {
        return None;
    }
    let days = serial.floor() as i64;
    let (epoch, offset) = if excel_1904 {
        (Date::from_calendar_date(1904, Month::January, 1).ok()?, days)
    } else if days == 60 {
        return None;
    } else if days < 60 {
        (Date::from_calendar_date(1899, Month::December, 31).ok()?, days)
    } else {
        (Date::from_calendar_date(1899, Month::December, 30).ok()?, days)
    };
    epoch.checked_add(time::Duration::days(offset))
}

/// Drops a trailing time of day (`2015-03-01 00:00:00`, `2015-03-01T08:30`).
fn strip_time(s: &str) -> Result<&str, String> {
    let Some(i) = s.find([' ', 'T']) else {
        return Ok(s);
    };
    let time = s[i + 1..].trim();
    let time = time.strip_suffix('Z').unwrap_or(time);
    if time.bytes().all(|b| b.is_ascii_digit() || matches!(b, b':' | b'.')) {
        Ok(&s[..i])
    } else {
        Err(EXPECTED.to_string())
    }
}

fn ymd(s: &str, original: &str) -> Option<Result<Date, String>> {
    if let Some((y, rest)) = s.split_once('年') {
        let (m, rest) = rest.split_once('月')?;
        let d = rest.strip_suffix('日').unwrap_or(rest);
        let (y, m, d) = (digits(y, 4, 4)?, digits(m, 1, 2)?, digits(d, 1, 2)?);
        return Some(calendar(y as i32, m, d, original));
    }
    if let Some(n) = digits(s, 8, 8) {
        return Some(calendar((n / 10000) as i32, n / 100 % 100, n % 100, original));
    }
    let sep = s.find(['-', '/', '.'])?;
    let sep = s.as_bytes()[sep] as char;
    let mut parts = s.split(sep);
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (y, m, d) = (digits(y, 4, 4)?, digits(m, 1, 2)?, digits(d, 1, 2)?);
    Some(calendar(y as i32, m, d, original))
}

/// `a<sep>b<sep>yyyy` → (a, b, yyyy).
fn year_last(s: &str) -> Option<(u32, u32, u32)> {
    let sep = s.find(['-', '/', '.'])?;
    let sep = s.as_bytes()[sep] as char;
    let mut parts = s.split(sep);
    let (a, b, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((digits(a, 1, 2)?, digits(b, 1, 2)?, digits(y, 4, 4)?))
}

fn serial(s: &str, rules: &DateRules) -> Option<Result<Date, String>> {
    let int = s
        .split_once('.')
        .map_or(s, |(i, f)| if digits(f, 1, 12).is_some() { i } else { "" });
    digits(int, 5, 5)?;
    let n: f64 = s.parse().ok()?;
    Some(excel_serial(n, rules.excel_1904).ok_or_else(|| format!("{s} is not a valid Excel date serial")))
}

/// Parses a date in any enabled style; the error is the reason to report.
pub fn parse(value: &str, rules: &DateRules) -> Result<Date, String> {
    let s = halfwidth(value.trim());
    let s = s.as_ref();
    if s.is_empty() {
        return Err("is empty".into());
    }
    for style in &rules.styles {
        let found = match style {
            DateStyle::ExcelSerial => serial(s, rules),
            DateStyle::Ymd => ymd(strip_time(s)?, s),
            DateStyle::Dmy => year_last(strip_time(s)?).map(|(d, m, y)| calendar(y as i32, m, d, s)),
            DateStyle::Mdy => year_last(strip_time(s)?).map(|(m, d, y)| calendar(y as i32, m, d, s)),
        };
        if let Some(r) = found {
            return r;
        }
    }
    Err(EXPECTED.to_string())
}

/// A validity end date: `None` for empty or an open-end word (`长期`, `永久`, `无期限` …).
pub fn parse_end(value: &str, rules: &DateRules) -> Result<Option<Date>, String> {
    let s = super::text::trim(value);
    if s.is_empty() || rules.open_end.iter().any(|w| w == s) {
        return Ok(None);
    }
    parse(s, rules).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licence::record::format_date;
    use proptest::prelude::*;

    fn iso(s: &str) -> String {
        format_date(parse(s, &DateRules::default()).unwrap_or_else(|e| panic!("{s}: {e}")))
    }

    #[test]
    fn every_documented_form() {
        for s in [
            "2015-03-01",
            "2015/3/1",
            "2015.03.01",
            "2015.3.1",
            "20150301",
            "2015年3月1日",
            "2015年03月01",
            "2015-03-01 00:00:00",
            "2015-3-1T08:30:00Z",
            "42064",
            "42064.75",
            " ２０１５－０３－０１ ",
        ] {
            assert_eq!(iso(s), "2015-03-01", "{s}");
        }
    }

    #[test]
    fn excel_serials_and_the_1900_leap_bug() {
        assert_eq!(excel_serial(1.0, false).map(format_date).unwrap(), "1900-01-01");
        assert_eq!(excel_serial(59.0, false).map(format_date).unwrap(), "1900-02-28");
        assert_eq!(excel_serial(60.0, false), None);
        assert_eq!(excel_serial(61.0, false).map(format_date).unwrap(), "1900-03-01");
        assert_eq!(excel_serial(42064.0, false).map(format_date).unwrap(), "2015-03-01");
        assert_eq!(excel_serial(40602.0, true).map(format_date).unwrap(), "2015-03-01");
        assert_eq!(excel_serial(2_958_465.0, false).map(format_date).unwrap(), "9999-12-31");
    }

    #[test]
    fn huge_serials_are_not_dates() {
        // Used to panic: "overflow constructing `time::SignedDuration`" (days × 86400).
        assert_eq!(excel_serial(1e300, false), None);
        assert_eq!(excel_serial(f64::MAX, true), None);
        assert_eq!(excel_serial(2_958_466.0, false), None);
    }

    #[test]
    fn invalid_and_unrecognised() {
        let r = DateRules::default();
        assert_eq!(
            parse("2015-02-30", &r).unwrap_err(),
            "2015-02-30 is not a calendar date"
        );
        assert!(parse("20151301", &r).unwrap_err().contains("not a calendar date"));
        assert!(parse("2015", &r).unwrap_err().contains("not a date"));
        assert!(parse("1/3/2015", &r).is_err());
        assert!(parse("2015-03-01 noon", &r).is_err());
        assert!(parse("1850-01-01", &r).unwrap_err().contains("out of range"));
    }

    #[test]
    fn day_or_month_first_when_enabled() {
        let mut r = DateRules::default();
        r.styles.push(DateStyle::Dmy);
        assert_eq!(format_date(parse("1/3/2015", &r).unwrap()), "2015-03-01");
        r.styles = vec![DateStyle::Mdy];
        assert_eq!(format_date(parse("3/1/2015", &r).unwrap()), "2015-03-01");
    }

    #[test]
    fn open_ended() {
        let r = DateRules::default();
        for s in ["", "  ", "长期", "永久", "无期限"] {
            assert_eq!(parse_end(s, &r).unwrap(), None, "{s}");
        }
        assert!(parse_end("2020-01-01", &r).unwrap().is_some());
        assert!(parse_end("2020-13-01", &r).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse(&s, &DateRules::default());
            let _ = parse_end(&s, &DateRules::default());
        }

        #[test]
        fn excel_serial_never_panics(f in any::<f64>(), excel_1904 in any::<bool>()) {
            let _ = excel_serial(f, excel_1904);
        }
    }
}
