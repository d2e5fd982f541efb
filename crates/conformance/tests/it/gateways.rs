//! The suite against real gateways (HAProxy, nginx, Envoy) in local mode: the good config must
//! pass every case it supports, and each broken variant must fail exactly the case that covers
//! its break. Needs the binaries (CI installs them; elsewhere these tests skip with a notice).

use std::path::{Path, PathBuf};
use std::time::Duration;

use conformance::gateways::{self, Gateway, Kind, Ports, Variant};
use conformance::results::{Mode, Outcome, SuiteResults};
use conformance::{SuiteConfig, fixture::LocalFixture};

fn program(kind: Kind) -> Option<PathBuf> {
    let env_var = kind.name().to_ascii_uppercase();
    testkit::find_program(kind.name(), &env_var)
}

/// Whether `kind` can run here; under CI a missing gateway fails the test.
fn usable(kind: Kind) -> Option<PathBuf> {
    let found = program(kind);
    let probe = || {
        let path = found
            .clone()
            .ok_or_else(|| format!("{kind} is not installed"))?;
        let flag = if kind == Kind::Envoy {
            "--version"
        } else {
            "-v"
        };
        exec::Shell::new()
            .run(
                &exec::Cmd::new(&path, "probe the gateway binary")
                    .arg(flag)
                    .timeout(Duration::from_secs(30)),
            )
            .map(drop)
            .map_err(|error| error.to_string())
    };
    testkit::require(kind.name(), probe).then(|| found.expect("probed"))
}

fn templates() -> PathBuf {
    gateways::templates_dir(&testkit::workspace_root())
}

fn good_config(kind: Kind) -> String {
    std::fs::read_to_string(templates().join(kind.template_file())).expect("the template exists")
}

fn variants(kind: Kind) -> Vec<Variant> {
    let text =
        std::fs::read_to_string(templates().join("variants.toml")).expect("variants.toml exists");
    gateways::parse_variants(&text)
        .expect("variants.toml parses")
        .into_iter()
        .filter(|variant| variant.gateway == kind)
        .collect()
}

/// Starts six replicas and the gateway with `config`, runs the whole suite, stops everything.
fn run_suite(kind: Kind, program: &Path, config: &str) -> SuiteResults {
    let fixture = LocalFixture::start(&[0; 6]).expect("echo replicas start on free ports");
    let replica_ports: Vec<u16> = fixture.addresses().iter().map(|a| a.port()).collect();
    let ports = Ports::free(replica_ports.try_into().expect("six replicas")).expect("free ports");
    let run_dir = tempfile::tempdir().expect("a temp dir");
    let rendered = gateways::render(config, &ports, run_dir.path()).expect("the template renders");
    let gateway = Gateway::start(
        kind,
        program,
        &rendered,
        ports.clone(),
        run_dir.path(),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|error| panic!("{kind} starts: {error}"));
    let mut suite = SuiteConfig::new(&gateway.url(), Mode::Local);
    suite.health_urls = vec![kind.health_url(&ports)];
    suite.second_listener = Some(ports.second_listener_url());
    suite.replica_controls = fixture.v1_controls();
    suite.unsupported_features = kind.unsupported_features();
    // Long enough for any eviction on a loaded CI machine, short enough for the variants
    // whose break only shows as a deadline.
    suite.consistency.deadline = Duration::from_secs(12);
    conformance::run(&suite, &mut |_| {}).expect("the suite config is valid")
}

fn summary(results: &SuiteResults) -> String {
    results
        .cases
        .iter()
        .map(|case| match &case.outcome {
            Outcome::Failed { message, .. } => format!("{}: FAILED {message}", case.name),
            other => format!("{}: {}", case.name, other.label()),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The good config passes everything it supports; every variant fails exactly its case.
fn check_gateway(kind: Kind) {
    let Some(program) = usable(kind) else { return };
    let good = good_config(kind);
    let results = run_suite(kind, &program, &good);
    let unsupported = kind.unsupported_features();
    for case in &results.cases {
        let expected_skip = unsupported.contains(&case.feature);
        match &case.outcome {
            Outcome::Skipped { reason } => assert!(
                expected_skip,
                "{kind}: {} was skipped ({reason}) but the gateway supports it\n{}",
                case.name,
                summary(&results)
            ),
            Outcome::Passed => assert!(
                !expected_skip,
                "{kind}: {} passed although unsupported",
                case.name
            ),
            Outcome::Failed { .. } => panic!(
                "{kind}: the good config failed {}\n{}",
                case.name,
                summary(&results)
            ),
        }
    }
    let variants = variants(kind);
    assert!(
        variants.len() >= 4,
        "{kind} needs at least four broken variants"
    );
    for variant in variants {
        let broken = variant
            .apply(&good)
            .unwrap_or_else(|error| panic!("{error}"));
        let results = run_suite(kind, &program, &broken);
        let failed: Vec<&str> = results
            .cases
            .iter()
            .filter(|case| case.outcome.is_failed())
            .map(|case| case.name.as_str())
            .collect();
        assert_eq!(
            failed,
            [variant.breaks.as_str()],
            "{kind} variant {} must fail exactly {}\n{}",
            variant.name,
            variant.breaks,
            summary(&results)
        );
        let case = results.case(&variant.breaks).expect("the broken case ran");
        let Outcome::Failed { message, .. } = &case.outcome else {
            unreachable!()
        };
        assert!(!message.is_empty());
    }
}

fn haproxy_passes_and_each_broken_variant_fails_its_case() {
    check_gateway(Kind::Haproxy);
}

fn nginx_passes_with_health_skipped_and_each_broken_variant_fails_its_case() {
    check_gateway(Kind::Nginx);
}

fn envoy_passes_and_each_broken_variant_fails_its_case() {
    check_gateway(Kind::Envoy);
}

fn every_variant_applies_to_its_template() {
    for kind in Kind::ALL {
        let good = good_config(kind);
        let variants = variants(kind);
        assert!(
            variants.len() >= 4,
            "{kind} has {} variants",
            variants.len()
        );
        for variant in variants {
            assert!(
                conformance::cases::info(&variant.breaks).is_some(),
                "{} names an unknown case",
                variant.breaks
            );
            let broken = variant.apply(&good).unwrap();
            assert_ne!(broken, good);
        }
    }
}

/// The core routing behaviours a release can break each have a broken variant in every local
/// gateway, so each gateway's config is shown to be able to fail them.
fn every_core_routing_behaviour_has_a_broken_variant_per_gateway() {
    use conformance::cases;
    for case in [
        cases::ROUTE_PATH_ORDER,
        cases::ROUTE_HEADER,
        cases::ROUTE_LISTENER_HOSTNAME,
        cases::ROUTE_ACROSS_ROUTES,
        cases::ROUTE_HEADER_MODIFIER,
        cases::ROUTE_REDIRECT,
        cases::ROUTE_INVALID_BACKEND,
        cases::LISTENER_SECOND_PORT,
        cases::ROUTE_PREFIX_SEGMENT,
        cases::WEIGHTED_SPLIT,
    ] {
        for kind in Kind::ALL {
            assert!(
                variants(kind).iter().any(|variant| variant.breaks == case),
                "{kind} has no variant that breaks {case}"
            );
        }
    }
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        haproxy_passes_and_each_broken_variant_fails_its_case,
        nginx_passes_with_health_skipped_and_each_broken_variant_fails_its_case,
        envoy_passes_and_each_broken_variant_fails_its_case,
        every_variant_applies_to_its_template,
        every_core_routing_behaviour_has_a_broken_variant_per_gateway,
    ]
}
