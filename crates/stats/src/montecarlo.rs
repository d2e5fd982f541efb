//! montecarlo: replays a [`SplitTest`] against simulated balancers with a seeded generator, so
//! tests and `cargo xtask bench stats` measure the running code, not a model of it. Deterministic:
//! the same seed gives the same figures on every machine.

use crate::{SplitTest, Verdict};

/// SplitMix64: tiny, fast and statistically sound for simulation (it passes BigCrush); good
/// enough to replay balancers and not worth a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// How a simulated gateway picks the backend for each request.
#[derive(Debug, Clone, PartialEq)]
pub enum Balancer {
    /// Independent draws with these probabilities (a random or least-request balancer).
    Random(Vec<f64>),
    /// A fixed cycle of backend indices (round robin, smooth weighted round robin); each trial
    /// starts at a different point of the cycle.
    Cycle(Vec<usize>),
}

impl Balancer {
    /// The cycle a smooth weighted round robin (nginx's algorithm) produces for integer weights:
    /// `[7, 3]` gives `0 0 1 0 0 1 0 1 0 0`-like interleaving rather than seven then three.
    pub fn smooth_weighted(weights: &[u32]) -> Balancer {
        let total: i64 = weights.iter().map(|weight| i64::from(*weight)).sum();
        let mut current = vec![0_i64; weights.len()];
        let mut order = Vec::with_capacity(total as usize);
        for _ in 0..total {
            for (index, weight) in weights.iter().enumerate() {
                current[index] += i64::from(*weight);
            }
            let chosen = (0..weights.len())
                .max_by_key(|index| (current[*index], std::cmp::Reverse(*index)))
                .expect("at least one weight");
            current[chosen] -= total;
            order.push(chosen);
        }
        Balancer::Cycle(order)
    }

    /// A block schedule: per period of `period` requests, each backend gets one run of
    /// consecutive requests in proportion to its weight (`[7, 3]` over 100 gives seventy to
    /// backend 0, then thirty to backend 1). Runs are rounded to whole requests, so pick a
    /// period the weights divide.
    pub fn block(weights: &[u32], period: usize) -> Balancer {
        let total: u64 = weights.iter().map(|weight| u64::from(*weight)).sum();
        let mut order = Vec::with_capacity(period);
        for (index, weight) in weights.iter().enumerate() {
            let run = (u64::from(*weight) * period as u64 + total / 2) / total;
            order.extend(std::iter::repeat_n(index, run as usize));
        }
        Balancer::Cycle(order)
    }
}

/// What a batch of simulated runs of one test did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub trials: u64,
    pub passes: u64,
    pub fails: u64,
    /// Runs still undecided at the cap: always 0 unless the test is broken.
    pub undecided: u64,
    pub total_requests: u64,
    pub max_requests: usize,
}

impl Summary {
    pub fn pass_rate(&self) -> f64 {
        self.passes as f64 / self.trials as f64
    }

    pub fn fail_rate(&self) -> f64 {
        self.fails as f64 / self.trials as f64
    }

    pub fn mean_requests(&self) -> f64 {
        self.total_requests as f64 / self.trials as f64
    }
}

/// Runs `trials` fresh copies of `template` (which should not have recorded anything) against
/// `balancer` until each decides or reaches the plan's cap.
pub fn simulate(template: &SplitTest, balancer: &Balancer, trials: u64, seed: u64) -> Summary {
    let mut rng = Rng::new(seed);
    let cap = template.plan().max_requests;
    let cumulative: Vec<f64> = match balancer {
        Balancer::Random(shares) => {
            let total: f64 = shares.iter().sum();
            shares
                .iter()
                .scan(0.0, |sum, share| {
                    *sum += share / total;
                    Some(*sum)
                })
                .collect()
        }
        Balancer::Cycle(_) => Vec::new(),
    };
    let mut summary = Summary {
        trials,
        passes: 0,
        fails: 0,
        undecided: 0,
        total_requests: 0,
        max_requests: 0,
    };
    for trial in 0..trials {
        let mut test = template.clone();
        let mut verdict = Verdict::Undecided;
        for request in 0..cap {
            let backend = match balancer {
                Balancer::Random(_) => {
                    let draw = rng.next_f64();
                    cumulative
                        .iter()
                        .position(|edge| draw < *edge)
                        .unwrap_or(cumulative.len() - 1)
                }
                Balancer::Cycle(order) => order[(trial as usize + request) % order.len()],
            };
            verdict = test.record(backend);
            if verdict.is_decided() {
                break;
            }
        }
        match verdict {
            Verdict::Pass => summary.passes += 1,
            Verdict::Fail(_) => summary.fails += 1,
            Verdict::Undecided => summary.undecided += 1,
        }
        summary.total_requests += test.requests() as u64;
        summary.max_requests = summary.max_requests.max(test.requests());
    }
    summary
}
