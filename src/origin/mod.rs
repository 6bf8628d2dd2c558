//! Origins: where the bytes come from once a request is admitted.
//!
//! An [`Origin`] gets a request whose path is already normalised and stripped of the route
//! prefix, and whose query no longer holds the token. It answers with a streamed response, or
//! an [`OriginError`] that `proxy::respond` turns into the status the contract names.

pub mod dir;
pub mod http;
pub mod range;

use std::future::Future;
use std::pin::Pin;

use ::http::{HeaderMap, Method, Response};
use hyper::body::Incoming;

use crate::body::Body;

/// What an origin is asked for.
pub struct OriginRequest {
    pub method: Method,
    /// Decoded, normalised, starting with `/`.
    pub path: String,
    /// Raw query string to pass on (never contains the token); empty for none.
    pub query: String,
    /// The request's headers, already cleaned by the proxy: no token, no password, no
    /// forwarding header the gateway does not vouch for, and its own `X-Forwarded-*`.
    pub headers: HeaderMap,
    pub body: Incoming,
    /// Progress for the client connection's deadlines, as the body is read.
    pub progress: Option<crate::server::guard::Progress>,
}

#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("no such file")]
    NotFound,
    #[error("the path resolves outside the origin's root")]
    OutsideRoot,
    #[error("this origin serves only GET and HEAD")]
    MethodNotAllowed,
    #[error("the requested range is not satisfiable")]
    RangeNotSatisfiable { len: u64 },
    #[error("reading the file failed")]
    Io(#[source] std::io::Error),
    #[error("the origin could not be reached")]
    Unreachable(#[source] hyper_util::client::legacy::Error),
    #[error("the upstream request could not be built")]
    Request(#[source] ::http::Error),
    #[error("the origin did not answer in time")]
    Timeout,
}

pub type OriginFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Response<Body>, OriginError>> + Send + 'a>>;

pub type ExistsFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, OriginError>> + Send + 'a>>;

/// A source of files. `serve` is called once per admitted request; `exists` by the control
/// API before it mints tokens for a path (`path` as in [`OriginRequest::path`]).
pub trait Origin: Send + Sync + 'static {
    fn serve(&self, req: OriginRequest) -> OriginFuture<'_>;
    fn exists(&self, path: &str) -> ExistsFuture<'_>;

    /// The request's headers leave the process (an upstream server): the proxy then takes
    /// out what only the gateway may see and sets the forwarding headers. A local origin
    /// only reads `Range` and the conditionals, and is spared that work. Default: true.
    fn sends_headers(&self) -> bool {
        true
    }
}
