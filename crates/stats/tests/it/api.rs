//! The test's behaviour at its edges: weight 0, unknown backends, bad input, labels in
//! messages, what happens after a verdict, and a description for reports.

use stats::{Plan, SplitTest, Verdict};

use crate::{evenness, weighted};

#[test]
fn a_weight_zero_hit_fails_at_once_and_names_the_backend() {
    let mut test = weighted();
    for _ in 0..5 {
        assert_eq!(test.record(0), Verdict::Undecided);
    }
    let Verdict::Fail(message) = test.record(2) else {
        panic!("a weight-0 hit must fail")
    };
    assert!(
        message.contains("infra-backend-v3 answered although its weight is 0"),
        "{message}"
    );
    assert!(message.contains("after 6 requests"), "{message}");
    assert!(
        message.contains("expected 70.0% / 30.0% / 0.0%"),
        "{message}"
    );
    assert_eq!(test.counts(), &[5, 0, 1]);
}

#[test]
fn a_weight_zero_hit_after_a_pass_still_fails() {
    let mut test = weighted();
    let mut verdict = Verdict::Undecided;
    for index in (0..).map(|request| usize::from(request % 10 >= 7)) {
        verdict = test.record(index);
        if verdict.is_decided() {
            break;
        }
    }
    assert_eq!(verdict, Verdict::Pass);
    let counted = test.requests();
    // Late responses after the decision are not counted...
    assert_eq!(test.record(1), Verdict::Pass);
    assert_eq!(test.requests(), counted);
    // ...but one from a weight-0 backend proves the route wrong.
    assert!(matches!(test.record(2), Verdict::Fail(_)));
}

#[test]
fn a_skewed_split_fails_naming_observed_and_expected_shares() {
    let mut test = weighted();
    let mut verdict = Verdict::Undecided;
    for request in 0.. {
        verdict = test.record(request % 2);
        if verdict.is_decided() {
            break;
        }
    }
    let Verdict::Fail(message) = verdict else {
        panic!("50/50 is not 70/30")
    };
    assert!(message.starts_with("infra-backend-v1 got 5"), "{message}");
    assert!(message.contains("expected 70.0%"), "{message}");
    assert!(
        message.contains("over infra-backend-v1 / infra-backend-v2 / infra-backend-v3"),
        "{message}"
    );
    let decision = test.describe();
    assert_eq!(decision.requests, test.requests());
    assert_eq!(decision.backends[0].label, "infra-backend-v1");
    assert!((decision.backends[0].observed - 0.5).abs() < 0.02);
    assert_eq!(decision.backends[2].count, 0);
    let line = decision.to_string();
    assert!(line.starts_with("fail after"), "{line}");
    assert!(line.contains("false-fail rate"), "{line}");
}

#[test]
fn unknown_backends_and_bad_input_are_errors() {
    let mut test = evenness();
    assert!(matches!(test.record(7), Verdict::Fail(message) if message.contains("index 7")));
    for weights in [&[][..], &[0.0, 0.0], &[1.0, -1.0], &[f64::NAN, 1.0]] {
        assert!(
            SplitTest::new(weights, Plan::default()).is_err(),
            "{weights:?}"
        );
    }
    for plan in [
        Plan {
            alpha: 0.0,
            ..Plan::default()
        },
        Plan {
            beta: 1.0,
            ..Plan::default()
        },
        Plan {
            delta: -0.1,
            ..Plan::default()
        },
        Plan {
            max_requests: 0,
            ..Plan::default()
        },
    ] {
        assert!(SplitTest::new(&[1.0, 1.0], plan).is_err(), "{plan:?}");
    }
    let error = evenness().with_labels(["only one"]).unwrap_err();
    assert_eq!(error, "1 labels for 2 weights");
}

#[test]
fn one_positive_weight_passes_once_a_leak_would_have_shown() {
    let mut test = SplitTest::new(&[1.0, 0.0], Plan::default()).unwrap();
    let mut requests = 0;
    while !test.record(0).is_decided() {
        requests += 1;
        assert!(requests < 1000);
    }
    // 0.9^m <= 0.01 needs m = 44.
    assert_eq!(test.requests(), 44);
    assert!(test.false_pass() <= 1e-2);
    assert_eq!(test.false_fail(), 0.0);
}

#[test]
fn three_positive_weights_split_alpha_and_stay_within_it() {
    let test = SplitTest::new(&[1.0, 1.0, 1.0], Plan::default()).unwrap();
    assert_eq!(test.designs().count(), 3);
    assert!(test.false_fail() <= 1e-4, "{}", test.false_fail());
    assert!(test.false_pass() <= 1e-2, "{}", test.false_pass());
}

#[test]
fn a_share_near_one_is_tested_against_the_one_alternative_that_exists() {
    let test = SplitTest::new(&[95.0, 5.0], Plan::default()).unwrap();
    let design = test.designs().next().unwrap();
    assert_eq!(design.share(), 0.95);
    // 0.95 + 0.10 is not a share: only 0.85 is an alternative.
    assert_eq!(design.alternatives().len(), 1);
    assert!((design.alternatives()[0] - 0.85).abs() < 1e-12);
    assert!(design.false_fail() <= 1e-4);
    assert!(design.worst_false_pass() <= 1e-2);
    // Past the cap there is nothing left to decide but failure.
    assert_eq!(design.decide(1001, 950), stats::Step::Fail);
}
