//! The verify-release workflow read as data: its triggers (each with the inputs it needs), least
//! privilege, one run per tag, a timeout, the exact xtask command line, the artifact kept
//! whatever happens, and the README snippet that calls it. actionlint (in `.ci/run`) checks
//! that GitHub would accept it; this checks that it says what the gate needs.

use serde_yaml_ng::{Mapping, Value};

const WORKFLOW: &str = ".github/workflows/verify-release.yml";
const COMMAND: &str = r#"cargo xtask verify-release --tag "$TAG" --notify-github-issue"#;
const WITH_WEBHOOK: &str = r#"cargo xtask verify-release --tag "$TAG" --notify-github-issue --notify-webhook "$WEBHOOK_URL""#;

fn workflow() -> Value {
    let text = std::fs::read_to_string(testkit::workspace_root().join(WORKFLOW)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value:?}"))
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_mapping()
        .unwrap_or_else(|| panic!("not a mapping: {value:?}"))
        .keys()
        .map(text)
        .collect()
}

fn jobs(workflow: &Value) -> &Mapping {
    workflow["jobs"].as_mapping().unwrap()
}

/// The one job, and the step that runs verify-release.
fn verify_job(workflow: &Value) -> &Value {
    let jobs = jobs(workflow);
    assert_eq!(jobs.len(), 1, "one job: {:?}", keys(&workflow["jobs"]));
    &workflow["jobs"]["verify"]
}

fn steps(job: &Value) -> &Vec<Value> {
    job["steps"].as_sequence().unwrap()
}

fn step_named<'a>(job: &'a Value, name: &str) -> &'a Value {
    steps(job)
        .iter()
        .find(|step| step["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no step named {name:?}"))
}

fn every_trigger_is_there_with_what_it_needs() {
    let workflow = workflow();
    let on = &workflow["on"];
    assert_eq!(
        keys(on),
        [
            "release",
            "workflow_call",
            "workflow_run",
            "workflow_dispatch"
        ]
    );
    assert_eq!(
        on["release"]["types"],
        serde_yaml_ng::from_str::<Value>("[published]").unwrap()
    );

    let call = &on["workflow_call"];
    assert_eq!(keys(&call["inputs"]), ["tag"]);
    assert_eq!(call["inputs"]["tag"]["required"], Value::Bool(true));
    assert_eq!(text(&call["inputs"]["tag"]["type"]), "string");
    assert_eq!(
        call["secrets"]["RELEASE_GATE_WEBHOOK_URL"]["required"],
        Value::Bool(false)
    );
    for output in ["verdict", "artifacts-dir"] {
        assert_eq!(
            text(&call["outputs"][output]["value"]),
            format!("${{{{ jobs.verify.outputs.{output} }}}}")
        );
        assert_eq!(
            text(&workflow["jobs"]["verify"]["outputs"][output]),
            format!("${{{{ steps.verify.outputs.{output} }}}}")
        );
    }

    let run = &on["workflow_run"];
    assert_eq!(
        run["workflows"],
        serde_yaml_ng::from_str::<Value>("[release]").unwrap()
    );
    assert_eq!(
        run["types"],
        serde_yaml_ng::from_str::<Value>("[completed]").unwrap()
    );
    let condition = text(&verify_job(&workflow)["if"]);
    assert!(
        condition.contains("github.event.workflow_run.conclusion == 'success'"),
        "{condition}"
    );

    let dispatch = &on["workflow_dispatch"];
    assert_eq!(keys(&dispatch["inputs"]), ["tag"]);
    assert_eq!(text(&dispatch["inputs"]["tag"]["type"]), "string");
}

fn permissions_are_least_privilege() {
    let workflow = workflow();
    assert_eq!(
        workflow["permissions"],
        serde_yaml_ng::from_str::<Value>("contents: read").unwrap(),
        "the workflow reads the repository, nothing more"
    );
    for (name, job) in jobs(&workflow) {
        let permissions = &job["permissions"];
        let notifies = steps(job).iter().any(|step| {
            step["run"]
                .as_str()
                .is_some_and(|run| run.contains("--notify-github-issue"))
        });
        let expected = if notifies {
            "contents: read\nissues: write"
        } else {
            "contents: read"
        };
        assert!(
            permissions.is_null() && !notifies
                || *permissions == serde_yaml_ng::from_str::<Value>(expected).unwrap(),
            "job {name:?}: {permissions:?}"
        );
    }
}

fn one_run_per_tag_at_a_time_within_a_timeout() {
    let workflow = workflow();
    let job = verify_job(&workflow);
    let group = text(&job["concurrency"]["group"]);
    for source in [
        "inputs.tag",
        "github.event.release.tag_name",
        "github.event.workflow_run.head_branch",
    ] {
        assert!(group.contains(source), "{group} lacks {source}");
    }
    assert_eq!(job["concurrency"]["cancel-in-progress"], Value::Bool(false));
    let timeout = job["timeout-minutes"].as_u64().expect("a timeout-minutes");
    assert!((10..=360).contains(&timeout), "{timeout}");
}

fn it_runs_exactly_the_xtask_command_with_secrets_in_env_only() {
    let workflow = workflow();
    let job = verify_job(&workflow);
    let verify = step_named(job, "Verify the release");
    assert_eq!(text(&verify["id"]), "verify");
    let lines: Vec<&str> = text(&verify["run"]).lines().map(str::trim).collect();
    assert_eq!(
        lines,
        [
            r#"if [ -n "$WEBHOOK_URL" ]; then"#,
            WITH_WEBHOOK,
            "else",
            COMMAND,
            "fi"
        ]
    );
    let env = &verify["env"];
    assert_eq!(text(&env["TAG"]), "${{ steps.tag.outputs.tag }}");
    assert_eq!(text(&env["GITHUB_TOKEN"]), "${{ github.token }}");
    assert_eq!(
        text(&env["WEBHOOK_URL"]),
        "${{ secrets.RELEASE_GATE_WEBHOOK_URL }}"
    );

    // No script splices an expression (a branch name or tag is untrusted input) and none
    // prints the webhook URL.
    for step in steps(job) {
        if let Some(run) = step["run"].as_str() {
            assert!(!run.contains("${{"), "an expression inside a script: {run}");
            for line in run.lines().filter(|line| line.contains("WEBHOOK_URL")) {
                assert!(
                    !line.trim_start().starts_with("echo") && !line.contains("set -x"),
                    "{line}"
                );
            }
        }
    }

    // The tag step covers every trigger.
    let tag = step_named(job, "Determine the tag");
    assert_eq!(text(&tag["id"]), "tag");
    assert_eq!(text(&tag["env"]["INPUT_TAG"]), "${{ inputs.tag }}");
    assert_eq!(
        text(&tag["env"]["RELEASE_TAG"]),
        "${{ github.event.release.tag_name }}"
    );
    assert_eq!(
        text(&tag["env"]["RUN_HEAD_BRANCH"]),
        "${{ github.event.workflow_run.head_branch }}"
    );
    assert!(text(&tag["run"]).contains("tag=latest"));

    // The toolchain is the pinned one, installed like ci.yml does (versions check compares the
    // RUST_VERSION line with the pin file).
    assert!(workflow["env"]["RUST_VERSION"].is_string());
    let install = text(&step_named(job, "Install the pinned Rust toolchain")["run"]);
    assert!(install.contains(r#"rustup toolchain install "$RUST_VERSION""#));
    assert!(install.contains(r#"rustup default "$RUST_VERSION""#));
}

fn the_reports_are_uploaded_whatever_happened() {
    let workflow = workflow();
    let job = verify_job(&workflow);
    let all = steps(job);
    let upload = all
        .iter()
        .position(|step| step["uses"].as_str() == Some("actions/upload-artifact@v4"))
        .expect("an upload-artifact step");
    let verify = all
        .iter()
        .position(|step| step["id"].as_str() == Some("verify"))
        .unwrap();
    assert!(upload > verify, "the upload comes after the verification");
    assert_eq!(text(&all[upload]["if"]), "always()");
    assert_eq!(text(&all[upload]["with"]["path"]), "target/verify-release/");
}

/// README.md from `heading` on (to its end: later sections follow).
fn readme_from(heading: &str) -> String {
    let readme = std::fs::read_to_string(testkit::workspace_root().join("README.md")).unwrap();
    readme
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("README has no section {heading:?}"))
        .to_owned()
}

/// The first ```yaml snippet of `section`, parsed.
fn first_yaml(section: &str) -> Value {
    let snippet = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a yaml snippet in the section");
    serde_yaml_ng::from_str(snippet).unwrap()
}

fn the_readme_snippet_calls_the_workflow_with_its_tag_secret_and_permissions() {
    let section = readme_from("## Running it on every release");
    let jobs = first_yaml(&section);
    let job = &jobs["verify-release"];
    assert_eq!(
        text(&job["uses"]),
        format!("./{WORKFLOW}"),
        "the snippet calls this workflow"
    );
    assert!(text(&job["with"]["tag"]).contains("${{"));
    assert!(job["secrets"]["RELEASE_GATE_WEBHOOK_URL"].is_string());
    assert_eq!(
        job["permissions"],
        serde_yaml_ng::from_str::<Value>("contents: read\nissues: write").unwrap()
    );
    assert!(section.contains("GITHUB_TOKEN") && section.contains("workflow_dispatch"));
}

/// README's recipe for runners too small for several clusters: a matrix job per Kubernetes
/// minor, each with its own concurrency key (so the jobs of one tag neither wait for nor cancel
/// each other), none touching the release's issue, and one job after them all that does.
fn the_readme_matrix_recipe_gives_each_cell_its_own_key_and_one_job_tells_the_maintainers() {
    let jobs = first_yaml(&readme_from(
        "### Splitting the Kubernetes minors into jobs",
    ));
    let verify = &jobs["verify"];
    assert_eq!(verify["strategy"]["fail-fast"], Value::Bool(false));
    let minors: Vec<String> = verify["strategy"]["matrix"]["kubernetes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|minor| text(minor).to_owned())
        .collect();
    let kgateway =
        std::fs::read_to_string(testkit::workspace_root().join("hack/targets/kgateway.toml"))
            .unwrap();
    for minor in &minors {
        assert!(
            kgateway.contains(&format!("\"{minor}\"")),
            "{minor} is not a kgateway minor"
        );
    }
    assert!(text(&verify["concurrency"]["group"]).contains("${{ matrix.kubernetes }}"));
    assert_eq!(
        verify["concurrency"]["cancel-in-progress"],
        Value::Bool(false)
    );
    let run = verify["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|step| step["run"].as_str())
        .find(|run| run.contains("verify-release"))
        .unwrap();
    assert!(
        run.contains("--kubernetes \"${{ matrix.kubernetes }}\""),
        "{run}"
    );
    assert!(
        !run.contains("--notify-github-issue"),
        "a cell's job must not touch the issue: {run}"
    );
    let tell = &jobs["tell-maintainers"];
    assert_eq!(text(&tell["needs"]), "verify");
    assert!(text(&tell["if"]).contains("needs.verify.result"));
    assert_eq!(
        tell["permissions"],
        serde_yaml_ng::from_str::<Value>("issues: write").unwrap()
    );
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        every_trigger_is_there_with_what_it_needs,
        permissions_are_least_privilege,
        one_run_per_tag_at_a_time_within_a_timeout,
        it_runs_exactly_the_xtask_command_with_secrets_in_env_only,
        the_reports_are_uploaded_whatever_happened,
        the_readme_snippet_calls_the_workflow_with_its_tag_secret_and_permissions,
        the_readme_matrix_recipe_gives_each_cell_its_own_key_and_one_job_tells_the_maintainers,
    ]
}
