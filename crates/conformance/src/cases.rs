//! The cases: stable names, the feature each covers, and what each checks. The route table
//! they encode is the fixture contract (`crate::fixture`).

use crate::client::Request;
use crate::fixture::{ACROSS_HOSTNAME, REDIRECT_HOSTNAME, V1, V2, V3, V3_HOSTNAME};
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
    /// The Gateway API conformance suite's tests this case corresponds to (empty for checks
    /// upstream has no test for), so a maintainer can compare with the upstream suite.
    pub upstream: &'static [&'static str],
}

pub const LISTENER_CONNECTIVITY: &str = "listener-connectivity";
pub const LISTENER_SECOND_PORT: &str = "listener-second-port";
pub const GATEWAY_HEALTH_ENDPOINTS: &str = "gateway-health-endpoints";
pub const ROUTE_EXACT: &str = "route-exact";
pub const ROUTE_PREFIX: &str = "route-prefix";
pub const ROUTE_PREFIX_SEGMENT: &str = "route-prefix-segment";
pub const ROUTE_PATH_ORDER: &str = "route-path-order";
pub const ROUTE_HEADER: &str = "route-header";
pub const ROUTE_HOSTNAME: &str = "route-hostname";
pub const ROUTE_LISTENER_HOSTNAME: &str = "route-listener-hostname";
pub const ROUTE_ACROSS_ROUTES: &str = "route-across-routes";
pub const ROUTE_HEADER_MODIFIER: &str = "route-header-modifier";
pub const ROUTE_REDIRECT: &str = "route-redirect";
pub const ROUTE_INVALID_BACKEND: &str = "route-invalid-backend";
pub const ROUTE_NO_MATCH: &str = "route-no-match";
pub const LB_EVENNESS: &str = "lb-evenness";
pub const WEIGHTED_SPLIT: &str = "weighted-split";
pub const HEALTH_EVICTION: &str = "health-eviction";

/// Every case, in the order a run executes them: connectivity first (nothing else can pass
/// without it), health eviction last (it disturbs a replica).
pub const CASES: [CaseInfo; 18] = [
    CaseInfo {
        name: LISTENER_CONNECTIVITY,
        feature: "Gateway",
        support: SupportLevel::Core,
        description: "every configured listener accepts TCP and answers GET / from infra-backend-v1",
        upstream: &["HTTPRouteSimpleSameNamespace"],
    },
    CaseInfo {
        name: LISTENER_SECOND_PORT,
        feature: "Gateway",
        support: SupportLevel::Core,
        description: "the Gateway's second listener (port 8080 on a cluster) accepts and answers with its own route: every path reaches v3",
        upstream: &[],
    },
    CaseInfo {
        name: GATEWAY_HEALTH_ENDPOINTS,
        feature: "GatewayHealthEndpoint",
        support: SupportLevel::Extended,
        description: "every configured gateway health URL answers 2xx",
        upstream: &[],
    },
    CaseInfo {
        name: ROUTE_EXACT,
        feature: "HTTPRouteExactPathMatching",
        support: SupportLevel::Core,
        description: "Exact path matches: / reaches v1, /exact reaches v3, /exact/more, /exactly, /exact/ and /Exact are 404",
        upstream: &["HTTPExactPathMatching"],
    },
    CaseInfo {
        name: ROUTE_PREFIX,
        feature: "HTTPRoutePathPrefixMatching",
        support: SupportLevel::Core,
        description: "PathPrefix matches: /v1, /v1/x reach v1; /v2, /v2/x reach v2",
        upstream: &["HTTPRouteMatching"],
    },
    CaseInfo {
        name: ROUTE_PREFIX_SEGMENT,
        feature: "HTTPRoutePathPrefixMatching",
        support: SupportLevel::Core,
        description: "PathPrefix matches whole segments: /v2example and /v1example are 404",
        upstream: &["HTTPRouteMatching"],
    },
    CaseInfo {
        name: ROUTE_PATH_ORDER,
        feature: "HTTPRoute",
        support: SupportLevel::Core,
        description: "across the rules of one route Exact beats PathPrefix and the longest prefix wins: /order/exact reaches v3, /order/exact/x v2, /order/x v1",
        upstream: &["HTTPRoutePathMatchOrder"],
    },
    CaseInfo {
        name: ROUTE_HEADER,
        feature: "HTTPRouteHeaderMatching",
        support: SupportLevel::Core,
        description: "/headers with `version: two` reaches v2 (names case-insensitive, values exact and case-sensitive: `TWO` and `one,two` reach v1), with `color: blue` as well v3 (both headers must match)",
        upstream: &["HTTPRouteHeaderMatching"],
    },
    CaseInfo {
        name: ROUTE_HOSTNAME,
        feature: "HTTPRouteHostnames",
        support: SupportLevel::Core,
        description: "any path with Host: v3.example.com reaches v3, ahead of path rules",
        upstream: &["HTTPRouteHostnameIntersection"],
    },
    CaseInfo {
        name: ROUTE_LISTENER_HOSTNAME,
        feature: "HTTPRouteHostnames",
        support: SupportLevel::Core,
        description: "the listener with hostname *.wildcard.example.com takes every host under it (any number of labels) to its route, v2; wildcard.example.com itself stays with the other listener",
        upstream: &["HTTPRouteListenerHostnameMatching"],
    },
    CaseInfo {
        name: ROUTE_ACROSS_ROUTES,
        feature: "HTTPRoute",
        support: SupportLevel::Core,
        description: "two HTTPRoutes for across.example.com merge by precedence: / reaches v1 (first route), /b and /shared with `x-variant: b` reach v2, Exact /shared/exact v3 (second route)",
        upstream: &["HTTPRouteMatchingAcrossRoutes"],
    },
    CaseInfo {
        name: ROUTE_HEADER_MODIFIER,
        feature: "HTTPRoute",
        support: SupportLevel::Core,
        description: "/modify reaches v1 with `x-set` set (replaced), `x-add` added (appended) and `x-remove` removed, as the echo backend sees them",
        upstream: &["HTTPRouteRequestHeaderModifier"],
    },
    CaseInfo {
        name: ROUTE_REDIRECT,
        feature: "HTTPRoute",
        support: SupportLevel::Core,
        description: "/redirect answers 301 with a Location on host redirect.example.com and the same path; /hostname-redirect, whose redirect names no status code, answers 302",
        upstream: &["HTTPRouteRedirectHostAndStatus"],
    },
    CaseInfo {
        name: ROUTE_INVALID_BACKEND,
        feature: "HTTPRoute",
        support: SupportLevel::Core,
        description: "a rule whose backendRef names a Service that does not exist answers 500 (/invalid-backend), and the other rule of that route still works (/valid-sibling reaches v2)",
        upstream: &["HTTPRouteInvalidNonExistentBackendRef"],
    },
    CaseInfo {
        name: ROUTE_NO_MATCH,
        feature: "HTTPRoute",
        support: SupportLevel::Core,
        description: "a request no rule matches is answered 404",
        upstream: &["HTTPRouteMatching"],
    },
    CaseInfo {
        name: LB_EVENNESS,
        feature: "LoadBalancing",
        support: SupportLevel::Extended,
        description: "/v1 traffic is spread evenly over both v1 replicas (sequential test)",
        upstream: &[],
    },
    CaseInfo {
        name: WEIGHTED_SPLIT,
        feature: "HTTPRouteWeight",
        support: SupportLevel::Core,
        description: "/weighted splits 70/30/0 over v1/v2/v3 (sequential test)",
        upstream: &["HTTPRouteWeight"],
    },
    CaseInfo {
        name: HEALTH_EVICTION,
        feature: "HealthCheck",
        support: SupportLevel::Extended,
        description: "a v1 replica failing /health stops receiving /v1 traffic, and receives it again once healthy",
        upstream: &[],
    },
];

pub fn info(name: &str) -> Option<&'static CaseInfo> {
    CASES.iter().find(|case| case.name == name)
}

/// Every case name, for messages that list the valid ones.
pub fn names() -> Vec<&'static str> {
    CASES.iter().map(|case| case.name).collect()
}

/// Every feature a case covers, sorted, each once: what `unsupported_features` may name.
pub fn features() -> Vec<&'static str> {
    let features: std::collections::BTreeSet<&str> =
        CASES.iter().map(|case| case.feature).collect();
    features.into_iter().collect()
}

/// What one probe request must get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// 200 from an echo replica of this backend.
    Backend(&'static str),
    /// This status, from anyone (the gateway's own 404).
    Status(u16),
    /// 200 from an echo replica of this backend, which saw these request headers: a value
    /// (several values joined with `,`) or, for None, no such header at all.
    EchoHeaders(&'static str, Vec<(&'static str, Option<&'static str>)>),
    /// A redirect with this status whose Location names this host (any port) and keeps the
    /// request's path.
    Redirect(u16, &'static str),
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
    use Expect::{Backend, EchoHeaders, Redirect, Status};
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
            probe(
                get("/exact/"),
                Status(404),
                "Exact /exact must not match /exact/ (a trailing slash is another path)",
            ),
            probe(
                get("/Exact"),
                Status(404),
                "paths match case-sensitively: /Exact is not /exact",
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
            probe(
                get("/headers").with_header("version", "TWO"),
                Backend(V1),
                "header values match exactly and case-sensitively: `TWO` is not `two`",
            ),
            probe(
                get("/headers").with_header("version", "one,two"),
                Backend(V1),
                "an Exact header match compares the whole value: `one,two` is not `two`",
            ),
            probe(
                get("/headers")
                    .with_header("version", "two")
                    .with_header("color", "blue"),
                Backend(V3),
                "`version: two` and `color: blue` together match the two-header rule, which goes to infra-backend-v3",
            ),
            probe(
                get("/headers").with_header("color", "blue"),
                Backend(V1),
                "header matches are AND-ed: `color: blue` alone does not match the two-header rule",
            ),
        ],
        ROUTE_PATH_ORDER => vec![
            probe(
                get("/order/exact"),
                Backend(V3),
                "Exact /order/exact beats PathPrefix /order/exact and /order",
            ),
            probe(
                get("/order/exact/x"),
                Backend(V2),
                "the longest prefix wins: PathPrefix /order/exact over /order",
            ),
            probe(
                get("/order/x"),
                Backend(V1),
                "PathPrefix /order covers what no longer rule matches",
            ),
            probe(
                get("/order/exactly"),
                Backend(V1),
                "PathPrefix /order/exact matches whole segments, so /order/exactly falls to /order",
            ),
        ],
        ROUTE_LISTENER_HOSTNAME => vec![
            probe(
                get("/").with_host("foo.wildcard.example.com"),
                Backend(V2),
                "the *.wildcard.example.com listener's route takes foo.wildcard.example.com",
            ),
            probe(
                get("/v1").with_host("a.b.wildcard.example.com"),
                Backend(V2),
                "a wildcard listener hostname covers any number of labels, and its route is the only one there",
            ),
            probe(
                get("/v1").with_host("wildcard.example.com"),
                Backend(V1),
                "wildcard.example.com is not under *.wildcard.example.com: the other listener's /v1 rule answers",
            ),
        ],
        ROUTE_ACROSS_ROUTES => vec![
            probe(
                get("/").with_host(ACROSS_HOSTNAME),
                Backend(V1),
                "the first across.example.com route sends / to infra-backend-v1",
            ),
            probe(
                get("/b/x").with_host(ACROSS_HOSTNAME),
                Backend(V2),
                "the second route's PathPrefix /b is longer than the first route's /",
            ),
            probe(
                get("/shared").with_host(ACROSS_HOSTNAME),
                Backend(V1),
                "without the header, PathPrefix /shared of the first route wins",
            ),
            probe(
                get("/shared")
                    .with_host(ACROSS_HOSTNAME)
                    .with_header("x-variant", "b"),
                Backend(V2),
                "the second route's /shared with a header match beats the first route's /shared without one",
            ),
            probe(
                get("/shared/exact").with_host(ACROSS_HOSTNAME),
                Backend(V3),
                "the second route's Exact /shared/exact beats the first route's PathPrefix /shared",
            ),
        ],
        ROUTE_HEADER_MODIFIER => vec![
            probe(
                get("/modify")
                    .with_header("x-set", "original")
                    .with_header("x-add", "original")
                    .with_header("x-remove", "present")
                    .with_header("x-keep", "kept"),
                EchoHeaders(
                    V1,
                    vec![
                        ("x-set", Some("set-value")),
                        ("x-add", Some("original,added")),
                        ("x-remove", None),
                        ("x-keep", Some("kept")),
                    ],
                ),
                "the RequestHeaderModifier sets x-set, appends to x-add and removes x-remove",
            ),
            probe(
                get("/modify/x"),
                EchoHeaders(
                    V1,
                    vec![("x-set", Some("set-value")), ("x-add", Some("added"))],
                ),
                "set and add create the headers when the request has none",
            ),
        ],
        ROUTE_REDIRECT => vec![
            probe(
                get("/redirect"),
                Redirect(301, REDIRECT_HOSTNAME),
                "the RequestRedirect sends /redirect to redirect.example.com with 301",
            ),
            probe(
                get("/redirect/x"),
                Redirect(301, REDIRECT_HOSTNAME),
                "the redirect keeps the path",
            ),
            probe(
                get("/hostname-redirect"),
                Redirect(302, REDIRECT_HOSTNAME),
                "a RequestRedirect without a statusCode answers 302",
            ),
        ],
        ROUTE_INVALID_BACKEND => vec![
            probe(
                get("/invalid-backend"),
                Status(500),
                "a rule whose backendRef names a missing Service answers 500",
            ),
            probe(
                get("/valid-sibling"),
                Backend(V2),
                "the other rule of the route with the missing backend still works",
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

/// The probes of the second listener, sent to its own URL.
pub fn second_listener_probes() -> Vec<Probe> {
    vec![
        probe(
            Request::get("/"),
            Expect::Backend(V3),
            "the second listener's route sends every path to infra-backend-v3",
        ),
        probe(
            Request::get("/v1"),
            Expect::Backend(V3),
            "the first listener's routes do not apply on the second listener",
        ),
    ]
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
