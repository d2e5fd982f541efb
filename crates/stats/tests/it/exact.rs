//! The exact operating characteristic (dynamic program over the binomial lattice) of the
//! fixture's two designs meets the required rates, and the crate docs quote it correctly.

use crate::{evenness, weighted};

const ALPHA: f64 = 1e-4;
const BETA: f64 = 1e-2;

#[test]
fn exact_rates_of_the_fixture_designs() {
    // (test, share tested, alternatives that must be caught, figures quoted in the crate docs:
    // false fail, false pass below, false pass above, mean requests)
    let cases = [
        (
            evenness(),
            0.5,
            (9.1e-5_f64, 9.85e-3_f64, 9.85e-3_f64, 438.0_f64),
        ),
        (weighted(), 0.7, (9.5e-5, 8.5e-3, 5.1e-3, 294.0)),
    ];
    for (test, share, quoted) in cases {
        let designs: Vec<&stats::Design> = test.designs().collect();
        assert_eq!(designs.len(), 1, "two positive shares need one test");
        let design = designs[0];
        assert_eq!(design.share(), share);
        let correct = design.operating_point(share);
        assert!(
            correct.fail <= ALPHA,
            "{share}: false fail {:e}",
            correct.fail
        );
        assert!((correct.fail - design.false_fail()).abs() < 1e-15);
        assert!(
            correct.mean_requests <= 500.0,
            "{share}: mean {}",
            correct.mean_requests
        );
        assert!((correct.pass + correct.fail - 1.0).abs() < 1e-9);
        let below = design.operating_point(share - 0.1).pass;
        let above = design.operating_point(share + 0.1).pass;
        assert!(
            below <= BETA && above <= BETA,
            "{share}: pass {below:e} / {above:e}"
        );
        // The figures in the crate docs, to the precision they are printed with.
        let close = |value: f64, printed: f64| (value - printed).abs() <= printed * 0.05;
        assert!(
            close(correct.fail, quoted.0),
            "{share}: false fail {:e}",
            correct.fail
        );
        assert!(
            close(below, quoted.1),
            "{share}: false pass below {below:e}"
        );
        assert!(
            close(above, quoted.2),
            "{share}: false pass above {above:e}"
        );
        assert!(
            (correct.mean_requests - quoted.3).abs() < 1.0,
            "{share}: mean {}",
            correct.mean_requests
        );
        // The whole test adds the block rule's share: mistaking independent choices for
        // blocks (charged to alpha) and passing them on the whole sample (charged to beta).
        assert!(test.false_fail() > design.false_fail() && test.false_fail() <= ALPHA);
        assert!(test.false_pass() > below.max(above) && test.false_pass() <= BETA);
    }
}

#[test]
fn larger_skews_are_caught_more_often_and_sooner() {
    let test = evenness();
    let design = test.designs().next().unwrap();
    let mut previous = design.operating_point(0.5);
    for skew in [0.55, 0.6, 0.65, 0.7, 0.8, 1.0] {
        let point = design.operating_point(skew);
        assert!(
            point.pass < previous.pass,
            "{skew}: {point:?} after {previous:?}"
        );
        if skew >= 0.6 {
            assert!(
                point.mean_requests < previous.mean_requests,
                "{skew}: {point:?}"
            );
        }
        previous = point;
    }
    // Symmetric around one half.
    for skew in [0.55, 0.6, 0.7] {
        let above = design.operating_point(skew);
        let below = design.operating_point(1.0 - skew);
        assert!((above.pass - below.pass).abs() < 1e-12);
    }
}

#[test]
fn never_more_than_the_cap() {
    for max_requests in [400, 1000, 2000] {
        let plan = stats::Plan {
            max_requests,
            max_period: max_requests / 5,
            delta: 0.2,
            ..stats::Plan::default()
        };
        let test = stats::SplitTest::new(&[1.0, 1.0], plan).unwrap();
        let design = test.designs().next().unwrap();
        assert_eq!(design.max_requests(), max_requests);
        // A gateway right between the hypotheses keeps the test longest; it still ends.
        let point = design.operating_point(0.6);
        assert!((point.pass + point.fail - 1.0).abs() < 1e-9);
        assert!(point.mean_requests <= max_requests as f64);
    }
}

#[test]
fn an_unmeetable_plan_is_refused_with_a_fix() {
    let plan = stats::Plan {
        max_requests: 200,
        max_period: 50,
        ..stats::Plan::default()
    };
    let error = stats::SplitTest::new(&[1.0, 1.0], plan).unwrap_err();
    assert!(error.contains("within 200 requests"), "{error}");
    assert!(error.contains("allow more requests"), "{error}");
}

/// Whatever the statistics, a pass never stands on an observed share that is itself off by
/// `delta` or more; at the cap the pass band is the one the crate docs quote.
#[test]
fn a_pass_never_stands_on_a_share_off_by_delta() {
    for (test, share, band_at_cap) in [
        (evenness(), 0.5, (0.437, 0.563)),
        (weighted(), 0.7, (0.643, 0.759)),
    ] {
        let design = test.designs().next().unwrap();
        let mut lowest = f64::INFINITY;
        let mut highest = f64::NEG_INFINITY;
        for n in 1..=1000_usize {
            for s in 0..=n as u64 {
                if design.decide(n, s) == stats::Step::Pass {
                    let observed = s as f64 / n as f64;
                    assert!((observed - share).abs() < 0.1, "n={n} s={s}");
                    if n == 1000 {
                        lowest = lowest.min(observed);
                        highest = highest.max(observed);
                    }
                }
            }
        }
        assert!((lowest - band_at_cap.0).abs() < 0.0015, "{share}: {lowest}");
        assert!(
            (highest - band_at_cap.1).abs() < 0.0015,
            "{share}: {highest}"
        );
    }
}
