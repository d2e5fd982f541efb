//! What a split test decided and on what evidence, for reports ([`Decision`]).

use crate::{Plan, Rule, SplitTest, Verdict, percent, share_of};

impl SplitTest {
    /// What was decided and on what evidence, for reports.
    pub fn describe(&self) -> Decision {
        Decision {
            verdict: self.verdict.clone(),
            requests: self.requests,
            backends: (0..self.expected.len())
                .map(|index| BackendSplit {
                    label: self.labels[index].clone(),
                    count: self.counts[index],
                    observed: share_of(self.counts[index], self.requests),
                    expected: self.expected[index],
                })
                .collect(),
            plan: self.plan,
            false_fail: self.false_fail(),
            false_pass: self.false_pass(),
            rule: self.rule(),
        }
    }

    pub(crate) fn shares_line(&self) -> String {
        let observed: Vec<String> = self
            .counts
            .iter()
            .map(|count| percent(share_of(*count, self.requests)))
            .collect();
        let expected: Vec<String> = self.expected.iter().map(|share| percent(*share)).collect();
        format!(
            "observed {} over {} after {} requests, expected {}",
            observed.join(" / "),
            self.labels.join(" / "),
            self.requests,
            expected.join(" / ")
        )
    }
}

/// A decision with its evidence: per-backend counts and shares, and the rates the test stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    pub requests: usize,
    pub backends: Vec<BackendSplit>,
    pub plan: Plan,
    /// Exact probability that this test fails a gateway splitting exactly as expected.
    pub false_fail: f64,
    /// Bound on the probability that it passes a gateway off by `plan.delta` on one backend.
    pub false_pass: f64,
    /// Which rule decided, and why.
    pub rule: Rule,
}

/// One backend's part of a [`Decision`].
#[derive(Debug, Clone, PartialEq)]
pub struct BackendSplit {
    pub label: String,
    pub count: u64,
    /// Share of the counted responses, 0.0 ..= 1.0.
    pub observed: f64,
    pub expected: f64,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = match &self.verdict {
            Verdict::Undecided => "undecided",
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "fail",
        };
        let backends: Vec<String> = self
            .backends
            .iter()
            .map(|backend| {
                format!(
                    "{} {} ({}, expected {})",
                    backend.label,
                    percent(backend.observed),
                    backend.count,
                    percent(backend.expected)
                )
            })
            .collect();
        write!(
            f,
            "{verdict} after {} requests: {}; {}; false-fail rate at most {:.1e}, false-pass rate at most {:.1e} at ±{}",
            self.requests,
            backends.join(", "),
            self.rule,
            self.false_fail,
            self.false_pass,
            percent(self.plan.delta)
        )
    }
}
