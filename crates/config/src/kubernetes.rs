//! [kubernetes]: the Kubernetes minors the release supports. Optional: a target without it is
//! verified on the pin file's default node image. Which of the minors have a pinned node image
//! is the pins' business (`pins::Pins::for_kubernetes`); this section only states support.

use serde::Deserialize;

use crate::{Key, KeyPath, Problem};

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kubernetes {
    /// The supported minors as `"1.35"`, each once; None when the section does not list them.
    #[serde(default)]
    pub minors: Option<Vec<String>>,
}

impl Kubernetes {
    /// The listed minors as (major, minor), in the order written.
    pub fn minor_pairs(&self) -> Vec<(u64, u64)> {
        self.minors
            .iter()
            .flatten()
            .filter_map(|minor| parse_minor(minor))
            .collect()
    }

    /// Whether the target states support for `major.minor`; true when it lists none.
    pub fn supports(&self, minor: (u64, u64)) -> bool {
        self.minors.is_none() || self.minor_pairs().contains(&minor)
    }

    pub(crate) fn validate(&self) -> Option<Problem> {
        let minors = self.minors.as_ref()?;
        let at = |index: usize, message: String| {
            Problem::new(
                KeyPath(vec![
                    Key::Name("kubernetes".into()),
                    Key::Name("minors".into()),
                    Key::Index(index),
                ]),
                message,
            )
        };
        if minors.is_empty() {
            return Some(Problem::at(
                &["kubernetes", "minors"],
                "[kubernetes] minors is empty: list the Kubernetes minors the release supports, such as [\"1.35\", \"1.36\"], or remove the key to verify on the pin file's default node image",
            ));
        }
        let mut seen = Vec::new();
        for (index, minor) in minors.iter().enumerate() {
            let Some(pair) = parse_minor(minor) else {
                return Some(at(
                    index,
                    format!(
                        "[kubernetes] minors: {minor:?} is not a Kubernetes minor; write it as \"1.35\" (the pin file picks the patch release)"
                    ),
                ));
            };
            if seen.contains(&pair) {
                return Some(at(
                    index,
                    format!("[kubernetes] minors: {minor:?} is listed twice; list each minor once"),
                ));
            }
            seen.push(pair);
        }
        None
    }
}

/// `"1.35"` → (1, 35); anything else (a patch, a `v`, words) → None.
fn parse_minor(text: &str) -> Option<(u64, u64)> {
    let (major, minor) = text.split_once('.')?;
    let number = |part: &str| {
        (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u64>().ok())
            .flatten()
    };
    Some((number(major)?, number(minor)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(minors: &[&str]) -> Kubernetes {
        Kubernetes {
            minors: Some(minors.iter().map(|m| (*m).to_owned()).collect()),
        }
    }

    #[test]
    fn minors_are_major_dot_minor_each_once() {
        assert_eq!(listed(&["1.36", "1.35"]).validate(), None);
        assert_eq!(listed(&["1.36", "1.35"]).minor_pairs(), [(1, 36), (1, 35)]);
        for (minors, expected) in [
            (
                &["1.35", "1.35.8"][..],
                "\"1.35.8\" is not a Kubernetes minor",
            ),
            (&["v1.35"], "\"v1.35\" is not a Kubernetes minor"),
            (&["1.35", "1.34", "1.35"], "\"1.35\" is listed twice"),
            (&[], "minors is empty"),
        ] {
            let problem = listed(minors).validate().expect("a problem");
            assert!(
                problem.message.contains(expected),
                "{minors:?}: {problem:?}"
            );
        }
    }

    #[test]
    fn a_target_without_the_list_supports_every_minor() {
        let none = Kubernetes::default();
        assert_eq!(none.validate(), None);
        assert!(none.supports((1, 37)));
        assert!(listed(&["1.36"]).supports((1, 36)));
        assert!(!listed(&["1.36"]).supports((1, 37)));
    }
}
