//! [install] and [gateway]: how the release is installed on the cluster and which
//! GatewayClass it serves. Owned by the cluster crate's authors.

use std::collections::BTreeMap;

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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    /// Helm release name.
    pub name: String,
    /// Chart reference, e.g. oci://cr.kgateway.dev/kgateway-dev/charts/kgateway.
    pub chart: String,
    /// Chart version; `{version}` is the release tag, `{version_no_v}` without its `v`.
    pub version: String,
    pub namespace: String,
    /// `--set` values.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
}

impl Install {
    pub(crate) fn validate(&self) -> Option<Problem> {
        None
    }
}
