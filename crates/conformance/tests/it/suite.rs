//! The suite against the echo replicas alone (no gateway): hermetic checks that failures name
//! the broken behaviour, that skips are reported as skips, and that a "gateway" that is just
//! one replica fails the routing cases with messages saying what came back.

use std::time::Duration;

use conformance::fixture::LocalFixture;
use conformance::results::{Mode, Outcome};
use conformance::{Skip, SuiteConfig, cases};

/// A config pointing straight at replica `index` of `fixture`, with a short deadline: every
/// case here is decided by what one replica answers, which never changes.
fn config_for(fixture: &LocalFixture, index: usize) -> SuiteConfig {
    let mut config = SuiteConfig::new(&fixture.replicas[index].server.url(), Mode::Local);
    config.consistency.deadline = Duration::from_millis(300);
    config.consistency.poll = Duration::from_millis(20);
    config
}

fn run_one(config: &SuiteConfig, name: &str) -> Outcome {
    conformance::run_case(config, cases::info(name).unwrap()).outcome
}

fn a_single_replica_passes_connectivity_and_fails_routing_with_what_came_back() {
    let fixture = LocalFixture::start(&[0; 6]).unwrap();
    let config = config_for(&fixture, 0);
    assert_eq!(
        run_one(&config, cases::LISTENER_CONNECTIVITY),
        Outcome::Passed
    );
    let Outcome::Failed { message, detail } = run_one(&config, cases::ROUTE_NO_MATCH) else {
        panic!("a replica answering everything must fail route-no-match");
    };
    assert!(message.starts_with("GET /nothing answered 200 from infra-backend-v1 (pod infra-backend-v1-local-0), want 404"), "{message}");
    assert!(detail.contains("attempts"), "{detail}");
    let Outcome::Failed { message, .. } = run_one(&config, cases::ROUTE_EXACT) else {
        panic!("route-exact must fail");
    };
    assert!(
        message.contains("GET /exact answered 200 from infra-backend-v1")
            && message.contains("want 200 from infra-backend-v3"),
        "{message}"
    );
    let Outcome::Failed { message, .. } = run_one(&config, cases::LB_EVENNESS) else {
        panic!("one replica cannot be an even spread");
    };
    assert!(
        message.contains("requests to /v1 so far reached 1 of the 2 infra-backend-v1 replicas"),
        "{message}"
    );
}

fn nothing_listening_fails_connectivity_naming_the_listener() {
    let port = conformance::gateways::free_port().unwrap();
    let mut config = SuiteConfig::new(&format!("http://127.0.0.1:{port}"), Mode::Local);
    config.consistency.deadline = Duration::from_millis(200);
    let Outcome::Failed { message, .. } = run_one(&config, cases::LISTENER_CONNECTIVITY) else {
        panic!("nothing listens");
    };
    assert!(
        message.contains(&format!(
            "listener http://127.0.0.1:{port} refuses TCP connections"
        )),
        "{message}"
    );
}

fn skips_and_unsupported_features_are_reported_as_skipped_with_the_reason() {
    let fixture = LocalFixture::start(&[0; 6]).unwrap();
    let mut config = config_for(&fixture, 0);
    config.skip.push(Skip {
        case: cases::ROUTE_HEADER.to_owned(),
        reason: "skipped with --skip".to_owned(),
    });
    config.unsupported_features.push("HealthCheck".to_owned());
    assert_eq!(
        run_one(&config, cases::ROUTE_HEADER),
        Outcome::Skipped {
            reason: "skipped with --skip".to_owned()
        }
    );
    let Outcome::Skipped { reason } = run_one(&config, cases::HEALTH_EVICTION) else {
        panic!("an unsupported feature is skipped");
    };
    assert!(reason.contains("HealthCheck"), "{reason}");
    // Nothing configured to check is a skip too, never a pass.
    config.unsupported_features.clear();
    assert!(
        run_one(&config, cases::HEALTH_EVICTION).is_skipped(),
        "no replica control given"
    );
    assert!(run_one(&config, cases::GATEWAY_HEALTH_ENDPOINTS).is_skipped());
}

fn health_endpoints_must_answer_2xx() {
    let fixture = LocalFixture::start(&[0; 6]).unwrap();
    let mut config = config_for(&fixture, 0);
    let replica = fixture.replicas[0].server.url();
    config.health_urls = vec![format!("{replica}/health")];
    assert_eq!(
        run_one(&config, cases::GATEWAY_HEALTH_ENDPOINTS),
        Outcome::Passed
    );
    fixture.replicas[0].server.set_healthy(false);
    let Outcome::Failed { message, .. } = run_one(&config, cases::GATEWAY_HEALTH_ENDPOINTS) else {
        panic!("a 503 health endpoint fails");
    };
    assert!(message.contains("answered 503, want 2xx"), "{message}");
}

fn a_whole_run_records_every_case_in_order() {
    let fixture = LocalFixture::start(&[0; 6]).unwrap();
    let config = config_for(&fixture, 0);
    let mut started = Vec::new();
    let results = conformance::run(&config, &mut |event| {
        if let conformance::Event::Started(case) = event {
            started.push(case.name);
        }
    })
    .unwrap();
    assert_eq!(started, cases::names());
    let names: Vec<&str> = results.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, cases::names());
    assert!(!results.success());
    assert!(
        results
            .cases
            .iter()
            .all(|c| !c.outcome.is_failed() || c.requests > 0)
    );
}

fn an_unreachable_listener_fails_once_and_the_cases_behind_it_are_not_run() {
    let port = conformance::gateways::free_port().unwrap();
    let mut config = SuiteConfig::new(&format!("http://127.0.0.1:{port}"), Mode::Local);
    config.consistency.deadline = Duration::from_millis(200);
    let results = conformance::run(&config, &mut |_| {}).unwrap();
    let failed: Vec<&str> = results
        .cases
        .iter()
        .filter(|case| case.outcome.is_failed())
        .map(|case| case.name.as_str())
        .collect();
    assert_eq!(failed, [cases::LISTENER_CONNECTIVITY]);
    let Outcome::Skipped { reason } = &results.case(cases::ROUTE_EXACT).unwrap().outcome else {
        panic!("cases behind a dead listener are skipped");
    };
    assert!(reason.contains("listener-connectivity"), "{reason}");
    assert!(!results.success());
}

fn a_cancelled_run_skips_what_it_did_not_start() {
    let fixture = LocalFixture::start(&[0; 6]).unwrap();
    let config = config_for(&fixture, 0);
    let token = config.cancel.clone();
    let results = conformance::run(&config, &mut |event| {
        if let conformance::Event::Finished(_) = event {
            token.cancel(cancel::Reason::Signal(2));
        }
    })
    .unwrap();
    assert_eq!(results.cases[0].outcome, Outcome::Passed);
    for case in &results.cases[1..] {
        assert_eq!(
            case.outcome,
            Outcome::Skipped {
                reason: "not run: the run was interrupted".to_owned()
            },
            "{}",
            case.name
        );
    }
}

/// A minimal HTTP/1.1 gateway for tests: each route prefix forwards GETs to the replicas of a
/// fixed cycle, one request after another, whatever the concurrency. Serves until the test
/// binary exits.
fn cycle_gateway(routes: Vec<(&'static str, Vec<std::net::SocketAddr>)>) -> String {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use conformance::client::{BaseUrl, Client, Request};

    type Route = (&'static str, Vec<Arc<Client>>, AtomicUsize);
    let routes: Arc<Vec<Route>> = Arc::new(
        routes
            .into_iter()
            .map(|(prefix, cycle)| {
                let clients = cycle
                    .into_iter()
                    .map(|address| {
                        Arc::new(Client::new(
                            BaseUrl::parse(&format!("http://{address}")).unwrap(),
                            Duration::from_secs(10),
                        ))
                    })
                    .collect();
                (prefix, clients, AtomicUsize::new(0))
            })
            .collect(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let routes = Arc::clone(&routes);
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let target = line.split(' ').nth(1).unwrap_or("/").to_owned();
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        if header == "\r\n" {
                            break;
                        }
                    }
                    let path = target.split('?').next().unwrap_or("/");
                    let route = routes.iter().find(|(prefix, _, _)| {
                        path == *prefix || path.starts_with(&format!("{prefix}/"))
                    });
                    let (status, content_type, body) = match route {
                        Some((_, clients, next)) => {
                            let index = next.fetch_add(1, Ordering::SeqCst) % clients.len();
                            let response = clients[index].send(&Request::get(&target)).unwrap();
                            let content_type =
                                response.header("Content-Type").unwrap_or("").to_owned();
                            (response.status, content_type, response.body)
                        }
                        None => (404, "text/plain".to_owned(), b"no route\n".to_vec()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    if writer.write_all(head.as_bytes()).is_err()
                        || writer.write_all(&body).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// `runs` of (replica index, count) expanded into one cycle of addresses.
fn blocks(fixture: &LocalFixture, runs: &[(usize, usize)]) -> Vec<std::net::SocketAddr> {
    let addresses = fixture.addresses();
    runs.iter()
        .flat_map(|(replica, count)| std::iter::repeat_n(addresses[*replica], *count))
        .collect()
}

/// The balancer from the issue: each replica a block of consecutive requests (35 + 35 to the
/// v1 replicas, then 15 + 15 to v2; 100 + 100 over the v1 replicas). Correct, so both split
/// cases pass, and the evidence says the block rule decided.
fn a_correct_gateway_serving_blocks_passes_the_split_cases() {
    let fixture = LocalFixture::start(&[0; 6]).unwrap();
    let url = cycle_gateway(vec![
        ("/v1", blocks(&fixture, &[(0, 100), (1, 100)])),
        (
            "/weighted",
            blocks(&fixture, &[(0, 35), (1, 35), (2, 15), (3, 15)]),
        ),
    ]);
    let mut config = SuiteConfig::new(&url, Mode::Local);
    config.consistency.deadline = Duration::from_secs(20);
    for case in [cases::LB_EVENNESS, cases::WEIGHTED_SPLIT] {
        let result = conformance::run_case(&config, cases::info(case).unwrap());
        assert_eq!(result.outcome, Outcome::Passed, "{case}: {result:?}");
        let decision = result.decision.expect("split cases record their decision");
        assert!(
            decision.contains("rule: block schedule"),
            "{case}: {decision}"
        );
        assert!(
            decision.contains("counted by the split test"),
            "{case}: {decision}"
        );
        assert_eq!(result.split.unwrap().total(), 1000, "{case}");
    }
}

/// The same blocks ten points off (30 + 30 to v1, 20 + 20 to v2: 60/40) fail weighted-split.
fn a_gateway_serving_blocks_ten_points_off_fails_weighted_split() {
    let fixture = LocalFixture::start(&[0; 6]).unwrap();
    let url = cycle_gateway(vec![(
        "/weighted",
        blocks(&fixture, &[(0, 30), (1, 30), (2, 20), (3, 20)]),
    )]);
    let mut config = SuiteConfig::new(&url, Mode::Local);
    config.consistency.deadline = Duration::from_secs(20);
    let result = conformance::run_case(&config, cases::info(cases::WEIGHTED_SPLIT).unwrap());
    let Outcome::Failed { message, detail } = result.outcome else {
        panic!("60/40 is not 70/30: {result:?}")
    };
    assert!(
        message.contains("infra-backend-v1 got 60.0% of all 1000 requests"),
        "{message}"
    );
    assert!(detail.contains("rule: block schedule"), "{detail}");
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        a_single_replica_passes_connectivity_and_fails_routing_with_what_came_back,
        nothing_listening_fails_connectivity_naming_the_listener,
        skips_and_unsupported_features_are_reported_as_skipped_with_the_reason,
        health_endpoints_must_answer_2xx,
        a_whole_run_records_every_case_in_order,
        an_unreachable_listener_fails_once_and_the_cases_behind_it_are_not_run,
        a_cancelled_run_skips_what_it_did_not_start,
        a_correct_gateway_serving_blocks_passes_the_split_cases,
        a_gateway_serving_blocks_ten_points_off_fails_weighted_split,
    ]
}
