//! bench artifacts: the download path of `artifacts fetch` (streamed to disk, hashed, verified)
//! against curl, on the same local server in the same run. Reports throughput, the ratio (goal:
//! at least 0.8 of curl's) and our peak memory for two file sizes (goal: independent of size).
//!
//! Each of our downloads runs in a child process (this binary in a hidden mode) so its peak
//! resident memory (VmHWM) is its own, not the server's or the parent's. Every download's CPU
//! time is measured too (the client's from getrusage of reaped children, the in-process
//! server's from this process's own), so the report can say whether a gap is the machine's CPU
//! or the client: on loopback nothing but CPU limits either client, and a client that proves
//! every byte pays for sha256 on top of what curl does. A second round sends at a fixed link
//! rate, the way users' downloads arrive, where that cost should vanish behind the network.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sha2::Digest as _;

use crate::ui;

#[derive(clap::Args)]
pub struct Args {
    /// Size of the large file, in MiB
    #[arg(long, default_value_t = 200)]
    size_mib: u64,
    /// Runs per client and round; the best and the median of each are compared
    #[arg(long, default_value_t = 5)]
    runs: u32,
    /// Link rate of the second round, in MiB/s (0 skips the round)
    #[arg(long, default_value_t = 250)]
    link_mib_s: u64,
    /// Internal: download this URL in this process and print figures as JSON
    #[arg(long, hide = true)]
    child_url: Option<String>,
    #[arg(long, hide = true)]
    child_dest: Option<PathBuf>,
    #[arg(long, hide = true)]
    child_sha256: Option<String>,
}

/// What one of our downloads measured about itself.
#[derive(serde::Serialize, serde::Deserialize)]
struct ChildFigures {
    bytes: u64,
    seconds: f64,
    peak_rss_kib: u64,
}

/// One download as the parent saw it.
#[derive(Clone, Copy)]
struct Sample {
    /// Wall time, process start included.
    wall: f64,
    /// CPU seconds of the client process (user + system).
    client_cpu: f64,
    /// CPU seconds of the in-process server (and this process's idle waiting).
    server_cpu: f64,
}

/// All samples of one client in one round.
#[derive(Default)]
struct Samples(Vec<Sample>);

impl Samples {
    fn best_wall(&self) -> f64 {
        self.0.iter().map(|s| s.wall).fold(f64::INFINITY, f64::min)
    }
    fn median(&self, field: impl Fn(&Sample) -> f64) -> f64 {
        median(self.0.iter().map(field).collect())
    }
}

/// The middle value (the upper one of an even count); `values` is never empty here.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// What a round compared.
struct Round {
    curl: Samples,
    ours: Samples,
    peak_rss_kib: u64,
}

impl Round {
    fn best_ratio(&self) -> f64 {
        self.curl.best_wall() / self.ours.best_wall()
    }
    /// The median of each run's ratio (curl's and ours of the same run are paired).
    fn median_ratio(&self) -> f64 {
        median(
            self.curl
                .0
                .iter()
                .zip(&self.ours.0)
                .map(|(curl, ours)| curl.wall / ours.wall)
                .collect(),
        )
    }
}

/// The fixed parts of a run: the tools, the server, the scratch folder.
struct Bench<'a> {
    sh: exec::Shell,
    curl: PathBuf,
    self_exe: PathBuf,
    out: PathBuf,
    server: &'a testkit::http::Server,
    size_mib: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(url) = &args.child_url {
        return child(
            url,
            args.child_dest.as_deref(),
            args.child_sha256.as_deref(),
        );
    }
    if args.size_mib == 0 || args.runs == 0 {
        return Err(crate::bad_input("--size-mib and --runs must be at least 1"));
    }
    let curl = find_on_path("curl").ok_or_else(|| {
        anyhow::anyhow!("curl is not on PATH: install it (Debian: apt-get install -y curl)")
    })?;
    let target = crate::workspace_root().join("target");
    std::fs::create_dir_all(&target).context("creating target/")?;
    let dir = stdx::temp::TempDir::new_in(&target, "bench-artifacts-")
        .context("creating a scratch folder under target/")?;
    let small_mib = (args.size_mib / 10).max(1);
    let large = make_file(&dir.path().join("large.bin"), args.size_mib)?;
    let small = make_file(&dir.path().join("small.bin"), small_mib)?;

    let server = testkit::http::Server::start();
    server.route("/large.bin", testkit::http::Reply::file(&large.0));
    server.route("/small.bin", testkit::http::Reply::file(&small.0));
    let link_rate = args.link_mib_s * 1024 * 1024;
    if link_rate > 0 {
        server.route(
            "/linked.bin",
            testkit::http::Reply::file(&large.0).rate(link_rate),
        );
    }
    // A private copy: a concurrent `cargo build` may replace target/debug/xtask mid-run.
    let self_exe = dir.path().join("xtask-bench-child");
    std::fs::copy("/proc/self/exe", &self_exe).context("copying this xtask binary")?;
    let bench = Bench {
        sh: exec::Shell::new(),
        curl,
        self_exe,
        out: dir.path().join("downloaded.bin"),
        server: &server,
        size_mib: args.size_mib,
    };

    let hash_mib_s = sha256_one_core_mib_s();
    let curl_check = curl_with_sha256sum(&bench, &large.1)?;
    let loopback = bench.round("loopback", "large.bin", &large.1, args.runs)?;
    let linked = if link_rate > 0 {
        Some(bench.round(
            &format!("{} MiB/s link", args.link_mib_s),
            "linked.bin",
            &large.1,
            args.runs,
        )?)
    } else {
        None
    };
    let small_figures = bench.ours(&bench.server.url("small.bin"), &small.1)?.1;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);

    // Wall-clock figures mean little on a busy machine: say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    ui::out(&format!(
        "machine: {cores} cores, load (1/5/15 min) {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    ));
    ui::out(&format!(
        "file: {} MiB from a local server, {} runs per client and round, clients alternating who goes first; wall time includes process start",
        args.size_mib, args.runs
    ));
    let mib = args.size_mib;
    ui::out(&format!(
        "sha256 on one core of this machine: {hash_mib_s:.0} MiB/s, so proving {mib} MiB costs at least {:.3} s of CPU",
        mib as f64 / hash_mib_s
    ));
    if let Some(seconds) = curl_check {
        ui::out(&format!(
            "curl + sha256sum --check (what a release script does): {:.0} MiB/s",
            mib_per_s(mib, seconds)
        ));
    }
    report_round("loopback", &loopback, mib);
    // On loopback both clients are bound by CPU: the CPU a download needs (client and server),
    // spread over every core, is the least wall time the machine allows. For an ideal client
    // that proves every byte, that is curl's own CPU plus sha256 of the file on top.
    let curl_cpu = loopback.curl.median(|s| s.client_cpu);
    let server_cpu = loopback.curl.median(|s| s.server_cpu);
    let hash_cpu = mib as f64 / hash_mib_s;
    let ideal_floor = (curl_cpu + hash_cpu + server_cpu) / cores as f64;
    let ideal_ceiling = loopback.curl.best_wall() / ideal_floor;
    ui::out(&format!(
        "  CPU floor for a client that receives like curl and hashes every byte, on {cores} cores: ({curl_cpu:.3} s curl's work + {hash_cpu:.3} s sha256 + {server_cpu:.3} s server) / {cores} = {ideal_floor:.3} s: at most {:.0} MiB/s = {ideal_ceiling:.2} of curl's best",
        mib_per_s(mib, ideal_floor),
    ));
    let ours_cpu = loopback.ours.median(|s| s.client_cpu);
    let ours_server_cpu = loopback.ours.median(|s| s.server_cpu);
    let ours_floor = (ours_cpu + ours_server_cpu) / cores as f64;
    ui::out(&format!(
        "  CPU floor for ours: ({ours_cpu:.3} s client + {ours_server_cpu:.3} s server) / {cores} = {ours_floor:.3} s: at most {:.0} MiB/s = {:.2} of curl's best",
        mib_per_s(mib, ours_floor),
        loopback.curl.best_wall() / ours_floor,
    ));
    if let Some(linked) = &linked {
        report_round(&format!("{} MiB/s link", args.link_mib_s), linked, mib);
    }
    let met = |ratio: f64| if ratio >= 0.8 { "met" } else { "NOT met" };
    ui::out(&format!(
        "goal, at least 0.80 of curl: loopback {:.2} best against best, {:.2} median ({}){}",
        loopback.best_ratio(),
        loopback.median_ratio(),
        met(loopback.best_ratio()),
        linked.as_ref().map_or(String::new(), |linked| format!(
            "; {} MiB/s link {:.2} best, {:.2} median ({})",
            args.link_mib_s,
            linked.best_ratio(),
            linked.median_ratio(),
            met(linked.best_ratio())
        ))
    ));
    if ideal_ceiling < 0.8 {
        ui::out(&format!(
            "  on loopback this machine's CPU allows a client that receives like curl and hashes every byte at most {ideal_ceiling:.2} of curl's best: curl hashes nothing, and its run already keeps the cores busy serving and receiving"
        ));
    }
    let large_rss = loopback
        .peak_rss_kib
        .max(linked.as_ref().map_or(0, |l| l.peak_rss_kib));
    ui::out(&format!(
        "our peak RSS: {large_rss} KiB for {mib} MiB, {} KiB for {small_mib} MiB (goal: independent of size)",
        small_figures.peak_rss_kib
    ));
    Ok(ExitCode::SUCCESS)
}

fn report_round(name: &str, round: &Round, mib: u64) {
    ui::out(&format!("{name}:"));
    for (client, samples) in [("curl", &round.curl), ("ours", &round.ours)] {
        ui::out(&format!(
            "  {client}: best {:.0} MiB/s, median {:.0} MiB/s; median CPU: client {:.3} s, server {:.3} s",
            mib_per_s(mib, samples.best_wall()),
            mib_per_s(mib, samples.median(|s| s.wall)),
            samples.median(|s| s.client_cpu),
            samples.median(|s| s.server_cpu),
        ));
    }
}

impl Bench<'_> {
    /// `runs` downloads of `path` by each client, alternating which goes first.
    fn round(&self, name: &str, path: &str, sha256: &str, runs: u32) -> anyhow::Result<Round> {
        let url = self.server.url(path);
        let mut round = Round {
            curl: Samples::default(),
            ours: Samples::default(),
            peak_rss_kib: 0,
        };
        for run in 1..=runs {
            let (curl, (ours, figures)) = if run % 2 == 1 {
                let curl = self.curl(&url)?;
                (curl, self.ours(&url, sha256)?)
            } else {
                let ours = self.ours(&url, sha256)?;
                (self.curl(&url)?, ours)
            };
            ui::info(&format!(
                "{name} run {run}: curl {:.0} MiB/s, ours {:.0} MiB/s (in-process {:.0} MiB/s), our peak RSS {} KiB",
                mib_per_s(self.size_mib, curl.wall),
                mib_per_s(self.size_mib, ours.wall),
                mib_per_s(self.size_mib, figures.seconds),
                figures.peak_rss_kib
            ));
            round.peak_rss_kib = round.peak_rss_kib.max(figures.peak_rss_kib);
            round.curl.0.push(curl);
            round.ours.0.push(ours);
        }
        Ok(round)
    }

    /// curl downloading `url` to the scratch file.
    fn curl_cmd(&self, url: &str) -> exec::Cmd {
        exec::Cmd::new(&self.curl, "download with curl for comparison")
            .args(["--silent", "--show-error", "--fail", "--output"])
            .arg(&self.out)
            .arg(url)
            .timeout(Duration::from_secs(600))
    }

    /// One curl download of `url`, its size checked.
    fn curl(&self, url: &str) -> anyhow::Result<Sample> {
        let cmd = self.curl_cmd(url);
        let sample = measured(|| self.sh.run(&cmd).map(|_| ()).map_err(Into::into))?;
        check_size(&self.out, self.size_mib)?;
        std::fs::remove_file(&self.out).ok();
        Ok(sample)
    }

    /// One of our downloads of `url`, in a child process, with the figures it reported.
    fn ours(&self, url: &str, sha256: &str) -> anyhow::Result<(Sample, ChildFigures)> {
        let mut figures = None;
        let sample = measured(|| {
            figures = Some(ours(&self.sh, &self.self_exe, url, &self.out, sha256)?);
            Ok(())
        })?;
        std::fs::remove_file(&self.out).ok();
        Ok((sample, figures.expect("set when measured succeeds")))
    }
}

/// Runs `step` and measures its wall time, its children's CPU and this process's CPU.
fn measured(step: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<Sample> {
    let children = exec::cpu_time(exec::Usage::ReapedChildren);
    let own = exec::cpu_time(exec::Usage::ThisProcess);
    let started = Instant::now();
    step()?;
    let wall = started.elapsed().as_secs_f64();
    Ok(Sample {
        wall,
        client_cpu: (exec::cpu_time(exec::Usage::ReapedChildren) - children).as_secs_f64(),
        server_cpu: (exec::cpu_time(exec::Usage::ThisProcess) - own).as_secs_f64(),
    })
}

/// curl, then `sha256sum --check` on what it wrote (cilium-cli's CI verifies this way): the
/// seconds both took, or None without sha256sum.
fn curl_with_sha256sum(bench: &Bench<'_>, sha256: &str) -> anyhow::Result<Option<f64>> {
    let Some(sha256sum) = find_on_path("sha256sum") else {
        return Ok(None);
    };
    let fetch = bench.curl_cmd(&bench.server.url("large.bin"));
    let check = exec::Cmd::new(sha256sum, "verify curl's download like a release script")
        .args(["--check", "--status"])
        .stdin_bytes(format!("{sha256}  {}\n", bench.out.display()))
        .timeout(Duration::from_secs(600));
    let started = Instant::now();
    bench.sh.run(&fetch)?;
    bench.sh.run(&check)?;
    let seconds = started.elapsed().as_secs_f64();
    std::fs::remove_file(&bench.out).ok();
    Ok(Some(seconds))
}

/// sha256 over a buffer already in memory, on this thread: the best of seven passes, so a
/// busy moment on the machine does not count against the hardware.
fn sha256_one_core_mib_s() -> f64 {
    let buffer = vec![0x5au8; 64 * 1024 * 1024];
    let best = (0..7)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(sha2::Sha256::digest(&buffer));
            started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    64.0 / best.max(1e-9)
}

/// Runs one of our downloads in a child process and reads its figures.
fn ours(
    sh: &exec::Shell,
    self_exe: &Path,
    url: &str,
    dest: &Path,
    sha256: &str,
) -> anyhow::Result<ChildFigures> {
    let cmd = exec::Cmd::new(self_exe, "download with the artifact client, measured")
        .args([
            "bench",
            "artifacts",
            "--child-url",
            url,
            "--child-sha256",
            sha256,
            "--child-dest",
        ])
        .arg(dest)
        .timeout(Duration::from_secs(600));
    let output = sh.run(&cmd)?;
    let line = output.stdout_str();
    serde_json::from_str(line.trim())
        .with_context(|| format!("reading the child's figures from {line:?}"))
}

fn child(url: &str, dest: Option<&Path>, sha256: Option<&str>) -> anyhow::Result<ExitCode> {
    let dest = dest.context("--child-dest is required with --child-url")?;
    let client = download::Client::new(crate::artifacts::bench_options());
    let mut request = download::Request::new(url);
    if let Some(sha256) = sha256 {
        request = request.sha256(sha256);
    }
    let started = Instant::now();
    let fetched = client.fetch(&request, dest, &mut |_| {})?;
    let seconds = started.elapsed().as_secs_f64();
    let figures = ChildFigures {
        bytes: fetched.size,
        seconds,
        peak_rss_kib: peak_rss_kib()?,
    };
    ui::out(&serde_json::to_string(&figures)?);
    Ok(ExitCode::SUCCESS)
}

/// VmHWM from /proc/self/status: the most resident memory this process ever had.
fn peak_rss_kib() -> anyhow::Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM line in /proc/self/status")
}

/// Writes `mib` MiB of incompressible-looking bytes; returns the path and its sha256.
fn make_file(path: &Path, mib: u64) -> anyhow::Result<(PathBuf, String)> {
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut hasher = sha2::Sha256::new();
    let mut block = vec![0u8; 1024 * 1024];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..mib {
        for chunk in block.chunks_mut(8) {
            // xorshift: cheap bytes that no transport could compress away.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        hasher.update(&block);
        file.write_all(&block)?;
    }
    file.flush()?;
    Ok((path.to_owned(), download::hex(&hasher.finalize())))
}

fn check_size(path: &Path, mib: u64) -> anyhow::Result<()> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    anyhow::ensure!(
        size == mib * 1024 * 1024,
        "curl wrote {size} bytes, expected {}",
        mib * 1024 * 1024
    );
    Ok(())
}

fn mib_per_s(mib: u64, seconds: f64) -> f64 {
    mib as f64 / seconds.max(1e-9)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
