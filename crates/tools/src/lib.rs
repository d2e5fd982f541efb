//! tools: finds the kind, kubectl, helm and docker binaries a run uses, checks their versions
//! against `hack/versions.toml`, and installs the pinned ones into a per-version cache.
//!
//! Resolution order, everywhere: the binary named by `$KIND`/`$KUBECTL`/`$HELM`/`$DOCKER`, then
//! the pinned cached binary `target/tools/<tool>/<version>/<tool>`, then PATH if its version
//! matches. `XTASK_FORCE_HOST_TOOLS=1` accepts a PATH binary of another version (with a notice);
//! floors hold even then: docker at least the pinned minimum, kubectl within one minor version of
//! the node image's Kubernetes.
//!
//! This crate never reads the process environment (callers pass a snapshot), never prints (it
//! returns verdicts and notices) and runs tools only through the [`exec::Shell`] it is given.

mod install;
pub mod parse;

pub use install::{
    Fetch, InstallError, Installed, ensure_installed, http_fetch, install,
    install_from_archive_bytes,
};

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use exec::{Cmd, Shell};
use pins::{Pins, Platform, ToolName, Version};

/// The variable that accepts host tools of any version.
pub const FORCE_HOST_TOOLS: &str = "XTASK_FORCE_HOST_TOOLS";

/// How long a `version` call may take before the tool counts as broken.
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything resolution depends on, passed in so tests can point it anywhere.
#[derive(Debug, Clone)]
pub struct Context {
    /// The pins with overrides already applied ([`Pins::with_overrides`]).
    pub pins: Pins,
    /// A snapshot of the environment (`$KIND`, `PATH`, `XTASK_FORCE_HOST_TOOLS`, …).
    pub env: BTreeMap<String, String>,
    /// Where pinned binaries are cached: `<workspace>/target/tools`.
    pub cache_root: PathBuf,
    pub platform: Platform,
    /// A base URL that serves `<host>/<path>` for every pinned download URL (an air-gapped
    /// mirror, or a local server in tests). Checksums are the pinned ones either way.
    pub mirror: Option<String>,
    /// The Kubernetes kubectl must be within one minor version of: None means the node
    /// image's (a throwaway cluster); [`Context::for_server`] sets the API server's version of
    /// a cluster the user brings.
    pub server: Option<Version>,
}

impl Context {
    pub fn new(
        pins: Pins,
        env: BTreeMap<String, String>,
        cache_root: PathBuf,
        platform: Platform,
    ) -> Context {
        Context {
            pins,
            env,
            cache_root,
            platform,
            mirror: None,
            server: None,
        }
    }

    /// This context for a cluster whose API server runs `server`: kubectl is judged against
    /// it, and (unless `$KUBECTL` names a binary) the wanted kubectl becomes the pinned
    /// release within skew of it ([`Pins::kubectl_for`]; `KUBECTL_VERSION` has left only
    /// itself to choose from). None within skew is the error, naming the server and the pins.
    pub fn for_server(&self, server: &Version) -> Result<Context, String> {
        let mut narrowed = self.clone();
        narrowed.server = Some(server.clone());
        if self.names_binary(ToolName::Kubectl) {
            return Ok(narrowed);
        }
        let releases = self
            .pins
            .kubectl_releases()
            .iter()
            .map(|version| version.with_v())
            .collect::<Vec<_>>()
            .join(", ");
        let pin = self.pins.kubectl_for(server).ok_or_else(|| {
            format!(
                "the cluster's API server runs Kubernetes {server}, and no pinned kubectl ({releases}) is within one minor version of it (kubectl's supported skew); set KUBECTL_VERSION to a v{}.{}.x release with KUBECTL_SHA256, or point $KUBECTL at a kubectl within one minor version of {server}",
                server.major, server.minor
            )
        })?;
        narrowed.pins.kubectl = pin;
        Ok(narrowed)
    }

    pub fn with_mirror(mut self, mirror: Option<String>) -> Context {
        self.mirror = mirror.map(|base| base.trim_end_matches('/').to_owned());
        self
    }

    /// Where the wanted version of `tool` is downloaded from: the pinned URL, or its mirror.
    pub fn download_url(&self, tool: ToolName) -> Option<String> {
        let pin = self.pins.tool(tool)?;
        let url = pin.url_for(&pin.version, &self.platform);
        Some(match (&self.mirror, url.split_once("://")) {
            (Some(mirror), Some((_, host_and_path))) => format!("{mirror}/{host_and_path}"),
            _ => url,
        })
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// Whether `$KIND`, `$KUBECTL`, … names the binary of `tool` (the user's, not a pin).
    pub fn names_binary(&self, tool: ToolName) -> bool {
        self.var(tool.binary_env()).is_some()
    }

    /// Whether `XTASK_FORCE_HOST_TOOLS` is on (`1` or `true`).
    pub fn force_host_tools(&self) -> bool {
        matches!(self.var(FORCE_HOST_TOOLS), Some("1" | "true" | "yes"))
    }

    /// The version a run wants: the pin, or its override.
    pub fn wanted(&self, tool: ToolName) -> Option<&Version> {
        self.pins.tool(tool).map(|pin| &pin.version)
    }

    /// Where the pinned binary of `tool` at `version` lives in the cache.
    pub fn cached_path(&self, tool: ToolName, version: &Version) -> PathBuf {
        self.cache_root
            .join(tool.as_str())
            .join(version.with_v())
            .join(tool.as_str())
    }

    /// A program that is not pinned (a local gateway such as haproxy): `$<NAME>` first (a bare
    /// name is looked up on PATH), then each folder of `also`, then the snapshot's PATH.
    pub fn find_program(&self, name: &str, also: &[PathBuf]) -> Option<PathBuf> {
        let variable = name.to_ascii_uppercase();
        if let Some(binary) = self.var(&variable) {
            return if binary.contains('/') {
                Some(PathBuf::from(binary))
            } else {
                self.find_on_path(binary)
            };
        }
        also.iter()
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
            .or_else(|| self.find_on_path(name))
    }

    /// The first executable file called `name` on the snapshot's PATH.
    pub fn find_on_path(&self, name: &str) -> Option<PathBuf> {
        self.var("PATH")?
            .split(':')
            .filter(|dir| !dir.is_empty())
            .map(|dir| Path::new(dir).join(name))
            .find(|candidate| is_executable(candidate))
    }
}

/// Where a binary came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `$KIND`, `$KUBECTL`, `$HELM` or `$DOCKER`.
    EnvBinary,
    /// `target/tools/<tool>/<version>/<tool>`.
    Cache,
    Path,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::EnvBinary => "env",
            Source::Cache => "cache",
            Source::Path => "PATH",
        })
    }
}

/// The judgement on one tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The wanted version (or, for docker, an engine above the floor).
    Ok,
    /// Another version, accepted because host tools are forced. Floors still passed.
    Forced,
    /// Not found anywhere.
    Missing,
    /// Found, but not the wanted version.
    Mismatch,
    /// Found, but below a floor that even forced host tools must meet.
    BelowFloor(String),
    /// Found, but it does not run or says something we cannot read.
    Broken(String),
}

impl Verdict {
    pub fn is_usable(&self) -> bool {
        matches!(self, Verdict::Ok | Verdict::Forced)
    }
}

/// One tool, resolved: where it is, what it says it is, what we think of that, and how to fix
/// it when it is not usable.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub tool: ToolName,
    /// The version wanted (None for docker, which has only a floor).
    pub wanted: Option<Version>,
    pub source: Option<Source>,
    pub path: Option<PathBuf>,
    pub found: Option<Version>,
    pub verdict: Verdict,
    /// The exact command or step that fixes an unusable verdict.
    pub fix: Option<String>,
    /// Things the user must be told loudly (overrides and forced tools in use).
    pub notices: Vec<String>,
}

impl Resolution {
    /// The binary to run, or an error saying why there is none usable and how to fix it.
    pub fn program(&self) -> Result<&Path, ToolError> {
        match (&self.path, self.verdict.is_usable()) {
            (Some(path), true) => Ok(path),
            _ => Err(ToolError {
                tool: self.tool,
                message: self.describe(),
            }),
        }
    }

    /// One line for the verdict column and error messages.
    pub fn describe(&self) -> String {
        let wanted = self
            .wanted
            .as_ref()
            .map_or_else(String::new, Version::with_v);
        let found = self
            .found
            .as_ref()
            .map_or_else(|| "?".to_owned(), ToString::to_string);
        let where_ = self
            .path
            .as_ref()
            .map_or_else(String::new, |path| format!(" at {}", path.display()));
        let fix = self
            .fix
            .as_ref()
            .map_or_else(String::new, |fix| format!(": {fix}"));
        match &self.verdict {
            Verdict::Ok => format!("{} {found}{where_} ok", self.tool),
            Verdict::Forced => format!(
                "{} {found}{where_} accepted instead of {wanted} because {FORCE_HOST_TOOLS}=1",
                self.tool
            ),
            Verdict::Missing => format!("{} {wanted} not found{fix}", self.tool),
            Verdict::Mismatch => format!(
                "{} {found} found{where_}, {wanted} pinned in {}{fix}",
                self.tool,
                pins::PIN_FILE
            ),
            Verdict::BelowFloor(why) => format!("{} {found}{where_}: {why}{fix}", self.tool),
            Verdict::Broken(why) => format!("{}{where_} is not usable: {why}{fix}", self.tool),
        }
    }
}

/// No usable binary for a tool; the message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    pub tool: ToolName,
    pub message: String,
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ToolError {}

/// Resolves every tool, in table order.
pub fn resolve_all(sh: &Shell, context: &Context) -> Vec<Resolution> {
    ToolName::ALL
        .into_iter()
        .map(|tool| resolve(sh, context, tool))
        .collect()
}

/// Finds `tool`, runs its version command and judges the result.
pub fn resolve(sh: &Shell, context: &Context, tool: ToolName) -> Resolution {
    let mut resolution = Resolution {
        tool,
        wanted: context.wanted(tool).cloned(),
        source: None,
        path: None,
        found: None,
        verdict: Verdict::Missing,
        fix: None,
        notices: Vec::new(),
    };

    let located = if let Some(binary) = context.var(tool.binary_env()) {
        resolution.notices.push(format!(
            "${}={binary} names the {tool} binary to use instead of the pinned one",
            tool.binary_env()
        ));
        // A bare name means "look it up on PATH", as a shell would.
        let path = if binary.contains('/') {
            Some(PathBuf::from(binary))
        } else {
            context.find_on_path(binary)
        };
        Some((
            Source::EnvBinary,
            path.unwrap_or_else(|| PathBuf::from(binary)),
        ))
    } else if let Some(wanted) = &resolution.wanted
        && is_executable(&context.cached_path(tool, wanted))
    {
        Some((Source::Cache, context.cached_path(tool, wanted)))
    } else {
        context
            .find_on_path(tool.as_str())
            .map(|path| (Source::Path, path))
    };

    let Some((source, path)) = located else {
        resolution.fix = Some(install_fix(context, tool));
        return resolution;
    };
    resolution.source = Some(source);
    resolution.path = Some(path.clone());

    if tool == ToolName::Docker {
        judge_docker(sh, context, &path, &mut resolution);
        return resolution;
    }

    let found = match probe_version(sh, tool, &path) {
        Ok(version) => version,
        Err(why) => {
            resolution.verdict = Verdict::Broken(why);
            resolution.fix = Some(match source {
                Source::EnvBinary => format!(
                    "point ${} at a working {tool} binary, or unset it",
                    tool.binary_env()
                ),
                Source::Cache => format!(
                    "delete {} and run `cargo xtask tools install`",
                    path.parent().unwrap_or(&path).display()
                ),
                Source::Path => install_fix(context, tool),
            });
            return resolution;
        }
    };
    resolution.found = Some(found.clone());
    let wanted = resolution
        .wanted
        .clone()
        .expect("downloadable tools have a pinned version");

    if let Some(why) = floor_violation(context, tool, &found) {
        resolution.verdict = Verdict::BelowFloor(why);
        resolution.fix = Some(match source {
            Source::EnvBinary => format!(
                "point ${} at {tool} {wanted}, or unset it and run `cargo xtask tools install`",
                tool.binary_env()
            ),
            _ => install_fix(context, tool),
        });
        return resolution;
    }

    if found.same_release(&wanted) {
        resolution.verdict = Verdict::Ok;
    } else if context.force_host_tools() && source != Source::Cache {
        resolution.verdict = Verdict::Forced;
        resolution.notices.push(format!(
            "{FORCE_HOST_TOOLS}=1: using {tool} {found} from {} although {wanted} is pinned in {}",
            path.display(),
            pins::PIN_FILE
        ));
    } else {
        resolution.verdict = Verdict::Mismatch;
        resolution.fix = Some(match source {
            Source::EnvBinary => format!(
                "point ${} at {tool} {wanted}, unset it and run `cargo xtask tools install`, or set {FORCE_HOST_TOOLS}=1 to accept {found}",
                tool.binary_env()
            ),
            Source::Cache => format!(
                "the cache holds the wrong binary: delete {} and run `cargo xtask tools install`",
                path.parent().unwrap_or(&path).display()
            ),
            Source::Path => install_fix(context, tool),
        });
    }
    resolution
}

/// The command that installs the wanted version of a tool, or what to do when it cannot be
/// installed (an overridden version without a checksum, docker).
pub fn install_fix(context: &Context, tool: ToolName) -> String {
    match context.pins.tool(tool) {
        None => format!(
            "install docker {} or newer (Debian: `apt-get install -y docker.io`), or point $DOCKER at a docker CLI",
            context.pins.docker.minimum
        ),
        Some(pin) if pin.sha256_for(&context.platform).is_none() => format!(
            "{tool} {} has no checksum for {} in {}: set {}_SHA256 from the release's checksum file and run `cargo xtask tools install`, or point ${} at a {tool} {}",
            pin.version,
            context.platform,
            pins::PIN_FILE,
            tool.binary_env(),
            tool.binary_env(),
            pin.version
        ),
        Some(_) => "cargo xtask tools install".to_owned(),
    }
}

/// Whether `tool` can be had without a checksum-less download: the wanted version is named by
/// `$KIND` (etc.), cached, on PATH (its version asked through `sh`), or has a pinned (or
/// `KIND_SHA256`-style) checksum for this platform. Callers check this before any work, so a
/// version override without its checksum is refused up front, in a dry run too. The error is
/// the fix, as [`install_fix`] words it.
pub fn check_obtainable(sh: &Shell, context: &Context, tool: ToolName) -> Result<(), String> {
    let Some(pin) = context.pins.tool(tool) else {
        return Ok(());
    };
    if pin.sha256_for(&context.platform).is_some() || context.var(tool.binary_env()).is_some() {
        return Ok(());
    }
    if is_executable(&context.cached_path(tool, &pin.version)) {
        return Ok(());
    }
    if context.find_on_path(tool.as_str()).is_some()
        && resolve(sh, context, tool).verdict.is_usable()
    {
        return Ok(());
    }
    Err(format!(
        "{tool} {} is neither cached nor on PATH, and cannot be downloaded: {}",
        pin.version.with_v(),
        install_fix(context, tool)
    ))
}

/// The floors that hold even with forced host tools.
fn floor_violation(context: &Context, tool: ToolName, found: &Version) -> Option<String> {
    match tool {
        ToolName::Kubectl => {
            let (kubernetes, whose) = match &context.server {
                Some(server) => (server, "the cluster's API server"),
                None => (&context.pins.node_image.kubernetes, "the node image's"),
            };
            match found.minor_distance(kubernetes) {
                Some(distance) if distance <= 1 => None,
                _ => Some(format!(
                    "kubectl must be within one minor version of {whose} Kubernetes {kubernetes} (kubectl's supported skew)"
                )),
            }
        }
        _ => None,
    }
}

/// The command that prints a tool's version.
pub fn version_command(tool: ToolName, program: &Path) -> Cmd {
    let cmd = Cmd::new(program, format!("read the {tool} version")).timeout(VERSION_TIMEOUT);
    match tool {
        ToolName::Kind => cmd.arg("version"),
        ToolName::Kubectl => cmd.args(["version", "--client", "-o", "json"]),
        ToolName::Helm => cmd.args(["version", "--template", "{{.Version}}"]),
        ToolName::Docker => cmd.args(["version", "--format", "{{json .}}"]),
    }
}

/// Runs the version command of kind, kubectl or helm and parses its stdout.
pub fn probe_version(sh: &Shell, tool: ToolName, program: &Path) -> Result<Version, String> {
    let output =
        run_retrying_busy(|| sh.run(&version_command(tool, program))).map_err(|e| e.to_string())?;
    let stdout = output.stdout_str();
    match tool {
        ToolName::Kind => parse::kind_version(&stdout),
        ToolName::Kubectl => parse::kubectl_version(&stdout),
        ToolName::Helm => parse::helm_version(&stdout),
        ToolName::Docker => parse::docker_versions(&stdout).map(|versions| versions.client),
    }
}

fn judge_docker(sh: &Shell, context: &Context, path: &Path, resolution: &mut Resolution) {
    let minimum = &context.pins.docker.minimum;
    // The CLI prints the client half and exits non-zero when the engine is down: read stdout
    // either way, and judge by what it contains.
    let output =
        match run_retrying_busy(|| sh.run_unchecked(&version_command(ToolName::Docker, path))) {
            Ok(output) => output,
            Err(error) => {
                resolution.verdict = Verdict::Broken(error.to_string());
                resolution.fix = Some(install_fix(context, ToolName::Docker));
                return;
            }
        };
    let versions = match parse::docker_versions(&output.stdout_str()) {
        Ok(versions) => versions,
        Err(why) => {
            let stderr = output.stderr_str();
            let detail = stderr.lines().last().unwrap_or("").trim().to_owned();
            resolution.verdict = Verdict::Broken(if detail.is_empty() {
                why
            } else {
                format!("{why} ({detail})")
            });
            resolution.fix = Some(install_fix(context, ToolName::Docker));
            return;
        }
    };
    let Some(server) = versions.server else {
        resolution.found = Some(versions.client);
        resolution.verdict = Verdict::Broken("the docker engine is not reachable".to_owned());
        resolution.fix = Some(
            "start the engine (`dockerd &`, or `systemctl start docker`) or point DOCKER_HOST at one"
                .to_owned(),
        );
        return;
    };
    // Builds and loads happen in the engine, so its version is the one that must meet the floor.
    resolution.found = Some(server.clone());
    if server < *minimum || versions.client < *minimum {
        resolution.verdict = Verdict::BelowFloor(format!(
            "docker engine {server} / client {} is below the minimum {minimum} pinned in {}",
            versions.client,
            pins::PIN_FILE
        ));
        resolution.fix = Some(install_fix(context, ToolName::Docker));
    } else {
        resolution.verdict = Verdict::Ok;
    }
}

/// Runs `attempt` again while the program is "text file busy": a binary installed a moment ago
/// can still be open for writing in a child that another thread forked before the file was
/// closed (the child drops it at its own exec, a moment later).
fn run_retrying_busy(
    attempt: impl Fn() -> Result<exec::Output, exec::ExecError>,
) -> Result<exec::Output, exec::ExecError> {
    let mut tries = 0;
    loop {
        match attempt() {
            Err(exec::ExecError::Spawn { source, .. })
                if source.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 20 =>
            {
                tries += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
            other => return other,
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
