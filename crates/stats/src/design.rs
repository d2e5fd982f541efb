//! design: one binomial sequential test (does a backend get share `p0`, or `p0 ± delta`?), its
//! boundary tables, the calibration that places the boundaries, and the exact dynamic program
//! that computes the test's error rates. The tables are the only rule: the running test and the
//! dynamic program read the same ones, so the computed rates are the rates of the code that runs.

use std::sync::Arc;

/// What one point `(n, s)` of the walk means: `s` of the first `n` requests reached the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Continue,
    Pass,
    Fail,
}

/// The rule at one request count `n`, as inclusive ranges of `s`.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    /// `s` outside `keep_lo..=keep_hi` fails.
    keep_lo: i64,
    keep_hi: i64,
    /// `s` inside `pass_lo..=pass_hi` passes (empty when `pass_lo > pass_hi`).
    pass_lo: i64,
    pass_hi: i64,
}

/// One alternative hypothesis `p1` and the log-likelihood-ratio increments it gives.
#[derive(Debug, Clone, Copy)]
struct Side {
    share: f64,
    /// ln(p1 / p0): added when a request reaches the backend.
    hit: f64,
    /// ln((1 - p1) / (1 - p0)): added when it does not.
    miss: f64,
}

impl Side {
    fn llr(&self, n: i64, s: i64) -> f64 {
        s as f64 * self.hit + (n - s) as f64 * self.miss
    }
}

/// Exact behaviour of a design when every request independently reaches the backend with one
/// fixed probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatingPoint {
    /// Probability that the test passes.
    pub pass: f64,
    /// Probability that the test fails. `pass + fail` is 1 up to rounding: the test always ends.
    pub fail: f64,
    /// Expected number of requests until the decision.
    pub mean_requests: f64,
}

/// A calibrated test for one backend's share, with its exact error rates.
#[derive(Debug, Clone)]
pub struct Design {
    share: f64,
    sides: Vec<Side>,
    reject: f64,
    accept: f64,
    final_threshold: f64,
    /// Shared: a test is cloned per case and per simulated trial, the tables never change.
    bounds: Arc<[Bounds]>,
    false_fail: f64,
    false_pass: Vec<(f64, f64)>,
    mean_requests: f64,
}

/// The accept boundary is searched in `[ln(beta) - ACCEPT_SEARCH_WIDTH, ln(beta)]`; below that
/// range the test would hardly ever stop early and a plan that needs it is better made longer.
const ACCEPT_SEARCH_WIDTH: f64 = 8.0;
/// Bisection steps on the accept boundary: 8 / 2^10 is finer than one request of the pass band.
const ACCEPT_SEARCH_STEPS: usize = 10;
/// Log-likelihood ratios closer than this are one value (the two sides of a symmetric test
/// give mirror points the same ratio up to rounding, and they must be decided alike).
const TIE: f64 = 1e-9;

impl Design {
    /// Calibrates the test of share `share` against `share ± delta` for at most `max_requests`
    /// requests, with false-fail rate at most `alpha` and false-pass rate at most `beta` at each
    /// alternative, computed exactly. Fails when no design of this family meets the plan.
    pub fn calibrate(
        share: f64,
        delta: f64,
        alpha: f64,
        beta: f64,
        max_requests: usize,
    ) -> Result<Design, String> {
        let sides: Vec<Side> = [share + delta, share - delta]
            .into_iter()
            .filter(|alternative| *alternative > 0.0 && *alternative < 1.0)
            .map(|alternative| Side {
                share: alternative,
                hit: (alternative / share).ln(),
                miss: ((1.0 - alternative) / (1.0 - share)).ln(),
            })
            .collect();
        if sides.is_empty() {
            return Err(format!(
                "share {share} ± delta {delta} leaves no alternative inside (0, 1): choose a smaller delta"
            ));
        }
        // Wald's bound: on the event "crossed `reject` under H0", the likelihood ratio is at
        // least e^reject, so each side crosses with probability at most e^-reject = alpha / 2k.
        // The other half of alpha is left for the decision at the last request.
        let reject = (2.0 * sides.len() as f64 / alpha).ln();
        let unmet = |design: &Design| design.worst_false_pass() > beta;
        let strictest = build(
            share,
            &sides,
            reject,
            beta.ln() - ACCEPT_SEARCH_WIDTH,
            alpha,
            max_requests,
        );
        if unmet(&strictest) {
            return Err(format!(
                "no test of share {share:.3} against ±{delta} meets false-pass rate {beta} within {max_requests} requests \
                 (best reachable {:.3e}): allow more requests or a larger delta",
                strictest.worst_false_pass()
            ));
        }
        let lenient = build(share, &sides, reject, beta.ln(), alpha, max_requests);
        if !unmet(&lenient) {
            return Ok(lenient);
        }
        // The highest accept boundary that still meets beta passes soonest on a correct gateway.
        let (mut good, mut bad) = (strictest, lenient.accept);
        for _ in 0..ACCEPT_SEARCH_STEPS {
            let middle = (good.accept + bad) / 2.0;
            let candidate = build(share, &sides, reject, middle, alpha, max_requests);
            if unmet(&candidate) {
                bad = middle;
            } else {
                good = candidate;
            }
        }
        Ok(good)
    }

    /// The decision after `n` requests (1-based) of which `s` reached the backend.
    pub fn decide(&self, n: usize, s: u64) -> Step {
        let Some(bounds) = n.checked_sub(1).and_then(|index| self.bounds.get(index)) else {
            return Step::Fail;
        };
        let s = s as i64;
        if s < bounds.keep_lo || s > bounds.keep_hi {
            Step::Fail
        } else if bounds.pass_lo <= s && s <= bounds.pass_hi {
            Step::Pass
        } else {
            Step::Continue
        }
    }

    /// Exact pass/fail probabilities and mean requests when each request reaches the backend
    /// independently with probability `share`.
    pub fn operating_point(&self, share: f64) -> OperatingPoint {
        propagate(&self.bounds, share).0
    }

    /// The share this design tests.
    pub fn share(&self) -> f64 {
        self.share
    }

    /// The alternatives (`share ± delta` inside (0, 1)) it must tell apart from `share`.
    pub fn alternatives(&self) -> Vec<f64> {
        self.sides.iter().map(|side| side.share).collect()
    }

    pub fn max_requests(&self) -> usize {
        self.bounds.len()
    }

    /// Exact probability of failing when the share is right.
    pub fn false_fail(&self) -> f64 {
        self.false_fail
    }

    /// Exact probability of passing at each alternative, as `(alternative, probability)`.
    pub fn false_pass(&self) -> &[(f64, f64)] {
        &self.false_pass
    }

    pub fn worst_false_pass(&self) -> f64 {
        self.false_pass
            .iter()
            .map(|(_, probability)| *probability)
            .fold(0.0, f64::max)
    }

    /// Exact mean requests to a decision when the share is right.
    pub fn mean_requests(&self) -> f64 {
        self.mean_requests
    }

    /// The boundaries on the largest log-likelihood ratio: fail at or above `reject`, pass at or
    /// below `accept` before the last request, and at the last request pass at or below
    /// `final_threshold`.
    pub fn boundaries(&self) -> (f64, f64, f64) {
        (self.reject, self.accept, self.final_threshold)
    }
}

/// The largest log-likelihood ratio over the alternatives at `(n, s)`.
fn llr(sides: &[Side], n: i64, s: i64) -> f64 {
    sides
        .iter()
        .map(|side| side.llr(n, s))
        .fold(f64::NEG_INFINITY, f64::max)
}

/// The `s` in `0..=n` whose largest log-likelihood ratio is below `threshold` (`strict`) or at
/// most `threshold`. The ratio is convex in `s`, so this is one range, possibly empty.
fn range_below(sides: &[Side], n: i64, threshold: f64, strict: bool) -> (i64, i64) {
    let inside = |s: i64| {
        let value = llr(sides, n, s);
        if strict {
            value < threshold
        } else {
            value <= threshold
        }
    };
    // Closed form from each side's linear ratio, then exact fix-up against `inside` so rounding
    // in the division can never disagree with the comparison the rule is defined by.
    let (mut lo, mut hi) = (0_i64, n);
    for side in sides {
        let slope = side.hit - side.miss;
        let crossing = (threshold - n as f64 * side.miss) / slope;
        if !crossing.is_finite() {
            continue;
        }
        let crossing = crossing.clamp(-1.0, n as f64 + 1.0);
        if slope > 0.0 {
            hi = hi.min(crossing.floor() as i64);
        } else {
            lo = lo.max(crossing.ceil() as i64);
        }
    }
    lo = lo.clamp(0, n + 1);
    hi = hi.clamp(-1, n);
    if lo > hi {
        // Empty by the closed form; make sure a single-point range was not lost to rounding.
        if hi >= 0 && inside(hi) {
            lo = hi;
        } else if lo <= n && inside(lo) {
            hi = lo;
        } else {
            return (1, 0);
        }
    }
    while lo <= hi && !inside(lo) {
        lo += 1;
    }
    while lo > 0 && inside(lo - 1) {
        lo -= 1;
    }
    while hi >= lo && !inside(hi) {
        hi -= 1;
    }
    while hi < n && inside(hi + 1) {
        hi += 1;
    }
    if lo > hi { (1, 0) } else { (lo, hi) }
}

/// Builds the tables for one accept boundary, choosing the last-request threshold so the exact
/// false-fail rate stays within `alpha`, and computes the design's exact rates.
fn build(
    share: f64,
    sides: &[Side],
    reject: f64,
    accept: f64,
    alpha: f64,
    max_requests: usize,
) -> Design {
    let last = max_requests as i64;
    let mut bounds: Vec<Bounds> = (1..last)
        .map(|n| {
            let (keep_lo, keep_hi) = range_below(sides, n, reject, true);
            let (pass_lo, pass_hi) = range_below(sides, n, accept, false);
            Bounds {
                keep_lo,
                keep_hi,
                pass_lo,
                pass_hi,
            }
        })
        .collect();

    // Where the still-undecided walks are after the last request, under H0.
    let (early, mut walks) = propagate(&bounds, share);
    walks.step(share);
    let budget = alpha - early.fail;
    // Fail the undecided points most in favour of an alternative first, as long as their total
    // probability under H0 fits in what is left of alpha; ties are failed or passed together.
    let mut points: Vec<(f64, f64)> = if walks.is_empty() {
        Vec::new()
    } else {
        (walks.lo..=walks.hi)
            .filter(|s| walks.mass[*s] > 0.0)
            .map(|s| (llr(sides, last, s as i64), walks.mass[s]))
            .collect()
    };
    points.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut spent = 0.0;
    let mut final_threshold = f64::NEG_INFINITY;
    let mut index = 0;
    while index < points.len() {
        let level = points[index].0;
        let mut group = 0.0;
        let mut end = index;
        while end < points.len() && level - points[end].0 <= TIE {
            group += points[end].1;
            end += 1;
        }
        if spent + group > budget {
            final_threshold = level;
            break;
        }
        spent += group;
        index = end;
    }
    let (pass_lo, pass_hi) = range_below(sides, last, final_threshold + TIE, false);
    bounds.push(Bounds {
        keep_lo: pass_lo,
        keep_hi: pass_hi,
        pass_lo,
        pass_hi,
    });

    let null = propagate(&bounds, share).0;
    let false_pass = sides
        .iter()
        .map(|side| (side.share, propagate(&bounds, side.share).0.pass))
        .collect();
    Design {
        share,
        sides: sides.to_vec(),
        reject,
        accept,
        final_threshold,
        bounds: bounds.into(),
        false_fail: null.fail,
        false_pass,
        mean_requests: null.mean_requests,
    }
}

/// Probabilities of the undecided walks by `s`, nonzero only inside `lo..=hi`.
struct Walks {
    mass: Vec<f64>,
    lo: usize,
    hi: usize,
}

impl Walks {
    fn start(max_requests: usize) -> Walks {
        let mut mass = vec![0.0; max_requests + 2];
        mass[0] = 1.0;
        Walks { mass, lo: 0, hi: 0 }
    }

    fn is_empty(&self) -> bool {
        self.lo > self.hi
    }

    /// One more request: `mass[s]` becomes the probability of `s` hits after it. Only the
    /// support is touched, which keeps a whole dynamic program near `max_requests × width`.
    fn step(&mut self, share: f64) {
        if self.is_empty() {
            return;
        }
        for s in (self.lo..=self.hi + 1).rev() {
            let from_below = if s > self.lo { self.mass[s - 1] } else { 0.0 };
            self.mass[s] = self.mass[s] * (1.0 - share) + from_below * share;
        }
        self.hi += 1;
    }
}

/// Runs the exact dynamic program over the tables: returns the operating point and the walks
/// still undecided after the last table.
fn propagate(bounds: &[Bounds], share: f64) -> (OperatingPoint, Walks) {
    let mut walks = Walks::start(bounds.len() + 1);
    let (mut pass, mut fail, mut mean) = (0.0, 0.0, 0.0);
    for (index, rule) in bounds.iter().enumerate() {
        if walks.is_empty() {
            break;
        }
        let n = (index + 1) as f64;
        walks.step(share);
        let (mut lo, mut hi) = (usize::MAX, 0);
        for s in walks.lo..=walks.hi {
            let probability = walks.mass[s];
            let signed = s as i64;
            if signed < rule.keep_lo || signed > rule.keep_hi {
                fail += probability;
            } else if rule.pass_lo <= signed && signed <= rule.pass_hi {
                pass += probability;
            } else {
                lo = lo.min(s);
                hi = hi.max(s);
                continue;
            }
            mean += n * probability;
            walks.mass[s] = 0.0;
        }
        if lo == usize::MAX {
            (walks.lo, walks.hi) = (1, 0);
        } else {
            (walks.lo, walks.hi) = (lo, hi);
        }
    }
    (
        OperatingPoint {
            pass,
            fail,
            mean_requests: mean,
        },
        walks,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_agree_with_the_ratio_they_are_defined_by() {
        let sides = [0.6, 0.4].map(|alternative: f64| Side {
            share: alternative,
            hit: (alternative / 0.5).ln(),
            miss: ((1.0 - alternative) / 0.5).ln(),
        });
        for n in [1_i64, 10, 226, 500, 999] {
            for threshold in [-6.0, -4.6, 0.0, 3.0, 10.6] {
                for strict in [true, false] {
                    let (lo, hi) = range_below(&sides, n, threshold, strict);
                    for s in 0..=n {
                        let value = llr(&sides, n, s);
                        let expected = if strict {
                            value < threshold
                        } else {
                            value <= threshold
                        };
                        assert_eq!(lo <= s && s <= hi, expected, "n={n} s={s} t={threshold}");
                    }
                }
            }
        }
    }

    #[test]
    fn propagate_conserves_probability() {
        let design = Design::calibrate(0.7, 0.1, 1e-4, 1e-2, 1000).unwrap();
        for share in [0.0, 0.3, 0.6, 0.65, 0.7, 0.8, 1.0] {
            let point = design.operating_point(share);
            assert!(
                (point.pass + point.fail - 1.0).abs() < 1e-9,
                "{share}: {point:?}"
            );
            assert!(point.mean_requests >= 1.0 && point.mean_requests <= 1000.0);
        }
    }
}
