//! verify-release: the whole release gate. Parses the arguments, hands them to the pipeline
//! crate's loader and runner, and renders what comes back: one folded group per step under
//! GitHub Actions, `[step]` lines elsewhere, the plan for `--dry-run`, and last lines that name
//! the verdict, the failing step or cases, and where the reports are.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context as _;
use pipeline::{Event, EventKind, Outcome, Stage, Status, StepId, Verdict};

use crate::{render, ui};

#[derive(clap::Args)]
pub struct Args {
    /// Release tag to verify, or `latest` (default: the target config's tag, usually latest)
    #[arg(long)]
    pub tag: Option<String>,
    /// Repository of the release, OWNER/NAME (default: the target config's)
    #[arg(long)]
    pub repo: Option<String>,
    /// Target config for another Gateway API implementation (default:
    /// hack/targets/kgateway.toml); timeouts come from it
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The run's folder (default: target/verify-release/<tag>-<UTC time>); new or empty
    #[arg(long, value_name = "DIR")]
    pub artifacts_dir: Option<PathBuf>,
    /// Keep the cluster at the end and print how to reach and delete it
    #[arg(long)]
    pub keep_cluster: bool,
    /// Print the plan (steps, what overlaps, every exact command) and run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Where to verify: `kind` (a throwaway cluster) or `existing` (yours, with the release
    /// installed: only the fixture is deployed, in a labelled namespace of its own, then removed)
    #[arg(long, value_enum, default_value = "kind")]
    pub cluster: ClusterMode,
    /// The Kubernetes minors to verify on, a throwaway cluster (a cell) each: `1.35`,
    /// `1.35,1.36` or `all`; each with its pinned node image and a kubectl within one minor
    /// (default: every minor of the target's `[kubernetes] minors` that has a pinned image, or
    /// the pin file's default image when it lists none)
    #[arg(long, value_name = "MINORS")]
    pub kubernetes: Option<String>,
    /// How many cells hold a cluster at once (default: what the machine fits, a core and
    /// 2.5 GiB of available memory a cell)
    #[arg(long, value_name = "N")]
    pub parallel: Option<usize>,
    /// A cell that fails stops the others (by default each cell runs to its end)
    #[arg(long)]
    pub fail_fast: bool,
    /// With --cluster existing: the kubeconfig context that must be current
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// With --cluster existing: the kubeconfig (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// POST the verdict to this webhook (Slack-compatible JSON); a secret, never printed.
    /// `[notify] webhook_url_env` names a variable holding it instead
    #[arg(long, value_name = "URL")]
    pub notify_webhook: Option<String>,
    /// When to post the webhook: failure (default), success or always
    #[arg(long, value_name = "WHEN")]
    pub notify_on: Option<config::notify::On>,
    /// Open (or comment on) the release's issue in $GITHUB_REPOSITORY when the run fails, and
    /// close it when a later run passes (GITHUB_TOKEN with issues: write)
    #[arg(long)]
    pub notify_github_issue: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterMode {
    Kind,
    Existing,
}

pub fn run(
    args: Args,
    settings: &settings::Settings,
    token: &cancel::Token,
) -> anyhow::Result<ExitCode> {
    let request = pipeline::Request {
        repo: args.repo,
        tag: args.tag,
        artifacts_dir: args.artifacts_dir,
        keep_cluster: args.keep_cluster,
        dry_run: args.dry_run,
        existing: args.cluster == ClusterMode::Existing,
        context: args.context,
        kubeconfig: args.kubeconfig,
        notify_webhook: args.notify_webhook,
        notify_on: args.notify_on,
        notify_github_issue: args.notify_github_issue,
        kubernetes: args.kubernetes,
        parallel: args.parallel,
        fail_fast: args.fail_fast,
    };
    let inputs = pipeline::inputs::load(&request, settings.clone())?;
    if inputs.dry_run {
        let notes: Mutex<BTreeMap<StepId, Vec<String>>> = Mutex::default();
        let outcome = pipeline::run(&inputs, token, &|event| plan_event(&event, &notes));
        print_plan(&inputs, &outcome, &stdx::sync::into_inner(notes));
        return Ok(ExitCode::from(match outcome.verdict {
            Verdict::Passed => 0,
            _ => outcome.verdict.exit_code(),
        }));
    }
    let place = match &inputs.target_cluster {
        pipeline::inputs::Target::Kind if inputs.cells.len() > 1 => format!(
            "{} kind clusters ({}), {}",
            inputs.cells.len(),
            inputs
                .cells
                .iter()
                .map(|cell| cell.cluster_name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            inputs.parallel.why
        ),
        pipeline::inputs::Target::Kind => format!("kind cluster {}", inputs.cluster_name),
        pipeline::inputs::Target::Existing {
            context, namespace, ..
        } => format!("context {context}, namespace {namespace}"),
    };
    ui::info(&format!(
        "verify-release: {} {} on {place}; everything goes to {}",
        inputs.repo,
        inputs.tag,
        inputs.artifacts_dir.display()
    ));
    ui::info(&inputs.kubernetes.line());
    let renderer = Renderer::new(ui::github_actions());
    let outcome = pipeline::run(&inputs, token, &|event| renderer.render(event));
    last_lines(&inputs, &outcome);
    if ui::github_actions() {
        for cell in &outcome.cells {
            let Some(results) = &cell.suite else { continue };
            // Several cells: each annotation names its cell.
            let prefix = if outcome.cells.len() > 1 {
                format!("conformance (Kubernetes {})", cell.label)
            } else {
                "conformance".to_owned()
            };
            for line in conformance::report::annotations_titled(results, &prefix) {
                ui::out(&line);
            }
        }
        github_summary(&inputs, &outcome)?;
        github_outputs(&outcome)?;
    }
    Ok(ExitCode::from(outcome.verdict.exit_code()))
}

/// The lines an event says (none for Started and Finished, which the renderers handle).
fn lines(event: &Event, artifacts: &render::ArtifactProgress) -> Vec<render::Line> {
    match &event.kind {
        EventKind::Started | EventKind::Finished(_) => Vec::new(),
        EventKind::Note(note) => render::note(note),
        EventKind::Artifact(artifact) => artifacts.event(artifact).into_iter().collect(),
        EventKind::Cluster(cluster) => vec![render::cluster(cluster)],
        EventKind::Case(case) => vec![render::case(case)],
    }
}

/// Live rendering. Off GitHub Actions, each line as it comes, prefixed with its step (steps
/// overlap), and the downloads' progress bar on a terminal. Under GitHub Actions, a step's
/// lines are held until it ends and printed as one `::group::`, because groups cannot
/// interleave; warnings show at once.
struct Renderer {
    github: bool,
    held: Mutex<BTreeMap<StepId, Vec<String>>>,
    artifacts: render::ArtifactProgress,
}

impl Renderer {
    fn new(github: bool) -> Renderer {
        Renderer {
            github,
            held: Mutex::new(BTreeMap::new()),
            artifacts: render::ArtifactProgress::default(),
        }
    }

    fn render(&self, event: Event) {
        let step = event.step;
        match &event.kind {
            EventKind::Started => {
                if !self.github {
                    ui::info(&format!("[{step}] started"));
                }
                return;
            }
            EventKind::Finished(timing) => {
                if step == Stage::Assets {
                    self.artifacts
                        .finish(if timing.status == Status::Succeeded {
                            "verified"
                        } else {
                            "stopped"
                        });
                }
                let end = finish_line(timing);
                if self.github {
                    let lines = stdx::lock(&self.held).remove(&step).unwrap_or_default();
                    ui::group(&format!("{step} — {end}"), || {
                        for line in lines {
                            ui::info(&line);
                        }
                    });
                    // The failing cases get their own annotations at the end (at most ten); any
                    // other failing step gets one here.
                    if let Status::Failed(failure) = &timing.status
                        && !failure.is_cancelled()
                        && step != Stage::Conformance
                    {
                        ui::error(&format!("{step}: {}", failure.message));
                    }
                } else {
                    ui::info(&format!("[{step}] {end}"));
                }
                return;
            }
            _ => {}
        }
        for line in lines(&event, &self.artifacts) {
            // Notifications come after every step has ended: nothing is left to fold them into.
            if self.github && step != Stage::Notify && line.0 == render::Level::Info {
                stdx::lock(&self.held)
                    .entry(step)
                    .or_default()
                    .extend(line.1.lines().map(str::to_owned));
            } else {
                render::say(&format!("[{step}] "), &line);
            }
        }
    }
}

fn finish_line(timing: &pipeline::Timing) -> String {
    let seconds = timing.duration().as_secs_f64();
    match &timing.status {
        Status::Succeeded => format!("ok in {seconds:.1}s"),
        Status::Failed(failure) if failure.is_cancelled() => {
            format!("cancelled after {seconds:.1}s: {}", failure.message)
        }
        Status::Failed(failure) => format!("FAILED after {seconds:.1}s: {}", failure.message),
        Status::Skipped(why) => format!("skipped ({why})"),
    }
}

/// A dry run's lines (what a step would fetch, which tool it would install) are kept for the
/// plan printed at the end; warnings show at once.
fn plan_event(event: &Event, notes: &Mutex<BTreeMap<StepId, Vec<String>>>) {
    let quiet = render::ArtifactProgress::default();
    for line in lines(event, &quiet) {
        match line.0 {
            render::Level::Warning => render::say(&format!("[{}] ", event.step), &line),
            render::Level::Info => stdx::lock(notes)
                .entry(event.step)
                .or_default()
                .extend(line.1.lines().map(str::to_owned)),
        }
    }
}

fn print_plan(inputs: &pipeline::Inputs, outcome: &Outcome, notes: &BTreeMap<StepId, Vec<String>>) {
    ui::out("# verify-release plan: nothing below has run");
    ui::out("#");
    ui::out(&format!(
        "# the run's folder: {}; downloads are cached in {}",
        inputs.artifacts_dir.display(),
        inputs.settings.artifact_cache.display()
    ));
    ui::out(&format!("# {}", inputs.kubernetes.line()));
    if inputs.cells.len() > 1 {
        ui::out(&format!(
            "# {} cells, a kind cluster each; {}",
            inputs.cells.len(),
            inputs.parallel.why
        ));
        for cell in &inputs.cells {
            ui::out(&format!(
                "#   Kubernetes {}: cluster {}, node image {}, kubectl {}, folder {}",
                cell.label,
                cell.cluster_name,
                cell.settings.pins.node_image.reference,
                cell.settings.pins.kubectl.version.with_v(),
                cell.dir.display()
            ));
        }
        ui::out(
            "#   a failing cell does not stop the others (--fail-fast does); the release passes only if every cell passes",
        );
    }
    ui::out("#");
    ui::out("# steps that start together (each wave starts when what it needs is done):");
    for (index, wave) in outcome.waves.iter().enumerate() {
        let names: Vec<String> = wave.iter().map(StepId::to_string).collect();
        ui::out(&format!("#   wave {}: {}", index + 1, names.join(" ‖ ")));
    }
    ui::out("#   then, if anything failed: diagnostics; always: cleanup; then the notifications");
    for step in &outcome.steps {
        ui::out("");
        let needs = if step.needs.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = step.needs.iter().map(StepId::to_string).collect();
            format!(" (needs {})", names.join(", "))
        };
        let after = if step.after.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = step.after.iter().map(StepId::to_string).collect();
            format!(
                " (and waits for {}: at most {} clusters at once)",
                names.join(", "),
                inputs.parallel.cells
            )
        };
        ui::out(&format!("## {}{needs}{after}: {}", step.id, step.summary));
        match step.when {
            pipeline::graph::When::OnFailure => {
                ui::out("# runs only when a step failed, before anything is deleted")
            }
            pipeline::graph::When::Always => {
                ui::out("# runs on every path: success, failure, Ctrl-C, SIGTERM")
            }
            pipeline::graph::When::Normal => {}
        }
        for note in notes.get(&step.id).into_iter().flatten() {
            ui::out(&format!("# {note}"));
        }
        for planned in outcome
            .plan
            .iter()
            .filter(|planned| planned.step.as_deref() == Some(step.id.to_string().as_str()))
        {
            ui::out(&format!("# {}", planned.cmd.purpose()));
            ui::out(&planned.cmd.to_string());
        }
    }
    if let Some(lines) = notes.get(&StepId::from(Stage::Notify)) {
        ui::out("");
        ui::out("## notify: after cleanup, never changing the exit code");
        for line in lines {
            ui::out(&format!("# {line}"));
        }
    }
}

/// A real run ends with the verdict, the failing step or cases, and where everything is.
fn last_lines(inputs: &pipeline::Inputs, outcome: &Outcome) {
    let headline = pipeline::report::headline(inputs, outcome);
    ui::out("");
    ui::out(&format!("verify-release: {headline}"));
    match &outcome.verdict {
        Verdict::Passed => {}
        Verdict::Interrupted(_) => {
            ui::out("the run was interrupted; cleanup ran (see the cleanup step above)");
        }
        _ => {
            if let Some((step, message)) = &outcome.failing_step {
                let first = message.lines().next().unwrap_or_default();
                ui::out(&format!("failing step: {step}: {first}"));
            }
            if !outcome.failing_cases.is_empty() {
                ui::out(&format!(
                    "failing cases: {}",
                    outcome.failing_cases.join(", ")
                ));
            }
            if outcome.cells.len() > 1 {
                for cell in outcome
                    .cells
                    .iter()
                    .filter(|cell| cell.verdict != Verdict::Passed)
                {
                    ui::out(&format!(
                        "cell Kubernetes {}: {}{}",
                        cell.label,
                        cell.verdict.as_str(),
                        cell.failing_step
                            .as_ref()
                            .map(|(step, message)| format!(
                                " ({step}: {})",
                                message.lines().next().unwrap_or_default()
                            ))
                            .unwrap_or_default()
                    ));
                }
            }
            if !outcome.missing.is_empty() {
                ui::out("what this run lacks, all of it:");
                for need in &outcome.missing {
                    ui::out(&format!(
                        "  - {}\n    next: {}",
                        pipeline::report::need_text(need),
                        need.next_step(inputs)
                    ));
                }
            }
        }
    }
    if outcome.kept_cluster.is_some() {
        // Each kept cluster with its own kubeconfig (a cell's is in its folder).
        for cell in outcome
            .cells
            .iter()
            .filter(|cell| cell.kept_cluster.is_some())
        {
            let name = &cell.cluster_name;
            ui::out(&format!(
                "cluster {name} is kept: kubectl --kubeconfig {} get pods -A; delete it with `kind delete cluster --name {name}`",
                cell.dir.join("kubeconfig").display()
            ));
        }
    } else {
        ui::out(&format!(
            "cluster: {}",
            pipeline::report::cluster_line(inputs, outcome).replace('`', "")
        ));
    }
    ui::out(&format!(
        "reports: {} (summary.md, run.json, junit-pipeline.xml, commands.log{})",
        outcome.artifacts_dir.display(),
        if outcome.suite.is_some() {
            ", conformance/"
        } else {
            ""
        }
    ));
    ui::out(&format!("exit code {}", outcome.verdict.exit_code()));
}

/// Writes the step's outputs to `$GITHUB_OUTPUT`: `verdict` and `artifacts-dir`.
fn github_outputs(outcome: &Outcome) -> anyhow::Result<()> {
    let Some(path) = std::env::var_os("GITHUB_OUTPUT") else {
        return Ok(());
    };
    let text = output_lines(&[
        ("verdict", outcome.verdict.as_str().to_owned()),
        ("artifacts-dir", outcome.artifacts_dir.display().to_string()),
        ("exit-code", outcome.verdict.exit_code().to_string()),
    ]);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .with_context(|| {
            format!(
                "writing the step outputs to {}",
                PathBuf::from(path).display()
            )
        })
}

/// `name=value` lines as `$GITHUB_OUTPUT` reads them; a value with a newline uses the
/// `name<<DELIMITER` form.
fn output_lines(outputs: &[(&str, String)]) -> String {
    let mut text = String::new();
    for (name, value) in outputs {
        if value.contains('\n') {
            text.push_str(&format!(
                "{name}<<RELEASE_GATE_EOF\n{value}\nRELEASE_GATE_EOF\n"
            ));
        } else {
            text.push_str(&format!("{name}={value}\n"));
        }
    }
    text
}

/// Appends the run's summary to `$GITHUB_STEP_SUMMARY`, within what is left of its 1 MiB.
fn github_summary(inputs: &pipeline::Inputs, outcome: &Outcome) -> anyhow::Result<()> {
    let Some(summary_path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return Ok(());
    };
    let text = pipeline::report::summary(inputs, outcome);
    let summary_path = PathBuf::from(summary_path);
    let used = std::fs::metadata(&summary_path).map_or(0, |meta| meta.len() as usize);
    let available = conformance::report::STEP_SUMMARY_LIMIT.saturating_sub(used);
    let text = conformance::report::bounded_step_summary(&text, available);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&summary_path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .with_context(|| format!("appending the summary to {}", summary_path.display()))
}
