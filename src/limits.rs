//! Rate limits, with governor's GCRA limiters (no hand-made bucket arithmetic):
//! per API key on the control API (`rate_limit = "120/m"`), and per token or link on
//! password guesses, so a password cannot be brute-forced through the gateway.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::config::Rate;

type Direct = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;
type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// What the `RateLimit-*` headers say after an admitted call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the quota is whole again.
    pub reset: u64,
}

fn quota(rate: Rate) -> Quota {
    let count = NonZeroU32::new(rate.count).unwrap_or(NonZeroU32::MIN);
    let per_cell = (rate.per / rate.count.max(1)).max(Duration::from_nanos(1));
    // with_period is None only for a zero period, excluded above.
    Quota::with_period(per_cell)
        .unwrap_or_else(|| Quota::per_second(count))
        .allow_burst(count)
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// One limiter per API key id, kept across config reloads (rebuilt if its rate changes).
#[derive(Default)]
pub struct ApiLimits {
    by_key: DashMap<String, (Rate, Arc<Direct>)>,
}

impl ApiLimits {
    /// Takes one call from `key`'s quota: `Ok` with the allowance left, or `Err` with the
    /// seconds to wait.
    pub fn check(&self, key: &str, rate: Rate) -> Result<Allowance, u64> {
        let limiter = {
            let entry = self.by_key.get(key);
            match entry {
                Some(e) if e.0 == rate => e.1.clone(),
                _ => {
                    drop(entry);
                    let l = Arc::new(RateLimiter::direct(quota(rate)).with_middleware());
                    self.by_key.insert(key.to_owned(), (rate, l.clone()));
                    l
                }
            }
        };
        let per_cell = rate.per / rate.count.max(1);
        match limiter.check() {
            Ok(snap) => {
                let remaining = snap.remaining_burst_capacity();
                Ok(Allowance {
                    limit: rate.count,
                    remaining,
                    reset: ceil_secs(per_cell * (rate.count - remaining.min(rate.count))),
                })
            }
            Err(not_until) => {
                Err(ceil_secs(not_until.wait_time_from(DefaultClock::default().now())).max(1))
            }
        }
    }
}

/// Password attempts per token or link.
pub struct GuessLimits {
    limiter: Keyed,
}

/// Password attempts allowed per token or link, per minute.
pub const GUESSES_PER_MINUTE: u32 = 5;

impl Default for GuessLimits {
    fn default() -> Self {
        GuessLimits {
            limiter: RateLimiter::keyed(quota(Rate {
                count: GUESSES_PER_MINUTE,
                per: Duration::from_secs(60),
            })),
        }
    }
}

impl GuessLimits {
    /// Takes one attempt for `id`; `Err` carries the seconds to wait.
    pub fn attempt(&self, id: &str) -> Result<(), u64> {
        self.limiter
            .check_key(&id.to_owned())
            .map_err(|n| ceil_secs(n.wait_time_from(DefaultClock::default().now())).max(1))
    }

    /// Forgets ids whose limit has fully recovered (bounded memory).
    pub fn prune(&self) {
        self.limiter.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_quota_counts_down_then_refuses() {
        let l = ApiLimits::default();
        let rate = Rate {
            count: 3,
            per: Duration::from_secs(60),
        };
        assert_eq!(l.check("k", rate).unwrap().remaining, 2);
        assert_eq!(l.check("k", rate).unwrap().remaining, 1);
        let last = l.check("k", rate).unwrap();
        assert_eq!((last.limit, last.remaining), (3, 0));
        let wait = l.check("k", rate).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        // Another key has its own quota.
        assert!(l.check("other", rate).is_ok());
    }

    #[test]
    fn guesses_are_limited_per_id() {
        let g = GuessLimits::default();
        for _ in 0..GUESSES_PER_MINUTE {
            assert!(g.attempt("t").is_ok());
        }
        assert!(g.attempt("t").is_err());
        assert!(g.attempt("u").is_ok());
    }
}
