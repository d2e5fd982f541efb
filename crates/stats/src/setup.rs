//! Building a split test: the per-backend sequential designs and the envelopes each runs
//! against, from the expected shares and the plan's error rates.

use crate::{
    DETECTION_SHARE, Design, Plan, SplitTest, Step, Verdict, binomial_mass, percent, within,
};

#[derive(Debug, Clone)]
pub(crate) struct BackendTest {
    pub(crate) backend: usize,
    pub(crate) design: Design,
    pub(crate) state: Step,
    /// Whole-sample tolerance of the block rule on this backend's share.
    pub(crate) tolerance: f64,
    /// Probability that independent choices `delta` off still meet `tolerance` at the cap.
    pub(crate) block_false_pass: f64,
    pub(crate) envelope: Envelope,
}

/// Highest and lowest `s - p n` seen in each half of the plan's requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Envelope {
    pub(crate) first: (f64, f64),
    pub(crate) second: (f64, f64),
}

impl Envelope {
    pub(crate) fn new() -> Envelope {
        let empty = (f64::NEG_INFINITY, f64::INFINITY);
        Envelope {
            first: empty,
            second: empty,
        }
    }

    pub(crate) fn record(&mut self, second_half: bool, deviation: f64) {
        let half = if second_half {
            &mut self.second
        } else {
            &mut self.first
        };
        half.0 = half.0.max(deviation);
        half.1 = half.1.min(deviation);
    }

    /// How far the highest and the lowest deviation moved from the first half to the second:
    /// zero for a periodic schedule whose period fits in each half, about `±delta` times the
    /// distance between the halves for a share that is off.
    pub(crate) fn drift(&self) -> f64 {
        let high = self.second.0 - self.first.0;
        let low = self.second.1 - self.first.1;
        if high.abs() >= low.abs() { high } else { low }
    }
}

impl SplitTest {
    /// A test for the given weights (normalised; `[70.0, 30.0, 0.0]` and `[0.7, 0.3, 0.0]` are
    /// the same). Errors name the bad weight or plan value, or say why the plan cannot be met.
    pub fn new(weights: &[f64], plan: Plan) -> Result<SplitTest, String> {
        if plan.max_requests == 0 {
            return Err("max_requests must be at least 1".into());
        }
        for (name, value) in [
            ("alpha", plan.alpha),
            ("beta", plan.beta),
            ("delta", plan.delta),
        ] {
            if !(value > 0.0 && value < 1.0) {
                return Err(format!("{name} must be inside (0, 1), got {value}"));
            }
        }
        if weights.is_empty() {
            return Err("at least one backend weight is needed".into());
        }
        if let Some(bad) = weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
            return Err(format!(
                "weights must be finite and not negative, got {bad}"
            ));
        }
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            return Err("at least one weight must be positive".into());
        }
        let expected: Vec<f64> = weights.iter().map(|weight| weight / total).collect();
        let positive: Vec<usize> = (0..expected.len())
            .filter(|index| expected[*index] > 0.0)
            .collect();
        let tested: &[usize] = match positive.len() {
            1 => &[],
            // The second share is one minus the first: one test decides both.
            2 => &positive[..1],
            _ => &positive,
        };
        if !tested.is_empty() && (plan.max_period == 0 || plan.max_period * 2 >= plan.max_requests)
        {
            return Err(format!(
                "max_period {} must be at least 1 and below half of max_requests {}: the block rule compares two halves that each hold a whole period",
                plan.max_period, plan.max_requests
            ));
        }
        let n = plan.max_requests as f64;
        // A run of `limit` consecutive responses from backend i, under independent choices
        // at the expected shares, starts at a given request with probability p_i^limit: by
        // the union bound over start points and backends, some such run shows up within the
        // plan with probability at most the sum of N p_i^limit, kept within a hundredth of alpha.
        let detection_target = plan.alpha * DETECTION_SHARE;
        let mut detection_budget = 0.0;
        let per_backend = detection_target / (n * positive.len() as f64);
        let run_limit = |share: f64| ((per_backend.ln() / share.ln()).ceil() as usize).max(2);
        let run_limits: Vec<usize> = expected
            .iter()
            .map(|share| {
                if *share <= 0.0 || positive.len() < 2 {
                    return usize::MAX;
                }
                let limit = run_limit(*share);
                detection_budget += n * share.powi(limit as i32);
                limit
            })
            .collect();
        // The block rule's whole-sample tolerance: a periodic schedule of period P with share
        // p deviates from p n by at most p (1 - p) P after any number of requests.
        let tolerances: Vec<(f64, f64)> = tested
            .iter()
            .map(|&backend| {
                let share = expected[backend];
                let tolerance =
                    (share * (1.0 - share) * plan.max_period as f64 + plan.reorder as f64) / n;
                // Under independent choices `delta` off, the block rule can pass only if a
                // block was detected and the whole-sample share met the tolerance: bounded by
                // the smaller of the two probabilities.
                let false_pass = [share - plan.delta, share + plan.delta]
                    .into_iter()
                    .filter(|alternative| *alternative > 0.0 && *alternative < 1.0)
                    .map(|alternative| {
                        let meets = binomial_mass(plan.max_requests, alternative, |k| {
                            within(k as f64 / n, share, tolerance)
                        });
                        let detected: f64 = positive
                            .iter()
                            .map(|&other| {
                                let other_share = if other == backend {
                                    alternative
                                } else if positive.len() == 2 {
                                    1.0 - alternative
                                } else {
                                    (expected[other] + plan.delta).min(1.0)
                                };
                                n * other_share.powi(run_limit(expected[other]) as i32)
                            })
                            .sum();
                        meets.min(detected)
                    })
                    .fold(0.0, f64::max);
                (tolerance, false_pass)
            })
            .collect();
        let block_false_pass = tolerances.iter().map(|t| t.1).fold(0.0, f64::max);
        let sequential_alpha = plan.alpha - detection_budget;
        let sequential_beta = plan.beta - block_false_pass;
        if !tested.is_empty() && (sequential_alpha <= 0.0 || sequential_beta <= 0.0) {
            return Err(format!(
                "the block rule leaves no room for the sequential test (detection {detection_budget:.1e} of alpha, {block_false_pass:.1e} of beta): allow more requests or a smaller max_period"
            ));
        }
        let mut tests: Vec<BackendTest> = Vec::with_capacity(tested.len());
        for (&backend, &(tolerance, block_false_pass)) in tested.iter().zip(&tolerances) {
            let share = expected[backend];
            // Equal shares (the evenness case) share one calibration.
            let design = match tests.iter().find(|test| test.design.share() == share) {
                Some(test) => test.design.clone(),
                None => Design::calibrate(
                    share,
                    plan.delta,
                    sequential_alpha / tested.len() as f64,
                    sequential_beta,
                    plan.max_requests,
                )?,
            };
            tests.push(BackendTest {
                backend,
                design,
                state: Step::Continue,
                tolerance,
                block_false_pass,
                envelope: Envelope::new(),
            });
        }
        // One positive share: a gateway that sends `delta` of the traffic elsewhere goes
        // unnoticed for m requests with probability (1 - delta)^m.
        let minimum_requests = if positive.len() == 1 {
            let needed = (plan.beta.ln() / (1.0 - plan.delta).ln()).ceil() as usize;
            if needed > plan.max_requests {
                return Err(format!(
                    "{needed} requests are needed to notice {} of the traffic going elsewhere, max_requests is {}",
                    percent(plan.delta),
                    plan.max_requests
                ));
            }
            needed.max(1)
        } else {
            0
        };
        Ok(SplitTest {
            labels: (0..expected.len())
                .map(|index| format!("backend {index}"))
                .collect(),
            counts: vec![0; expected.len()],
            expected,
            plan,
            tests,
            minimum_requests,
            requests: 0,
            verdict: Verdict::Undecided,
            run_limits,
            run: None,
            block: None,
            detection_budget: if tested.is_empty() {
                0.0
            } else {
                detection_budget
            },
        })
    }

    /// Names the backends in failure messages and descriptions, in weight order.
    pub fn with_labels<I, S>(mut self, labels: I) -> Result<SplitTest, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let labels: Vec<String> = labels.into_iter().map(Into::into).collect();
        if labels.len() != self.expected.len() {
            return Err(format!(
                "{} labels for {} weights",
                labels.len(),
                self.expected.len()
            ));
        }
        self.labels = labels;
        Ok(self)
    }
}
