//! conformance: the suite against a gateway. Parses the flags into a
//! `conformance::command::Request`, which the library checks and runs (`--local` replicas, a
//! started gateway, the cases); this module renders its progress and results and writes the
//! reports. Exit 0 all pass, 1 any case fails, 2 bad usage.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use conformance::Event;
use conformance::command::{self, Progress};
use conformance::results::{Mode, Outcome, SuiteResults};

use crate::{lib_error, ui};

#[derive(clap::Args)]
pub struct Args {
    /// Print the cases (name, the upstream conformance test it corresponds to, feature, support
    /// level, what each checks) and exit
    #[arg(long, exclusive = true)]
    pub list: bool,
    /// Start the six echo replicas on loopback and run against a locally started gateway
    #[arg(long)]
    pub local: bool,
    /// The gateway's HTTP listener, e.g. http://127.0.0.1:8080 (not with --start-gateway)
    #[arg(
        long,
        value_name = "URL",
        required_unless_present_any = ["start_gateway", "list"],
        conflicts_with = "start_gateway"
    )]
    pub gateway_url: Option<String>,
    /// With --local: also start this gateway from hack/conformance/gateways/ on free ports
    /// (haproxy, nginx or envoy; found as $HAPROXY/$NGINX/$ENVOY, target/venv/bin, then PATH)
    #[arg(long, value_name = "KIND", requires = "local")]
    pub start_gateway: Option<String>,
    /// With --start-gateway: run a broken variant from hack/conformance/gateways/variants.toml
    #[arg(long, value_name = "NAME", requires = "start_gateway")]
    pub variant: Option<String>,
    /// Skip a case by name (repeatable); it is reported as skipped
    #[arg(long = "skip", value_name = "CASE")]
    pub skip: Vec<String>,
    /// Treat a feature as unsupported (repeatable), e.g. HealthCheck for open-source nginx
    #[arg(long = "unsupported", value_name = "FEATURE")]
    pub unsupported: Vec<String>,
    /// Write junit.xml, conformance-report.yaml, summary.md and conformance.json here
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Loopback ports of the local replicas: v1, v1, v2, v2, v3, v3 (default: free ports
    /// the system picks)
    #[arg(long, value_name = "PORTS", value_delimiter = ',', num_args = 1..)]
    pub replica_ports: Vec<u16>,
    /// A v1 replica's health toggle as POD=URL (repeatable; the first is flipped); without
    /// --local this is how the eviction case reaches a replica, e.g. through a port-forward
    #[arg(long = "replica-control", value_name = "POD=URL")]
    pub replica_control: Vec<String>,
    /// Another listener URL the connectivity case checks (repeatable)
    #[arg(long = "listener", value_name = "URL")]
    pub listeners: Vec<String>,
    /// The Gateway's second listener (port 8080 of the fixture's Gateway), which has a route of
    /// its own; without it listener-second-port is skipped (set by --start-gateway)
    #[arg(long, value_name = "URL")]
    pub second_listener: Option<String>,
    /// A gateway health endpoint that must answer 2xx (repeatable)
    #[arg(long = "health-url", value_name = "URL")]
    pub health_urls: Vec<String>,
    /// Seconds before a case that is not consistent fails (default from the config: 30)
    #[arg(long, value_name = "SECONDS")]
    pub deadline: Option<u64>,
    /// Target config
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Project name in the reports (default: the target config's project)
    #[arg(long)]
    pub project: Option<String>,
    /// Version in the reports (default: `local` with --local, else the target config's tag)
    #[arg(long)]
    pub version: Option<String>,
}

pub fn run(
    args: Args,
    settings: &settings::Settings,
    token: &cancel::Token,
) -> anyhow::Result<ExitCode> {
    if args.list {
        list_cases();
        return Ok(ExitCode::SUCCESS);
    }
    let request = command::Request {
        local: args.local,
        gateway_url: args.gateway_url,
        start_gateway: args.start_gateway,
        variant: args.variant,
        skip: args.skip,
        unsupported: args.unsupported,
        report_dir: args.report_dir,
        replica_ports: args.replica_ports,
        replica_control: args.replica_control,
        listeners: args.listeners,
        second_listener: args.second_listener,
        health_urls: args.health_urls,
        deadline: args.deadline,
        project: args.project,
        version: args.version,
    };
    let venv = settings.root.join("target/venv/bin");
    let find_program = |name: &str| {
        settings
            .tools
            .find_program(name, std::slice::from_ref(&venv))
    };
    let plan = command::plan(
        &request,
        &settings.root,
        &settings.target,
        &settings.pins,
        &find_program,
    )
    .map_err(lib_error)?;
    if let Some(variant) = &plan.variant {
        ui::info(&format!(
            "variant {}: expect {} to fail",
            variant.name, variant.breaks
        ));
    }
    let report_dir = plan.report_dir.clone();
    // Ctrl-C ends the case in progress and skips the rest; the replicas and the gateway stop.
    let mut cases_group = None;
    let results = command::run(plan, token, &mut |progress| match progress {
        Progress::ReplicasStarted(replicas) => ui::info(&format!(
            "echo replicas: {}",
            replicas
                .iter()
                .map(|(pod, address)| format!("{pod} {address}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Progress::GatewayListening { kind, url } => {
            ui::info(&format!("{kind} listening at {url}"));
        }
        Progress::Running { mode, url } => {
            ui::info(&format!(
                "conformance: {} mode against {url}",
                match mode {
                    Mode::Local => "local",
                    Mode::Cluster => "cluster",
                }
            ));
            cases_group = Some(ui::Group::open("conformance cases"));
        }
        Progress::Case(Event::Started(_)) => {}
        Progress::Case(Event::Finished(result)) => {
            ui::info(&format!("  {}", case_line(result)));
        }
    });
    drop(cases_group);
    let results = results.map_err(lib_error)?;

    render(&results);
    if let Some(dir) = &report_dir {
        write_reports(dir, &results)?;
    }
    if ui::github_actions() {
        github_outputs(&results)?;
    }
    Ok(if results.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn list_cases() {
    ui::out(&format!(
        "{:<24} {:<38} {:<30} {:<9} WHAT IT CHECKS",
        "CASE", "UPSTREAM TEST", "FEATURE", "SUPPORT"
    ));
    for case in &conformance::cases::CASES {
        let upstream = if case.upstream.is_empty() {
            "- (no upstream test)".to_owned()
        } else {
            case.upstream.join(", ")
        };
        ui::out(&format!(
            "{:<24} {:<38} {:<30} {:<9} {}",
            case.name,
            upstream,
            case.feature,
            case.support.as_str(),
            case.description
        ));
    }
}

fn case_line(case: &conformance::results::CaseResult) -> String {
    let timing = format!(
        "{:.2}s, {} requests",
        case.duration.as_secs_f64(),
        case.requests
    );
    match &case.outcome {
        Outcome::Passed => format!("PASS  {} ({timing})", case.name),
        Outcome::Skipped { reason } => format!("SKIP  {}: {reason}", case.name),
        Outcome::Failed { message, .. } => format!("FAIL  {} ({timing}): {message}", case.name),
    }
}

fn render(results: &SuiteResults) {
    let tally = results.tally();
    ui::out(&format!(
        "conformance: {} passed, {} failed, {} skipped in {:.1}s{}",
        tally.passed,
        tally.failed,
        tally.skipped,
        results.duration.as_secs_f64(),
        if results.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    ));
    // On a terminal each case's line was shown as it finished: print the results once, and
    // add only what those lines did not show (the observed splits and their decisions).
    let terminal = ui::interactive();
    for case in &results.cases {
        if !terminal {
            ui::out(&format!("  {}", case_line(case)));
        }
        if let Some(split) = &case.split {
            if terminal {
                ui::out(&format!("  {} split:", case.name));
            }
            let total = split.total();
            for share in &split.backends {
                ui::out(&format!(
                    "        {:<32} {:>5} ({:>5.1}%, expected {:>5.1}%)",
                    share.backend,
                    share.count,
                    share.observed(total) * 100.0,
                    share.expected * 100.0
                ));
            }
            if let Some(decision) = &case.decision {
                for line in decision.lines() {
                    ui::out(&format!("        {line}"));
                }
            }
        }
    }
    // In GitHub Actions the annotations name the failures; in a log, say them once more last.
    if !ui::github_actions() && !terminal {
        for case in &results.cases {
            if let Outcome::Failed { message, .. } = &case.outcome {
                ui::error(&format!("{}: {message}", case.name));
            }
        }
    }
}

fn write_reports(dir: &Path, results: &SuiteResults) -> anyhow::Result<()> {
    let written = conformance::report::write_reports(dir, results)
        .with_context(|| format!("writing the conformance reports into {}", dir.display()))?;
    for path in written {
        ui::info(&format!("wrote {}", path.display()));
    }
    Ok(())
}

/// In GitHub Actions: at most ten `::error` annotations, and the Markdown summary appended to
/// `$GITHUB_STEP_SUMMARY` within what is left of its 1 MiB.
fn github_outputs(results: &SuiteResults) -> anyhow::Result<()> {
    for line in conformance::report::annotations(results) {
        ui::out(&line);
    }
    if let Some(summary_path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        let summary_path = PathBuf::from(summary_path);
        let used = std::fs::metadata(&summary_path).map_or(0, |meta| meta.len() as usize);
        let available = conformance::report::STEP_SUMMARY_LIMIT.saturating_sub(used);
        let text = conformance::report::bounded_step_summary(
            &conformance::report::markdown(results),
            available,
        );
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary_path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .with_context(|| format!("appending the summary to {}", summary_path.display()))?;
    }
    Ok(())
}
