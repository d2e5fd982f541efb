//! The block rule: when runs of one backend rule out independent choices, the whole-sample
//! tolerance and the drift between halves decide instead of the sequential test.

use crate::{SplitTest, Verdict, percent, within};

impl SplitTest {
    /// The block rule, at the last request: every tested share within its whole-sample
    /// tolerance, and no drift between the halves beyond what a correct periodic schedule
    /// (zero) plus reordering allows.
    pub(crate) fn block_verdict(&self) -> Verdict {
        let n = self.requests as f64;
        for test in &self.tests {
            let backend = test.backend;
            let observed = self.counts[backend] as f64 / n;
            let expected = self.expected[backend];
            if !within(observed, expected, test.tolerance) {
                return Verdict::Fail(format!(
                    "{} got {} of all {} requests, expected {} (a block schedule with a period of at most {} requests stays within ±{}); {}",
                    self.labels[backend],
                    percent(observed),
                    self.requests,
                    percent(expected),
                    self.plan.max_period,
                    percent(test.tolerance),
                    self.shares_line()
                ));
            }
            let drift = test.envelope.drift();
            let allowed = self.drift_limit();
            if drift.abs() > allowed {
                return Verdict::Fail(format!(
                    "the count of {} drifted {:+.1} requests from its expected share between the first and the second half of {} requests \
                     (a periodic schedule returns to the same extremes in each half; at most ±{allowed:.1} allowed); {}",
                    self.labels[backend],
                    drift,
                    self.requests,
                    self.shares_line()
                ));
            }
        }
        Verdict::Pass
    }

    /// The longest run a correct block schedule gives backend `index`: its share of the
    /// longest period, plus the reordering slack.
    pub(crate) fn longest_block(&self, index: usize) -> usize {
        (self.expected[index] * self.plan.max_period as f64).ceil() as usize + self.plan.reorder
    }

    /// The block rule's drift limit: half of what a share `delta` off drifts at least
    /// (`delta` times the `N/2 - max_period` requests between a whole period of each half).
    pub(crate) fn drift_limit(&self) -> f64 {
        self.plan.delta * (self.plan.max_requests / 2 - self.plan.max_period) as f64 / 2.0
    }
}
