//! [install]: how the release is installed on the cluster — the GatewayClass its controller
//! serves, the Helm charts (each at a pinned version), the optional NodePort published on the
//! host, and how long each wait may take. The images loaded into kind are exactly those the
//! artifact step recorded ([artifacts]), never a second list. Owned by the cluster crate's
//! authors.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::{KeyPath, Problem};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Install {
    /// The GatewayClass the release's controller serves; the fixture's Gateway uses it.
    pub gateway_class: String,
    /// Helm charts installed in order.
    #[serde(default)]
    pub charts: Vec<Chart>,
    /// The gateway listener port the suite talks to (through a port-forward to the gateway's
    /// Service, found by its gateway-name label).
    #[serde(default = "default_gateway_port")]
    pub gateway_port: u16,
    /// Publish the gateway Service's NodePort on host loopback (kind `extraPortMappings`).
    #[serde(default)]
    pub node_port: Option<NodePort>,
    /// The release's controller Deployment: on a cluster the user brings (`--cluster
    /// existing`), it must be Available before anything is deployed.
    #[serde(default)]
    pub controller: Option<Controller>,
    #[serde(default)]
    pub timeouts: Timeouts,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    /// Helm release name.
    pub name: String,
    /// Chart reference, e.g. oci://cr.kgateway.dev/kgateway-dev/charts/kgateway.
    pub chart: String,
    /// Chart version; `{version}` is the release tag, `{version_no_v}` the tag without the `v` of
    /// `v2.1.0` (see [`fill_version`]).
    /// Required: an unpinned chart installs whatever is newest, not the release under test.
    #[serde(default)]
    pub version: Option<String>,
    pub namespace: String,
    /// `--set` values.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
}

/// A Deployment by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Controller {
    pub namespace: String,
    pub deployment: String,
}

/// `node_port` of the gateway Service, reachable at `127.0.0.1:host_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePort {
    pub node_port: u16,
    pub host_port: u16,
}

/// Per-wait deadlines, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// `kind create cluster --wait`.
    pub cluster_create_secs: u64,
    /// Gateway API CRDs Established.
    pub crds_secs: u64,
    /// `helm upgrade --install --wait --timeout`, per chart.
    pub helm_secs: u64,
    /// The Gateway Accepted and Programmed, listeners Programmed.
    pub gateway_secs: u64,
    /// Every HTTPRoute Accepted with ResolvedRefs.
    pub routes_secs: u64,
    /// Every backend pod Ready.
    pub pods_secs: u64,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            cluster_create_secs: 300,
            crds_secs: 60,
            helm_secs: 300,
            gateway_secs: 180,
            routes_secs: 120,
            pods_secs: 180,
        }
    }
}

impl Timeouts {
    pub fn cluster_create(&self) -> Duration {
        Duration::from_secs(self.cluster_create_secs)
    }
    pub fn crds(&self) -> Duration {
        Duration::from_secs(self.crds_secs)
    }
    pub fn helm(&self) -> Duration {
        Duration::from_secs(self.helm_secs)
    }
    pub fn gateway(&self) -> Duration {
        Duration::from_secs(self.gateway_secs)
    }
    pub fn routes(&self) -> Duration {
        Duration::from_secs(self.routes_secs)
    }
    pub fn pods(&self) -> Duration {
        Duration::from_secs(self.pods_secs)
    }
}

fn default_gateway_port() -> u16 {
    80
}

/// Checks an RFC 1123 DNS label, as Kubernetes requires for many names: at most 63 lowercase
/// letters, digits and `-`, starting and ending with a letter or digit.
pub fn validate_dns_label(what: &str, value: &str) -> Result<(), String> {
    let bytes = value.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let valid = !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || *b == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{what} `{value}` is not a DNS label: use at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit (e.g. kgateway)"
        ))
    }
}

/// The longest release tag accepted: the tag becomes part of folder and file names (at most 255
/// bytes) and, through `{version}`, of image tags (at most 128 characters).
pub const MAX_TAG_LEN: usize = 128;

/// A release tag we can verify: one git accepts (`git check-ref-format`, so one GitHub allows),
/// limited to what is safe everywhere the tag goes (run folder and asset file names, API URLs,
/// chart versions, image tags, command lines): ASCII letters, digits, `.`, `_`, `-` and `+`, at
/// most [`MAX_TAG_LEN`] of them, not starting with `-` (a command would take it for an option)
/// or `.`, without `..`, not ending with `.` or `.lock`. Any version scheme passes: `v2.1.0`,
/// `2.1.0`, `v2.1.0-rc.3`, `release-2024.01`. `latest` is refused: it asks for the newest
/// release, which a caller resolves to a tag first.
pub fn validate_release_tag(tag: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-+".contains(c);
    let why = if tag.is_empty() {
        "it is empty".to_owned()
    } else if tag == "latest" {
        "`latest` asks for the newest release, it names none".to_owned()
    } else if tag.len() > MAX_TAG_LEN {
        format!(
            "it has {} characters, more than the {MAX_TAG_LEN} a file name or image tag can take",
            tag.len()
        )
    } else if let Some(c) = tag.chars().find(|c| !allowed(*c)) {
        format!(
            "it contains {c:?}; a tag here has only letters, digits, `.`, `_`, `-` and `+`, because it becomes part of file names, URLs and image tags"
        )
    } else if tag.starts_with('-') {
        "it starts with `-`, which a command would take for an option".to_owned()
    } else if tag.starts_with('.') || tag.ends_with('.') || tag.ends_with(".lock") {
        "git refuses a tag that starts with `.` or ends with `.` or `.lock`".to_owned()
    } else if tag.contains("..") {
        "it contains `..`, which git refuses in a tag and which leaves a folder in a path"
            .to_owned()
    } else {
        return Ok(());
    };
    Err(format!(
        "{tag:?} is not a release tag we can verify: {why}; pass the tag as its GitHub release shows it, e.g. v2.1.0 or 2.1.0"
    ))
}

/// Fills `{version}` (the tag) and `{version_no_v}` (the tag without the `v` of `v2.1.0`: a
/// leading `v` before a digit is dropped, so both `v2.1.0` and `2.1.0` give `2.1.0`).
pub fn fill_version(template: &str, tag: &str) -> String {
    let no_v = match tag.strip_prefix('v') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => tag,
    };
    template
        .replace("{version}", tag)
        .replace("{version_no_v}", no_v)
}

fn has_unknown_placeholder(template: &str) -> bool {
    fill_version(template, "v0.0.0").contains(['{', '}'])
}

impl Chart {
    /// The chart version for release `tag`. `validate` guarantees a version exists.
    pub fn version_for(&self, tag: &str) -> String {
        fill_version(self.version.as_deref().unwrap_or_default(), tag)
    }
}

impl Install {
    pub(crate) fn validate(&self) -> Option<Problem> {
        self.problems().into_iter().next()
    }

    fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let install = KeyPath::new(&["install"]);
        if let Err(message) = validate_dns_label("[install] gateway_class", &self.gateway_class) {
            problems.push(Problem::at(&["install", "gateway_class"], message));
        }
        for (index, chart) in self.charts.iter().enumerate() {
            let entry = install.clone().key("charts").index(index);
            let at = |key: &str, message: String| Problem::new(entry.clone().key(key), message);
            match chart.version.as_deref().map(str::trim) {
                // A missing version is pointed at by the chart it belongs to.
                None | Some("") => problems.push(at("version", format!(
                    "chart `{}` ({}) has no version: add `version = \"{{version}}\"` (the release tag) or an exact chart version; an unpinned chart installs whatever is newest, not the release under test",
                    chart.name, chart.chart
                )).otherwise(entry.clone().key("chart"))),
                Some(version) if has_unknown_placeholder(version) => problems.push(at("version", format!(
                    "chart `{}` version `{version}` has an unknown placeholder: only {{version}} and {{version_no_v}} are filled",
                    chart.name
                ))),
                Some(_) => {}
            }
            if !chart.chart.starts_with("oci://") {
                problems.push(at("chart", format!(
                    "chart `{}` is `{}`: charts are installed from an OCI registry, write oci://HOST/PATH/CHART",
                    chart.name, chart.chart
                )));
            }
            if let Err(message) = validate_dns_label(
                &format!("chart `{}` namespace", chart.name),
                &chart.namespace,
            ) {
                problems.push(at("namespace", message));
            }
            if let Err(message) = validate_dns_label("helm release name", &chart.name) {
                problems.push(at("name", message));
            }
        }
        if let Some(controller) = &self.controller {
            for (key, value) in [
                ("namespace", &controller.namespace),
                ("deployment", &controller.deployment),
            ] {
                if let Err(message) =
                    validate_dns_label(&format!("[install] controller {key}"), value)
                {
                    problems.push(Problem::at(&["install", "controller", key], message));
                }
            }
        }
        if let Some(node_port) = self.node_port {
            let message = format!(
                "[install.node_port] node_port = {} / host_port = {}: node_port must be in Kubernetes' NodePort range 30000-32767 and host_port a free port above 0",
                node_port.node_port, node_port.host_port
            );
            if !(30000..=32767).contains(&node_port.node_port) {
                problems.push(Problem::at(&["install", "node_port", "node_port"], message));
            } else if node_port.host_port == 0 {
                problems.push(Problem::at(&["install", "node_port", "host_port"], message));
            }
        }
        let timeouts = self.timeouts;
        let zero = [
            ("cluster_create_secs", timeouts.cluster_create_secs),
            ("crds_secs", timeouts.crds_secs),
            ("helm_secs", timeouts.helm_secs),
            ("gateway_secs", timeouts.gateway_secs),
            ("routes_secs", timeouts.routes_secs),
            ("pods_secs", timeouts.pods_secs),
        ]
        .into_iter()
        .find(|(_, secs)| *secs == 0);
        if let Some((key, _)) = zero {
            problems.push(Problem::at(
                &["install", "timeouts", key],
                format!("[install.timeouts] {key} = 0: every timeout must be at least 1 second"),
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for good in ["kgateway", "a", "envoy-gateway", "x1"] {
            assert!(validate_dns_label("x", good).is_ok(), "{good}");
        }
        for bad in ["", "Kgateway", "-a", "a-", "a.b", "a_b", &"a".repeat(64)] {
            assert!(validate_dns_label("x", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn release_tags_follow_any_version_scheme() {
        for good in [
            "v2.1.0",
            "v2.1.0-rc.3",
            "v0.0.1+build.5",
            "v10.20.30-beta",
            "2.1.0",
            "2.1.0-rc.1",
            "v2.1",
            "v2.1.0.1",
            "release-2024.01",
            "kgateway_v2",
            &"v".repeat(MAX_TAG_LEN),
        ] {
            assert!(validate_release_tag(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn unsafe_release_tags_are_refused_with_the_reason() {
        for (bad, why) in [
            ("", "it is empty"),
            ("latest", "newest release"),
            (&"v".repeat(MAX_TAG_LEN + 1), "more than the 128"),
            ("v2.1.0-rc/1", "contains '/'"),
            ("v2\\1", "contains '\\\\'"),
            ("v2.1.0 ", "contains ' '"),
            ("v2\t1", "contains '\\t'"),
            ("v2\u{7f}", "contains '\\u{7f}'"),
            ("v2.1.0\n", "contains '\\n'"),
            ("v2:1", "contains ':'"),
            ("v2~1", "contains '~'"),
            ("v2^1", "contains '^'"),
            ("v2?", "contains '?'"),
            ("v2*", "contains '*'"),
            ("v2[1]", "contains '['"),
            ("v2@{1}", "contains '@'"),
            ("v2%2F", "contains '%'"),
            ("v2#1", "contains '#'"),
            ("v2{version}", "contains '{'"),
            ("v2.1.0é", "contains 'é'"),
            ("-v2.1.0", "option"),
            (".v2", "starts with `.`"),
            ("v2.", "ends with `.`"),
            ("v2.lock", "`.lock`"),
            ("v2..1", "contains `..`"),
            ("..", "starts with `.`"),
        ] {
            let message = validate_release_tag(bad).unwrap_err();
            assert!(message.contains(why), "{bad:?}: {message}");
            assert!(
                message.contains("not a release tag") && message.contains("e.g. v2.1.0 or 2.1.0"),
                "{bad:?}: {message}"
            );
        }
    }

    #[test]
    fn versions_are_filled() {
        assert_eq!(fill_version("{version}", "v2.1.0"), "v2.1.0");
        assert_eq!(fill_version("{version_no_v}", "v2.1.0"), "2.1.0");
        assert_eq!(fill_version("{version_no_v}", "2.1.0"), "2.1.0");
        assert_eq!(fill_version("{version}", "2.1.0"), "2.1.0");
        assert_eq!(fill_version("{version_no_v}", "v2.1.0-rc.1"), "2.1.0-rc.1");
        // Only the `v` of a version goes.
        assert_eq!(fill_version("{version_no_v}", "vnext"), "vnext");
        assert_eq!(fill_version("{version_no_v}", "release-1.0"), "release-1.0");
        assert!(has_unknown_placeholder("{tag}"));
        assert!(!has_unknown_placeholder("{version}"));
    }
}

#[cfg(test)]
mod located {
    use std::path::Path;

    fn parse(install: &str) -> Result<crate::Target, crate::ConfigError> {
        let text = format!("[release]\nrepo = \"a/b\"\n\n{install}");
        crate::parse(Path::new("t.toml"), &text)
    }

    #[test]
    fn gateway_class_must_be_a_dns_label() {
        let error = parse("[install]\ngateway_class = \"Kgateway_1\"\n").unwrap_err();
        assert_eq!(error.line_col, Some((5, 17)), "{error}");
        assert!(error.message.contains("not a DNS label"), "{error}");
    }

    #[test]
    fn chart_without_version_is_located_with_a_fix() {
        let error = parse(
            "[install]\ngateway_class = \"kgateway\"\n\n[[install.charts]]\nname = \"kgateway\"\nchart = \"oci://cr.kgateway.dev/kgateway-dev/charts/kgateway\"\nnamespace = \"kgateway-system\"\n",
        )
        .unwrap_err();
        assert_eq!(error.line_col, Some((9, 9)), "{error}");
        assert!(error.message.contains("has no version"), "{error}");
        assert!(error.message.contains("version = \"{version}\""), "{error}");
    }

    #[test]
    fn non_oci_chart_and_bad_node_port_are_refused() {
        let error = parse(
            "[install]\ngateway_class = \"k\"\n[[install.charts]]\nname = \"k\"\nchart = \"repo/k\"\nversion = \"1.0.0\"\nnamespace = \"k\"\n",
        )
        .unwrap_err();
        assert!(error.message.contains("oci://"), "{error}");
        let error = parse(
            "[install]\ngateway_class = \"k\"\n[install.node_port]\nnode_port = 80\nhost_port = 8080\n",
        )
        .unwrap_err();
        assert!(error.message.contains("30000-32767"), "{error}");
    }

    #[test]
    fn shipped_target_resolves_versions() {
        let target = crate::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hack/targets/kgateway.toml"),
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let install = target.install;
        assert_eq!(install.gateway_class, "kgateway");
        assert!(
            install
                .charts
                .iter()
                .all(|chart| chart.version_for("v2.1.0") == "v2.1.0")
        );
    }
}
