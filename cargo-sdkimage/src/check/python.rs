//! The Python end-of-life table, and reading `python3 --version`.

use std::fmt;

use time::{Date, Month};

/// The end of life of each Python version (the end of its security support), from the Python
/// developer's guide (<https://devguide.python.org/versions/>) and the release PEPs; where the
/// guide gives a month only, its last day. `(major, minor, year, month, day)`.
pub const PYTHON_END_OF_LIFE: &[(u32, u32, i32, u8, u8)] = &[
    (2, 7, 2020, 1, 1),
    (3, 0, 2009, 6, 27),
    (3, 1, 2012, 4, 9),
    (3, 2, 2016, 2, 20),
    (3, 3, 2017, 9, 29),
    (3, 4, 2019, 3, 18),
    (3, 5, 2020, 9, 30),
    (3, 6, 2021, 12, 23),
    (3, 7, 2023, 6, 27),
    (3, 8, 2024, 10, 7),
    (3, 9, 2025, 10, 31),
    (3, 10, 2026, 10, 31),
    (3, 11, 2027, 10, 31),
    (3, 12, 2028, 10, 31),
    (3, 13, 2029, 10, 31),
    (3, 14, 2030, 10, 31),
];

/// `Python 3.11.4` (what `python3 --version` prints, on stdout or, before 3.4, stderr) ->
/// (3, 11, "3.11.4").
pub fn parse_version(output: &str) -> Option<(u32, u32, String)> {
    let line = output
        .lines()
        .find(|l| l.trim_start().starts_with("Python "))?;
    let full = line.trim().strip_prefix("Python ")?.trim().to_string();
    let mut parts = full.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?, full))
}

/// What the end-of-life table says of one Python version on one day; its `Display` is the
/// sentence `check` shows, naming the date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// In the table, supported until the date.
    SupportedUntil(Date),
    /// Newer than the table's newest version (`newest`): taken as supported.
    Newer { newest: (u32, u32) },
    /// In the table, past its end of life.
    Ended { major: u32, minor: u32, eol: Date },
    /// Older than every version in the table.
    Older,
}

impl Verdict {
    pub fn is_supported(&self) -> bool {
        matches!(self, Verdict::SupportedUntil(_) | Verdict::Newer { .. })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::SupportedUntil(eol) => write!(f, "supported until {eol}"),
            Verdict::Newer {
                newest: (major, minor),
            } => write!(
                f,
                "newer than {major}.{minor}, the newest in sdkimage's end-of-life table: taken as supported"
            ),
            Verdict::Ended { major, minor, eol } => write!(
                f,
                "Python {major}.{minor} reached its end of life on {eol}; move the image to a supported Python"
            ),
            Verdict::Older => write!(
                f,
                "older than every version with a known end of life (2.7 ended on 2020-01-01)"
            ),
        }
    }
}

/// The verdict on Python `major.minor` on `today`.
pub fn verdict(major: u32, minor: u32, today: Date) -> Verdict {
    let found = PYTHON_END_OF_LIFE
        .iter()
        .find(|&&(a, b, ..)| (a, b) == (major, minor));
    let Some(&(_, _, y, m, d)) = found else {
        let (newest_major, newest_minor, ..) = PYTHON_END_OF_LIFE[PYTHON_END_OF_LIFE.len() - 1];
        return if (major, minor) > (newest_major, newest_minor) {
            Verdict::Newer {
                newest: (newest_major, newest_minor),
            }
        } else {
            Verdict::Older
        };
    };
    let month = Month::try_from(m).expect("table months are valid");
    let eol = Date::from_calendar_date(y, month, d).expect("table dates are valid");
    if today > eol {
        Verdict::Ended { major, minor, eol }
    } else {
        Verdict::SupportedUntil(eol)
    }
}

/// Today's date (UTC).
pub fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap()
    }

    #[test]
    fn versions_are_read_from_what_python_prints() {
        assert_eq!(
            parse_version("Python 3.7.17\n"),
            Some((3, 7, "3.7.17".into()))
        );
        assert_eq!(
            parse_version("Python 3.13.0rc2"),
            Some((3, 13, "3.13.0rc2".into()))
        );
        assert_eq!(
            parse_version("Python 2.7.18"),
            Some((2, 7, "2.7.18".into()))
        );
        assert_eq!(parse_version("command not found"), None);
    }

    #[test]
    fn end_of_life_by_date_with_the_date_in_the_message() {
        let v = verdict(3, 7, date(2026, 12, 2));
        assert!(!v.is_supported());
        assert!(v.to_string().contains("2023-06-27"), "{v}");
        assert!(verdict(3, 10, date(2026, 10, 31)).is_supported());
        let v = verdict(3, 10, date(2026, 11, 1));
        assert!(!v.is_supported());
        assert!(v.to_string().contains("2026-10-31"), "{v}");
        assert_eq!(
            verdict(3, 13, date(2026, 12, 2)).to_string(),
            "supported until 2029-10-31"
        );
        assert!(verdict(3, 99, date(2026, 12, 2)).is_supported());
        assert_eq!(verdict(2, 6, date(2026, 12, 2)), Verdict::Older);
        assert_eq!(verdict(1, 5, date(2026, 12, 2)), Verdict::Older);
    }
}
