//! `rate_limit`: at most the route's `rate_limit` requests per client IP, and per token,
//! with governor's GCRA limiters. Over either one: 429 with `Retry-After`.
//!
//! The cells are taken in `commit`, once every check has passed, so a request refused for
//! another reason (a bad signature, say) spends nothing. Without a token only the client
//! IP is limited. Memory is bounded: limiters that have recovered are dropped once the
//! tables grow past [`PRUNE_ABOVE`] entries.

use std::net::IpAddr;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::{Ctx, Filter, Reject, Step};
use crate::config::Rate;
use crate::limits::{ceil_secs, quota};

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// Entries kept before the recovered ones are dropped.
const PRUNE_ABOVE: usize = 100_000;

pub struct RateLimit {
    by_ip: Keyed<IpAddr>,
    by_token: Keyed<String>,
}

impl RateLimit {
    pub fn new(rate: Rate) -> RateLimit {
        let q: Quota = quota(rate);
        RateLimit {
            by_ip: RateLimiter::keyed(q),
            by_token: RateLimiter::keyed(q),
        }
    }

    fn take(&self, ip: IpAddr, token: Option<&str>) -> Result<(), Reject> {
        let now = DefaultClock::default().now();
        let wait = |n: governor::NotUntil<_>| Reject::RateLimited {
            retry_after: ceil_secs(n.wait_time_from(now)).max(1),
        };
        if self.by_ip.len() > PRUNE_ABOVE {
            self.by_ip.retain_recent();
        }
        self.by_ip.check_key(&ip).map_err(wait)?;
        if let Some(t) = token {
            if self.by_token.len() > PRUNE_ABOVE {
                self.by_token.retain_recent();
            }
            self.by_token.check_key(&t.to_owned()).map_err(wait)?;
        }
        Ok(())
    }
}

impl Filter for RateLimit {
    fn name(&self) -> &'static str {
        "rate_limit"
    }

    fn check<'a>(&'a self, _ctx: &'a mut Ctx<'_>) -> Step<'a> {
        Step::Pass
    }

    fn commit<'a>(&'a self, ctx: &'a mut Ctx<'_>) -> Step<'a> {
        let token = ctx.grant.as_ref().map(|g| g.id.as_str());
        self.take(ctx.client_ip, token).into()
    }
}
