//! Versions as tools print them: `v1.2.3`, `1.2.3`, `v1.34.0-rc.1`, `1.25` (Go minor releases).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A dotted version with an optional leading `v` and pre-release suffix. Comparison ignores the
/// `v`; a missing patch compares as 0 but is remembered for display.
#[derive(Debug, Clone, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: Option<u64>,
    pub pre: Option<String>,
    pub v_prefix: bool,
}

impl Version {
    /// `major.minor`, for skew checks.
    pub fn minor_pair(&self) -> (u64, u64) {
        (self.major, self.minor)
    }

    /// The same version written with a leading `v` (`v1.2.3`).
    pub fn with_v(&self) -> String {
        let mut copy = self.clone();
        copy.v_prefix = true;
        copy.to_string()
    }

    /// The same version written without a leading `v` (`1.2.3`).
    pub fn without_v(&self) -> String {
        let mut copy = self.clone();
        copy.v_prefix = false;
        copy.to_string()
    }

    /// Reads a version as tools print it, tolerating build metadata (`20.10.24+dfsg1`) and
    /// trailing words (`v1.34.0 (linux)`): the first token that parses, minus any `+…`.
    pub fn parse_lenient(text: &str) -> Option<Version> {
        text.split(|c: char| c.is_whitespace() || c == ',' || c == '"')
            .filter(|word| !word.is_empty())
            .find_map(|word| {
                let word = word.split('+').next().unwrap_or(word);
                word.parse().ok()
            })
    }

    /// The same release by number: `v1.37.1` and `1.37.1-dispatcher` are the same release,
    /// `1.37` and `1.37.0` are too.
    pub fn same_release(&self, other: &Version) -> bool {
        self.key() == other.key()
    }

    /// How many minor versions apart two versions are, or None across major versions.
    pub fn minor_distance(&self, other: &Version) -> Option<u64> {
        (self.major == other.major).then(|| self.minor.abs_diff(other.minor))
    }

    fn key(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch.unwrap_or(0))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.key() == other.key() && self.pre == other.pre
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        self.key()
            .cmp(&other.key())
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater, // 1.0.0 > 1.0.0-rc.1
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v_prefix {
            f.write_str("v")?;
        }
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(patch) = self.patch {
            write!(f, ".{patch}")?;
        }
        if let Some(pre) = &self.pre {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

impl FromStr for Version {
    type Err = String;

    fn from_str(text: &str) -> Result<Version, String> {
        let bad = || format!("`{text}` is not a version like v1.2.3 or 1.2.3");
        let (v_prefix, rest) = match text.strip_prefix('v') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (numbers, pre) = match rest.split_once('-') {
            Some((numbers, pre)) if !pre.is_empty() => (numbers, Some(pre.to_owned())),
            Some(_) => return Err(bad()),
            None => (rest, None),
        };
        let parts: Vec<&str> = numbers.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad());
        }
        let number = |part: &str| -> Result<u64, String> {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        Ok(Version {
            major: number(parts[0])?,
            minor: number(parts[1])?,
            patch: parts.get(2).map(|p| number(p)).transpose()?,
            pre,
            v_prefix,
        })
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Version, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        let a: Version = "v1.34.0".parse().unwrap();
        let b: Version = "1.34.0".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "v1.34.0");
        assert_eq!(b.with_v(), "v1.34.0");
        assert!("v1.34.0-rc.1".parse::<Version>().unwrap() < a);
        assert!("1.25".parse::<Version>().unwrap() < "1.25.1".parse::<Version>().unwrap());
        assert_eq!("1.25".parse::<Version>().unwrap().to_string(), "1.25");
        for bad in [
            "", "v", "1", "1.2.3.4", "1.x.3", "v1.2.3-", "latest", "1..2",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn lenient_parsing_reads_what_tools_print() {
        let engine = Version::parse_lenient("20.10.24+dfsg1").unwrap();
        assert_eq!(engine.to_string(), "20.10.24");
        let vendor = Version::parse_lenient("v1.32.4-dispatcher").unwrap();
        assert_eq!(vendor.pre.as_deref(), Some("dispatcher"));
        assert!(vendor.same_release(&"1.32.4".parse().unwrap()));
        assert!(!vendor.same_release(&"1.32.5".parse().unwrap()));
        assert_eq!(
            Version::parse_lenient("kind v0.30.0 go1.24.6 linux/amd64")
                .unwrap()
                .to_string(),
            "v0.30.0"
        );
        assert!(Version::parse_lenient("command not found").is_none());
        let a: Version = "v1.37.0".parse().unwrap();
        assert_eq!(a.minor_distance(&"1.36.9".parse().unwrap()), Some(1));
        assert_eq!(a.minor_distance(&"1.33.0".parse().unwrap()), Some(4));
        assert_eq!(a.minor_distance(&"2.37.0".parse().unwrap()), None);
    }
}
