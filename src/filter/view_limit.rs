//! `view_limit`: a grant with `max_views` serves at most that many views.
//!
//! A view is an admitted GET answered with bytes (200 or 206), or a 302 of an external
//! short link whatever its method. HEAD and 304 never count. So that a download manager can
//! resume, a **continuation** of a counted view does not count again: a GET for the same
//! grant, the same path and the same client IP, within the route's `view_grace` after that
//! view, with a single byte range, answered 206. The continuations of one view together
//! carry at most one whole copy of the file (with the view's own bytes when the view is
//! itself a range); any other GET is a new view.
//!
//! - `check` refuses grants known to be used up (memory only), except a HEAD or a
//!   single-range GET that may continue the last view.
//! - `commit` counts a GET durably (the store's answer is on disk before any byte is sent),
//!   unless it may be a continuation, which waits for the answer.
//! - `respond` settles: a counted view whose answer carries no bytes (304, 404, 416, an
//!   origin failure) is given back; a possible continuation is one only if the answer is a
//!   206 of one range that fits in what is left of the copy, otherwise it is counted now,
//!   before any byte is sent, and refused (410) if no view is left.
//!
//! Grants that count no views pass with no I/O at all. Needs `signature` earlier in the
//! chain.

use std::sync::Arc;
use std::time::Duration;

use http::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use http::{HeaderMap, Method, StatusCode};

use super::{Answer, Ctx, Filter, Reject, Step};
use crate::grant::Grant;
use crate::state::{CountOutcome, State};

pub struct ViewLimit {
    pub state: Arc<State>,
    pub grace: Duration,
}

/// What `commit` left for `respond` to settle.
#[derive(Debug, Default)]
pub enum Pending {
    #[default]
    Nothing,
    /// A view was counted; given back if the answer carries no bytes, else its
    /// continuation record is started.
    Counted,
    /// A single-range GET that may continue the last view.
    Continuation,
}

/// True when the request asks for exactly one byte range (`bytes=a-b`, `bytes=a-` or
/// `bytes=-n`) in exactly one `Range` header.
pub fn single_range(headers: &HeaderMap) -> bool {
    let mut all = headers.get_all(RANGE).iter();
    let (Some(v), None) = (all.next(), all.next()) else {
        return false;
    };
    let Some(spec) = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().strip_prefix("bytes="))
    else {
        return false;
    };
    let Some((a, b)) = spec.trim().split_once('-') else {
        return false;
    };
    let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    !(a.is_empty() && b.is_empty()) && digits(a.trim()) && digits(b.trim())
}

/// `(length, total)` of a 206 answer of one range: `Content-Range: bytes a-b/total`.
fn one_range(headers: &HeaderMap) -> Option<(u64, u64)> {
    let v = headers.get(CONTENT_RANGE)?.to_str().ok()?;
    let (range, total) = v.strip_prefix("bytes ")?.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b, total): (u64, u64, u64) = (a.parse().ok()?, b.parse().ok()?, total.parse().ok()?);
    (a <= b && b < total).then_some((b - a + 1, total))
}

/// The size of the file an answer with bytes is from.
fn file_size(answer: &Answer<'_>) -> Option<u64> {
    match answer.status {
        StatusCode::PARTIAL_CONTENT => one_range(answer.headers).map(|(_, total)| total),
        _ => answer
            .headers
            .get(CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse()
            .ok(),
    }
}

/// True when this answer hands the client what the grant gives: bytes, or the redirect.
fn serves(g: &Grant, method: &Method, status: StatusCode) -> bool {
    if g.is_redirect() {
        status == StatusCode::FOUND
    } else {
        matches!(status, StatusCode::OK | StatusCode::PARTIAL_CONTENT) && method != Method::HEAD
    }
}

impl ViewLimit {
    /// A counted view's answer carries bytes: its continuations may follow, before any byte
    /// is sent. (Redirects are not resumed.) A view that is itself one range (a resume
    /// counted as a new view) already carries that part of the copy its continuations
    /// share; a 200 carries none yet, as the clients that resume abort it part way.
    fn start_view(&self, g: &Grant, ctx: &Ctx<'_>, answer: &Answer<'_>) {
        if !g.is_redirect() {
            let sent = match answer.status {
                StatusCode::PARTIAL_CONTENT => one_range(answer.headers).map_or(0, |(len, _)| len),
                _ => 0,
            };
            self.state.start_view(
                g.view_key(),
                ctx.client_ip,
                &ctx.path.decoded,
                file_size(answer),
                sent,
                g.forget_after(),
            );
        }
    }

    /// The request may continue the last counted view (it is judged on the answer).
    fn may_continue(&self, g: &Grant, ctx: &Ctx<'_>) -> bool {
        !g.is_redirect()
            && (ctx.method == Method::HEAD
                || (ctx.method == Method::GET && single_range(ctx.headers)))
            && self.state.may_continue(
                g.view_key(),
                ctx.client_ip,
                &ctx.path.decoded,
                self.grace,
                ctx.method == Method::GET,
            )
    }
}

/// Counts one view of `g` durably unless its limit is reached.
async fn count(state: &State, g: &Grant) -> Result<(), Reject> {
    if state.is_used_up(g.view_key()) {
        return Err(Reject::ViewLimitReached);
    }
    match state
        .count_view(g.view_key(), g.view_limit(), g.forget_after())
        .await
    {
        Ok(CountOutcome::Counted(_)) => Ok(()),
        Ok(CountOutcome::LimitReached(_)) => Err(Reject::ViewLimitReached),
        Err(e) => {
            tracing::error!(error = %e, "state store unavailable; refusing (fail closed)");
            Err(Reject::StateUnavailable)
        }
    }
}

impl Filter for ViewLimit {
    fn name(&self) -> &'static str {
        "view_limit"
    }

    fn check<'a>(&'a self, ctx: &'a mut Ctx<'_>) -> Step<'a> {
        let Some(g) = &ctx.grant else {
            return Step::Reject(Reject::TokenMissing);
        };
        if g.counts_views() && self.state.is_used_up(g.view_key()) && !self.may_continue(g, ctx) {
            return Step::Reject(Reject::ViewLimitReached);
        }
        Step::Pass
    }

    fn commit<'a>(&'a self, ctx: &'a mut Ctx<'_>) -> Step<'a> {
        let Some(g) = &ctx.grant else {
            return Step::Pass;
        };
        if !g.counts_views() || !(g.is_redirect() || ctx.method == Method::GET) {
            return Step::Pass;
        }
        if self.may_continue(g, ctx) {
            ctx.view = Pending::Continuation;
            return Step::Pass;
        }
        Step::Wait(Box::pin(async move {
            let Some(g) = &ctx.grant else { return Ok(()) };
            count(&self.state, g).await?;
            ctx.view = Pending::Counted;
            Ok(())
        }))
    }

    fn respond<'a>(&'a self, ctx: &'a mut Ctx<'_>, answer: &'a Answer<'a>) -> Step<'a> {
        let Some(g) = &ctx.grant else {
            return Step::Pass;
        };
        let serves = serves(g, ctx.method, answer.status);
        match std::mem::take(&mut ctx.view) {
            Pending::Nothing => Step::Pass,
            Pending::Counted if !serves => Step::Wait(Box::pin(async move {
                let Some(g) = &ctx.grant else { return Ok(()) };
                if let Err(e) = self.state.uncount_view(g.view_key()).await {
                    tracing::warn!(error = %e, "could not give back an unused view");
                }
                Ok(())
            })),
            Pending::Counted => {
                self.start_view(g, ctx, answer);
                Step::Pass
            }
            Pending::Continuation if !serves => Step::Pass,
            Pending::Continuation => {
                let continues = answer.status == StatusCode::PARTIAL_CONTENT
                    && one_range(answer.headers).is_some_and(|(len, total)| {
                        self.state.take_continuation(
                            g.view_key(),
                            ctx.client_ip,
                            &ctx.path.decoded,
                            self.grace,
                            len,
                            total,
                        )
                    });
                if continues {
                    return Step::Pass;
                }
                // Not a continuation after all (a 200, another file, past one copy): a new
                // view, counted before any byte is sent.
                Step::Wait(Box::pin(async move {
                    let Some(g) = &ctx.grant else { return Ok(()) };
                    count(&self.state, g).await?;
                    self.start_view(g, ctx, answer);
                    Ok(())
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: http::header::HeaderName, values: &[&str]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for v in values {
            m.append(name.clone(), v.parse().unwrap());
        }
        m
    }

    #[test]
    fn one_range_only() {
        for ok in ["bytes=0-", "bytes=0-99", "bytes=-5", "bytes= 10-20"] {
            assert!(single_range(&h(RANGE, &[ok])), "{ok}");
        }
        for bad in [
            "bytes=0-1,2-3",
            "bytes=-",
            "bytes=a-b",
            "items=0-1",
            "bytes=0-1, 5-",
            "",
        ] {
            assert!(!single_range(&h(RANGE, &[bad])), "{bad}");
        }
        assert!(!single_range(&h(RANGE, &["bytes=0-1", "bytes=2-3"])));
        assert!(!single_range(&HeaderMap::new()));
    }

    #[test]
    fn content_range_of_one_range() {
        assert_eq!(
            one_range(&h(CONTENT_RANGE, &["bytes 0-9/100"])),
            Some((10, 100))
        );
        assert_eq!(
            one_range(&h(CONTENT_RANGE, &["bytes 99-99/100"])),
            Some((1, 100))
        );
        assert_eq!(one_range(&h(CONTENT_RANGE, &["bytes 0-100/100"])), None);
        assert_eq!(one_range(&h(CONTENT_RANGE, &["bytes 0-9/*"])), None);
        assert_eq!(one_range(&h(CONTENT_RANGE, &["bytes */100"])), None);
    }
}
