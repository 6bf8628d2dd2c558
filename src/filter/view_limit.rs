//! `view_limit`: a token minted with `max_views` serves at most that many views.
//!
//! A view is an admitted GET answered with bytes (200 or 206). HEAD never counts. A `Range`
//! GET from the same client address within the route's `view_grace` after a counted view
//! continues that view (a download manager resuming) and is not counted again.
//!
//! `check` refuses tokens already known to be used up (memory only). `commit` counts the
//! view durably (the store's answer is on disk before any byte is sent) and leaves an undo
//! in the context: if the response turns out to carry no bytes (304, 404, 416, an origin
//! failure), the view is given back. Tokens without `max_views` pass with no I/O at all.
//! Needs `signature` earlier in the chain.

use std::sync::Arc;
use std::time::Duration;

use http::Method;

use super::{Ctx, Filter, Reject, Step, Undo};
use crate::state::{CountOutcome, State};

pub struct ViewLimit {
    pub state: Arc<State>,
    pub grace: Duration,
}

impl ViewLimit {
    /// The token id and limit when this request must be counted.
    fn counted<'c>(&self, ctx: &'c Ctx<'_>) -> Option<(&'c str, u64)> {
        let c = ctx.claims.as_ref()?;
        let limit = c.max_views?;
        is_counted(
            &self.state,
            &c.tid,
            ctx.method,
            ctx.headers,
            ctx.client_ip,
            self.grace,
        )
        .then_some((c.tid.as_str(), limit))
    }
}

impl Filter for ViewLimit {
    fn name(&self) -> &'static str {
        "view_limit"
    }

    fn check<'a>(&'a self, ctx: &'a mut Ctx<'_>) -> Step<'a> {
        let Some(c) = &ctx.claims else {
            return Step::Reject(Reject::TokenMissing);
        };
        if c.max_views.is_some()
            && used_up(
                &self.state,
                &c.tid,
                ctx.method,
                ctx.headers,
                ctx.client_ip,
                self.grace,
            )
        {
            return Step::Reject(Reject::ViewLimitReached);
        }
        Step::Pass
    }

    fn commit<'a>(&'a self, ctx: &'a mut Ctx<'_>) -> Step<'a> {
        let Some((tid, limit)) = self.counted(ctx) else {
            return Step::Pass;
        };
        let tid = tid.to_owned();
        let ip = ctx.client_ip;
        Step::Wait(Box::pin(async move {
            ctx.undo = count(&self.state, &tid, limit, ip).await?;
            Ok(())
        }))
    }
}

/// Counts one view of `key` durably, unless `limit` is reached; on success returns the undo
/// that gives it back. Shared with short links.
pub async fn count(
    state: &Arc<State>,
    key: &str,
    limit: u64,
    ip: std::net::IpAddr,
) -> Result<Option<Undo>, Reject> {
    if state.is_used_up(key) {
        return Err(Reject::ViewLimitReached);
    }
    match state.count_view(key, limit, ip).await {
        Ok((CountOutcome::Counted(_), prev)) => {
            let state = state.clone();
            let key = key.to_owned();
            Ok(Some(Box::new(move || {
                Box::pin(async move {
                    if let Err(e) = state.uncount_view(&key, prev).await {
                        tracing::warn!(error = %e, "could not give back an unused view");
                    }
                })
            })))
        }
        Ok((CountOutcome::LimitReached(_), _)) => Err(Reject::ViewLimitReached),
        Err(e) => {
            tracing::error!(error = %e, "state store unavailable; refusing (fail closed)");
            Err(Reject::StateUnavailable)
        }
    }
}

/// True when `key` is known to be used up and this request does not continue its last
/// view (a HEAD or `Range` GET from the same address within the grace). A used-up token or
/// link answers 410 to everything else, HEAD included, so it reveals nothing more.
pub fn used_up(
    state: &State,
    key: &str,
    method: &Method,
    headers: &http::HeaderMap,
    ip: std::net::IpAddr,
    grace: Duration,
) -> bool {
    state.is_used_up(key)
        && !((method == Method::HEAD || headers.contains_key(http::header::RANGE))
            && state.continues_view(key, ip, grace))
}

/// True when this request would be counted: a GET that does not continue the last view.
pub fn is_counted(
    state: &State,
    key: &str,
    method: &Method,
    headers: &http::HeaderMap,
    ip: std::net::IpAddr,
    grace: Duration,
) -> bool {
    method == Method::GET
        && !(headers.contains_key(http::header::RANGE) && state.continues_view(key, ip, grace))
}
