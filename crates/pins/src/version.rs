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
}
