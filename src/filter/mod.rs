//! Admission: a route's filters, run in the order its config lists them.
//!
//! Each filter is a small type behind [`Filter`]. A request goes through two passes:
//!
//! 1. **check**, in chain order: side-effect-free. A filter looks at the request (and at what
//!    earlier filters left in [`Ctx`], e.g. the verified [`Claims`]) and passes or rejects.
//! 2. **commit**, in chain order, only once *every* check has passed: the place for effects
//!    (count a view, take a rate-limit token). So a request that some later filter refuses
//!    (a wrong password, say) never uses up a view, whatever order the config gives.
//!
//! Both passes return a [`Step`]; a filter that needs no I/O answers `Pass` or `Reject`
//! without allocating, and one that must wait (a store round-trip) returns `Wait`.
//!
//! The default `commit` does nothing. A route with no filters admits every request.

pub mod password;
pub mod revocation;
pub mod signature;
pub mod view_limit;

use std::borrow::Cow;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::{HeaderMap, Method};

use crate::path::NormalPath;
use crate::token::{Claims, FindError, TokenError};

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
}

/// Run by the proxy when an admitted request ends up sending no bytes, to give back what a
/// `commit` took (a view).
pub type Undo = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Per-request context that filters read and fill in.
pub struct Ctx<'a> {
    pub method: &'a Method,
    /// The path as the request spelled it.
    pub raw_path: &'a str,
    pub path: &'a NormalPath<'a>,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub client_ip: IpAddr,
    /// Unix seconds, read once per request.
    pub now: u64,
    /// Set by the `signature` filter once the token is verified.
    pub claims: Option<Claims>,
    /// The query to forward to the origin. The `signature` filter replaces it with the query
    /// less the token.
    pub forward_query: Cow<'a, str>,
    /// The token came in `Authorization`, so that header must not reach the origin.
    pub strip_authorization: bool,
    /// Set by a `commit` whose effect must be reverted if no bytes are sent.
    pub undo: Option<Undo>,
    /// The connection is TLS (password cookies are then `Secure`).
    pub tls: bool,
    /// A password offered with the request (header or form), taken by the filter that
    /// checks it.
    pub password_attempt: Option<String>,
    /// The request is a browser's password form post: answered with a redirect, not bytes.
    pub form_post: bool,
    /// A `Set-Cookie` value to send with the answer.
    pub set_cookie: Option<String>,
}

impl<'a> Ctx<'a> {
    /// A context with nothing decided yet: no claims, the whole query forwarded.
    pub fn new(
        method: &'a Method,
        raw_path: &'a str,
        path: &'a NormalPath<'a>,
        query: Option<&'a str>,
        headers: &'a HeaderMap,
        client_ip: IpAddr,
        now: u64,
    ) -> Ctx<'a> {
        Ctx {
            method,
            raw_path,
            path,
            query,
            headers,
            client_ip,
            now,
            claims: None,
            forward_query: Cow::Borrowed(query.unwrap_or("")),
            strip_authorization: false,
            undo: None,
            tls: false,
            password_attempt: None,
            form_post: false,
            set_cookie: None,
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

/// An admission filter. See the module docs for when `check` and `commit` run.
pub trait Filter: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Side-effect-free: may reject, may leave facts in `ctx` for later filters.
    fn check<'a>(&'a self, ctx: &'a mut Ctx<'_>) -> Step<'a>;

    /// Runs only after every filter's `check` passed. Default: nothing to do.
    fn commit<'a>(&'a self, _ctx: &'a mut Ctx<'_>) -> Step<'a> {
        Step::Pass
    }
}

/// A route's filters in config order.
#[derive(Clone, Default)]
pub struct Chain {
    filters: Vec<Arc<dyn Filter>>,
}

impl Chain {
    pub fn new(filters: Vec<Arc<dyn Filter>>) -> Chain {
        Chain { filters }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.filters.iter().map(|f| f.name()).collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.filters.iter().any(|f| f.name() == name)
    }

    /// Runs every check and no commit: for a password form post, which sends no bytes.
    pub async fn check_only(&self, ctx: &mut Ctx<'_>) -> Result<(), Reject> {
        for f in &self.filters {
            match f.check(ctx) {
                Step::Pass => {}
                Step::Reject(r) => return Err(r),
                Step::Wait(fut) => fut.await?,
            }
        }
        Ok(())
    }

    /// Runs every check, then every commit.
    pub async fn admit(&self, ctx: &mut Ctx<'_>) -> Result<(), Reject> {
        for f in &self.filters {
            match f.check(ctx) {
                Step::Pass => {}
                Step::Reject(r) => return Err(r),
                Step::Wait(fut) => fut.await?,
            }
        }
        for f in &self.filters {
            match f.commit(ctx) {
                Step::Pass => {}
                Step::Reject(r) => return Err(r),
                Step::Wait(fut) => fut.await?,
            }
        }
        Ok(())
    }
}
