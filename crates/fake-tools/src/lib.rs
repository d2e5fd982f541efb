//! fake-tools: test support only. Fake `kind`, `kubectl` and `helm` executables (one std-only
//! program, built by this crate's build script, that acts as the tool its file name says) in a
//! temporary bin directory, scripted per test through a state directory.
//!
//! A test creates [`FakeTools`], gets an [`exec::Shell`] whose PATH starts with the fakes, adds
//! [`Rule`]s (recorded real outputs, failures, hangs, port-forward relays) and afterwards reads
//! [`FakeTools::calls`] and [`FakeTools::clusters`]. Nothing here touches the process
//! environment of the test; it is never a dependency of a shipped crate.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub mod k8s;

#[path = "../fake/codec.rs"]
mod codec;

use codec::{escape, escape_word, unescape};

/// The built fake program.
pub const FAKE_TOOL: &str = env!("FAKE_TOOL_BIN");

/// The tools the fake can act as (docker only as far as the cluster flow needs: version,
/// image inspect, pull, save, build, run, rm; the docker driver itself is tested against the
/// real engine).
pub const TOOLS: [&str; 4] = ["kind", "kubectl", "helm", "docker"];

/// A temporary directory holding `bin/{kind,kubectl,helm,docker}`, the fake's state and a fake
/// HOME. The shell puts `bin` first on PATH, so tests that need the real docker name it by path
/// or use a plain `exec::Shell`.
pub struct FakeTools {
    root: stdx::temp::TempDir,
}

/// One recorded invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub tool: String,
    /// `KUBECONFIG` as the fake saw it, None when unset.
    pub kubeconfig_env: Option<String>,
    pub home: Option<String>,
    pub args: Vec<String>,
}

impl Call {
    /// The value after `flag` (`--kubeconfig PATH` or `--kubeconfig=PATH`).
    pub fn flag(&self, flag: &str) -> Option<&str> {
        let prefix = format!("{flag}=");
        self.args.iter().enumerate().find_map(|(index, arg)| {
            if arg == flag {
                self.args.get(index + 1).map(String::as_str)
            } else {
                arg.strip_prefix(&prefix)
            }
        })
    }

    /// Whether `words` appear in argv in this order.
    pub fn has(&self, words: &[&str]) -> bool {
        let mut rest = self.args.iter();
        words
            .iter()
            .all(|word| rest.by_ref().any(|arg| arg == word))
    }

    /// `tool arg arg …`, for assertion messages.
    pub fn line(&self) -> String {
        format!("{} {}", self.tool, self.args.join(" "))
    }
}

/// A scripted answer: when a call of `tool` has `words` in its argv (in order), answer this way.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    tool: String,
    words: Vec<String>,
    stdout: Option<String>,
    stdout_file: Option<PathBuf>,
    stderr: Option<String>,
    exit: Option<i32>,
    hang: bool,
    builtin: bool,
    times: Option<u32>,
    relay: Option<SocketAddr>,
    delay: Option<std::time::Duration>,
}

impl Rule {
    pub fn new(tool: &str, words: &[&str]) -> Rule {
        Rule {
            tool: tool.to_owned(),
            words: words.iter().map(|word| (*word).to_owned()).collect(),
            ..Rule::default()
        }
    }

    pub fn stdout(mut self, text: impl Into<String>) -> Rule {
        self.stdout = Some(text.into());
        self
    }

    /// Prints the file's bytes (a recorded real output).
    pub fn stdout_file(mut self, path: impl Into<PathBuf>) -> Rule {
        self.stdout_file = Some(path.into());
        self
    }

    pub fn stderr(mut self, text: impl Into<String>) -> Rule {
        self.stderr = Some(text.into());
        self
    }

    pub fn exit(mut self, code: i32) -> Rule {
        self.exit = Some(code);
        self
    }

    /// Never exits (until killed); the pid is noted in the state's `pids`.
    pub fn hang(mut self) -> Rule {
        self.hang = true;
        self
    }

    /// Runs the built-in behaviour first (state changes such as adding a cluster), then
    /// answers with this rule's output and exit code.
    pub fn builtin(mut self) -> Rule {
        self.builtin = true;
        self
    }

    /// Applies to the first `n` matching calls only; later calls fall through to the next rule.
    pub fn times(mut self, n: u32) -> Rule {
        self.times = Some(n);
        self
    }

    /// Waits this long before answering: a slow tool (benchmarks give steps fixed costs).
    pub fn delay(mut self, delay: std::time::Duration) -> Rule {
        self.delay = Some(delay);
        self
    }

    /// For `kubectl port-forward`: relay accepted connections to `address`.
    pub fn relay(mut self, address: SocketAddr) -> Rule {
        self.relay = Some(address);
        self
    }

    fn render(&self) -> String {
        let mut text = String::from("rule\n");
        let _ = writeln!(text, "tool {}", self.tool);
        let words: Vec<String> = self.words.iter().map(|w| escape_word(w)).collect();
        let _ = writeln!(text, "args {}", words.join(" "));
        if let Some(stdout) = &self.stdout {
            let _ = writeln!(text, "stdout {}", escape(stdout));
        }
        if let Some(path) = &self.stdout_file {
            let _ = writeln!(text, "stdout-file {}", escape(&path.to_string_lossy()));
        }
        if let Some(stderr) = &self.stderr {
            let _ = writeln!(text, "stderr {}", escape(stderr));
        }
        if let Some(code) = self.exit {
            let _ = writeln!(text, "exit {code}");
        }
        if self.hang {
            text.push_str("hang\n");
        }
        if self.builtin {
            text.push_str("builtin\n");
        }
        if let Some(times) = self.times {
            let _ = writeln!(text, "times {times}");
        }
        if let Some(relay) = self.relay {
            let _ = writeln!(text, "relay {relay}");
        }
        if let Some(delay) = self.delay {
            let _ = writeln!(text, "delay {}", delay.as_millis());
        }
        text.push_str("end\n");
        text
    }
}

impl FakeTools {
    /// A fresh bin directory with the three fakes, an empty state and an empty HOME.
    pub fn new() -> io::Result<FakeTools> {
        let root = stdx::temp::TempDir::new("fake-tools-")?;
        let fakes = FakeTools { root };
        fs::create_dir_all(fakes.bin_dir())?;
        fs::create_dir_all(fakes.state_dir())?;
        fs::create_dir_all(fakes.home())?;
        for tool in TOOLS {
            std::os::unix::fs::symlink(FAKE_TOOL, fakes.bin_dir().join(tool))?;
        }
        Ok(fakes)
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn bin_dir(&self) -> PathBuf {
        self.root().join("bin")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root().join("state")
    }

    /// The HOME the fakes see: a user's `~/.kube/config` would appear under it.
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    /// The absolute path of one fake (`kind`, `kubectl`, `helm`).
    pub fn program(&self, tool: &str) -> PathBuf {
        self.bin_dir().join(tool)
    }

    /// A Shell whose PATH starts with the fakes (the rest of PATH stays, for real docker), with
    /// the state directory and the fake HOME set. KUBECONFIG points at the fake user's
    /// `~/.kube/config`, so code that relied on it instead of `--kubeconfig` would be caught.
    pub fn shell(&self) -> exec::Shell {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut entries = vec![self.bin_dir()];
        entries.extend(std::env::split_paths(&path));
        let joined = std::env::join_paths(entries).unwrap_or_default();
        exec::Shell::new()
            .with_env("PATH", joined)
            .with_env("FAKE_TOOLS_STATE", self.state_dir())
            .with_env("HOME", self.home())
            .with_env("KUBECONFIG", self.user_kubeconfig())
    }

    /// A Shell that only tells the fakes where their state is: PATH, HOME and KUBECONFIG stay
    /// the caller's. For runs that mix fakes (named by path, `$KIND=…`) with real tools, whose
    /// own homes (rustup's, cargo's, docker's config) must not move under them.
    pub fn shell_for_real_tools(&self) -> exec::Shell {
        exec::Shell::new().with_env("FAKE_TOOLS_STATE", self.state_dir())
    }

    /// The user's kubeconfig as the fakes see it; nothing may create it.
    pub fn user_kubeconfig(&self) -> PathBuf {
        self.home().join(".kube/config")
    }

    /// Appends a rule; rules are tried in the order they were added.
    pub fn rule(&self, rule: Rule) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state_dir().join("rules"))?;
        file.write_all(rule.render().as_bytes())
    }

    /// Where `kubectl port-forward` relays to when no rule names a relay.
    pub fn set_relay(&self, address: SocketAddr) -> io::Result<()> {
        fs::write(self.state_dir().join("relay"), address.to_string())
    }

    /// The version `tool version` reports (defaults: kind v0.33.0, kubectl v1.37.1, helm v4.3.0).
    pub fn set_version(&self, tool: &str, version: &str) -> io::Result<()> {
        // The fake takes the first line for a tool, so a later call must come first.
        let existing = fs::read_to_string(self.state_dir().join("versions")).unwrap_or_default();
        fs::write(
            self.state_dir().join("versions"),
            format!("{tool}={version}\n{existing}"),
        )
    }

    /// Pretends the fake docker engine already holds these images.
    pub fn add_images(&self, references: &[&str]) -> io::Result<()> {
        let mut text = fs::read_to_string(self.state_dir().join("images")).unwrap_or_default();
        for reference in references {
            text.push_str(reference);
            text.push('\n');
        }
        fs::write(self.state_dir().join("images"), text)
    }

    /// The images the fake docker engine holds (added or pulled).
    pub fn images(&self) -> Vec<String> {
        fs::read_to_string(self.state_dir().join("images"))
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Pretends kind already has these clusters.
    pub fn add_clusters(&self, names: &[&str]) -> io::Result<()> {
        let mut clusters = self.clusters();
        clusters.extend(names.iter().map(|name| (*name).to_owned()));
        let mut text = clusters.join("\n");
        text.push('\n');
        fs::write(self.state_dir().join("clusters"), text)
    }

    /// kind's cluster list as the fake keeps it.
    pub fn clusters(&self) -> Vec<String> {
        fs::read_to_string(self.state_dir().join("clusters"))
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The named containers the fake docker engine runs (`docker run --name`, until `rm`).
    pub fn containers(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.state_dir().join("containers"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        fs::read_to_string(self.state_dir().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let mut fields = line.split('\t').map(unescape);
                let tool = fields.next().unwrap_or_default();
                let env = |value: Option<String>| value.filter(|v| v != "-");
                let kubeconfig_env = env(fields.next());
                let home = env(fields.next());
                Call {
                    tool,
                    kubeconfig_env,
                    home,
                    args: fields.collect(),
                }
            })
            .collect()
    }

    /// Calls of one tool.
    pub fn calls_of(&self, tool: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|call| call.tool == tool)
            .collect()
    }

    /// Pids of fakes that hung or served a port-forward.
    pub fn pids(&self) -> Vec<u32> {
        fs::read_to_string(self.state_dir().join("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect()
    }
}

/// Whether a process is still running (a zombie counts as gone: it runs no code).
pub fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state letter follows the parenthesised command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z" | "X"))
        }
        Err(_) => false,
    }
}
