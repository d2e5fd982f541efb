//! config: the target config (`hack/targets/<name>.toml`): which Gateway API implementation a
//! run verifies — its release repository, which assets and images to fetch, how to install it,
//! and how to reach and judge its gateway.
//!
//! The model is strict (unknown keys are errors with file:line:col and a fix) and owns no
//! behaviour: the crates that act on a section receive that section as a value. A semantic
//! problem names its entry's key path ([`KeyPath`]) and is located at that value's line and
//! column from the parser's spans, never by searching the text. A section owner whose rules need
//! what this crate cannot know (the conformance crate's case names) adds them through
//! [`Document::check`] and gets the same located errors. This crate never reads the process
//! environment, never prints and never touches the network. Each section lives in its own
//! module, owned by the crate that consumes it.

pub mod artifacts;
pub mod cluster;
pub mod conformance;
pub mod install;
pub mod kubernetes;
pub mod notify;
pub mod release;

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The default target: kgateway's latest release.
pub const DEFAULT_TARGET: &str = "hack/targets/kgateway.toml";

/// A whole target config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub release: release::Release,
    #[serde(default)]
    pub artifacts: artifacts::Artifacts,
    pub install: install::Install,
    #[serde(default)]
    pub conformance: conformance::Conformance,
    #[serde(default)]
    pub kubernetes: kubernetes::Kubernetes,
    #[serde(default)]
    pub load_balancer: cluster::LoadBalancer,
    #[serde(default)]
    pub diagnostics: cluster::Diagnostics,
    #[serde(default)]
    pub existing: cluster::Existing,
    #[serde(default)]
    pub notify: notify::Notify,
}

/// A problem with a config file, located and with a fix. Callers treat it as bad input (exit 2).
pub type ConfigError = pins::PinError;

/// Reads and validates a target config with this crate's rules. A subcommand that runs a target
/// wants `conformance::target::load`, which also checks the case and feature names this crate
/// does not know.
pub fn load(path: &Path) -> Result<Target, ConfigError> {
    Document::load(path).map(|document| document.target)
}

/// Parses target-config text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<Target, ConfigError> {
    Document::parse(path, text).map(|document| document.target)
}

/// A validated target config and the text it was read from, so that a problem a section's
/// owner finds later (the conformance crate knows its case names; this crate does not) names
/// the file, line and column of its entry like the problems found here.
#[derive(Debug, Clone)]
pub struct Document {
    pub target: Target,
    path: PathBuf,
    text: String,
}

impl Document {
    /// Reads and validates a target config.
    pub fn load(path: &Path) -> Result<Document, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            path: path.to_owned(),
            line_col: None,
            message: format!(
                "cannot read the target config: {error}; pass an existing file with --config (the default is {DEFAULT_TARGET})"
            ),
        })?;
        Document::parse(path, &text)
    }

    /// Parses and validates target-config text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Document, ConfigError> {
        let target: Target = toml::from_str(text).map_err(|error| ConfigError {
            path: PathBuf::from(path),
            line_col: error.span().map(|span| pins::line_col(text, span.start)),
            message: format!(
                "{}; fix this entry ({DEFAULT_TARGET} is a complete, commented example)",
                error.message().trim_end_matches('.')
            ),
        })?;
        let document = Document {
            target,
            path: PathBuf::from(path),
            text: text.to_owned(),
        };
        let target = &document.target;
        let problems = [
            target.release.validate(),
            target.artifacts.validate(),
            target.install.validate(),
            target.conformance.validate(),
            target.kubernetes.validate(),
            target.load_balancer.validate(),
            target.diagnostics.validate(),
            target.existing.validate(),
            target.notify.validate(),
        ];
        match problems.into_iter().flatten().next() {
            Some(problem) => Err(document.locate(&problem)),
            None => Ok(document),
        }
    }

    /// The target, once `rule` (the checks a section's owner adds) finds no problem in it.
    pub fn check(
        self,
        rule: impl FnOnce(&Target) -> Result<(), Problem>,
    ) -> Result<Target, ConfigError> {
        match rule(&self.target) {
            Ok(()) => Ok(self.target),
            Err(problem) => Err(self.locate(&problem)),
        }
    }

    /// `problem` as an error at the line and column of its entry: the value at its key path,
    /// else (the entry has its default) at `otherwise`, else at the nearest enclosing table or
    /// array the file has.
    pub fn locate(&self, problem: &Problem) -> ConfigError {
        let offset = toml::de::DeTable::parse(&self.text).ok().map(|document| {
            let root = toml::Spanned::new(
                document.span(),
                toml::de::DeValue::Table(document.into_inner()),
            );
            let (span, exact) = find(&root, &problem.path);
            match (exact, &problem.otherwise) {
                (false, Some(otherwise)) => match find(&root, otherwise) {
                    (other, true) => other.start,
                    (_, false) => span.start,
                },
                _ => span.start,
            }
        });
        ConfigError {
            path: self.path.clone(),
            line_col: offset.map(|offset| pins::line_col(&self.text, offset)),
            message: problem.message.clone(),
        }
    }
}

/// The span of the value at `path`, or of its nearest ancestor in the file, and whether it is
/// the value itself.
fn find(root: &toml::Spanned<toml::de::DeValue<'_>>, path: &KeyPath) -> (Range<usize>, bool) {
    use toml::de::DeValue;
    let mut value = root;
    for key in &path.0 {
        let child = match (value.get_ref(), key) {
            (DeValue::Table(table), Key::Name(name)) => table
                .iter()
                .find(|(entry, _)| entry.get_ref() == name)
                .map(|(_, child)| child),
            (DeValue::Array(array), Key::Index(index)) => array.get(*index),
            _ => None,
        };
        match child {
            Some(child) => value = child,
            None => return (value.span(), false),
        }
    }
    (value.span(), true)
}

/// One step of a [`KeyPath`]: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Name(String),
    Index(usize),
}

/// Where an entry is in a config, as TOML keys and array indices: `["conformance", "skip", 2]`
/// is the third name in `[conformance] skip`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Key>);

impl KeyPath {
    /// The path through these table keys.
    pub fn new(keys: &[&str]) -> KeyPath {
        KeyPath(
            keys.iter()
                .map(|key| Key::Name((*key).to_owned()))
                .collect(),
        )
    }

    /// This path, then table key `name`.
    pub fn key(mut self, name: &str) -> KeyPath {
        self.0.push(Key::Name(name.to_owned()));
        self
    }

    /// This path, then array index `index`.
    pub fn index(mut self, index: usize) -> KeyPath {
        self.0.push(Key::Index(index));
        self
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, key) in self.0.iter().enumerate() {
            match key {
                Key::Name(name) if position == 0 => write!(f, "{name}")?,
                Key::Name(name) => write!(f, ".{name}")?,
                Key::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A semantic problem found after parsing, at the entry `path` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: KeyPath,
    /// The entry that locates the problem when `path` is not in the file (it has its default):
    /// the other half of a pair that does not fit, or the table a missing key belongs in.
    pub otherwise: Option<KeyPath>,
    pub message: String,
}

impl Problem {
    /// A problem with the entry at these table keys.
    pub fn at(keys: &[&str], message: impl Into<String>) -> Problem {
        Problem::new(KeyPath::new(keys), message)
    }

    /// A problem with the entry at `path`.
    pub fn new(path: KeyPath, message: impl Into<String>) -> Problem {
        Problem {
            path,
            otherwise: None,
            message: message.into(),
        }
    }

    /// Located at `path` when the entry itself is not written in the file.
    pub fn otherwise(mut self, path: KeyPath) -> Problem {
        self.otherwise = Some(path);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid target whose comments (and other sections) repeat every bad value the cases
    /// below write, so a location found by searching the text would be wrong.
    const NOISY: &str = r#"# Comments that name the bad values: repo = "kgateway", tag = "2.1/0", parallelism = 0,
# retries = 21, "Kgateway_1", "Kgateway", "repo/kgateway", "{tag}", node_port = 80, " ", "",
# "bad image", "a b", "lower", "https://x", "Other", 0, 99999, 10, 3600.
[release]
repo = "a/b"
tag = "latest"
project = "kgateway"

[artifacts]
# parallelism = 0 would be refused
patterns = ["*.tar.gz"]
image_archives = ["*.tar"]
images = ["cr.example/a:{version}"]
digest_list = "images.txt"
max_asset_mib = 2048
parallelism = 4
total_timeout_secs = 1800
retries = 5

[install]
# gateway_class = "Kgateway_1" is not a DNS label
gateway_class = "kgateway"
controller = { namespace = "kgateway-system", deployment = "kgateway" }

[[install.charts]]
name = "kgateway-crds"
chart = "oci://cr.example/charts/kgateway-crds"
version = "{version}"
namespace = "kgateway-system"

[[install.charts]]
name = "kgateway"
chart = "oci://cr.example/charts/kgateway"
version = "{version_no_v}"
namespace = "kgateway"

[install.node_port]
node_port = 30080
host_port = 8080

[install.timeouts]
crds_secs = 60

[conformance]
consecutive_successes = 3
poll_interval_ms = 100
deadline_seconds = 30
concurrency = 10
listeners = []
health_urls = []

[kubernetes]
minors = ["1.36", "1.35"]

[load_balancer]
address_timeout_secs = 120

[diagnostics]
pods = [
    { namespace = "kgateway-system", selector = "app=kgateway" },
    { namespace = "other", selector = "app=other" },
]

[existing]
echo_image = "registry.example/echo:v1"

[notify]
webhook_url_env = "RELEASE_GATE_WEBHOOK_URL"
webhook_timeout_secs = 30
"#;

    /// `NOISY` with `from` replaced by `to`, in which `@@` marks where the error must point.
    fn located(from: &str, to: &str) -> (ConfigError, (usize, usize)) {
        assert_eq!(NOISY.matches(from).count(), 1, "`{from}` is not unique");
        let marked = NOISY.replacen(from, to, 1);
        let offset = marked.find("@@").expect("a @@ marker");
        let text = marked.replacen("@@", "", 1);
        let error = parse(Path::new("t.toml"), &text).expect_err(to);
        (error, pins::line_col(&text, offset))
    }

    #[test]
    fn the_noisy_target_is_valid() {
        parse(Path::new("t.toml"), NOISY).unwrap();
    }

    #[test]
    fn kubernetes_minors_problems_point_at_the_entry() {
        for (to, expected) in [
            (r#"minors = ["1.36", @@"1.36"]"#, "\"1.36\" is listed twice"),
            (r#"minors = [@@"1.35.8"]"#, "is not a Kubernetes minor"),
            ("minors = @@[]", "minors is empty"),
        ] {
            let (error, at) = located(r#"minors = ["1.36", "1.35"]"#, to);
            assert_eq!(error.line_col, Some(at), "{to}: {error}");
            assert!(error.message.contains(expected), "{to}: {error}");
        }
    }

    #[test]
    fn every_problem_points_at_its_own_entry() {
        let cases = [
            (r#"repo = "a/b""#, r#"repo = @@"kgateway""#, "OWNER/NAME"),
            (r#"tag = "latest""#, r#"tag = @@"2.1/0""#, "[release] tag"),
            ("parallelism = 4", "parallelism = @@0", "1 to 32"),
            (
                "total_timeout_secs = 1800",
                "request_timeout_secs = 30\ntotal_timeout_secs = @@10",
                "do not fit",
            ),
            // The total has its default: the per-request timeout it cannot hold is the entry.
            (
                "total_timeout_secs = 1800",
                "request_timeout_secs = @@3600",
                "do not fit",
            ),
            ("retries = 5", "retries = @@21", "more than 20"),
            ("max_asset_mib = 2048", "max_asset_mib = @@0", "at least 1"),
            (
                r#"patterns = ["*.tar.gz"]"#,
                r#"patterns = ["*.tar.gz", @@" "]"#,
                "[artifacts] patterns",
            ),
            (
                r#"image_archives = ["*.tar"]"#,
                "image_archives = [\n    \"*.tar\",\n    @@\"\",\n]",
                "[artifacts] image_archives",
            ),
            (
                r#"digest_list = "images.txt""#,
                r#"digest_list = @@"a/images.txt""#,
                "plain name",
            ),
            (
                r#"images = ["cr.example/a:{version}"]"#,
                r#"images = ["cr.example/a:{version}", @@"bad image"]"#,
                "not an image reference",
            ),
            (
                r#"gateway_class = "kgateway""#,
                r#"gateway_class = @@"Kgateway_1""#,
                "gateway_class",
            ),
            (
                r#"deployment = "kgateway" }"#,
                r#"deployment = @@"Kgateway" }"#,
                "controller deployment",
            ),
            // A missing version is pointed at by its chart.
            (
                "chart = \"oci://cr.example/charts/kgateway\"\nversion = \"{version_no_v}\"\n",
                "chart = @@\"oci://cr.example/charts/kgateway\"\n",
                "has no version",
            ),
            (
                r#"version = "{version_no_v}""#,
                r#"version = @@"{tag}""#,
                "unknown placeholder",
            ),
            (
                r#"chart = "oci://cr.example/charts/kgateway""#,
                r#"chart = @@"repo/kgateway""#,
                "OCI registry",
            ),
            (
                "namespace = \"kgateway\"\n",
                "namespace = @@\"Kgateway\"\n",
                "chart `kgateway` namespace",
            ),
            (
                "name = \"kgateway\"\n",
                "name = @@\"Kgateway\"\n",
                "helm release name",
            ),
            ("node_port = 30080", "node_port = @@80", "30000-32767"),
            ("host_port = 8080", "host_port = @@0", "30000-32767"),
            ("crds_secs = 60", "crds_secs = @@0", "crds_secs = 0"),
            (
                "consecutive_successes = 3",
                "consecutive_successes = @@0",
                "consecutive_successes",
            ),
            (
                "deadline_seconds = 30",
                "deadline_seconds = @@0",
                "deadline_seconds",
            ),
            (
                "poll_interval_ms = 100",
                "poll_interval_ms = @@99999",
                "poll_interval_ms",
            ),
            ("concurrency = 10", "concurrency = @@0", "concurrency"),
            (
                "listeners = []",
                r#"listeners = ["http://127.0.0.1:1", @@"https://x"]"#,
                "not an http:// URL",
            ),
            (
                "health_urls = []",
                r#"health_urls = [@@"https://x"]"#,
                "not an http:// URL",
            ),
            (
                "address_timeout_secs = 120",
                "address_timeout_secs = @@0",
                "address_timeout_secs",
            ),
            (
                r#"{ namespace = "other","#,
                r#"{ namespace = @@"Other","#,
                "[diagnostics] pods namespace",
            ),
            (
                r#"selector = "app=other""#,
                r#"selector = @@"a b""#,
                "label selector",
            ),
            (
                r#"echo_image = "registry.example/echo:v1""#,
                r#"echo_image = @@"a b""#,
                "[existing] echo_image",
            ),
            (
                "webhook_timeout_secs = 30",
                "webhook_timeout_secs = @@0",
                "webhook_timeout_secs",
            ),
            (
                r#"webhook_url_env = "RELEASE_GATE_WEBHOOK_URL""#,
                r#"webhook_url_env = @@"lower""#,
                "webhook_url_env",
            ),
        ];
        for (from, to, says) in cases {
            let (error, expected) = located(from, to);
            assert_eq!(error.line_col, Some(expected), "{to}: {error}");
            assert!(error.message.contains(says), "{to}: {error}");
            assert_eq!(error.path, Path::new("t.toml"));
        }
    }

    #[test]
    fn a_repo_named_in_a_comment_above_is_found_on_its_own_line() {
        let text = "# Which release: repo = \"kgateway\" is wrong,\n# it must be OWNER/NAME.\n\n[release]\nrepo = \"kgateway\"\n[install]\ngateway_class = \"kgateway\"\n";
        let error = parse(Path::new("t.toml"), text).unwrap_err();
        assert_eq!(error.line_col, Some((5, 8)), "{error}");
        assert_eq!(
            error.to_string(),
            "t.toml:5:8: `kgateway` is not a GitHub repository: write it as OWNER/NAME, e.g. kgateway-dev/kgateway"
        );
    }

    #[test]
    fn an_entry_not_in_the_file_is_located_at_its_table() {
        let text = "[release]\nrepo = \"a/b\"\n\n[install]\ngateway_class = \"k\"\n\n[conformance]\nskip = [\"a\"]\n";
        let document = Document::parse(Path::new("t.toml"), text).unwrap();
        let at = |path: KeyPath| document.locate(&Problem::new(path, "m")).line_col;
        assert_eq!(
            at(KeyPath::new(&["conformance", "skip"]).index(0)),
            Some((8, 9))
        );
        // Past the end of the array: the array; a missing key: its table; no table: the top.
        assert_eq!(
            at(KeyPath::new(&["conformance", "skip"]).index(3)),
            Some((8, 8))
        );
        assert_eq!(
            at(KeyPath::new(&["conformance", "unsupported_features"])),
            Some((7, 1))
        );
        assert_eq!(at(KeyPath::new(&["notify", "on"])), Some((1, 1)));
        let problem = Problem::at(&["install", "node_port"], "m")
            .otherwise(KeyPath::new(&["install", "gateway_class"]));
        assert_eq!(document.locate(&problem).line_col, Some((5, 17)));
    }

    #[test]
    fn a_rule_of_a_section_owner_is_located_like_the_crate_s_own() {
        let text = "[release]\nrepo = \"a/b\"\n[install]\ngateway_class = \"k\"\n[conformance]\nskip = [\n  \"a\",\n  \"typo\",\n]\n";
        let document = Document::parse(Path::new("t.toml"), text).unwrap();
        let error = document
            .check(|target| {
                let index = target
                    .conformance
                    .skip
                    .iter()
                    .position(|name| name == "typo");
                Err(Problem::new(
                    KeyPath::new(&["conformance", "skip"]).index(index.unwrap()),
                    "unknown case `typo`",
                ))
            })
            .unwrap_err();
        assert_eq!(error.to_string(), "t.toml:8:3: unknown case `typo`");
        let document = Document::parse(Path::new("t.toml"), text).unwrap();
        assert!(document.check(|_| Ok(())).is_ok());
    }

    #[test]
    fn key_paths_read_like_toml() {
        let path = KeyPath::new(&["conformance", "skip"]).index(2);
        assert_eq!(path.to_string(), "conformance.skip[2]");
        assert_eq!(
            path.0,
            [
                Key::Name("conformance".to_owned()),
                Key::Name("skip".to_owned()),
                Key::Index(2)
            ]
        );
        assert_eq!(
            KeyPath::new(&["install", "charts"])
                .index(0)
                .key("version")
                .to_string(),
            "install.charts[0].version"
        );
    }
}
