//! stats: decides whether the traffic split a gateway produced matches the expected shares,
//! with stated error rates. Pure: no I/O, no clock, no randomness outside the seeded Monte Carlo
//! helpers. It never prints and never reads the environment.
//!
//! # Use
//!
//! ```
//! let mut test = stats::SplitTest::new(&[70.0, 30.0, 0.0], stats::Plan::default())
//!     .unwrap()
//!     .with_labels(["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"])
//!     .unwrap();
//! // Feed each response's backend index until the verdict is not `Undecided`.
//! let verdict = test.record(0);
//! assert_eq!(verdict, stats::Verdict::Undecided);
//! // A weight-0 backend fails at once.
//! assert!(matches!(test.record(2), stats::Verdict::Fail(_)));
//! ```
//!
//! # The decision
//!
//! Weights are normalised to shares `p_i`. A response from a backend with share 0 fails the test
//! at once: no statistics are needed to know that weight 0 was ignored. For the backends with a
//! positive share, each request is a Bernoulli trial "did it reach backend `i`?", and one
//! sequential test per backend decides `H0: p = p_i` against the two alternatives
//! `H±: p = p_i ± delta` (an alternative outside (0, 1) is dropped). With two positive backends
//! one test covers both (the second share is one minus the first); with `k > 2` each backend gets
//! one with false-fail budget `alpha / k`, the whole test fails as soon as any of them fails and
//! passes when all have passed. By the union bound the false-fail rate is at most the sum of the
//! per-backend rates, and a gateway that skews one backend by `delta` passes only if that
//! backend's test passes, so its false-pass rate is at most that test's.
//!
//! One backend's test ([`Design`]) watches the log-likelihood ratios
//! `L±(n, s) = s ln(p±/p) + (n - s) ln((1 - p±)/(1 - p))` after `n` requests of which `s` reached
//! the backend, and their maximum `L = max(L+, L-)`:
//!
//! * **Fail** as soon as `L >= A` with `A = ln(2m / alpha)`, `m` the number of alternatives.
//!   Wald's likelihood-ratio argument makes this rigorous without any approximation: on the event
//!   "`L±` reached `A`" the likelihood ratio of `H±` to `H0` is at least `e^A`, so under `H0` that
//!   event has probability at most `e^-A = alpha / 2m`; over the `m` alternatives, at most
//!   `alpha / 2`.
//! * **Pass** as soon as `L <= B` (both alternatives are at least `e^-B` times less likely than
//!   `H0`). By the same argument a skewed gateway reaches this boundary with probability at most
//!   `e^B` before the last request.
//! * **Truncation**: after `max_requests` requests every walk still undecided is decided by one
//!   threshold `C` on `L`: fail if `L > C`, pass otherwise. `C` is chosen with the exact
//!   distribution of the undecided walks under `H0`: the points most in favour of an alternative
//!   fail first, as long as their probability fits in what is left of `alpha` after the early
//!   fails (computed exactly, so usually more than `alpha / 2`).
//!
//! Because the rule depends on `(n, s)` only, its exact operating characteristic under
//! independent requests is a dynamic program over the binomial lattice: the probability of each
//! undecided `s` after `n` requests is carried to `n + 1` (`O(max_requests × width)` work, a few
//! milliseconds). [`Design::calibrate`] uses it: it searches the highest `B` (the one that lets a
//! correct gateway pass soonest) in `[ln beta - 8, ln beta]` for which the exact false-pass rate
//! at every alternative, including walks passed at the truncation, is at most `beta`, and it
//! refuses a plan it cannot meet. The rates a design reports ([`Design::false_fail`],
//! [`Design::false_pass`], [`Design::mean_requests`]) are computed exactly on the very tables the
//! running test reads, not approximated.
//!
//! For the default plan (`max_requests` 1000, `alpha` 1e-4, `beta` 1e-2, `delta` 0.10) the exact
//! figures are, per case (the test `exact_rates_of_the_fixture_designs` recomputes them):
//!
//! | Expected | false fail | pass at -10 points | pass at +10 points | mean requests when correct |
//! |---|---|---|---|---|
//! | 50/50 | 9.1e-5 | 9.999e-3 (40/60) | 9.999e-3 (60/40) | 429 |
//! | 70/30 | 9.5e-5 | 8.5e-3 (60/40) | 5.1e-3 (80/20) | 294 |
//!
//! (Boundaries found: `A = 10.60`; 50/50 `B = -5.93`, `C = 5.13`; 70/30 `B = ln 0.01 = -4.61`,
//! `C = 3.58`.) The 50/50 false-pass rate sits just under 1e-2 on purpose: the calibration
//! spends all of `beta` to pass a correct gateway as early as possible, and the figure is exact,
//! so a Monte Carlo estimate of it scatters around 1.0e-2 by sampling error alone.
//!
//! Deterministic balancers stop the first time the walk enters the pass band: strict round robin
//! over two replicas passes after 292 requests and a smooth 7:3 pattern after at most 220, and a
//! gateway that sends everything to one backend fails within 37 to 80 requests. The Monte Carlo
//! helpers in [`montecarlo`] replay all of this with a seeded generator; `cargo xtask bench
//! stats` prints the measured rates with many trials.
//!
//! What the rates assume: requests are independent trials with one fixed probability, which is
//! what a random balancer gives. A gateway whose split drifts during the run, or that correlates
//! consecutive requests, is judged on the counts it produced, and a pass still never stands on
//! an observed share that is itself `delta` or more off: with the default plan a pass at request
//! 1000 needs the observed share within 43.7%..56.3% (50/50) or 64.3%..75.9% (70/30), and an
//! earlier pass a narrower band (the test `a_pass_never_stands_on_a_share_off_by_delta` checks
//! every point of the tables).

mod design;
pub mod montecarlo;

pub use design::{Design, OperatingPoint, Step};

/// How strict a [`SplitTest`] is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Hard cap on recorded requests: the test always decides by then.
    pub max_requests: usize,
    /// Largest allowed probability of failing a gateway that splits exactly as expected.
    pub alpha: f64,
    /// Largest allowed probability of passing a gateway whose share for a backend is off by
    /// `delta` (absolute, e.g. 0.10 = 10 percentage points).
    pub beta: f64,
    pub delta: f64,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            max_requests: 1000,
            alpha: 1e-4,
            beta: 1e-2,
            delta: 0.10,
        }
    }
}

/// Where a [`SplitTest`] stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Keep sending requests.
    Undecided,
    Pass,
    /// One line naming the observed and expected shares (and a weight-0 hit, if that was it).
    Fail(String),
}

impl Verdict {
    pub fn is_decided(&self) -> bool {
        !matches!(self, Verdict::Undecided)
    }
}

/// The sequential test of one observed split. Feed it the backend index of each response with
/// [`SplitTest::record`] until the verdict is decided; it never needs more than
/// `plan.max_requests` responses.
///
/// After a decision further responses are not counted, with one exception: a response from a
/// weight-0 backend turns even a `Pass` into a `Fail`, because it proves the route wrong no matter
/// what the statistics said (a concurrent engine may deliver such a response late).
#[derive(Debug, Clone)]
pub struct SplitTest {
    expected: Vec<f64>,
    labels: Vec<String>,
    plan: Plan,
    tests: Vec<BackendTest>,
    /// With one positive share: requests without a weight-0 hit needed to pass.
    minimum_requests: usize,
    counts: Vec<u64>,
    requests: usize,
    verdict: Verdict,
}

#[derive(Debug, Clone)]
struct BackendTest {
    backend: usize,
    design: Design,
    state: Step,
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
        let mut tests: Vec<BackendTest> = Vec::with_capacity(tested.len());
        for &backend in tested {
            let share = expected[backend];
            // Equal shares (the evenness case) share one calibration.
            let design = match tests.iter().find(|test| test.design.share() == share) {
                Some(test) => test.design.clone(),
                None => Design::calibrate(
                    share,
                    plan.delta,
                    plan.alpha / tested.len() as f64,
                    plan.beta,
                    plan.max_requests,
                )?,
            };
            tests.push(BackendTest {
                backend,
                design,
                state: Step::Continue,
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

    /// Records that one response came from backend `index` and returns the verdict so far.
    pub fn record(&mut self, index: usize) -> Verdict {
        if index >= self.expected.len() {
            self.verdict = Verdict::Fail(format!(
                "a response was attributed to backend index {index}, but only {} backends are expected",
                self.expected.len()
            ));
            return self.verdict.clone();
        }
        if self.expected[index] == 0.0 {
            if !matches!(self.verdict, Verdict::Fail(_)) {
                self.counts[index] += 1;
                self.requests += 1;
                self.verdict = Verdict::Fail(format!(
                    "{} answered although its weight is 0; {}",
                    self.labels[index],
                    self.shares_line()
                ));
            }
            return self.verdict.clone();
        }
        if self.verdict.is_decided() {
            return self.verdict.clone();
        }
        self.counts[index] += 1;
        self.requests += 1;
        for test in &mut self.tests {
            if test.state != Step::Continue {
                continue;
            }
            test.state = test.design.decide(self.requests, self.counts[test.backend]);
            if test.state == Step::Fail {
                let backend = test.backend;
                let capped = if self.requests == self.plan.max_requests {
                    " (the maximum)"
                } else {
                    ""
                };
                self.verdict = Verdict::Fail(format!(
                    "{} got {} of {} requests{capped}, expected {}; {}",
                    self.labels[backend],
                    percent(self.counts[backend] as f64 / self.requests as f64),
                    self.requests,
                    percent(self.expected[backend]),
                    self.shares_line()
                ));
                return self.verdict.clone();
            }
        }
        if self.tests.iter().all(|test| test.state == Step::Pass)
            && self.requests >= self.minimum_requests
        {
            self.verdict = Verdict::Pass;
        }
        self.verdict.clone()
    }

    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// Responses counted per backend, in weight order.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Responses counted so far.
    pub fn requests(&self) -> usize {
        self.requests
    }

    /// The normalised expected shares.
    pub fn expected(&self) -> &[f64] {
        &self.expected
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn plan(&self) -> Plan {
        self.plan
    }

    /// The calibrated per-backend tests (empty when only one backend has a positive share).
    pub fn designs(&self) -> impl Iterator<Item = &Design> {
        self.tests.iter().map(|test| &test.design)
    }

    /// Exact false-fail rate of the whole test (sum over the per-backend tests; 0 with one
    /// positive share, where a correct gateway never hits a weight-0 backend).
    pub fn false_fail(&self) -> f64 {
        self.tests.iter().map(|test| test.design.false_fail()).sum()
    }

    /// Exact worst false-pass rate when one backend's share is off by `delta`.
    pub fn false_pass(&self) -> f64 {
        if self.tests.is_empty() {
            (1.0 - self.plan.delta).powi(self.minimum_requests as i32)
        } else {
            self.tests
                .iter()
                .map(|test| test.design.worst_false_pass())
                .fold(0.0, f64::max)
        }
    }

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
        }
    }

    fn shares_line(&self) -> String {
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
    /// Exact worst probability that it passes a gateway off by `plan.delta` on one backend.
    pub false_pass: f64,
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
            "{verdict} after {} requests: {}; sequential test with false-fail rate {:.1e} and false-pass rate {:.1e} at ±{}",
            self.requests,
            backends.join(", "),
            self.false_fail,
            self.false_pass,
            percent(self.plan.delta)
        )
    }
}

fn share_of(count: u64, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

/// `0.7` → `70.0%`.
fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}
