//! stats integration tests: exact error rates of the fixture's designs, seeded Monte Carlo
//! replays of the running test against random and deterministic balancers, and the API's
//! behaviour at its edges (weight 0, bad input, decisions after the verdict).

use std::sync::OnceLock;

mod api;
mod block;
mod exact;
mod montecarlo;

/// The two tests the fixture needs: evenness over two replicas and the 70/30/0 weighted route.
/// Calibrated once per test binary (a calibration is a few dozen exact dynamic programs) and
/// cloned fresh for each use.
fn evenness() -> stats::SplitTest {
    static TEST: OnceLock<stats::SplitTest> = OnceLock::new();
    TEST.get_or_init(|| stats::SplitTest::new(&[1.0, 1.0], stats::Plan::default()).unwrap())
        .clone()
}

fn weighted() -> stats::SplitTest {
    static TEST: OnceLock<stats::SplitTest> = OnceLock::new();
    TEST.get_or_init(|| {
        stats::SplitTest::new(&[70.0, 30.0, 0.0], stats::Plan::default())
            .unwrap()
            .with_labels(["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"])
            .unwrap()
    })
    .clone()
}
