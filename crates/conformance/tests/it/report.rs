//! Reports: the JUnit parses back with an independent XML reader, the ConformanceReport YAML
//! has upstream's shape, the Markdown shows the table and the split bars, files are written
//! atomically, and the GitHub strings respect GitHub's limits. Snapshots filter durations so
//! they pin the layout, not the timing.

use std::path::Path;
use std::time::Duration;

use conformance::report::{self, MAX_ANNOTATIONS, STEP_SUMMARY_LIMIT};
use conformance::results::{
    BackendShare, CaseResult, GatewayApi, Implementation, Mode, ObservedSplit, Outcome,
    SuiteResults, SupportLevel,
};
use expect_test::expect;
use quick_xml::events::Event;

fn case(name: &str, feature: &str, support: SupportLevel, outcome: Outcome) -> CaseResult {
    CaseResult {
        name: name.into(),
        feature: feature.into(),
        support,
        description: format!("checks {name}"),
        upstream: conformance::cases::info(name)
            .map(|info| info.upstream.iter().map(|u| (*u).to_owned()).collect())
            .unwrap_or_default(),
        outcome,
        duration: Duration::from_millis(1234),
        requests: 3,
        split: None,
        decision: None,
    }
}

fn split(backends: &[(&str, u64, f64)]) -> ObservedSplit {
    ObservedSplit {
        backends: backends
            .iter()
            .map(|(backend, count, expected)| BackendShare {
                backend: (*backend).into(),
                count: *count,
                expected: *expected,
            })
            .collect(),
    }
}

fn sample() -> SuiteResults {
    let mut evenness = case(
        "lb-evenness",
        "LoadBalancing",
        SupportLevel::Core,
        Outcome::Passed,
    );
    evenness.requests = 292;
    evenness.split = Some(split(&[
        ("infra-backend-v1-local-0", 146, 0.5),
        ("infra-backend-v1-local-1", 146, 0.5),
    ]));
    let mut weighted = case(
        "weighted-split",
        "HTTPRouteWeight",
        SupportLevel::Core,
        Outcome::Failed {
            message: "infra-backend-v1 got 50.2% of 251 requests, expected 70.0%".into(),
            detail:
                "last responses: <pod a&b> \"quoted\" ünïcödé\nsecond line | with pipe\n```\nfenced"
                    .into(),
        },
    );
    weighted.requests = 251;
    weighted.split = Some(split(&[
        ("infra-backend-v1", 126, 0.7),
        ("infra-backend-v2", 125, 0.3),
        ("infra-backend-v3", 0, 0.0),
    ]));
    SuiteResults {
        implementation: Implementation {
            project: "kgateway".into(),
            version: "v2.1.0".into(),
            url: "https://github.com/kgateway-dev/kgateway".into(),
            contact: vec!["@kgateway-dev/maintainers".into()],
            organization: "kgateway-dev".into(),
        },
        gateway_api: GatewayApi {
            version: "v1.6.3".into(),
            channel: "standard".into(),
        },
        mode: Mode::Local,
        gateway_url: "http://127.0.0.1:8080".into(),
        started_unix_seconds: 1_700_000_000,
        duration: Duration::from_millis(9876),
        cases: vec![
            case(
                "route-exact",
                "HTTPRouteExactPathMatching",
                SupportLevel::Core,
                Outcome::Passed,
            ),
            case(
                "route-header",
                "HTTPRouteHeaderMatching",
                SupportLevel::Core,
                Outcome::Failed {
                    message: "GET /headers with version: two reached infra-backend-v1, want infra-backend-v2".into(),
                    detail: String::new(),
                },
            ),
            evenness,
            weighted,
            case(
                "health-eviction",
                "HealthCheck",
                SupportLevel::Extended,
                Outcome::Skipped {
                    reason: "nginx has no active health checks".into(),
                },
            ),
        ],
        unsupported_features: vec!["HealthCheck".into()],
        interrupted: false,
    }
}

/// Replaces every `time="…"` attribute value: durations are inputs here, but the snapshot pins
/// the layout, and quick-junit's number formatting is not ours to freeze.
fn filter_junit_times(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(start) = rest.find("time=\"") {
        let value = start + "time=\"".len();
        out.push_str(&rest[..value]);
        let end = rest[value..].find('"').expect("attribute closes") + value;
        out.push_str("[duration]");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Replaces `1.23 s` style durations in the Markdown.
fn filter_markdown_times(text: &str) -> String {
    let is_seconds = |word: &str| {
        word.contains('.')
            && word
                .split('.')
                .all(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
    };
    text.split(' ')
        .map(|word| if is_seconds(word) { "[duration]" } else { word })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What an independent XML reader sees of one `<testcase>`.
#[derive(Debug, Default, PartialEq)]
struct ParsedCase {
    name: String,
    classname: String,
    time: String,
    /// `failure` or `skipped`, with its `message` attribute and text.
    outcome: Option<(String, String, String)>,
}

fn attribute(element: &quick_xml::events::BytesStart<'_>, key: &str) -> String {
    element
        .try_get_attribute(key)
        .expect("well-formed attributes")
        .map(|value| value.unescape_value().expect("valid escapes").into_owned())
        .unwrap_or_default()
}

/// Parses the JUnit document with quick-xml's pull reader (no quick-junit code involved).
fn parse_junit(xml: &str) -> (Vec<(String, String)>, Vec<ParsedCase>) {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut suites = Vec::new();
    let mut cases: Vec<ParsedCase> = Vec::new();
    let mut inside_outcome = false;
    loop {
        let event = reader.read_event().expect("junit.xml is well-formed XML");
        let (element, opens) = match &event {
            Event::Eof => break,
            Event::Start(element) => (element, true),
            Event::Empty(element) => (element, false),
            Event::Text(text) if inside_outcome => {
                let text = text.decode().expect("utf-8").into_owned();
                let text = quick_xml::escape::unescape(&text)
                    .expect("valid escapes")
                    .into_owned();
                if let Some((_, _, body)) = cases.last_mut().and_then(|case| case.outcome.as_mut())
                {
                    body.push_str(&text);
                }
                continue;
            }
            // quick-xml reports `&lt;` and friends as separate events between text pieces.
            Event::GeneralRef(reference) if inside_outcome => {
                let resolved = match reference.resolve_char_ref().expect("valid reference") {
                    Some(character) => character.to_string(),
                    None => {
                        let name = reference.decode().expect("utf-8");
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .expect("only predefined entities")
                            .to_owned()
                    }
                };
                if let Some((_, _, body)) = cases.last_mut().and_then(|case| case.outcome.as_mut())
                {
                    body.push_str(&resolved);
                }
                continue;
            }
            Event::End(element) => {
                if matches!(element.name().as_ref(), b"failure" | b"skipped") {
                    inside_outcome = false;
                }
                continue;
            }
            _ => continue,
        };
        match element.name().as_ref() {
            b"testsuite" => {
                suites.push((attribute(element, "tests"), attribute(element, "failures")));
            }
            b"testcase" => cases.push(ParsedCase {
                name: attribute(element, "name"),
                classname: attribute(element, "classname"),
                time: attribute(element, "time"),
                outcome: None,
            }),
            kind @ (b"failure" | b"skipped") => {
                let kind = String::from_utf8(kind.to_vec()).unwrap();
                let message = attribute(element, "message");
                cases.last_mut().expect("inside a testcase").outcome =
                    Some((kind, message, String::new()));
                // Only a start tag has text to follow.
                inside_outcome = opens;
            }
            _ => {}
        }
    }
    (suites, cases)
}

fn junit_parses_with_an_independent_reader() {
    let results = sample();
    let xml = report::junit_xml(&results);
    let (suites, cases) = parse_junit(&xml);
    assert_eq!(suites, vec![("5".to_string(), "2".to_string())]);
    let names: Vec<&str> = cases.iter().map(|case| case.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "route-exact",
            "route-header",
            "lb-evenness",
            "weighted-split",
            "health-eviction"
        ]
    );
    assert_eq!(cases[0].outcome, None);
    assert_eq!(cases[0].classname, "conformance.core");
    assert_eq!(cases[4].classname, "conformance.extended");
    // The duration the result carries, in seconds.
    assert_eq!(cases[0].time.parse::<f64>().unwrap(), 1.234);

    let (kind, message, body) = cases[3].outcome.clone().unwrap();
    assert_eq!(kind, "failure");
    assert_eq!(
        message,
        "infra-backend-v1 got 50.2% of 251 requests, expected 70.0%"
    );
    // Markup characters and non-ASCII survive the round trip, and the split is in the body.
    assert!(body.contains("<pod a&b> \"quoted\" ünïcödé"), "{body}");
    assert!(body.contains("infra-backend-v3"), "{body}");

    let (kind, message, _) = cases[4].outcome.clone().unwrap();
    assert_eq!(kind, "skipped");
    assert_eq!(message, "nginx has no active health checks");
}

/// The JUnit file as Python's standard library reads it (the parser most CI report tools build
/// on): every testcase with its name, classname and outcome element, as JSON.
const PYTHON_JUNIT_READER: &str = r#"
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.stdin.buffer).getroot()
suites = root.findall("testsuite") if root.tag == "testsuites" else [root]
cases = []
for suite in suites:
    for case in suite.findall("testcase"):
        outcome = None
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                outcome = [kind, element.get("message") or "", element.text or ""]
        cases.append([case.get("name"), case.get("classname"), outcome])
json.dump({"tests": [s.get("tests") for s in suites], "cases": cases}, sys.stdout)
"#;

fn junit_parses_with_pythons_standard_library() {
    let mut python = None;
    if !testkit::require("python3", || {
        python = testkit::find_program("python3", "PYTHON3");
        python
            .as_ref()
            .map(|_| ())
            .ok_or_else(|| "python3 is not on PATH".to_owned())
    }) {
        return;
    }
    let xml = report::junit_xml(&sample());
    let cmd = exec::Cmd::new(python.unwrap(), "read the JUnit report with xml.etree")
        .args(["-c", PYTHON_JUNIT_READER])
        .stdin_bytes(xml.into_bytes());
    let output = exec::Shell::new().run(&cmd).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&output.stdout_str()).unwrap();
    assert_eq!(parsed["tests"], serde_json::json!(["5"]));
    let cases = parsed["cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|case| case[0].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "route-exact",
            "route-header",
            "lb-evenness",
            "weighted-split",
            "health-eviction"
        ]
    );
    assert_eq!(cases[0][1], "conformance.core");
    assert!(cases[0][2].is_null(), "{}", cases[0]);
    assert_eq!(cases[3][2][0], "failure");
    assert_eq!(
        cases[3][2][1],
        "infra-backend-v1 got 50.2% of 251 requests, expected 70.0%"
    );
    let body = cases[3][2][2].as_str().unwrap();
    assert!(body.contains("<pod a&b> \"quoted\" ünïcödé"), "{body}");
    assert_eq!(cases[4][2][0], "skipped");
    assert_eq!(cases[4][2][1], "nginx has no active health checks");
}

fn junit_snapshot() {
    let xml = filter_junit_times(&report::junit_xml(&sample()));
    expect![[r#"
        <?xml version="1.0" encoding="UTF-8"?>
        <testsuites name="gateway-conformance" tests="5" failures="2" errors="0" time="[duration]">
            <testsuite name="conformance: kgateway v2.1.0" tests="5" disabled="1" errors="0" failures="2" time="[duration]" timestamp="2023-11-14T22:13:20Z" skipped="1">
                <properties>
                    <property name="implementation.project" value="kgateway"/>
                    <property name="implementation.version" value="v2.1.0"/>
                    <property name="gateway.url" value="http://127.0.0.1:8080"/>
                    <property name="mode" value="local"/>
                    <property name="gatewayAPI.version" value="v1.6.3"/>
                    <property name="gatewayAPI.channel" value="standard"/>
                </properties>
                <testcase name="route-exact" classname="conformance.core" time="[duration]">
                    <properties>
                        <property name="upstream" value="HTTPExactPathMatching"/>
                        <property name="feature" value="HTTPRouteExactPathMatching"/>
                        <property name="support" value="core"/>
                        <property name="requests" value="3"/>
                    </properties>
                    <system-out>checks route-exact</system-out>
                </testcase>
                <testcase name="route-header" classname="conformance.core" time="[duration]">
                    <properties>
                        <property name="upstream" value="HTTPRouteHeaderMatching"/>
                        <property name="feature" value="HTTPRouteHeaderMatching"/>
                        <property name="support" value="core"/>
                        <property name="requests" value="3"/>
                    </properties>
                    <failure message="GET /headers with version: two reached infra-backend-v1, want infra-backend-v2" type="failure"/>
                    <system-out>checks route-header</system-out>
                </testcase>
                <testcase name="lb-evenness" classname="conformance.core" time="[duration]">
                    <properties>
                        <property name="feature" value="LoadBalancing"/>
                        <property name="support" value="core"/>
                        <property name="requests" value="292"/>
                        <property name="split.infra-backend-v1-local-0" value="146 (expected 50.0%)"/>
                        <property name="split.infra-backend-v1-local-1" value="146 (expected 50.0%)"/>
                    </properties>
                    <system-out>checks lb-evenness</system-out>
                </testcase>
                <testcase name="weighted-split" classname="conformance.core" time="[duration]">
                    <properties>
                        <property name="upstream" value="HTTPRouteWeight"/>
                        <property name="feature" value="HTTPRouteWeight"/>
                        <property name="support" value="core"/>
                        <property name="requests" value="251"/>
                        <property name="split.infra-backend-v1" value="126 (expected 70.0%)"/>
                        <property name="split.infra-backend-v2" value="125 (expected 30.0%)"/>
                        <property name="split.infra-backend-v3" value="0 (expected 0.0%)"/>
                    </properties>
                    <failure message="infra-backend-v1 got 50.2% of 251 requests, expected 70.0%" type="failure">last responses: &lt;pod a&amp;b&gt; &quot;quoted&quot; ünïcödé
        second line | with pipe
        ```
        fenced

        observed split:
        infra-backend-v1  ████████████████████·······|············   50.2%  expected  70.0%  (126)
        infra-backend-v2  ███████████┃████████····················   49.8%  expected  30.0%  (125)
        infra-backend-v3  ········································    0.0%  expected   0.0%  (0)</failure>
                    <system-out>checks weighted-split</system-out>
                </testcase>
                <testcase name="health-eviction" classname="conformance.extended" time="[duration]">
                    <properties>
                        <property name="feature" value="HealthCheck"/>
                        <property name="support" value="extended"/>
                        <property name="requests" value="3"/>
                    </properties>
                    <skipped message="nginx has no active health checks"/>
                    <system-out>checks health-eviction</system-out>
                </testcase>
            </testsuite>
        </testsuites>
    "#]].assert_eq(&xml);
}

fn conformance_report_has_upstreams_shape() {
    let yaml = report::conformance_report_yaml(&sample());
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(value["apiVersion"], "gateway.networking.k8s.io/v1");
    assert_eq!(value["kind"], "ConformanceReport");
    assert_eq!(value["date"], "2023-11-14T22:13:20Z");
    // Quoted, as upstream writes it, so no YAML 1.1 reader takes it for a timestamp.
    assert!(
        yaml.contains("\ndate: \"2023-11-14T22:13:20Z\"\n"),
        "{yaml}"
    );
    assert_eq!(value["gatewayAPIVersion"], "v1.6.3");
    assert_eq!(value["gatewayAPIChannel"], "standard");
    assert_eq!(value["implementation"]["organization"], "kgateway-dev");
    assert_eq!(
        value["implementation"]["contact"][0],
        "@kgateway-dev/maintainers"
    );
    let profile = &value["profiles"][0];
    assert_eq!(profile["name"], "GATEWAY-HTTP");
    assert_eq!(profile["core"]["result"], "failure");
    assert_eq!(profile["core"]["statistics"]["Passed"], 2);
    assert_eq!(profile["core"]["statistics"]["Failed"], 2);
    assert_eq!(profile["core"]["statistics"]["Skipped"], 0);
    // Reported under the upstream conformance suite's test names.
    assert_eq!(profile["core"]["failedTests"][0], "HTTPRouteHeaderMatching");
    assert_eq!(profile["core"]["failedTests"][1], "HTTPRouteWeight");
    assert_eq!(profile["extended"]["result"], "partial");
    assert_eq!(profile["extended"]["skippedTests"][0], "health-eviction");
    assert_eq!(profile["extended"]["unsupportedFeatures"][0], "HealthCheck");
    assert!(profile["extended"].get("supportedFeatures").is_none());
    assert_eq!(
        profile["summary"],
        "Core tests failed with 2 test failures. Extended tests partially succeeded with 1 test skip."
    );

    // All green: success, and no extended block without extended cases.
    let mut green = sample();
    green.cases.retain(|case| case.outcome.is_passed());
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&report::conformance_report_yaml(&green)).unwrap();
    assert_eq!(value["profiles"][0]["core"]["result"], "success");
    assert!(value["profiles"][0].get("extended").is_none());
    assert!(value["profiles"][0]["core"].get("failedTests").is_none());
}

fn conformance_report_snapshot() {
    expect![[r#"
        apiVersion: gateway.networking.k8s.io/v1
        kind: ConformanceReport
        date: "2023-11-14T22:13:20Z"
        gatewayAPIChannel: standard
        gatewayAPIVersion: v1.6.3
        implementation:
          contact:
          - '@kgateway-dev/maintainers'
          organization: kgateway-dev
          project: kgateway
          url: https://github.com/kgateway-dev/kgateway
          version: v2.1.0
        mode: default
        profiles:
        - core:
            failedTests:
            - HTTPRouteHeaderMatching
            - HTTPRouteWeight
            result: failure
            statistics:
              Failed: 2
              Passed: 2
              Skipped: 0
          extended:
            result: partial
            skippedTests:
            - health-eviction
            statistics:
              Failed: 0
              Passed: 0
              Skipped: 1
            unsupportedFeatures:
            - HealthCheck
          name: GATEWAY-HTTP
          summary: Core tests failed with 2 test failures. Extended tests partially succeeded with 1 test skip.
    "#]].assert_eq(&report::conformance_report_yaml(&sample()));
}

fn markdown_snapshot() {
    expect![[r###"
        ## Conformance: kgateway v2.1.0 ❌ failed

        2 passed, 2 failed, 1 skipped in [duration] s · local mode · gateway `http://127.0.0.1:8080` · Gateway API v1.6.3 (standard)

        | Case | Upstream test | Feature | Support | Result | Requests | Time | Note |
        |---|---|---|---|---|---|---|---|
        | `route-exact` | HTTPExactPathMatching | HTTPRouteExactPathMatching | core | ✅ passed | 3 | [duration] s |  |
        | `route-header` | HTTPRouteHeaderMatching | HTTPRouteHeaderMatching | core | ❌ failed | 3 | [duration] s | GET /headers with version: two reached infra-backend-v1, want infra-backend-v2 |
        | `lb-evenness` | - | LoadBalancing | core | ✅ passed | 292 | [duration] s |  |
        | `weighted-split` | HTTPRouteWeight | HTTPRouteWeight | core | ❌ failed | 251 | [duration] s | infra-backend-v1 got 50.2% of 251 requests, expected 70.0% |
        | `health-eviction` | - | HealthCheck | extended | ⏭️ skipped | 3 | [duration] s | nginx has no active health checks |

        _Requests_ counts every request a case sent, including attempts while waiting for the gateway to become consistent; an observed split counts only the responses its test judged (the decision under it says how many were sent, answered and counted).

        ### Observed splits

        `lb-evenness` (passed, 292 responses):

        ```text
        infra-backend-v1-local-0  ███████████████████┃····················   50.0%  expected  50.0%  (146)
        infra-backend-v1-local-1  ███████████████████┃····················   50.0%  expected  50.0%  (146)
        ```

        `weighted-split` (failed, 251 responses):

        ```text
        infra-backend-v1  ████████████████████·······|············   50.2%  expected  70.0%  (126)
        infra-backend-v2  ███████████┃████████····················   49.8%  expected  30.0%  (125)
        infra-backend-v3  ········································    0.0%  expected   0.0%  (0)
        ```

        ### Failures

        #### `route-header` (HTTPRouteHeaderMatching)

        GET /headers with version: two reached infra-backend-v1, want infra-backend-v2

        #### `weighted-split` (HTTPRouteWeight)

        infra-backend-v1 got 50.2% of 251 requests, expected 70.0%

        <details><summary>Evidence</summary>

        ````text
        last responses: <pod a&b> "quoted" ünïcödé
        second line | with pipe
        ```
        fenced
        ````

        </details>
    "###]].assert_eq(&filter_markdown_times(&report::markdown(&sample())));
}

fn markdown_bars_show_the_split_against_its_mark() {
    let text = report::markdown(&sample());
    let line = text
        .lines()
        .find(|line| line.starts_with("infra-backend-v1 "))
        .expect("a bar line for v1");
    // 50.2% of 40 cells filled, and the 70% mark (cell 28) beyond the fill.
    assert_eq!(
        line.matches('█').count() + line.matches('┃').count(),
        20,
        "{line}"
    );
    assert_eq!(
        line.find('|').map(|at| line[..at].chars().count()),
        Some(18 + 27),
        "{line}"
    );
    let zero = text
        .lines()
        .find(|line| line.starts_with("infra-backend-v3 "))
        .expect("a bar line for v3");
    assert!(!zero.contains('█') && !zero.contains('|'), "{zero}");
}

fn markdown_caps_long_evidence() {
    let mut results = sample();
    results.cases[1].outcome = Outcome::Failed {
        message: "boom".into(),
        detail: "x".repeat(100_000),
    };
    let text = report::markdown(&results);
    assert!(text.len() < 10_000, "{}", text.len());
    assert!(text.contains("more bytes in junit.xml and conformance.json"));
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn write_reports_writes_the_four_files_and_nothing_else() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("reports/nested");
    let results = sample();
    let written = report::write_reports(&dir, &results).unwrap();
    let relative: Vec<String> = written
        .iter()
        .map(|path| path.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    assert_eq!(
        relative,
        [
            "junit.xml",
            "conformance-report.yaml",
            "summary.md",
            "conformance.json"
        ]
    );
    assert_eq!(
        entries(&dir),
        [
            "conformance-report.yaml",
            "conformance.json",
            "junit.xml",
            "summary.md"
        ]
    );
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert_eq!(read("junit.xml"), report::junit_xml(&results));
    assert_eq!(
        read("conformance-report.yaml"),
        report::conformance_report_yaml(&results)
    );
    assert_eq!(read("summary.md"), report::markdown(&results));
    let back: SuiteResults = serde_json::from_str(&read("conformance.json")).unwrap();
    assert_eq!(back, results);

    // A second run replaces the files whole.
    let mut second = results.clone();
    second.cases.truncate(1);
    report::write_reports(&dir, &second).unwrap();
    assert_eq!(read("junit.xml"), report::junit_xml(&second));
    assert_eq!(entries(&dir).len(), 4);
}

fn a_failed_write_names_the_file_and_leaves_no_temporary_files() {
    let temp = tempfile::tempdir().unwrap();
    // conformance.json is a non-empty directory: renaming a file onto it fails.
    std::fs::create_dir_all(temp.path().join("conformance.json/blocker")).unwrap();
    let error = report::write_reports(temp.path(), &sample()).unwrap_err();
    assert!(error.path.ends_with("conformance.json"), "{error}");
    assert!(error.to_string().contains("conformance.json"), "{error}");
    assert!(
        entries(temp.path())
            .iter()
            .all(|name| !name.ends_with(".tmp")),
        "{:?}",
        entries(temp.path())
    );

    // The directory itself cannot be created: nothing is written, the error names it.
    let file = temp.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let error = report::write_reports(&file.join("reports"), &sample()).unwrap_err();
    assert_eq!(error.action, "creating report directory");
}

fn many_failures(count: usize) -> SuiteResults {
    let mut results = sample();
    results.cases = (0..count)
        .map(|index| {
            case(
                &format!("case-{index}"),
                "Feature",
                SupportLevel::Core,
                Outcome::Failed {
                    message: format!("failure {index}: 100% wrong,\nsecond line"),
                    detail: "d".repeat(3000),
                },
            )
        })
        .collect();
    results
}

fn annotations_are_bounded_escaped_and_mention_every_failure() {
    assert!(report::annotations(&sample()).len() == 2);
    let lines = report::annotations(&many_failures(14));
    assert_eq!(lines.len(), MAX_ANNOTATIONS);
    assert_eq!(
        lines[0],
        "::error title=conformance%3A case-0 failed::failure 0: 100%25 wrong,%0Asecond line"
    );
    assert!(lines.iter().all(|line| !line.contains('\n')));
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("::error title=conformance%3A 5 more cases failed::"),
        "{last}"
    );
    for index in 9..14 {
        assert!(last.contains(&format!("case-{index}")), "{last}");
    }
    // Exactly ten failures fit without a summary line.
    let lines = report::annotations(&many_failures(MAX_ANNOTATIONS));
    assert!(lines.last().unwrap().contains("case-9 failed"));
}

fn the_step_summary_stays_under_githubs_limit() {
    let small = report::markdown(&sample());
    assert_eq!(
        report::bounded_step_summary(&small, STEP_SUMMARY_LIMIT),
        small
    );

    let huge = report::markdown(&many_failures(600));
    assert!(huge.len() > STEP_SUMMARY_LIMIT, "{}", huge.len());
    let bounded = report::bounded_step_summary(&huge, STEP_SUMMARY_LIMIT);
    assert!(bounded.len() <= STEP_SUMMARY_LIMIT);
    assert!(bounded.len() > STEP_SUMMARY_LIMIT - 8192, "keeps what fits");
    assert!(bounded.ends_with("the full report is summary.md in the report directory._\n"));
    assert!(huge.starts_with(&bounded[..1000]));
    let fences = bounded
        .lines()
        .filter(|line| line.starts_with("```"))
        .count();
    assert_eq!(fences % 2, 0, "every code fence is closed");
    // Cut inside a fence: the fence is closed before the note.
    let fenced = format!("intro\n\n```text\n{}```\n", "line\n".repeat(1000));
    let cut = report::bounded_step_summary(&fenced, 2000);
    assert!(cut.len() <= 2000);
    assert!(cut.contains("line\n```\n\n_The summary was cut"), "{cut}");
    assert_eq!(
        bounded.matches("<details>").count(),
        bounded.matches("</details>").count()
    );

    // Whatever the step already wrote counts against the limit.
    let rest = report::bounded_step_summary(&huge, 5000);
    assert!(rest.len() <= 5000);
    assert_eq!(report::bounded_step_summary(&huge, 10), "");
}

fn report_files_get_the_permissions_of_any_file_the_process_writes() {
    use std::os::unix::fs::PermissionsExt;
    let temp = tempfile::tempdir().unwrap();
    report::write_reports(temp.path(), &sample()).unwrap();
    // std::fs::write creates with 0666 less the umask: 0644 under the usual 022.
    let plain = temp.path().join("plain");
    std::fs::write(&plain, "x").unwrap();
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    for name in [
        report::JUNIT_FILE,
        report::CONFORMANCE_REPORT_FILE,
        report::MARKDOWN_FILE,
        report::JSON_FILE,
    ] {
        assert_eq!(mode(&temp.path().join(name)), mode(&plain), "{name}");
    }
    assert_ne!(
        mode(&plain) & 0o044,
        0,
        "the test runs under a umask that lets others read"
    );
}

/// A real run interrupted after its first case: every format says so, and no feature is called
/// unsupported because its case did not run.
fn an_interrupted_run_says_so_in_every_format_and_declares_nothing_unsupported() {
    let fixture = conformance::fixture::LocalFixture::start(&[0; 6]).unwrap();
    let mut config = conformance::SuiteConfig::new(&fixture.replicas[0].server.url(), Mode::Local);
    config.consistency.deadline = Duration::from_millis(300);
    let token = config.cancel.clone();
    let results = conformance::run(&config, &mut |event| {
        if let conformance::Event::Finished(_) = event {
            token.cancel(cancel::Reason::Signal(2));
        }
    })
    .unwrap();
    assert!(results.interrupted);
    assert!(results.cases[1..].iter().all(|case| matches!(
        &case.outcome,
        Outcome::Skipped { reason } if reason.contains("interrupted")
    )));

    let yaml = report::conformance_report_yaml(&results);
    let document: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let profile = &document["profiles"][0];
    assert_eq!(profile["core"]["result"], "interrupted", "{yaml}");
    assert_eq!(profile["extended"]["result"], "interrupted", "{yaml}");
    assert!(
        profile["extended"].get("unsupportedFeatures").is_none(),
        "{yaml}"
    );
    let supported = profile["extended"]["supportedFeatures"]
        .as_sequence()
        .unwrap();
    assert!(
        supported.iter().any(|feature| feature == "HealthCheck"),
        "{yaml}"
    );
    assert!(
        profile["summary"]
            .as_str()
            .unwrap()
            .starts_with("Interrupted"),
        "{yaml}"
    );

    let junit = report::junit_xml(&results);
    assert!(
        junit.contains(r#"<property name="interrupted" value="true"/>"#),
        "{junit}"
    );
    assert!(junit.contains("(interrupted)"), "{junit}");

    let markdown = report::markdown(&results);
    assert!(
        markdown.lines().next().unwrap().ends_with("⏹️ interrupted"),
        "{markdown}"
    );

    let json: serde_json::Value = serde_json::from_str(&results.to_json()).unwrap();
    assert_eq!(json["interrupted"], true);
    assert_eq!(json["unsupported_features"], serde_json::json!([]));
}

/// A dead listener skips everything behind it: those cases are skipped with that reason, and
/// their features are not called unsupported.
fn a_dead_listener_declares_nothing_unsupported() {
    let port = conformance::gateways::free_port().unwrap();
    let mut config =
        conformance::SuiteConfig::new(&format!("http://127.0.0.1:{port}"), Mode::Local);
    config.consistency.deadline = Duration::from_millis(200);
    config.unsupported_features = vec!["GatewayHealthEndpoint".into()];
    let results = conformance::run(&config, &mut |_| {}).unwrap();
    assert!(!results.interrupted);
    let skipped_for_listener = results
        .cases
        .iter()
        .filter(|case| matches!(&case.outcome, Outcome::Skipped { reason } if reason.contains("listener-connectivity")))
        .count();
    assert!(skipped_for_listener >= 5, "{results:?}");
    let yaml = report::conformance_report_yaml(&results);
    let document: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let extended = &document["profiles"][0]["extended"];
    // Only the declared feature is unsupported; HealthCheck and LoadBalancing were not run,
    // which says nothing about the gateway's support for them.
    assert_eq!(
        extended["unsupportedFeatures"],
        serde_yaml_ng::to_value(["GatewayHealthEndpoint"]).unwrap(),
        "{yaml}"
    );
    assert_eq!(extended["result"], "partial", "{yaml}");
    assert_eq!(
        document["profiles"][0]["core"]["result"], "failure",
        "{yaml}"
    );
    assert!(!report::markdown(&results).contains("interrupted"));
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        junit_parses_with_an_independent_reader,
        junit_parses_with_pythons_standard_library,
        junit_snapshot,
        conformance_report_has_upstreams_shape,
        conformance_report_snapshot,
        markdown_snapshot,
        markdown_bars_show_the_split_against_its_mark,
        markdown_caps_long_evidence,
        write_reports_writes_the_four_files_and_nothing_else,
        a_failed_write_names_the_file_and_leaves_no_temporary_files,
        annotations_are_bounded_escaped_and_mention_every_failure,
        the_step_summary_stays_under_githubs_limit,
        report_files_get_the_permissions_of_any_file_the_process_writes,
        an_interrupted_run_says_so_in_every_format_and_declares_nothing_unsupported,
        a_dead_listener_declares_nothing_unsupported,
    ]
}
