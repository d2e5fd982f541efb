//! The fake `kind`, `kubectl` and `helm`: one std-only program that acts as the tool its argv[0]
//! names, scripted per test through a state directory (`$FAKE_TOOLS_STATE`).
//!
//! It records every invocation to `calls.log`, keeps kind's cluster list in `clusters`, answers
//! with the first matching rule from `rules` (recorded real outputs, failures, hangs) and falls
//! back to built-in behaviour that follows each tool's documented CLI: kind's exact messages,
//! kubectl's port-forward ready line with a real TCP relay, helm's release message.
//! Built by the fake-tools crate's build script with plain rustc, so it uses std only.

use std::env;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::exit;
use std::thread;
use std::time::Duration;

mod codec;
mod docker;
mod helm;
mod kind;
mod kubectl;

use codec::{escape, unescape};
use docker::docker;
use helm::helm;
use kind::kind;
use kubectl::kubectl;

/// What a test asked for when a rule matches.
#[derive(Default, Debug)]
struct Rule {
    tool: String,
    words: Vec<String>,
    stdout: Option<Vec<u8>>,
    stderr: Option<String>,
    exit: Option<i32>,
    hang: bool,
    builtin: bool,
    times: Option<u32>,
    relay: Option<String>,
    /// Milliseconds to wait before answering (a slow tool, for benchmarks).
    delay: Option<u64>,
}

fn main() {
    let argv: Vec<String> = env::args().collect();
    let tool = Path::new(argv.first().map_or("", String::as_str))
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let args: Vec<String> = argv.get(1..).unwrap_or_default().to_vec();
    // The state beside the fake's own folder when it is run by path (`$KIND=/…/bin/kind`), so
    // a caller that cannot set the variable (a library under test, in process) still reaches it.
    let beside = argv
        .first()
        .filter(|argv0| argv0.contains('/'))
        .and_then(|argv0| {
            Path::new(argv0)
                .parent()?
                .parent()
                .map(|root| root.join("state"))
        })
        .filter(|state| state.is_dir());
    let Some(state) = env::var_os("FAKE_TOOLS_STATE")
        .map(PathBuf::from)
        .or(beside)
    else {
        eprintln!(
            "fake {tool}: FAKE_TOOLS_STATE is not set and it was not run by path; tests set it on the Shell"
        );
        exit(97);
    };
    record_call(&state, &tool, &args);

    let rules = read_rules(&state);
    if let Some((_, rule)) = rules
        .into_iter()
        .enumerate()
        .find(|(index, rule)| matches(rule, &tool, &args) && take_hit(&state, *index, rule))
    {
        apply_rule(&state, &tool, &args, rule);
    }
    let code = builtin(&state, &tool, &args, None);
    exit(code);
}

fn apply_rule(state: &Path, tool: &str, args: &[String], rule: Rule) -> ! {
    if let Some(millis) = rule.delay {
        thread::sleep(Duration::from_millis(millis));
    }
    // A relay rule is a port-forward with a chosen destination, so it runs the built-in too.
    let code = if rule.builtin || rule.relay.is_some() {
        builtin(state, tool, args, rule.relay.clone())
    } else {
        0
    };
    if let Some(stdout) = &rule.stdout {
        let _ = io::stdout().write_all(stdout);
        let _ = io::stdout().flush();
    }
    if let Some(stderr) = &rule.stderr {
        eprint!("{stderr}");
    }
    if rule.hang {
        hang(state);
    }
    exit(rule.exit.unwrap_or(code));
}

/// Blocks until killed, after noting the pid so a test can check it is gone afterwards.
fn hang(state: &Path) -> ! {
    note_pid(state);
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

fn note_pid(state: &Path) {
    if let Ok(mut file) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.join("pids"))
    {
        let _ = writeln!(file, "{}", std::process::id());
    }
}

/// One line per call: tool, the KUBECONFIG and HOME it saw (`-` when unset), then argv.
fn record_call(state: &Path, tool: &str, args: &[String]) {
    let env_or_dash = |key: &str| env::var(key).unwrap_or_else(|_| "-".to_owned());
    let mut fields = vec![
        tool.to_owned(),
        env_or_dash("KUBECONFIG"),
        env_or_dash("HOME"),
    ];
    fields.extend(args.iter().cloned());
    let line = fields
        .iter()
        .map(|field| escape(field))
        .collect::<Vec<_>>()
        .join("\t");
    if let Ok(mut file) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.join("calls.log"))
    {
        let _ = writeln!(file, "{line}");
    }
}

fn read_rules(state: &Path) -> Vec<Rule> {
    let text = fs::read_to_string(state.join("rules")).unwrap_or_default();
    let mut rules = Vec::new();
    let mut current: Option<Rule> = None;
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match (key, current.as_mut()) {
            ("rule", _) => current = Some(Rule::default()),
            ("end", Some(_)) => rules.extend(current.take()),
            ("tool", Some(rule)) => rule.tool = value.to_owned(),
            ("args", Some(rule)) => {
                rule.words = value
                    .split(' ')
                    .filter(|w| !w.is_empty())
                    .map(unescape)
                    .collect();
            }
            ("stdout", Some(rule)) => rule.stdout = Some(unescape(value).into_bytes()),
            ("stdout-file", Some(rule)) => {
                rule.stdout = Some(fs::read(unescape(value)).unwrap_or_else(|error| {
                    eprintln!("fake: cannot read stdout-file {value}: {error}");
                    exit(96)
                }));
            }
            ("stderr", Some(rule)) => rule.stderr = Some(unescape(value)),
            ("exit", Some(rule)) => rule.exit = value.parse().ok(),
            ("hang", Some(rule)) => rule.hang = true,
            ("builtin", Some(rule)) => rule.builtin = true,
            ("times", Some(rule)) => rule.times = value.parse().ok(),
            ("relay", Some(rule)) => rule.relay = Some(value.to_owned()),
            ("delay", Some(rule)) => rule.delay = value.parse().ok(),
            _ => {}
        }
    }
    rules
}

/// The rule's words must appear in argv in order (not necessarily adjacent).
fn matches(rule: &Rule, tool: &str, args: &[String]) -> bool {
    if rule.tool != tool {
        return false;
    }
    let mut rest = args.iter();
    rule.words
        .iter()
        .all(|word| rest.by_ref().any(|arg| arg == word))
}

/// Counts a use of a `times N` rule; false once it is used up.
fn take_hit(state: &Path, index: usize, rule: &Rule) -> bool {
    let Some(limit) = rule.times else {
        return true;
    };
    let hits_dir = state.join("hits");
    let _ = fs::create_dir_all(&hits_dir);
    let path = hits_dir.join(index.to_string());
    let used: u32 = fs::read_to_string(&path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0);
    if used >= limit {
        return false;
    }
    let _ = fs::write(&path, (used + 1).to_string());
    true
}

/// Flags that take a value, so positionals can be told apart (kubectl, helm, kind).
const VALUE_FLAGS: &[&str] = &[
    "-n",
    "--namespace",
    "-l",
    "--selector",
    "-o",
    "--output",
    "--kubeconfig",
    "--context",
    "--field-selector",
    "--sort-by",
    "--timeout",
    "--for",
    "--field-manager",
    "-c",
    "--container",
    "--since",
    "--tail",
    "--address",
    "-f",
    "--filename",
    "--name",
    "--image",
    "--config",
    "--wait",
    "--version",
    "--set",
    "--filter",
    "--nodes",
    "--template",
    "--platform",
    "--format",
    "--tag",
    "--file",
    "--build-arg",
    "--label",
    "--volume",
    "--network",
];

fn flag_value(args: &[String], names: &[&str]) -> Option<String> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        for name in names {
            if arg == name {
                return iter.next().cloned();
            }
            if let Some(value) = arg.strip_prefix(&format!("{name}=")) {
                return Some(value.to_owned());
            }
        }
    }
    None
}

fn flag_values(args: &[String], name: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == name {
            values.extend(iter.next().cloned());
        } else if let Some(value) = arg.strip_prefix(&format!("{name}=")) {
            values.push(value.to_owned());
        }
    }
    values
}

fn positionals(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg.starts_with('-') {
            // `--wait` is a bare switch for helm but takes a duration for kind.
            let takes_value = if arg == "--wait" {
                iter.as_slice()
                    .first()
                    .is_some_and(|next| next.starts_with(|c: char| c.is_ascii_digit()))
            } else {
                VALUE_FLAGS.contains(&arg.as_str())
            };
            if takes_value {
                iter.next();
            }
            continue;
        }
        out.push(arg.clone());
    }
    out
}

/// The version a fake reports: `TOOL=VERSION` lines in the state's `versions`, else `default`.
fn version_of(state: &Path, tool: &str, default: &str) -> String {
    fs::read_to_string(state.join("versions"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{tool}=")).map(str::to_owned))
        .unwrap_or_else(|| default.to_owned())
}

fn read_clusters(state: &Path) -> Vec<String> {
    fs::read_to_string(state.join("clusters"))
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Changes the cluster list under a lock: several fake kinds run at once (a run over several
/// clusters creates them concurrently) and must not lose each other's writes. The lock is a
/// directory, taken with `create_dir` (atomic); one left by a killed fake is broken after 5 s.
fn update_clusters<R>(state: &Path, change: impl FnOnce(&mut Vec<String>) -> R) -> R {
    let lock = state.join("clusters.lock");
    let started = std::time::Instant::now();
    while fs::create_dir(&lock).is_err() {
        if started.elapsed() > Duration::from_secs(5) {
            let _ = fs::remove_dir(&lock);
        }
        thread::sleep(Duration::from_millis(2));
    }
    let mut clusters = read_clusters(state);
    let result = change(&mut clusters);
    write_clusters(state, &clusters);
    let _ = fs::remove_dir(&lock);
    result
}

fn write_clusters(state: &Path, clusters: &[String]) {
    let mut text = clusters.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    // Written beside and renamed: a `kind get clusters` reading at the same moment sees the
    // old list or the new one, never a truncated file (which would hide a cluster from its
    // owner's teardown).
    let staged = state.join(format!("clusters.{}", std::process::id()));
    if fs::write(&staged, text).is_ok() {
        let _ = fs::rename(&staged, state.join("clusters"));
    }
}

/// Built-in behaviour; returns the exit code.
fn builtin(state: &Path, tool: &str, args: &[String], relay: Option<String>) -> i32 {
    match tool {
        "kind" => kind(state, args),
        "kubectl" => kubectl(state, args, relay),
        "helm" => helm(state, args),
        "docker" => docker(state, args),
        other => {
            eprintln!(
                "fake: unknown tool name {other:?}; name the link kind, kubectl, helm or docker"
            );
            98
        }
    }
}
