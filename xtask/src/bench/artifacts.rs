//! bench artifacts: the download path of `artifacts fetch` (streamed to disk, hashed, verified)
//! against curl, on the same local server in the same run. Reports throughput, the ratio (goal:
//! at least 0.8 of curl's) and our peak memory for two file sizes (goal: independent of size).
//!
//! Each of our downloads runs in a child process (this binary in a hidden mode) so its peak
//! resident memory (VmHWM) is its own, not the server's or the parent's.

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
    /// Runs per client; the fastest of each is compared
    #[arg(long, default_value_t = 3)]
    runs: u32,
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
    let dir = tempfile::Builder::new()
        .prefix("bench-artifacts-")
        .tempdir_in(&target)
        .context("creating a scratch folder under target/")?;
    let small_mib = (args.size_mib / 10).max(1);
    let large = make_file(&dir.path().join("large.bin"), args.size_mib)?;
    let small = make_file(&dir.path().join("small.bin"), small_mib)?;

    let server = testkit::http::Server::start();
    server.route("/large.bin", testkit::http::Reply::file(&large.0));
    server.route("/small.bin", testkit::http::Reply::file(&small.0));
    let sh = exec::Shell::new();
    // A private copy: a concurrent `cargo build` may replace target/debug/xtask mid-run.
    let self_exe = dir.path().join("xtask-bench-child");
    std::fs::copy("/proc/self/exe", &self_exe).context("copying this xtask binary")?;
    let out = dir.path().join("downloaded.bin");

    let sha256sum = find_on_path("sha256sum");
    let mut curl_best = f64::INFINITY;
    let mut curl_check_best = f64::INFINITY;
    let mut ours_best = f64::INFINITY;
    let mut run_ratios = Vec::new();
    let mut ours_large_rss = 0;
    for run in 1..=args.runs {
        let cmd = exec::Cmd::new(&curl, "download with curl for comparison")
            .args(["--silent", "--show-error", "--fail", "--output"])
            .arg(&out)
            .arg(server.url("large.bin"))
            .timeout(Duration::from_secs(600));
        let started = Instant::now();
        sh.run(&cmd)?;
        let curl_seconds = started.elapsed().as_secs_f64();
        check_size(&out, args.size_mib)?;
        // What a release script does to verify (cilium-cli's CI: `sha256sum --check`).
        if let Some(sha256sum) = &sha256sum {
            let check = exec::Cmd::new(sha256sum, "verify curl's download like a release script")
                .args(["--check", "--status"])
                .stdin_bytes(format!("{}  {}\n", large.1, out.display()))
                .timeout(Duration::from_secs(600));
            let started = Instant::now();
            sh.run(&check)?;
            curl_check_best = curl_check_best.min(curl_seconds + started.elapsed().as_secs_f64());
        }
        std::fs::remove_file(&out).ok();

        let started = Instant::now();
        let figures = ours(&sh, &self_exe, &server.url("large.bin"), &out, &large.1)?;
        let ours_seconds = started.elapsed().as_secs_f64();
        std::fs::remove_file(&out).ok();
        ui::info(&format!(
            "run {run}: curl {:.0} MiB/s, ours {:.0} MiB/s (in-process {:.0} MiB/s), our peak RSS {} KiB",
            mib_per_s(args.size_mib, curl_seconds),
            mib_per_s(args.size_mib, ours_seconds),
            mib_per_s(args.size_mib, figures.seconds),
            figures.peak_rss_kib
        ));
        curl_best = curl_best.min(curl_seconds);
        ours_best = ours_best.min(ours_seconds);
        run_ratios.push(curl_seconds / ours_seconds);
        ours_large_rss = ours_large_rss.max(figures.peak_rss_kib);
    }
    let small_figures = ours(&sh, &self_exe, &server.url("small.bin"), &out, &small.1)?;
    std::fs::remove_file(&out).ok();

    let ratio = curl_best / ours_best;
    // Wall-clock figures mean little on a busy machine: say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    ui::out(&format!(
        "machine load (1/5/15 min): {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    ));
    ui::out(&format!(
        "file: {} MiB from a local server, best of {} runs each (wall time, process start included)",
        args.size_mib, args.runs
    ));
    ui::out(&format!(
        "curl: {:.0} MiB/s",
        mib_per_s(args.size_mib, curl_best)
    ));
    ui::out(&format!(
        "ours: {:.0} MiB/s (streamed to disk, sha256 verified)",
        mib_per_s(args.size_mib, ours_best)
    ));
    if curl_check_best.is_finite() {
        ui::out(&format!(
            "curl + sha256sum --check: {:.0} MiB/s",
            mib_per_s(args.size_mib, curl_check_best)
        ));
    }
    run_ratios.sort_by(f64::total_cmp);
    let median = run_ratios[run_ratios.len() / 2];
    ui::out(&format!(
        "ratio ours/curl: {ratio:.2} best against best, {median:.2} median of runs (goal >= 0.80: {})",
        if ratio >= 0.8 { "met" } else { "NOT met" }
    ));
    ui::out(&format!(
        "our peak RSS: {} KiB for {} MiB, {} KiB for {} MiB (goal: independent of size)",
        ours_large_rss, args.size_mib, small_figures.peak_rss_kib, small_mib
    ));
    Ok(ExitCode::SUCCESS)
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
