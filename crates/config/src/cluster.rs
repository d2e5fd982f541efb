//! [load_balancer], [diagnostics] and [existing]: how a Gateway gets its address on kind, whose
//! pods' logs a failed run collects, and what a run on a cluster the user brings deploys.
//! Owned by the cluster and pipeline crates' authors.

use serde::Deserialize;

use crate::{KeyPath, Problem};

/// Which LoadBalancer provider gives Services (and so Gateways) an address on kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// cloud-provider-kind, run with docker from the pinned image, with its own Gateway API
    /// controller disabled (`--gateway-channel=disabled`) so it never competes with the
    /// implementation under test.
    CloudProviderKind,
    /// No provider: for implementations that program a Gateway without an address.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    #[serde(default = "default_provider")]
    pub provider: Provider,
    /// How long the Gateway may take to get an address once programmed, in seconds.
    #[serde(default = "default_address_timeout_secs")]
    pub address_timeout_secs: u64,
}

fn default_provider() -> Provider {
    Provider::CloudProviderKind
}

fn default_address_timeout_secs() -> u64 {
    120
}

impl Default for LoadBalancer {
    fn default() -> LoadBalancer {
        LoadBalancer {
            provider: default_provider(),
            address_timeout_secs: default_address_timeout_secs(),
        }
    }
}

/// Pods found by label whose logs a failed run keeps.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodSelector {
    pub namespace: String,
    /// A label selector, `key=value[,key2=value2]`.
    pub selector: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diagnostics {
    /// The release's controller (and any other) pods; the Gateway's proxy pods are found by
    /// the gateway-name label without being listed here.
    #[serde(default)]
    pub pods: Vec<PodSelector>,
}

/// A cluster the user brings (`verify-release --cluster existing`): the release is installed
/// already; the run deploys only the fixture, in a namespace of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Existing {
    /// The echo backend image the cluster can pull (built with `cargo xtask echo-image --tag
    /// REGISTRY/NAME:TAG` and pushed). Without it the upstream echo-basic image from the pin
    /// file runs, which has no health toggle: the health-eviction case is then skipped.
    #[serde(default)]
    pub echo_image: Option<String>,
}

impl Existing {
    pub(crate) fn validate(&self) -> Option<Problem> {
        let image = self.echo_image.as_ref()?;
        (image.trim().is_empty() || image.contains(char::is_whitespace)).then(|| {
            Problem::at(
                &["existing", "echo_image"],
                format!(
                    "[existing] echo_image {image:?} is not an image reference: write REGISTRY/NAME:TAG"
                ),
            )
        })
    }
}

impl LoadBalancer {
    pub(crate) fn validate(&self) -> Option<Problem> {
        (self.address_timeout_secs == 0).then(|| {
            Problem::at(
                &["load_balancer", "address_timeout_secs"],
                "[load_balancer] address_timeout_secs must be at least 1 (the default is 120)",
            )
        })
    }
}

impl Diagnostics {
    pub(crate) fn validate(&self) -> Option<Problem> {
        for (index, pods) in self.pods.iter().enumerate() {
            let entry = KeyPath::new(&["diagnostics", "pods"]).index(index);
            if let Err(message) =
                crate::install::validate_dns_label("[diagnostics] pods namespace", &pods.namespace)
            {
                return Some(Problem::new(entry.key("namespace"), message));
            }
            let valid = !pods.selector.is_empty()
                && pods.selector.split(',').all(|term| {
                    let term = term.trim();
                    !term.is_empty() && !term.contains(char::is_whitespace)
                });
            if !valid {
                return Some(Problem::new(
                    entry.key("selector"),
                    format!(
                        "[diagnostics] pods selector `{}` is not a label selector: write key=value[,key2=value2], e.g. app.kubernetes.io/name=kgateway",
                        pods.selector
                    ),
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn parse(extra: &str) -> Result<crate::Target, crate::ConfigError> {
        let text = format!("[release]\nrepo = \"a/b\"\n[install]\ngateway_class = \"x\"\n{extra}");
        crate::parse(Path::new("t.toml"), &text)
    }

    #[test]
    fn defaults_start_cloud_provider_kind() {
        let target = parse("").unwrap();
        assert_eq!(
            target.load_balancer.provider,
            super::Provider::CloudProviderKind
        );
        assert!(target.diagnostics.pods.is_empty());
        let off = parse("[load_balancer]\nprovider = \"none\"\n").unwrap();
        assert_eq!(off.load_balancer.provider, super::Provider::None);
    }

    #[test]
    fn bad_values_are_located() {
        let error = parse("[load_balancer]\nprovider = \"metal\"\n").unwrap_err();
        assert_eq!(error.line_col.map(|(line, _)| line), Some(6), "{error}");
        let error = parse("[diagnostics]\npods = [{ namespace = \"k\", selector = \"a b\" }]\n")
            .unwrap_err();
        assert!(error.message.contains("label selector"), "{error}");
        assert_eq!(error.line_col.map(|(line, _)| line), Some(6), "{error}");
    }
}
