//! Deterministic schedules, scripted request by request: block schedules (each backend one run
//! of consecutive requests per period, periods up to the plan's 200) at every phase, correct
//! and ten points off; interleaved and short-block schedules; and the evidence naming the rule.

use stats::montecarlo::{Balancer, simulate};
use stats::{Rule, Verdict};

use crate::{evenness, weighted};

/// Runs `test` over `order` (a cycle) from every start phase; returns (passes, fails).
fn every_phase(test: &stats::SplitTest, order: &[usize]) -> (u64, u64) {
    let summary = simulate(
        test,
        &Balancer::Cycle(order.to_vec()),
        order.len() as u64,
        0,
    );
    assert_eq!(summary.undecided, 0);
    assert!(summary.max_requests <= 1000);
    (summary.passes, summary.fails)
}

fn cycle(balancer: Balancer) -> Vec<usize> {
    match balancer {
        Balancer::Cycle(order) => order,
        Balancer::Random(_) => unreachable!("block schedules are cycles"),
    }
}

#[test]
fn correct_block_schedules_pass_at_every_phase() {
    for period in (2..=200).step_by(2) {
        let order = cycle(Balancer::block(&[1, 1], period));
        let (passes, _) = every_phase(&evenness(), &order);
        assert_eq!(passes, period as u64, "50/50 in blocks of period {period}");
    }
    for period in (10..=200).step_by(10) {
        let order = cycle(Balancer::block(&[7, 3], period));
        let (passes, _) = every_phase(&weighted(), &order);
        assert_eq!(passes, period as u64, "70/30 in blocks of period {period}");
        // Replica blocks: v1-0, v2-0, v1-1, v2-1, each its own run.
        let half = cycle(Balancer::block(&[7, 3], period / 2));
        let order: Vec<usize> = half.iter().chain(&half).copied().collect();
        let (passes, _) = every_phase(&weighted(), &order);
        assert_eq!(
            passes,
            order.len() as u64,
            "70/30 in replica blocks of {period}"
        );
    }
}

#[test]
fn block_schedules_ten_points_off_fail_at_every_phase() {
    for period in (10..=200).step_by(10) {
        for (name, test, weights) in [
            ("60/40 for 50/50", evenness(), [6, 4]),
            ("40/60 for 50/50", evenness(), [4, 6]),
            ("60/40 for 70/30", weighted(), [6, 4]),
            ("80/20 for 70/30", weighted(), [8, 2]),
        ] {
            let order = cycle(Balancer::block(&weights, period));
            let (_, fails) = every_phase(&test, &order);
            assert_eq!(fails, period as u64, "{name} in blocks of period {period}");
        }
    }
}

#[test]
fn a_long_run_switches_to_the_block_rule_and_the_evidence_says_so() {
    let mut test = evenness().with_labels(["replica-a", "replica-b"]).unwrap();
    let limit = test.run_limits()[0];
    assert!((25..=40).contains(&limit), "{limit}");
    // 100 to one replica, then 100 to the other: period 200.
    let order = cycle(Balancer::block(&[1, 1], 200));
    let mut verdict = Verdict::Undecided;
    for request in 0..1000 {
        verdict = test.record(order[request % order.len()]);
        if request + 1 == limit {
            assert_eq!(
                test.rule(),
                Rule::Block {
                    backend: "replica-a".into(),
                    run: limit,
                    limit,
                    at_request: limit
                }
            );
        }
        if request + 1 < 1000 {
            assert_eq!(verdict, Verdict::Undecided, "request {}", request + 1);
        }
    }
    assert_eq!(verdict, Verdict::Pass);
    let evidence = test.describe().to_string();
    assert!(
        evidence.starts_with("pass after 1000 requests"),
        "{evidence}"
    );
    assert!(evidence.contains("rule: block schedule"), "{evidence}");
    assert!(
        evidence.contains(&format!("{limit} consecutive responses from replica-a")),
        "{evidence}"
    );
}

#[test]
fn the_block_rule_fails_a_share_that_drifts_or_misses() {
    // Blocks of 50/50 for the first half, then 60/40: the whole-sample share (55%) is within
    // the tolerance, but the count drifts between the halves.
    let mut test = evenness();
    let mut sequence: Vec<usize> = Vec::new();
    while sequence.len() < 500 {
        sequence.extend(std::iter::repeat_n(0, 50));
        sequence.extend(std::iter::repeat_n(1, 50));
    }
    while sequence.len() < 1000 {
        sequence.extend(std::iter::repeat_n(0, 60));
        sequence.extend(std::iter::repeat_n(1, 40));
    }
    let mut verdict = Verdict::Undecided;
    for backend in &sequence[..1000] {
        verdict = test.record(*backend);
    }
    let Verdict::Fail(message) = verdict else {
        panic!("a drifting share must fail: {}", test.describe())
    };
    assert!(message.contains("drifted"), "{message}");

    // Blocks of 100 split 60/40 for a 70/30 route: the whole sample misses.
    let mut test = weighted();
    let order = cycle(Balancer::block(&[6, 4], 100));
    let mut verdict = Verdict::Undecided;
    for request in 0..1000 {
        verdict = test.record(order[request % order.len()]);
    }
    let Verdict::Fail(message) = verdict else {
        panic!("62/38 is not 70/30")
    };
    assert!(message.contains("of all 1000 requests"), "{message}");

    // A run longer than any block of a correct schedule fails at once.
    let mut test = weighted();
    let order = cycle(Balancer::block(&[62, 38], 200));
    let mut verdict = Verdict::Undecided;
    let mut request = 0;
    while !verdict.is_decided() {
        verdict = test.record(order[request % order.len()]);
        request += 1;
    }
    let Verdict::Fail(message) = verdict else {
        panic!("62/38 is not 70/30")
    };
    assert!(
        message.contains("infra-backend-v2 answered 66 requests in a row"),
        "{message}"
    );
    assert!(test.requests() < 300, "{}", test.requests());
}

#[test]
fn interleaved_and_short_block_schedules_stay_with_the_sequential_test() {
    for (name, test, order) in [
        ("round robin", evenness(), vec![0, 1]),
        (
            "smooth 7:3",
            weighted(),
            cycle(Balancer::smooth_weighted(&[7, 3])),
        ),
        ("7 then 3", weighted(), cycle(Balancer::block(&[7, 3], 10))),
        (
            "blocks of 20",
            evenness(),
            cycle(Balancer::block(&[1, 1], 20)),
        ),
    ] {
        let mut test = test;
        let mut index = 0;
        while !test.record(order[index % order.len()]).is_decided() {
            index += 1;
        }
        assert_eq!(test.verdict(), &Verdict::Pass, "{name}");
        assert_eq!(test.rule(), Rule::Sequential, "{name}");
        assert!(test.requests() < 500, "{name}: {}", test.requests());
        assert!(
            test.describe()
                .to_string()
                .contains("rule: sequential test")
        );
    }
}

#[test]
fn independent_choices_rarely_look_like_blocks() {
    // The detection budget is part of the stated false-fail rate, and tiny.
    for test in [evenness(), weighted()] {
        let design_sum: f64 = test.designs().map(|design| design.false_fail()).sum();
        let detection = test.false_fail() - design_sum;
        assert!(detection > 0.0 && detection <= 1e-6, "{detection:e}");
        assert!(test.false_fail() <= 1e-4);
        assert!(test.false_pass() <= 1e-2);
    }
}

#[test]
fn the_suites_reorder_slack_keeps_the_rates() {
    // The conformance suite allows as many responses out of order as it has in flight (10).
    let plan = stats::Plan {
        reorder: 10,
        ..stats::Plan::default()
    };
    for weights in [&[1.0, 1.0][..], &[70.0, 30.0, 0.0]] {
        let test = stats::SplitTest::new(weights, plan).unwrap();
        assert!(
            test.false_fail() <= 1e-4,
            "{weights:?}: {:e}",
            test.false_fail()
        );
        assert!(
            test.false_pass() <= 1e-2,
            "{weights:?}: {:e}",
            test.false_pass()
        );
        for period in [20, 100, 200] {
            let whole: Vec<u32> = weights.iter().map(|w| *w as u32).collect();
            let order = cycle(Balancer::block(&whole, period));
            let (passes, _) = every_phase(&test, &order);
            assert_eq!(passes, period as u64, "{weights:?} in blocks of {period}");
        }
    }
}
