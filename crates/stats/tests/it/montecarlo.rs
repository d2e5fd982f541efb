//! Seeded Monte Carlo replays of the running test (no network): random balancers at the right
//! and at skewed splits, and deterministic balancers. Trials are sized so the whole file takes
//! a few seconds in a debug build; every bound allows 6 standard deviations (plus 3 counts for
//! tiny expectations), so a correct implementation trips one with probability below 1e-7.

use stats::montecarlo::{Balancer, Summary, simulate};

use crate::{evenness, weighted};

const TRIALS: u64 = 5_000;

/// The most events a rate of `rate` plausibly produces in `trials` trials.
fn allowed(rate: f64, trials: u64) -> u64 {
    let mean = rate * trials as f64;
    (mean + 6.0 * mean.sqrt() + 3.0).floor() as u64
}

fn run(test: &stats::SplitTest, balancer: Balancer, seed: u64) -> Summary {
    let summary = simulate(test, &balancer, TRIALS, seed);
    assert_eq!(summary.undecided, 0, "every run decides by the cap");
    assert!(summary.max_requests <= 1000, "{summary:?}");
    summary
}

#[test]
fn a_correct_random_balancer_passes() {
    for (name, test, balancer) in [
        ("50/50", evenness(), Balancer::Random(vec![0.5, 0.5])),
        ("70/30/0", weighted(), Balancer::Random(vec![0.7, 0.3, 0.0])),
    ] {
        let summary = run(&test, balancer, 0x5eed_0001);
        assert!(
            summary.fails <= allowed(1e-4, TRIALS),
            "{name}: {} false fails in {TRIALS}",
            summary.fails
        );
        // The exact mean is the bar for the sample mean: 6 standard errors (sd < 300).
        let exact = test.designs().next().unwrap().mean_requests();
        assert!(exact <= 500.0);
        let error = 6.0 * 300.0 / (TRIALS as f64).sqrt();
        assert!(
            (summary.mean_requests() - exact).abs() <= error,
            "{name}: mean {} vs exact {exact}",
            summary.mean_requests()
        );
    }
}

#[test]
fn a_gateway_off_by_ten_points_fails() {
    for (name, test, shares) in [
        ("60/40 for 50/50", evenness(), vec![0.6, 0.4]),
        ("40/60 for 50/50", evenness(), vec![0.4, 0.6]),
        ("60/40 for 70/30", weighted(), vec![0.6, 0.4, 0.0]),
        ("80/20 for 70/30", weighted(), vec![0.8, 0.2, 0.0]),
    ] {
        let summary = run(&test, Balancer::Random(shares), 0x5eed_0002);
        assert!(
            summary.passes <= allowed(1e-2, TRIALS),
            "{name}: {} false passes in {TRIALS}",
            summary.passes
        );
    }
}

/// The Monte Carlo replays the code and the dynamic program computes from the tables: where
/// the pass rate is neither tiny nor one, they must agree within sampling error.
#[test]
fn simulation_agrees_with_the_exact_computation() {
    for (test, shares, tested) in [
        (evenness(), vec![0.55, 0.45], 0.55),
        (weighted(), vec![0.65, 0.35, 0.0], 0.65),
    ] {
        let exact = test.designs().next().unwrap().operating_point(tested);
        assert!(exact.pass > 0.1 && exact.pass < 0.9, "{exact:?}");
        let summary = run(&test, Balancer::Random(shares), 0x5eed_0003);
        let sd = (exact.pass * (1.0 - exact.pass) / TRIALS as f64).sqrt();
        assert!(
            (summary.pass_rate() - exact.pass).abs() <= 6.0 * sd,
            "{tested}: simulated {} vs exact {}",
            summary.pass_rate(),
            exact.pass
        );
    }
}

#[test]
fn deterministic_balancers_pass_fast() {
    for (name, test, balancer) in [
        ("round robin", evenness(), Balancer::Cycle(vec![0, 1])),
        ("smooth 7:3", weighted(), Balancer::smooth_weighted(&[7, 3])),
        (
            "7 then 3",
            weighted(),
            Balancer::Cycle(vec![0, 0, 0, 0, 0, 0, 0, 1, 1, 1]),
        ),
    ] {
        let summary = simulate(&test, &balancer, 20, 0);
        assert_eq!(summary.passes, 20, "{name}: {summary:?}");
        // Faster than a random balancer on average: no sampling noise to wait out.
        let random_mean = test.designs().next().unwrap().mean_requests();
        assert!(
            (summary.max_requests as f64) < random_mean,
            "{name}: {} requests, random needs {random_mean} on average",
            summary.max_requests
        );
    }
}

#[test]
fn a_gateway_ignoring_the_split_fails_fast() {
    for (name, test, balancer) in [
        ("all to one replica", evenness(), Balancer::Cycle(vec![0])),
        ("all to v1", weighted(), Balancer::Cycle(vec![0])),
        ("all to v2", weighted(), Balancer::Cycle(vec![1])),
        ("50/50 for 70/30", weighted(), Balancer::Cycle(vec![0, 1])),
    ] {
        let summary = simulate(&test, &balancer, 4, 0);
        assert_eq!(summary.fails, 4, "{name}: {summary:?}");
        assert!(summary.max_requests <= 200, "{name}: {summary:?}");
    }
}

#[test]
fn a_weight_zero_leak_fails() {
    // 10% of the traffic to v3 (the ten-point skew for a weight-0 backend): the first v3
    // response fails the test. Passing first needs about 200 responses without one, which
    // happens with probability near 0.9^200 < 1e-9 per run.
    let summary = run(
        &weighted(),
        Balancer::Random(vec![0.6, 0.3, 0.1]),
        0x5eed_0004,
    );
    assert_eq!(summary.fails, TRIALS);
    assert!(summary.mean_requests() < 20.0, "{summary:?}");
}

#[test]
fn smooth_weighted_round_robin_interleaves() {
    let Balancer::Cycle(order) = Balancer::smooth_weighted(&[7, 3]) else {
        panic!("a cycle")
    };
    assert_eq!(order.len(), 10);
    assert_eq!(order.iter().filter(|index| **index == 1).count(), 3);
    // Never two of the lighter backend in a row.
    assert!(order.windows(2).all(|pair| pair != [1, 1]));
}
