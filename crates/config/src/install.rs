//! [install]: how the release is installed on the cluster — the GatewayClass its controller
//! serves, the Helm charts (each at a pinned version), the optional NodePort published on the
//! host, and how long each wait may take. The images loaded into kind are exactly those the
//! artifact step recorded ([artifacts]), never a second list. Owned by the cluster crate's
//! authors.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::Problem;

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
    /// Chart version; `{version}` is the release tag, `{version_no_v}` without its `v`.
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

/// A release tag we can install: `vMAJOR.MINOR.PATCH` with an optional `-prerelease` and
/// `+build` (`v2.1.0`, `v2.1.0-rc.3`). Anything else is refused before a cluster exists.
pub fn validate_release_tag(tag: &str) -> Result<(), String> {
    let fix =
        "pass a release tag like v2.1.0 or v2.1.0-rc.3 (the tag of a published GitHub release)";
    let Some(rest) = tag.strip_prefix('v') else {
        return Err(format!("`{tag}` is not a release tag: {fix}"));
    };
    let (core, suffix) = match rest.find(['-', '+']) {
        Some(index) => (&rest[..index], &rest[index + 1..]),
        None => (rest, ""),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let core_ok = numbers.len() == 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()));
    let suffix_ok = (rest.len() == core.len() || !suffix.is_empty())
        && suffix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.+".contains(&b));
    if core_ok && suffix_ok {
        Ok(())
    } else {
        Err(format!("`{tag}` is not a release tag: {fix}"))
    }
}

/// Fills `{version}` (the tag) and `{version_no_v}` (the tag without its leading `v`).
pub fn fill_version(template: &str, tag: &str) -> String {
    template
        .replace("{version}", tag)
        .replace("{version_no_v}", tag.strip_prefix('v').unwrap_or(tag))
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
        let gateway_class = format!("\"{}\"", self.gateway_class);
        if let Err(message) = validate_dns_label("[install] gateway_class", &self.gateway_class) {
            problems.push(Problem {
                near: gateway_class,
                message,
            });
        }
        for chart in &self.charts {
            let near = format!("\"{}\"", chart.chart);
            let mut problem = |message: String| {
                problems.push(Problem {
                    near: near.clone(),
                    message,
                })
            };
            match chart.version.as_deref().map(str::trim) {
                None | Some("") => problem(format!(
                    "chart `{}` ({}) has no version: add `version = \"{{version}}\"` (the release tag) or an exact chart version; an unpinned chart installs whatever is newest, not the release under test",
                    chart.name, chart.chart
                )),
                Some(version) if has_unknown_placeholder(version) => problem(format!(
                    "chart `{}` version `{version}` has an unknown placeholder: only {{version}} and {{version_no_v}} are filled",
                    chart.name
                )),
                Some(_) => {}
            }
            if !chart.chart.starts_with("oci://") {
                problem(format!(
                    "chart `{}` is `{}`: charts are installed from an OCI registry, write oci://HOST/PATH/CHART",
                    chart.name, chart.chart
                ));
            }
            if let Err(message) = validate_dns_label(
                &format!("chart `{}` namespace", chart.name),
                &chart.namespace,
            ) {
                problem(message);
            }
            if let Err(message) = validate_dns_label("helm release name", &chart.name) {
                problem(message);
            }
        }
        if let Some(controller) = &self.controller {
            for (what, value) in [
                ("[install] controller namespace", &controller.namespace),
                ("[install] controller deployment", &controller.deployment),
            ] {
                if let Err(message) = validate_dns_label(what, value) {
                    problems.push(Problem {
                        near: value.clone(),
                        message,
                    });
                }
            }
        }
        if let Some(node_port) = self.node_port
            && (!(30000..=32767).contains(&node_port.node_port) || node_port.host_port == 0)
        {
            problems.push(Problem {
                near: "node_port".to_owned(),
                message: format!(
                    "[install.node_port] node_port = {} / host_port = {}: node_port must be in Kubernetes' NodePort range 30000-32767 and host_port a free port above 0",
                    node_port.node_port, node_port.host_port
                ),
            });
        }
        let timeouts = self.timeouts;
        if [
            timeouts.cluster_create_secs,
            timeouts.crds_secs,
            timeouts.helm_secs,
            timeouts.gateway_secs,
            timeouts.routes_secs,
            timeouts.pods_secs,
        ]
        .contains(&0)
        {
            problems.push(Problem {
                near: "[install.timeouts]".to_owned(),
                message: "[install.timeouts]: every timeout must be at least 1 second".to_owned(),
            });
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
    fn release_tags() {
        for good in ["v2.1.0", "v2.1.0-rc.3", "v0.0.1+build.5", "v10.20.30-beta"] {
            assert!(validate_release_tag(good).is_ok(), "{good}");
        }
        for bad in [
            "2.1.0",
            "latest",
            "v2.1",
            "v2.1.0.1",
            "v2.1.0-",
            "v2.x.0",
            "main",
            "v2.1.0 ",
            "v2.1.0-rc/1",
        ] {
            assert!(validate_release_tag(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn versions_are_filled() {
        assert_eq!(fill_version("{version}", "v2.1.0"), "v2.1.0");
        assert_eq!(fill_version("{version_no_v}", "v2.1.0"), "2.1.0");
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
