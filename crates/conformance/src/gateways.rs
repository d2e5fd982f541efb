//! Real gateway processes for local mode: the fixture's route table written as HAProxy, nginx
//! and Envoy configs (`hack/conformance/gateways/`), their broken variants, port templating and
//! the commands that start them. Used by the tests and `cargo xtask bench conformance`; the
//! processes run through `exec`, the one crate that spawns.

use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// A gateway implementation we can run locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Haproxy,
    Nginx,
    Envoy,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Haproxy, Kind::Nginx, Kind::Envoy];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Haproxy => "haproxy",
            Kind::Nginx => "nginx",
            Kind::Envoy => "envoy",
        }
    }

    /// The project's home page, for reports about a local run against it.
    pub fn homepage(self) -> &'static str {
        match self {
            Kind::Haproxy => "https://www.haproxy.org",
            Kind::Nginx => "https://nginx.org",
            Kind::Envoy => "https://www.envoyproxy.io",
        }
    }

    /// The template's file name in `hack/conformance/gateways/`.
    pub fn template_file(self) -> &'static str {
        match self {
            Kind::Haproxy => "haproxy.cfg",
            Kind::Nginx => "nginx.conf",
            Kind::Envoy => "envoy.yaml",
        }
    }

    /// Features this gateway cannot provide: open-source nginx has no active health checks.
    pub fn unsupported_features(self) -> Vec<String> {
        match self {
            Kind::Nginx => vec!["HealthCheck".to_owned()],
            Kind::Haproxy | Kind::Envoy => Vec::new(),
        }
    }

    /// The gateway's own health endpoint, on the ports it was rendered with.
    pub fn health_url(self, ports: &Ports) -> String {
        match self {
            Kind::Haproxy | Kind::Nginx => format!("http://127.0.0.1:{}/healthz", ports.health),
            Kind::Envoy => format!("http://127.0.0.1:{}/ready", ports.admin),
        }
    }

    /// The command that runs it in the foreground with `config`.
    pub fn command(self, program: &Path, config: &Path) -> exec::Cmd {
        let purpose = format!("run {} as the conformance gateway", self.name());
        match self {
            Kind::Haproxy => exec::Cmd::new(program, purpose)
                .arg("-db")
                .arg("-f")
                .arg(config),
            Kind::Nginx => exec::Cmd::new(program, purpose)
                .arg("-c")
                .arg(config)
                .args(["-g", "daemon off;"]),
            Kind::Envoy => exec::Cmd::new(program, purpose)
                .arg("-c")
                .arg(config)
                // Without this, a second Envoy on the machine fails on the hot-restart domain
                // socket (base id 0) that the first one holds.
                .arg("--disable-hot-restart")
                .args(["--concurrency", "1", "--log-level", "warn"]),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The ports a rendered config uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports {
    /// The HTTP listener the suite talks to.
    pub listen: u16,
    /// The Gateway's second listener, with a route of its own.
    pub second_listen: u16,
    /// HAProxy's monitor-uri and nginx's health server.
    pub health: u16,
    /// Envoy's admin API.
    pub admin: u16,
    /// The six replicas: v1, v1, v2, v2, v3, v3.
    pub replicas: [u16; 6],
}

impl Ports {
    /// Free loopback ports for the gateway's own listeners, and the given replica ports.
    pub fn free(replicas: [u16; 6]) -> std::io::Result<Ports> {
        // Four different ports, none of them a replica's.
        let [listen, second_listen, health, admin] = free_ports::<4>(&replicas)?;
        Ok(Ports {
            listen,
            second_listen,
            health,
            admin,
            replicas,
        })
    }

    pub fn gateway_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.listen)
    }

    /// The URL of the second listener.
    pub fn second_listener_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.second_listen)
    }
}

/// A loopback port nobody uses right now, for a gateway listener configured by port number.
///
/// Picked below Linux's ephemeral range (32768-60999), then bound and released to check it is
/// free: a port from `bind(0)` is an ephemeral one, which any outgoing connection of a parallel
/// test may take as its source port before the gateway binds it.
pub fn free_port() -> std::io::Result<u16> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32);
    for _ in 0..200 {
        // SplitMix64 over a per-process counter: distinct candidates across threads and runs.
        let mut z = seed.wrapping_add(
            COUNTER
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let port = 20_000 + (z % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    // Everything tried was taken: fall back to whatever the kernel hands out.
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `N` different free ports, none of them in `exclude`: each candidate stays bound until all
/// are chosen, so one call never hands out the same port twice.
pub fn free_ports<const N: usize>(exclude: &[u16]) -> std::io::Result<[u16; N]> {
    let mut held: Vec<(u16, TcpListener)> = Vec::with_capacity(N);
    let mut attempts = 0;
    while held.len() < N {
        attempts += 1;
        if attempts > 1000 {
            return Err(std::io::Error::other(format!(
                "could not find {N} different free loopback ports"
            )));
        }
        let port = free_port()?;
        if exclude.contains(&port) || held.iter().any(|(taken, _)| *taken == port) {
            continue;
        }
        // Held until all are chosen; a port taken meanwhile is simply tried again.
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            held.push((port, listener));
        }
    }
    let mut ports = [0; N];
    for (slot, (port, _)) in ports.iter_mut().zip(&held) {
        *slot = *port;
    }
    Ok(ports)
}

/// Fills in `{{listen_port}}`, `{{second_listen_port}}`, `{{health_port}}`, `{{admin_port}}`, `{{run_dir}}` and
/// `{{vN_R_port}}`. Fails on a placeholder left over, so a typo cannot reach the gateway.
pub fn render(template: &str, ports: &Ports, run_dir: &Path) -> Result<String, String> {
    let mut text = template
        .replace("{{listen_port}}", &ports.listen.to_string())
        .replace("{{second_listen_port}}", &ports.second_listen.to_string())
        .replace("{{health_port}}", &ports.health.to_string())
        .replace("{{admin_port}}", &ports.admin.to_string())
        .replace("{{run_dir}}", &run_dir.display().to_string());
    for (index, port) in ports.replicas.iter().enumerate() {
        let placeholder = format!("{{{{v{}_{}_port}}}}", index / 2 + 1, index % 2);
        text = text.replace(&placeholder, &port.to_string());
    }
    if let Some(start) = text.find("{{") {
        let end = text[start..]
            .find("}}")
            .map_or(text.len(), |e| start + e + 2);
        return Err(format!(
            "unknown placeholder {} in the gateway template",
            &text[start..end]
        ));
    }
    Ok(text)
}

/// One broken variant of a gateway config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub gateway: Kind,
    pub name: String,
    /// The one case that must fail against it.
    pub breaks: String,
    pub replace: Vec<Replacement>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replacement {
    pub find: String,
    pub with: String,
    /// Replace every occurrence instead of exactly one.
    #[serde(default)]
    pub all: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantsFile {
    variant: Vec<Variant>,
}

/// Parses `variants.toml`.
pub fn parse_variants(text: &str) -> Result<Vec<Variant>, String> {
    toml::from_str::<VariantsFile>(text)
        .map(|file| file.variant)
        .map_err(|error| format!("variants.toml: {error}"))
}

impl Variant {
    /// The good config with this variant's replacements applied.
    pub fn apply(&self, good: &str) -> Result<String, String> {
        let mut text = good.to_owned();
        for replacement in &self.replace {
            let count = text.matches(&replacement.find).count();
            let fits = if replacement.all {
                count >= 1
            } else {
                count == 1
            };
            if !fits {
                return Err(format!(
                    "variant {}/{}: `{}` occurs {count} times in the good config, want {}; update hack/conformance/gateways/variants.toml",
                    self.gateway,
                    self.name,
                    replacement.find.trim(),
                    if replacement.all {
                        "at least once"
                    } else {
                        "exactly once"
                    }
                ));
            }
            text = text.replace(&replacement.find, &replacement.with);
        }
        Ok(text)
    }
}

/// The folder holding the templates and `variants.toml`, under a workspace root.
pub fn templates_dir(workspace_root: &Path) -> PathBuf {
    workspace_root.join("hack/conformance/gateways")
}

/// A running gateway: killed and reaped when dropped.
pub struct Gateway {
    pub kind: Kind,
    pub ports: Ports,
    pub config_path: PathBuf,
    child: exec::ChildGuard,
}

impl Gateway {
    /// Writes `config` into `run_dir`, starts the gateway and waits until its listener accepts
    /// TCP connections (or it exits, which is an error quoting its stderr).
    ///
    /// Call it on a thread that outlives the gateway: Envoy gets SIGTERM as soon as the thread
    /// that spawned it exits (a parent-death signal is tied to the spawning thread).
    pub fn start(
        kind: Kind,
        program: &Path,
        config: &str,
        ports: Ports,
        run_dir: &Path,
        startup_timeout: Duration,
    ) -> Result<Gateway, String> {
        let config_path = run_dir.join(kind.template_file());
        std::fs::write(&config_path, config)
            .map_err(|error| format!("cannot write {}: {error}", config_path.display()))?;
        let shell = exec::Shell::new();
        let mut child = shell
            .spawn(&kind.command(program, &config_path))
            .map_err(|error| error.to_string())?;
        let listen = SocketAddr::from(([127, 0, 0, 1], ports.listen));
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_status() {
                return Err(format!(
                    "{kind} exited with {status} before listening on {listen}; stderr ends with:\n{}",
                    child.stderr_tail()
                ));
            }
            if TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_ok() {
                // Another process may hold the port (a free port is only free when it was
                // picked): a gateway that cannot bind exits at once, so make sure ours lives.
                std::thread::sleep(Duration::from_millis(100));
                if let Some(status) = child.try_status() {
                    return Err(format!(
                        "{kind} exited with {status} although something listens on {listen} (is the port taken?); stderr ends with:\n{}",
                        child.stderr_tail()
                    ));
                }
                break;
            }
            if started.elapsed() > startup_timeout {
                return Err(format!(
                    "{kind} did not listen on {listen} within {startup_timeout:?}; stderr ends with:\n{}",
                    child.stderr_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Gateway {
            kind,
            ports,
            config_path,
            child,
        })
    }

    pub fn url(&self) -> String {
        self.ports.gateway_url()
    }

    /// The gateway's exit status, if it has exited (a crash is a broken environment, not a
    /// failed case).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_status()
    }

    /// What the gateway wrote to stderr lately (for failure messages).
    pub fn stderr_tail(&self) -> String {
        self.child.stderr_tail()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_avoid_the_excluded() {
        for _ in 0..50 {
            let replicas: [u16; 6] = free_ports(&[]).unwrap();
            let mut sorted = replicas.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 6, "{replicas:?}");
            let ports = Ports::free(replicas).unwrap();
            let mine = [ports.listen, ports.second_listen, ports.health, ports.admin];
            assert!(
                mine.iter().all(|port| !replicas.contains(port)),
                "{mine:?} {replicas:?}"
            );
            let mut mine = mine.to_vec();
            mine.sort_unstable();
            mine.dedup();
            assert_eq!(mine.len(), 4);
        }
    }

    #[test]
    fn render_fills_every_placeholder_and_rejects_unknown_ones() {
        let ports = Ports {
            listen: 1,
            second_listen: 4,
            health: 2,
            admin: 3,
            replicas: [11, 12, 21, 22, 31, 32],
        };
        let text = render(
            "{{listen_port}} {{v2_1_port}} {{v3_0_port}} {{run_dir}}",
            &ports,
            Path::new("/r"),
        )
        .unwrap();
        assert_eq!(text, "1 22 31 /r");
        assert!(
            render("{{v4_0_port}}", &ports, Path::new("/r"))
                .unwrap_err()
                .contains("{{v4_0_port}}")
        );
    }

    #[test]
    fn gateway_commands_run_in_the_foreground() {
        let config = Path::new("/run/gw.conf");
        let argv = |kind: Kind| kind.command(Path::new("/bin/gw"), config).arg_strings();
        assert_eq!(argv(Kind::Haproxy), ["-db", "-f", "/run/gw.conf"]);
        assert_eq!(
            argv(Kind::Nginx),
            ["-c", "/run/gw.conf", "-g", "daemon off;"]
        );
        assert_eq!(
            argv(Kind::Envoy),
            [
                "-c",
                "/run/gw.conf",
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "--log-level",
                "warn"
            ]
        );
        assert_eq!(Kind::Nginx.unsupported_features(), ["HealthCheck"]);
        assert!(Kind::Envoy.unsupported_features().is_empty());
    }

    #[test]
    fn free_ports_avoid_the_ephemeral_range() {
        for _ in 0..20 {
            let port = free_port().unwrap();
            assert!((20_000..32_000).contains(&port), "{port}");
        }
    }

    #[test]
    fn a_variant_must_find_its_text_exactly_once() {
        let variant = Variant {
            gateway: Kind::Haproxy,
            name: "x".into(),
            breaks: "route-header".into(),
            replace: vec![Replacement {
                find: "a".into(),
                with: "b".into(),
                all: false,
            }],
        };
        assert_eq!(variant.apply("xay").unwrap(), "xby");
        assert!(variant.apply("aa").unwrap_err().contains("2 times"));
        assert!(variant.apply("zz").unwrap_err().contains("0 times"));
    }
}
