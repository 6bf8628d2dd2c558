//! Rate limits: per API key on the control API (`rate_limit = "120/m"`), with governor's
//! GCRA limiters (the data plane's `rate_limit` filter uses them too); and the password
//! guess budget, a fixed window per token and client (see [`GuessBudget`]), which needs to
//! give back a right answer's guess, something GCRA cells cannot do.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::config::Rate;

type Direct = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// What the `RateLimit-*` headers say after an admitted call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the quota is whole again.
    pub reset: u64,
}

/// A governor quota of `rate.count` per `rate.per`, all of it available at once.
pub fn quota(rate: Rate) -> Quota {
    let count = NonZeroU32::new(rate.count).unwrap_or(NonZeroU32::MIN);
    let per_cell = (rate.per / rate.count.max(1)).max(Duration::from_nanos(1));
    // with_period is None only for a zero period, excluded above.
    Quota::with_period(per_cell)
        .unwrap_or_else(|| Quota::per_second(count))
        .allow_burst(count)
}

/// Whole seconds, rounded up (for `Retry-After`).
pub fn ceil_secs(d: Duration) -> u64 {
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

/// Wrong passwords allowed per token (or link) and client IP, per minute.
pub const GUESSES_PER_CLIENT: u32 = 5;
/// Wrong passwords allowed per token (or link) from all clients together, per minute: the
/// ceiling that keeps many addresses from guessing in parallel.
pub const GUESSES_PER_TOKEN: u32 = 50;
/// The window both budgets are counted in.
pub const GUESS_WINDOW: Duration = Duration::from_secs(60);
/// Tables larger than this are pruned on the spot.
const GUESS_TABLE_MAX: usize = 100_000;

/// Wrong guesses in the current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    spent: u32,
}

impl Window {
    fn current(&mut self, now: Instant) -> &mut Window {
        if now.duration_since(self.start) >= GUESS_WINDOW {
            *self = Window {
                start: now,
                spent: 0,
            };
        }
        self
    }

    fn retry_after(&self, now: Instant) -> u64 {
        ceil_secs(GUESS_WINDOW.saturating_sub(now.duration_since(self.start))).max(1)
    }
}

/// The password guess budget: only wrong passwords spend it, and it is kept per token and
/// client IP, with a ceiling per token. So a user who knows the password is never locked
/// out by its own right answers, nor by a stranger guessing from another address (until
/// the ceiling, which bounds what a crowd of addresses can try).
///
/// An attempt [`reserve`](GuessBudget::reserve)s a guess before the password is checked
/// (so concurrent wrong guesses cannot overrun the budget) and a right password
/// [`refund`](GuessBudget::refund)s it.
pub struct GuessBudget {
    per_client: DashMap<(String, IpAddr), Window>,
    per_token: DashMap<String, Window>,
    last_prune: std::sync::Mutex<Instant>,
}

impl Default for GuessBudget {
    fn default() -> Self {
        GuessBudget {
            per_client: DashMap::new(),
            per_token: DashMap::new(),
            last_prune: std::sync::Mutex::new(Instant::now()),
        }
    }
}

impl GuessBudget {
    /// Takes one guess for `id` from `ip`; `Err` carries the seconds to wait.
    pub fn reserve(&self, id: &str, ip: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        if self.per_client.len() > GUESS_TABLE_MAX || self.per_token.len() > GUESS_TABLE_MAX {
            self.prune_now_and_then(now);
        }
        let fresh = Window {
            start: now,
            spent: 0,
        };
        // The ceiling first: past it, nothing is added for the client (a crowd of addresses
        // guessing at a spent token costs no memory).
        let mut token = self.per_token.entry(id.to_owned()).or_insert(fresh);
        let token = token.current(now);
        if token.spent >= GUESSES_PER_TOKEN {
            return Err(token.retry_after(now));
        }
        let mut client = self.per_client.entry((id.to_owned(), ip)).or_insert(fresh);
        let client = client.current(now);
        if client.spent >= GUESSES_PER_CLIENT {
            return Err(client.retry_after(now));
        }
        client.spent += 1;
        token.spent += 1;
        Ok(())
    }

    /// Prunes, at most once a second: a full table must not make every attempt a scan.
    fn prune_now_and_then(&self, now: Instant) {
        if let Ok(mut last) = self.last_prune.try_lock()
            && now.duration_since(*last) >= Duration::from_secs(1)
        {
            *last = now;
            self.prune();
        }
    }

    /// Gives back a guess that turned out right (or was never judged).
    pub fn refund(&self, id: &str, ip: IpAddr) {
        if let Some(mut w) = self.per_client.get_mut(&(id.to_owned(), ip)) {
            w.spent = w.spent.saturating_sub(1);
        }
        if let Some(mut w) = self.per_token.get_mut(id) {
            w.spent = w.spent.saturating_sub(1);
        }
    }

    /// Forgets windows that have ended (bounded memory).
    pub fn prune(&self) {
        let now = Instant::now();
        self.per_client
            .retain(|_, w| now.duration_since(w.start) < GUESS_WINDOW);
        self.per_token
            .retain(|_, w| now.duration_since(w.start) < GUESS_WINDOW);
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
    fn guesses_are_kept_per_client_with_a_ceiling_per_token() {
        let g = GuessBudget::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..GUESSES_PER_CLIENT {
            assert!(g.reserve("t", a).is_ok());
        }
        let wait = g.reserve("t", a).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        // Another client of the same token, and the same client on another token, go on.
        assert!(g.reserve("t", b).is_ok());
        assert!(g.reserve("u", a).is_ok());
        // A refunded (right) guess spends nothing.
        for _ in 0..100 {
            g.reserve("r", a).unwrap();
            g.refund("r", a);
        }
        assert!(g.reserve("r", a).is_ok());
        // The ceiling per token holds across addresses.
        let mut ok = 0;
        for i in 0..200u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            if g.reserve("c", ip).is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, GUESSES_PER_TOKEN);
    }
}
