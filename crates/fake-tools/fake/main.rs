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
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::exit;
use std::thread;
use std::time::Duration;

mod codec;

use codec::{escape, unescape};

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
        .and_then(|argv0| Path::new(argv0).parent()?.parent().map(|root| root.join("state")))
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

fn write_clusters(state: &Path, clusters: &[String]) {
    let mut text = clusters.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    let _ = fs::write(state.join("clusters"), text);
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

fn kind(state: &Path, args: &[String]) -> i32 {
    let positional = positionals(args);
    let words: Vec<&str> = positional.iter().map(String::as_str).collect();
    let name = flag_value(args, &["--name", "-n"]).unwrap_or_else(|| "kind".to_owned());
    let mut clusters = read_clusters(state);
    match words.as_slice() {
        ["version"] => {
            println!(
                "kind {} go1.25.5 linux/amd64",
                version_of(state, "kind", "v0.33.0")
            );
            0
        }
        ["get", "clusters"] => {
            if clusters.is_empty() {
                eprintln!("No kind clusters found.");
            }
            for cluster in &clusters {
                println!("{cluster}");
            }
            0
        }
        ["create", "cluster"] => {
            if clusters.contains(&name) {
                eprintln!(
                    "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"{name}\""
                );
                return 1;
            }
            if let Some(config) = flag_value(args, &["--config"])
                && config != "-"
                && !Path::new(&config).is_file()
            {
                eprintln!(
                    "ERROR: failed to create cluster: error reading file: open {config}: no such file or directory"
                );
                return 1;
            }
            let image = flag_value(args, &["--image"]).unwrap_or_else(|| "kindest/node".to_owned());
            eprintln!("Creating cluster \"{name}\" ...");
            eprintln!(" ✓ Ensuring node image ({image}) 🖼");
            eprintln!(" ✓ Preparing nodes 📦");
            clusters.push(name.clone());
            write_clusters(state, &clusters);
            if let Err(error) = write_kubeconfig(args, &name) {
                eprintln!("ERROR: failed to create cluster: failed to write kubeconfig: {error}");
                return 1;
            }
            eprintln!("Set kubectl context to \"kind-{name}\"");
            0
        }
        ["export", "kubeconfig"] => {
            if !clusters.contains(&name) {
                eprintln!(
                    "ERROR: could not locate any control plane nodes for cluster named '{name}'. Use the --name option to select a different cluster"
                );
                return 1;
            }
            if let Err(error) = write_kubeconfig(args, &name) {
                eprintln!("ERROR: failed to write kubeconfig: {error}");
                return 1;
            }
            eprintln!("Set kubectl context to \"kind-{name}\"");
            0
        }
        ["delete", "cluster"] => {
            eprintln!("Deleting cluster \"{name}\" ...");
            clusters.retain(|cluster| cluster != &name);
            write_clusters(state, &clusters);
            0
        }
        ["export", "logs", rest @ ..] => {
            if !clusters.contains(&name) {
                eprintln!("ERROR: unknown cluster \"{name}\"");
                return 1;
            }
            let dir = rest
                .first()
                .map_or_else(|| state.join("kind-logs"), PathBuf::from);
            let _ = fs::create_dir_all(dir.join(format!("{name}-control-plane")));
            let _ = fs::write(dir.join("kind-version.txt"), "kind v0.33.0\n");
            eprintln!("Exported logs for cluster \"{name}\" to:");
            println!("{}", dir.display());
            0
        }
        ["load", "docker-image", images @ ..] if !images.is_empty() => {
            if !clusters.contains(&name) {
                eprintln!("ERROR: no nodes found for cluster \"{name}\"");
                return 1;
            }
            for image in images {
                eprintln!(
                    "Image: \"{image}\" with ID \"sha256:0000\" not yet present on node \"{name}-control-plane\", loading..."
                );
            }
            0
        }
        ["load", "image-archive", archive] => {
            if !Path::new(archive).is_file() {
                eprintln!("ERROR: stat {archive}: no such file or directory");
                return 1;
            }
            if !clusters.contains(&name) {
                eprintln!("ERROR: no nodes found for cluster \"{name}\"");
                return 1;
            }
            0
        }
        _ => {
            eprintln!("ERROR: unknown command {words:?} for \"kind\"");
            1
        }
    }
}

/// Writes a kubeconfig for cluster `name` where kind would: `--kubeconfig`, else `$KUBECONFIG`,
/// else `$HOME/.kube/config` (so a test notices when the user's file would be touched).
fn write_kubeconfig(args: &[String], name: &str) -> io::Result<()> {
    let kubeconfig = flag_value(args, &["--kubeconfig"])
        .or_else(|| env::var("KUBECONFIG").ok())
        .unwrap_or_else(|| format!("{}/.kube/config", env::var("HOME").unwrap_or_default()));
    let path = Path::new(&kubeconfig);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let contents = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: kind-{name}\ncontexts:\n- context:\n    cluster: kind-{name}\n    user: kind-{name}\n  name: kind-{name}\ncurrent-context: kind-{name}\nusers:\n- name: kind-{name}\n  user: {{}}\n"
    );
    fs::write(path, contents)
}

fn kubectl(state: &Path, args: &[String], relay: Option<String>) -> i32 {
    let positional = positionals(args);
    let words: Vec<&str> = positional.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["version"] => {
            println!(
                "{{\"clientVersion\":{{\"gitVersion\":\"{}\"}},\"kustomizeVersion\":\"v5.7.1\"}}",
                version_of(state, "kubectl", "v1.37.1")
            );
            0
        }
        ["apply", ..] => {
            for file in flag_values(args, "-f")
                .into_iter()
                .chain(flag_values(args, "--filename"))
            {
                let remote = file.starts_with("https://") || file.starts_with("http://");
                if !remote && !Path::new(&file).exists() {
                    eprintln!("error: the path \"{file}\" does not exist");
                    return 1;
                }
                println!("applied {file} serverside-applied");
            }
            0
        }
        ["port-forward", _target, ports @ ..] => port_forward(state, ports, relay),
        ["get", _resource, _name, ..] => {
            eprintln!(
                "Error from server (NotFound): the fake has no recorded answer for {words:?}"
            );
            1
        }
        ["get", ..] => {
            if flag_value(args, &["-o", "--output"]).as_deref() == Some("json") {
                println!(
                    "{{\"apiVersion\":\"v1\",\"items\":[],\"kind\":\"List\",\"metadata\":{{\"resourceVersion\":\"\"}}}}"
                );
            } else {
                eprintln!("No resources found");
            }
            0
        }
        ["wait", ..] => {
            println!("condition met");
            0
        }
        ["rollout", "status", target] => {
            println!("{target} successfully rolled out");
            0
        }
        ["logs", ..] | ["describe", ..] => 0,
        _ => 0,
    }
}

/// Prints kubectl's ready line and relays every connection to the relay address.
fn port_forward(state: &Path, ports: &[&str], relay: Option<String>) -> i32 {
    let Some(spec) = ports.first() else {
        eprintln!("error: TYPE/NAME and list of ports are required for port-forward");
        return 1;
    };
    let (local, remote) = match spec.split_once(':') {
        Some((local, remote)) => (local.to_owned(), remote.to_owned()),
        None => (spec.to_string(), spec.to_string()),
    };
    let relay = relay
        .or_else(|| fs::read_to_string(state.join("relay")).ok())
        .map(|text| text.trim().to_owned());
    let local_port: u16 = if local.is_empty() {
        0
    } else {
        local.parse().unwrap_or(0)
    };
    let listener = match TcpListener::bind(("127.0.0.1", local_port)) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("Unable to listen on port {local_port}: {error}");
            eprintln!(
                "error: unable to listen on any of the requested ports: [{{{local_port} {remote}}}]"
            );
            return 1;
        }
    };
    let port = listener.local_addr().map(|addr| addr.port()).unwrap_or(0);
    note_pid(state);
    println!("Forwarding from 127.0.0.1:{port} -> {remote}");
    let _ = io::stdout().flush();
    for stream in listener.incoming() {
        let Ok(client) = stream else { continue };
        // Like kubectl, but never dying of a closed stdout: the relay matters more.
        let _ = writeln!(io::stdout(), "Handling connection for {port}");
        let _ = io::stdout().flush();
        let Some(target) = relay.clone() else {
            eprintln!("E fake port-forward: no relay address recorded");
            continue;
        };
        thread::spawn(move || relay_connection(client, &target));
    }
    0
}

fn relay_connection(client: TcpStream, target: &str) {
    let Ok(upstream) = TcpStream::connect(target) else {
        eprintln!("E an error occurred forwarding: dial tcp {target}: connect: connection refused");
        return;
    };
    let (Ok(mut client_read), Ok(mut upstream_write)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let forward = thread::spawn(move || {
        let _ = io::copy(&mut client_read, &mut upstream_write);
        let _ = upstream_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut upstream_read, mut client_write) = (upstream, client);
    let _ = io::copy(&mut upstream_read, &mut client_write);
    let _ = client_write.shutdown(std::net::Shutdown::Write);
    let _ = forward.join();
}

fn helm(state: &Path, args: &[String]) -> i32 {
    let positional = positionals(args);
    let words: Vec<&str> = positional.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["version", ..] => {
            let version = version_of(state, "helm", "v4.3.0");
            if flag_value(args, &["--template"]).is_some() {
                // `helm version --template '{{.Version}}'` prints the bare version, no newline.
                print!("{version}");
            } else {
                println!(
                    "version.BuildInfo{{Version:\"{version}\", GitCommit:\"\", GoVersion:\"go1.25.5\"}}"
                );
            }
            0
        }
        ["upgrade", release, _chart] => {
            let namespace =
                flag_value(args, &["--namespace", "-n"]).unwrap_or_else(|| "default".to_owned());
            println!("Release \"{release}\" does not exist. Installing it now.");
            println!("NAME: {release}");
            println!("NAMESPACE: {namespace}");
            println!("STATUS: deployed");
            println!("REVISION: 1");
            0
        }
        ["list", ..] => {
            println!("[]");
            0
        }
        _ => {
            eprintln!("Error: unknown command {words:?} for \"helm\"");
            1
        }
    }
}

/// Images the fake docker engine holds: one reference per line in the state's `images`.
fn read_images(state: &Path) -> Vec<String> {
    fs::read_to_string(state.join("images"))
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A stable fake image ID for a reference (not a real digest: the engine is a fake).
fn image_id(reference: &str) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in reference.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3);
    }
    format!("sha256:{hash:016x}{hash:016x}{hash:016x}{hash:016x}")
}

/// Just enough of the docker CLI for the cluster flow: version, image inspect, pull, save,
/// build (registers its tag), run and rm (a container that does nothing), and `ps` of kind's
/// node containers (one per fake cluster).
fn docker(state: &Path, args: &[String]) -> i32 {
    let positional = positionals(args);
    let words: Vec<&str> = positional
        .iter()
        .filter(|arg| !arg.contains("{{"))
        .map(String::as_str)
        .collect();
    let mut images = read_images(state);
    match words.as_slice() {
        ["version", ..] => {
            println!(
                "{{\"Client\":{{\"Version\":\"28.2.2\",\"ApiVersion\":\"1.41\"}},\"Server\":{{\"Version\":\"{}\",\"ApiVersion\":\"1.41\"}}}}",
                version_of(state, "docker", "20.10.24")
            );
            0
        }
        ["image", "inspect", reference] => {
            if images.iter().any(|image| image == reference) {
                println!(
                    "{{\"Id\":\"{}\",\"RepoTags\":[\"{reference}\"],\"RepoDigests\":[],\"Config\":{{}}}}",
                    image_id(reference)
                );
                0
            } else {
                eprintln!("Error response from daemon: No such image: {reference}");
                1
            }
        }
        ["save", reference] => {
            // `docker save [--platform P] --output FILE REF`: an archive naming the image.
            if !images.iter().any(|image| image == reference) {
                eprintln!("Error response from daemon: reference does not exist");
                return 1;
            }
            let Some(output) = flag_value(args, &["--output", "-o"]) else {
                eprintln!("fake docker: save without --output is not scripted");
                return 1;
            };
            match fs::write(&output, format!("fake docker save of {reference}\n")) {
                Ok(()) => 0,
                Err(error) => {
                    eprintln!("Error: failed to save: open {output}: {error}");
                    1
                }
            }
        }
        ["build", ..] => {
            // `docker build --tag T …`: the engine now holds T.
            let Some(tag) = flag_value(args, &["--tag", "-t"]) else {
                eprintln!("fake docker: build without --tag is not scripted");
                return 1;
            };
            images.push(tag.clone());
            let _ = fs::write(state.join("images"), images.join("\n") + "\n");
            println!("Successfully built {}", &image_id(&tag)[7..19]);
            println!("Successfully tagged {tag}");
            0
        }
        ["run", ..] => {
            println!("{}", &image_id(&args.join(" "))[7..]);
            0
        }
        ["ps", ..] if args.iter().any(|arg| arg == "label=io.x-k8s.kind.cluster") => {
            // kind's node containers carry the cluster's name: one control-plane node each.
            for cluster in read_clusters(state) {
                println!("{cluster}");
            }
            0
        }
        ["rm", ..] => {
            if let Some(name) = words.last() {
                println!("{name}");
            }
            0
        }
        ["pull", reference] => {
            images.push((*reference).to_owned());
            let _ = fs::write(state.join("images"), images.join("\n") + "\n");
            println!("{reference}");
            0
        }
        _ => {
            eprintln!("fake docker: {words:?} is not scripted; add a rule");
            1
        }
    }
}
