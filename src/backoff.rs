//! Jittered exponential backoff, the uniform random number behind every jitter, and the
//! request budget (at most so many starts in a sliding window).

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use tokio::time::Instant;

/// The longest a server's `Retry-After` may hold the next request back, whoever sent it (the API
/// server, to a check or to a watch, or a wait-http endpoint). Longer says more about the server
/// than about when to ask again, and an unbounded one (`Retry-After: 18446744073709551615`)
/// would overflow the clock.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Exponential backoff from `interval` to `max`, ×2 per step, with full jitter above a floor:
/// each delay is uniform in `[interval, min(max, interval·2ⁿ)]`. The floor is deliberate: plain
/// full jitter can draw 0 s and hammer a dead endpoint, while `--interval` promises a floor; the
/// spread above it still keeps a thousand replicas from polling in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    interval: Duration,
    max: Duration,
    step: u32,
}

impl Backoff {
    /// Starts at `interval`.
    pub fn new(interval: Duration, max: Duration) -> Self {
        Backoff {
            interval,
            max: max.max(interval),
            step: 0,
        }
    }

    /// Back to the first step (after a change of state).
    pub fn reset(&mut self) {
        self.step = 0;
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .interval
            .checked_mul(1u32 << self.step.min(20))
            .map_or(self.max, |d| d.min(self.max));
        if ceiling < self.max {
            self.step += 1;
        }
        let spread = ceiling.saturating_sub(self.interval);
        self.interval + spread.mul_f64(random_unit())
    }
}

/// At most `burst` starts in any `window`: the waiter's checks of a Kubernetes target, the checks
/// a `--service` hint asks for, the LISTs of a Service's slices. It keeps the start times of the
/// last `burst`.
#[derive(Debug)]
pub struct Budget {
    burst: usize,
    window: Duration,
    starts: VecDeque<Instant>,
}

impl Budget {
    /// `burst` starts in any `window`.
    pub fn new(burst: usize, window: Duration) -> Self {
        Budget {
            burst,
            window,
            starts: VecDeque::with_capacity(burst),
        }
    }

    /// Notes a start at `at`.
    pub fn spend(&mut self, at: Instant) {
        if self.starts.len() >= self.burst {
            self.starts.pop_front();
        }
        self.starts.push_back(at);
    }

    /// When the next start is allowed: `after`, unless the last `burst` starts fill the window;
    /// then once the oldest of them has left it.
    pub fn allowed(&self, after: Instant) -> Instant {
        match self.starts.front() {
            Some(first) if self.starts.len() >= self.burst => *first + self.window,
            _ => after,
        }
    }
}

/// A uniform number in [0, 1) from std's randomly keyed hasher: good enough for jitter, and no
/// extra dependency.
pub fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x006b_7761_6974);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_never_goes_below_the_interval() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let ceilings = [1, 2, 4, 8, 16, 30, 30, 30];
        for c in ceilings {
            let d = b.next_delay();
            assert!(
                d >= Duration::from_secs(1) && d <= Duration::from_secs(c),
                "{d:?} vs {c}"
            );
        }
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
            b.step = 5;
            seen.insert(b.next_delay().as_millis());
        }
        assert!(seen.len() > 10, "delays did not spread: {seen:?}");
    }
}
