//! bench stats: measures the error rates and request counts of the load-balancing and weight
//! decisions (`crates/stats`) by Monte Carlo with many trials, next to the exact figures the
//! dynamic program computes, and says whether each requirement of the conformance issue holds
//! for random, interleaved and block schedules (periods 20, 100 and 200, each simulated from
//! every starting request).
//! Exits 1 when an exact rate misses its requirement or a measured one misses it by more than
//! sampling error.

use std::process::ExitCode;

use stats::montecarlo::{Balancer, Summary, simulate};
use stats::{Plan, SplitTest};

use crate::ui;

#[derive(clap::Args)]
pub struct Args {
    /// Simulated runs per scenario
    #[arg(long, default_value_t = 200_000)]
    trials: u64,
    /// Seed of the generator; the same seed gives the same table
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// What a scenario must show.
#[derive(Clone, Copy)]
enum Requirement {
    /// A correct gateway: P(fail) at most this.
    FailAtMost(f64),
    /// A skewed gateway: P(pass) at most this.
    PassAtMost(f64),
    /// A deterministic correct balancer: passes every time, faster than a random one on average.
    AlwaysPass,
    /// A correct block schedule (deterministic): passes from every starting request.
    PassEveryPhase,
    /// No requirement: shown for comparison with the reference suites.
    Informative,
}

struct Scenario {
    name: String,
    test: &'static str,
    balancer: Balancer,
    /// The share the simulated gateway gives the tested backend, for the exact figure.
    tested_share: Option<f64>,
    requirement: Requirement,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.trials == 0 {
        return Err(crate::bad_input("--trials must be at least 1"));
    }
    let plan = Plan::default();
    let evenness = SplitTest::new(&[1.0, 1.0], plan).map_err(anyhow::Error::msg)?;
    let weighted = SplitTest::new(&[70.0, 30.0, 0.0], plan).map_err(anyhow::Error::msg)?;
    let (alpha, beta) = (plan.alpha, plan.beta);
    let scenarios = [
        scenario(
            "random 50/50",
            "50/50",
            Balancer::Random(vec![0.5, 0.5]),
            Some(0.5),
            Requirement::FailAtMost(alpha),
        ),
        scenario(
            "random 70/30",
            "70/30/0",
            Balancer::Random(vec![0.7, 0.3, 0.0]),
            Some(0.7),
            Requirement::FailAtMost(alpha),
        ),
        scenario(
            "skewed 60/40",
            "50/50",
            Balancer::Random(vec![0.6, 0.4]),
            Some(0.6),
            Requirement::PassAtMost(beta),
        ),
        scenario(
            "skewed 40/60",
            "50/50",
            Balancer::Random(vec![0.4, 0.6]),
            Some(0.4),
            Requirement::PassAtMost(beta),
        ),
        scenario(
            "skewed 60/40",
            "70/30/0",
            Balancer::Random(vec![0.6, 0.4, 0.0]),
            Some(0.6),
            Requirement::PassAtMost(beta),
        ),
        scenario(
            "skewed 80/20",
            "70/30/0",
            Balancer::Random(vec![0.8, 0.2, 0.0]),
            Some(0.8),
            Requirement::PassAtMost(beta),
        ),
        scenario(
            "round robin",
            "50/50",
            Balancer::Cycle(vec![0, 1]),
            None,
            Requirement::AlwaysPass,
        ),
        scenario(
            "smooth 7:3",
            "70/30/0",
            Balancer::smooth_weighted(&[7, 3]),
            None,
            Requirement::AlwaysPass,
        ),
        scenario(
            "7 then 3",
            "70/30/0",
            Balancer::Cycle(vec![0, 0, 0, 0, 0, 0, 0, 1, 1, 1]),
            None,
            Requirement::AlwaysPass,
        ),
        scenario(
            "10% leak to v3",
            "70/30/0",
            Balancer::Random(vec![0.6, 0.3, 0.1]),
            None,
            Requirement::PassAtMost(beta),
        ),
        scenario(
            "5% leak to v3",
            "70/30/0",
            Balancer::Random(vec![0.65, 0.3, 0.05]),
            None,
            Requirement::Informative,
        ),
        scenario(
            "skewed 55/45",
            "50/50",
            Balancer::Random(vec![0.55, 0.45]),
            Some(0.55),
            Requirement::Informative,
        ),
        scenario(
            "skewed 65/35",
            "70/30/0",
            Balancer::Random(vec![0.65, 0.35, 0.0]),
            Some(0.65),
            Requirement::Informative,
        ),
    ];
    // Block schedules: each backend one run of consecutive requests per period. Deterministic,
    // so every starting request (phase) is simulated once instead of many random trials.
    let mut scenarios: Vec<Scenario> = scenarios.into_iter().collect();
    for period in [20, 100, 200] {
        for (name, test, weights, requirement) in [
            (
                "blocks 50/50",
                "50/50",
                vec![1, 1],
                Requirement::PassEveryPhase,
            ),
            (
                "blocks 60/40",
                "50/50",
                vec![6, 4],
                Requirement::PassAtMost(beta),
            ),
            (
                "blocks 40/60",
                "50/50",
                vec![4, 6],
                Requirement::PassAtMost(beta),
            ),
            (
                "blocks 70/30",
                "70/30/0",
                vec![7, 3],
                Requirement::PassEveryPhase,
            ),
            (
                "blocks 60/40",
                "70/30/0",
                vec![6, 4],
                Requirement::PassAtMost(beta),
            ),
            (
                "blocks 80/20",
                "70/30/0",
                vec![8, 2],
                Requirement::PassAtMost(beta),
            ),
        ] {
            scenarios.push(Scenario {
                name: format!("{name}, period {period}"),
                test,
                balancer: Balancer::block(&weights, period),
                tested_share: None,
                requirement,
            });
        }
    }

    ui::info(&format!(
        "{} trials per scenario, seed {}, plan: at most {} requests, false fail <= {alpha:e}, false pass <= {beta:e} at ±{}",
        args.trials, args.seed, plan.max_requests, plan.delta
    ));
    ui::out(
        "| test | gateway | requirement | trials | exact P(pass), sequential | measured P(pass) | measured P(fail) | mean requests | max requests | holds |",
    );
    ui::out("|---|---|---|---|---|---|---|---|---|---|");
    let mut all_hold = true;
    for (index, scenario) in scenarios.iter().enumerate() {
        let test = if scenario.test == "50/50" {
            &evenness
        } else {
            &weighted
        };
        let seed = args.seed.wrapping_mul(0x100).wrapping_add(index as u64);
        let summary = match &scenario.balancer {
            // One trial per starting request: `simulate` starts trial t at phase t.
            Balancer::Cycle(order) if scenario.requirement_is_per_phase() => {
                simulate(test, &scenario.balancer, order.len() as u64, seed)
            }
            _ => simulate_parallel(test, &scenario.balancer, args.trials, seed),
        };
        let exact = scenario.tested_share.and_then(|share| {
            test.designs()
                .next()
                .map(|design| design.operating_point(share))
        });
        let random_mean = test.designs().next().map(|design| design.mean_requests());
        let holds = holds(
            scenario.requirement,
            &summary,
            exact.map(|point| point.pass),
            random_mean,
        );
        all_hold &= holds.unwrap_or(true);
        ui::out(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {} |",
            scenario.test,
            scenario.name,
            describe(scenario.requirement),
            summary.trials,
            exact.map_or("-".into(), |point| format!("{:.4e}", point.pass)),
            rate_with_interval(summary.passes, summary.trials),
            rate_with_interval(summary.fails, summary.trials),
            summary.mean_requests(),
            summary.max_requests,
            match holds {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            }
        ));
    }
    for (name, test) in [("50/50", &evenness), ("70/30/0", &weighted)] {
        for design in test.designs() {
            let (reject, accept, last) = design.boundaries();
            ui::out(&format!(
                "\n{name}: exact false fail {:.3e}, false pass {}, mean requests when correct {:.1}; boundaries on the largest log-likelihood ratio: fail >= {reject:.3}, pass <= {accept:.3}, at request {} pass <= {last:.3}",
                design.false_fail(),
                design
                    .false_pass()
                    .iter()
                    .map(|(share, probability)| format!(
                        "{probability:.3e} at {:.0}%",
                        share * 100.0
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
                design.mean_requests(),
                design.max_requests(),
            ));
        }
    }
    for (name, test) in [("50/50", &evenness), ("70/30/0", &weighted)] {
        let limits: Vec<String> = test
            .run_limits()
            .iter()
            .filter(|limit| **limit != usize::MAX)
            .map(usize::to_string)
            .collect();
        ui::out(&format!(
            "\n{name}, whole test (sequential test plus block rule): false fail <= {:.3e}, false pass <= {:.3e}; a run of {} consecutive responses (per backend) switches to the block rule (blocks of period <= {})",
            test.false_fail(),
            test.false_pass(),
            limits.join(" / "),
            plan.max_period
        ));
    }
    if all_hold {
        Ok(ExitCode::SUCCESS)
    } else {
        ui::error("a requirement does not hold: see the rows marked NO");
        Ok(ExitCode::FAILURE)
    }
}

impl Scenario {
    /// Block schedules are deterministic: their rows simulate each phase once.
    fn requirement_is_per_phase(&self) -> bool {
        self.name.starts_with("blocks")
    }
}

fn scenario(
    name: &'static str,
    test: &'static str,
    balancer: Balancer,
    tested_share: Option<f64>,
    requirement: Requirement,
) -> Scenario {
    Scenario {
        name: name.to_owned(),
        test,
        balancer,
        tested_share,
        requirement,
    }
}

/// Splits the trials over the machine's cores; each part has its own seed.
fn simulate_parallel(test: &SplitTest, balancer: &Balancer, trials: u64, seed: u64) -> Summary {
    let workers = std::thread::available_parallelism().map_or(1, |count| count.get()) as u64;
    let parts: Vec<Summary> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let share = trials / workers + u64::from(worker < trials % workers);
                let part_seed = seed.wrapping_mul(0x9e37_79b9).wrapping_add(worker);
                scope.spawn(move || simulate(test, balancer, share, part_seed))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("simulation threads do not panic"))
            .collect()
    });
    parts.into_iter().fold(
        Summary {
            trials: 0,
            passes: 0,
            fails: 0,
            undecided: 0,
            total_requests: 0,
            max_requests: 0,
        },
        |total, part| Summary {
            trials: total.trials + part.trials,
            passes: total.passes + part.passes,
            fails: total.fails + part.fails,
            undecided: total.undecided + part.undecided,
            total_requests: total.total_requests + part.total_requests,
            max_requests: total.max_requests.max(part.max_requests),
        },
    )
}

/// Whether the requirement holds: the exact rate decides when there is one; the measured rate
/// must not exceed the bound by more than 4 standard errors (so sampling noise alone does not
/// flag a rate that sits right at its bound).
fn holds(
    requirement: Requirement,
    summary: &Summary,
    exact_pass: Option<f64>,
    random_mean: Option<f64>,
) -> Option<bool> {
    let within = |events: u64, bound: f64| {
        let trials = summary.trials as f64;
        let slack = 4.0 * (bound * (1.0 - bound) / trials).sqrt();
        events as f64 / trials <= bound + slack
    };
    let decided = summary.undecided == 0 && summary.max_requests <= Plan::default().max_requests;
    match requirement {
        Requirement::FailAtMost(bound) => Some(
            decided
                && within(summary.fails, bound)
                && exact_pass.is_none_or(|pass| 1.0 - pass <= bound + 1e-12),
        ),
        Requirement::PassAtMost(bound) => Some(
            decided && within(summary.passes, bound) && exact_pass.is_none_or(|pass| pass <= bound),
        ),
        Requirement::AlwaysPass => Some(
            decided
                && summary.passes == summary.trials
                && random_mean.is_none_or(|mean| summary.mean_requests() < mean),
        ),
        Requirement::PassEveryPhase => Some(decided && summary.passes == summary.trials),
        Requirement::Informative => None,
    }
}

fn describe(requirement: Requirement) -> String {
    match requirement {
        Requirement::FailAtMost(bound) => format!("P(fail) <= {bound:e}"),
        Requirement::PassAtMost(bound) => format!("P(pass) <= {bound:e}"),
        Requirement::AlwaysPass => "always passes, fast".into(),
        Requirement::PassEveryPhase => "passes from every phase".into(),
        Requirement::Informative => "(for comparison)".into(),
    }
}

/// `12 / 200000` → `6.00e-5 [3.1e-5, 1.0e-4]`: the rate with a 95% Wilson interval.
fn rate_with_interval(events: u64, trials: u64) -> String {
    let n = trials as f64;
    let rate = events as f64 / n;
    let z: f64 = 1.96;
    let center = (rate + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * (rate * (1.0 - rate) / n + z * z / (4.0 * n * n)).sqrt() / (1.0 + z * z / n);
    format!(
        "{rate:.2e} [{:.1e}, {:.1e}]",
        (center - half).max(0.0),
        (center + half).min(1.0)
    )
}
