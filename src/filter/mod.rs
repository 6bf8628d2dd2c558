//! Admission: one chain of filters judges every grant (see [`crate::grant`]), whatever
//! credential it came from, in the order the route's config lists them.
//!
//! Each filter is a small type behind [`Filter`], and a request goes through three passes:
//!
//! 1. **check**, in chain order: free of effects but for the password guess budget. A filter
//!    looks at the request and its grant and passes or rejects.
//! 2. **commit**, in chain order, only once *every* check has passed: the place for effects
//!    (count a view, take a rate-limit cell). So a request that some later filter refuses
//!    (a wrong password, say) never uses up a view, whatever order the config gives.
//! 3. **respond**, once the origin's answer head is known and before any byte of it is
//!    sent: a filter may still refuse (the answer is then dropped unsent) or settle what it
//!    committed (give back a view that sent no bytes, decide whether a range continues a
//!    view).
//!
//! Every pass returns a [`Step`]: a filter that needs no I/O answers `Pass` or `Reject`
//! without allocating, one that must wait (a store round trip) returns `Wait`. The default
//! `commit` and `respond` do nothing.
//!
//! `revocation` is in every chain that judges grants: [`Chain::new`] adds it after
//! `signature` when a route's config leaves it out, so no route can ignore a revocation.
//! Adding a filter is one file here plus its name in `config` and `runtime`.

pub mod password;
pub mod rate_limit;
pub mod revocation;
pub mod signature;
pub mod view_limit;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode};

use crate::grant::Grant;
use crate::path::NormalPath;
use crate::token::{FindError, TokenError};

/// Why a filter refused a request. Mapped to status, code and message in
/// `proxy::respond`, exhaustively, so a new reason cannot ship without its status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("this path needs a token")]
    TokenMissing,
    #[error(transparent)]
    Find(#[from] FindError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the path is not spelled canonically")]
    PathNotCanonical,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued in the future")]
    IssuedInFuture,
    #[error("the token has expired")]
    Expired,
    #[error("the token's lifetime is longer than this route allows")]
    TtlTooLong,
    #[error("the token does not allow this method")]
    MethodNotAllowed,
    #[error("the token is not valid for this path")]
    PathMismatch,
    #[error("the token is not valid from this address")]
    IpMismatch,
    #[error("the token carries a rule this route does not enforce")]
    Unenforceable,
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token has no views left")]
    ViewLimitReached,
    #[error("the state store is unavailable")]
    StateUnavailable,
    #[error("this link needs a password")]
    PasswordRequired,
    #[error("the password is not right")]
    PasswordWrong,
    #[error("too many password attempts; try again later")]
    TooManyGuesses { retry_after: u64 },
    #[error("the gateway is busy; try again shortly")]
    Busy,
    #[error("too many requests; try again later")]
    RateLimited { retry_after: u64 },
}

/// Per-request context that filters read and fill in.
pub struct Ctx<'a> {
    /// The method the chain judges (a password form post is judged as the GET it unlocks).
    pub method: &'a Method,
    /// The path as the request spelled it.
    pub raw_path: &'a str,
    pub path: &'a NormalPath<'a>,
    /// The decoded path that is served: the request's own, or a link's target.
    pub target: &'a str,
    pub headers: &'a HeaderMap,
    pub client_ip: IpAddr,
    /// Unix seconds, read once per request.
    pub now: u64,
    /// What the request's credential allows; `None` when it carried none.
    pub grant: Option<Grant>,
    /// The connection is TLS (password cookies are then `Secure`).
    pub tls: bool,
    /// A password offered with the request (header or form), taken by the filter that
    /// checks it.
    pub password_attempt: Option<String>,
    /// The request is a browser's password form post: answered with a redirect, not bytes.
    pub form_post: bool,
    /// A `Set-Cookie` value to send with the answer.
    pub set_cookie: Option<String>,
    /// What `view_limit` committed, settled in its `respond`.
    pub view: view_limit::Pending,
}

impl<'a> Ctx<'a> {
    /// A context with nothing decided yet.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        method: &'a Method,
        raw_path: &'a str,
        path: &'a NormalPath<'a>,
        target: &'a str,
        headers: &'a HeaderMap,
        client_ip: IpAddr,
        now: u64,
        grant: Option<Grant>,
    ) -> Ctx<'a> {
        Ctx {
            method,
            raw_path,
            path,
            target,
            headers,
            client_ip,
            now,
            grant,
            tls: false,
            password_attempt: None,
            form_post: false,
            set_cookie: None,
            view: view_limit::Pending::Nothing,
        }
    }
}

pub type WaitFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Reject>> + Send + 'a>>;

/// One filter's answer.
pub enum Step<'a> {
    Pass,
    Reject(Reject),
    /// The answer needs I/O.
    Wait(WaitFuture<'a>),
}

impl From<Result<(), Reject>> for Step<'_> {
    fn from(r: Result<(), Reject>) -> Self {
        match r {
            Ok(()) => Step::Pass,
            Err(e) => Step::Reject(e),
        }
    }
}

impl Step<'_> {
    async fn run(self) -> Result<(), Reject> {
        match self {
            Step::Pass => Ok(()),
            Step::Reject(r) => Err(r),
            Step::Wait(fut) => fut.await,
        }
    }
}

/// The head of the answer a request is about to get: the origin's, a redirect, or the
/// status an origin failure maps to (with no headers).
pub struct Answer<'a> {
    pub status: StatusCode,
    pub headers: &'a HeaderMap,
}

/// An admission filter. See the module docs for when each pass runs.
pub trait Filter: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// May reject; must not count or spend anything but password guesses.
    fn check<'a>(&'a self, ctx: &'a mut Ctx<'_>) -> Step<'a>;

    /// Runs only after every filter's `check` passed. Default: nothing to do.
    fn commit<'a>(&'a self, _ctx: &'a mut Ctx<'_>) -> Step<'a> {
        Step::Pass
    }

    /// Runs once the answer's head is known, before any byte is sent; a `Reject` drops the
    /// answer unsent. Default: nothing to do.
    fn respond<'a>(&'a self, _ctx: &'a mut Ctx<'_>, _answer: &'a Answer<'a>) -> Step<'a> {
        Step::Pass
    }
}

/// A route's filters in config order, with `revocation` always among them when grants
/// are judged.
#[derive(Clone, Default)]
pub struct Chain {
    filters: Vec<Arc<dyn Filter>>,
}

impl Chain {
    /// A chain of `filters` in order; `revocation` (built by `revocation`) is put right
    /// after `signature` when the list has the one and not the other.
    pub fn new(
        mut filters: Vec<Arc<dyn Filter>>,
        revocation: impl FnOnce() -> Arc<dyn Filter>,
    ) -> Chain {
        let names: Vec<&str> = filters.iter().map(|f| f.name()).collect();
        if !names.contains(&"revocation")
            && let Some(i) = names.iter().position(|n| *n == "signature")
        {
            filters.insert(i + 1, revocation());
        }
        Chain { filters }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.filters.iter().map(|f| f.name()).collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.filters.iter().any(|f| f.name() == name)
    }

    /// Every check, in order.
    pub async fn check(&self, ctx: &mut Ctx<'_>) -> Result<(), Reject> {
        for f in &self.filters {
            f.check(ctx).run().await?;
        }
        Ok(())
    }

    /// Every commit, in order: call only after [`Chain::check`] passed.
    pub async fn commit(&self, ctx: &mut Ctx<'_>) -> Result<(), Reject> {
        for f in &self.filters {
            f.commit(ctx).run().await?;
        }
        Ok(())
    }

    /// Every respond, in order; all of them run even after a refusal, so that each filter
    /// settles what it committed.
    pub async fn respond(&self, ctx: &mut Ctx<'_>, answer: &Answer<'_>) -> Result<(), Reject> {
        let mut result = Ok(());
        for f in &self.filters {
            if let Err(e) = f.respond(ctx, answer).run().await
                && result.is_ok()
            {
                result = Err(e);
            }
        }
        result
    }
}
