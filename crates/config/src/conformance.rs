//! [conformance]: how the suite reaches and judges the gateway. Owned by the conformance crate's
//! authors.

use serde::Deserialize;

use crate::Problem;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conformance {
    /// Case names to skip (reported as skipped with this config as the reason).
    #[serde(default)]
    pub skip: Vec<String>,
}

impl Conformance {
    pub(crate) fn validate(&self) -> Option<Problem> {
        None
    }
}
