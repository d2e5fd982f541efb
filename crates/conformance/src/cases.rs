//! The cases: stable names, the feature each covers, and what each checks. The route table
//! they encode is the fixture contract (`crate::fixture`).

use crate::client::Request;
use crate::fixture::{V1, V2, V3, V3_HOSTNAME};
use crate::results::SupportLevel;

/// What a case is, independent of how a run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseInfo {
    /// Stable short name: `--skip` takes it, reports show it, tests match on it.
    pub name: &'static str,
    /// The feature it covers; `unsupported_features` in the config skips every case of one.
    pub feature: &'static str,
    pub support: SupportLevel,
    pub description: &'static str,
}

pub const LISTENER_CONNECTIVITY: &str = "listener-connectivity";
pub const GATEWAY_HEALTH_ENDPOINTS: &str = "gateway-health-endpoints";
pub const ROUTE_EXACT: &str = "route-exact";
pub const ROUTE_PREFIX: &str = "route-prefix";
pub const ROUTE_PREFIX_SEGMENT: &str = "route-prefix-segment";
pub const ROUTE_HEADER: &str = "route-header";
pub const ROUTE_HOSTNAME: &str = "route-hostname";
pub const ROUTE_NO_MATCH: &str = "route-no-match";
pub const LB_EVENNESS: &str = "lb-evenness";
pub const WEIGHTED_SPLIT: &str = "weighted-split";
pub const HEALTH_EVICTION: &str = "health-eviction";

/// Every case, in the order a run executes them: connectivity first (nothing else can pass
/// without it), health eviction last (it disturbs a replica).
pub const CASES: [CaseInfo; 11] = [
    CaseInfo {
        name: LISTENER_CONNECTIVITY,
        feature: "Gateway",
        support: SupportLevel::Core,
        description: "every configured listener accepts TCP and answers GET / from infra-backend-v1",
    },
    CaseInfo {
        name: GATEWAY_HEALTH_ENDPOINTS,
        feature: "GatewayHealthEndpoint",
        support: SupportLevel::Extended,
        description: "every configured gateway health URL answers 2xx",
    },
    CaseInfo {
        name: ROUTE_EXACT,
        feature: "HTTPRouteExactPathMatching",
        support: SupportLevel::Core,
        description: "Exact path matches: / reaches v1, /exact reaches v3, /exact/more and /exactly are 404",
    },
    CaseInfo {
        name: ROUTE_PREFIX,
        feature: "HTTPRoutePathPrefixMatching",
        support: SupportLevel::Core,
        description: "PathPrefix matches: /v1, /v1/x reach v1; /v2, /v2/x reach v2",
    },
    CaseInfo {
        name: ROUTE_PREFIX_SEGMENT,
        feature: "HTTPRoutePathPrefixMatching",
        support: SupportLevel::Core,
        description: "PathPrefix matches whole segments: /v2example and /v1example are 404",
    },
    CaseInfo {
        name: ROUTE_HEADER,
        feature: "HTTPRouteHeaderMatching",
        support: SupportLevel::Core,
        description: "/headers with `version: two` reaches v2, without it (or with another value) v1",
    },
    CaseInfo {
        name: ROUTE_HOSTNAME,
        feature: "HTTPRouteHostnames",
        support: SupportLevel::Core,
        description: "any path with Host: v3.example.com reaches v3, ahead of path rules",
    },
    CaseInfo {
        name: ROUTE_NO_MATCH,
        feature: "HTTPRoute",
        support: SupportLevel::Core,
        description: "a request no rule matches is answered 404",
    },
    CaseInfo {
        name: LB_EVENNESS,
        feature: "LoadBalancing",
        support: SupportLevel::Extended,
        description: "/v1 traffic is spread evenly over both v1 replicas (sequential test)",
    },
    CaseInfo {
        name: WEIGHTED_SPLIT,
        feature: "HTTPRouteWeight",
        support: SupportLevel::Core,
        description: "/weighted splits 70/30/0 over v1/v2/v3 (sequential test)",
    },
    CaseInfo {
        name: HEALTH_EVICTION,
        feature: "HealthCheck",
        support: SupportLevel::Extended,
        description: "a v1 replica failing /health stops receiving /v1 traffic, and receives it again once healthy",
    },
];

pub fn info(name: &str) -> Option<&'static CaseInfo> {
    CASES.iter().find(|case| case.name == name)
}

/// Every case name, for messages that list the valid ones.
pub fn names() -> Vec<&'static str> {
    CASES.iter().map(|case| case.name).collect()
}

/// What one probe request must get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// 200 from an echo replica of this backend.
    Backend(&'static str),
    /// This status, from anyone (the gateway's own 404).
    Status(u16),
}

/// One request of a routing case and what it must get.
#[derive(Debug, Clone)]
pub struct Probe {
    pub request: Request,
    pub expect: Expect,
    /// Why, in the words of the route table: the end of a failure message.
    pub rule: &'static str,
}

fn probe(request: Request, expect: Expect, rule: &'static str) -> Probe {
    Probe {
        request,
        expect,
        rule,
    }
}

/// The probes of a routing case (None for the cases that are not a fixed probe list).
pub fn routing_probes(name: &str) -> Option<Vec<Probe>> {
    use Expect::{Backend, Status};
    let get = Request::get;
    Some(match name {
        ROUTE_EXACT => vec![
            probe(get("/"), Backend(V1), "Exact / goes to infra-backend-v1"),
            probe(
                get("/exact"),
                Backend(V3),
                "Exact /exact goes to infra-backend-v3",
            ),
            probe(
                get("/exact?x=1"),
                Backend(V3),
                "an Exact match ignores the query string",
            ),
            probe(
                get("/exact/more"),
                Status(404),
                "Exact /exact must not match /exact/more",
            ),
            probe(
                get("/exactly"),
                Status(404),
                "Exact /exact must not match /exactly",
            ),
        ],
        ROUTE_PREFIX => vec![
            probe(
                get("/v1"),
                Backend(V1),
                "PathPrefix /v1 goes to infra-backend-v1",
            ),
            probe(get("/v1/x"), Backend(V1), "PathPrefix /v1 covers /v1/x"),
            probe(
                get("/v2"),
                Backend(V2),
                "PathPrefix /v2 goes to infra-backend-v2",
            ),
            probe(get("/v2/x?y=z"), Backend(V2), "PathPrefix /v2 covers /v2/x"),
        ],
        ROUTE_PREFIX_SEGMENT => vec![
            probe(
                get("/v2example"),
                Status(404),
                "PathPrefix /v2 matches whole path segments, so /v2example matches no rule",
            ),
            probe(
                get("/v1example"),
                Status(404),
                "PathPrefix /v1 matches whole path segments, so /v1example matches no rule",
            ),
        ],
        ROUTE_HEADER => vec![
            probe(
                get("/headers").with_header("version", "two"),
                Backend(V2),
                "/headers with header `version: two` goes to infra-backend-v2",
            ),
            probe(
                get("/headers/x").with_header("Version", "two"),
                Backend(V2),
                "header names match case-insensitively and the rule is a path prefix",
            ),
            probe(
                get("/headers"),
                Backend(V1),
                "/headers without the header goes to infra-backend-v1",
            ),
            probe(
                get("/headers").with_header("version", "one"),
                Backend(V1),
                "`version: one` does not match the `two` rule",
            ),
        ],
        ROUTE_HOSTNAME => vec![
            probe(
                get("/").with_host(V3_HOSTNAME),
                Backend(V3),
                "every path of v3.example.com goes to infra-backend-v3",
            ),
            probe(
                get("/v1").with_host(V3_HOSTNAME),
                Backend(V3),
                "the hostname route takes precedence over /v1",
            ),
            probe(
                get("/nothing").with_host(V3_HOSTNAME),
                Backend(V3),
                "the hostname route covers paths no other rule has",
            ),
        ],
        ROUTE_NO_MATCH => vec![
            probe(get("/nothing"), Status(404), "no rule matches /nothing"),
            probe(get("/v3"), Status(404), "no rule matches /v3"),
            probe(
                get("/nothing/v1"),
                Status(404),
                "prefixes match at the start of the path only",
            ),
        ],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_routing_cases_have_probes() {
        let mut names = names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CASES.len());
        for case in CASES {
            let is_routing = case.name.starts_with("route-");
            assert_eq!(
                routing_probes(case.name).is_some(),
                is_routing,
                "{}",
                case.name
            );
        }
    }
}
