//! THE one place where a refusal becomes a status, a code and a body. Every match here is
//! exhaustive and has no catch-all arm: a new reason cannot ship without its status.

use http::header::{ALLOW, CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use tracing::error;

use crate::body::Body;
use crate::filter::Reject;
use crate::origin::OriginError;
use crate::path::PathError;
use crate::token::{FindError, TokenError};

/// Everything that can stop a data-plane request.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("no route serves this path")]
    NoRoute,
    #[error(transparent)]
    Filter(#[from] Reject),
    #[error(transparent)]
    Origin(#[from] OriginError),
    #[error("the password form could not be read")]
    BadForm,
    #[error("no such link")]
    LinkNotFound,
    #[error("this link has been deleted")]
    LinkDeleted,
    #[error("this link's target is no longer served here")]
    LinkTargetGone,
}

/// Status and stable machine-readable code for each reason.
pub fn status_and_code(e: &ProxyError) -> (StatusCode, &'static str) {
    use StatusCode as S;
    match e {
        ProxyError::Path(p) => match p {
            PathError::NotAbsolute
            | PathError::BadEscape
            | PathError::Slash
            | PathError::Control
            | PathError::DotSegment
            | PathError::EmptySegment
            | PathError::NotUtf8 => (S::BAD_REQUEST, "BAD_PATH"),
            PathError::TooLong => (S::URI_TOO_LONG, "PATH_TOO_LONG"),
        },
        ProxyError::NoRoute => (S::NOT_FOUND, "ROUTE_NOT_FOUND"),
        ProxyError::BadForm => (S::BAD_REQUEST, "BAD_FORM"),
        ProxyError::LinkNotFound => (S::NOT_FOUND, "LINK_NOT_FOUND"),
        ProxyError::LinkDeleted => (S::GONE, "LINK_DELETED"),
        ProxyError::LinkTargetGone => (S::NOT_FOUND, "NOT_FOUND"),
        ProxyError::Filter(r) => match r {
            Reject::TokenMissing => (S::UNAUTHORIZED, "TOKEN_MISSING"),
            Reject::Find(FindError::Duplicate) => (S::FORBIDDEN, "DUPLICATE_TOKEN"),
            Reject::Find(FindError::EmptyParameter) => (S::FORBIDDEN, "BAD_QUERY"),
            Reject::Token(TokenError::Malformed(_)) => (S::FORBIDDEN, "INVALID_TOKEN"),
            Reject::Token(TokenError::UnknownKey) => (S::FORBIDDEN, "UNKNOWN_KEY"),
            Reject::Token(TokenError::BadSignature) => (S::FORBIDDEN, "BAD_SIGNATURE"),
            Reject::PathNotCanonical => (S::FORBIDDEN, "PATH_NOT_CANONICAL"),
            Reject::NotYetValid => (S::FORBIDDEN, "NOT_YET_VALID"),
            Reject::IssuedInFuture => (S::FORBIDDEN, "INVALID_TOKEN"),
            Reject::TtlTooLong => (S::FORBIDDEN, "TTL_TOO_LONG"),
            Reject::Expired => (S::GONE, "EXPIRED"),
            Reject::MethodNotAllowed => (S::FORBIDDEN, "METHOD_NOT_ALLOWED"),
            Reject::PathMismatch => (S::FORBIDDEN, "PATH_MISMATCH"),
            Reject::IpMismatch => (S::FORBIDDEN, "IP_MISMATCH"),
            Reject::Unenforceable => (S::FORBIDDEN, "UNENFORCEABLE_TOKEN"),
            Reject::Revoked => (S::GONE, "REVOKED"),
            Reject::ViewLimitReached => (S::GONE, "VIEW_LIMIT_REACHED"),
            Reject::StateUnavailable => (S::SERVICE_UNAVAILABLE, "STATE_UNAVAILABLE"),
            Reject::PasswordRequired => (S::UNAUTHORIZED, "PASSWORD_REQUIRED"),
            Reject::PasswordWrong => (S::UNAUTHORIZED, "PASSWORD_INVALID"),
            Reject::TooManyGuesses { .. } => (S::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS"),
            Reject::Busy => (S::SERVICE_UNAVAILABLE, "BUSY"),
            Reject::RateLimited { .. } => (S::TOO_MANY_REQUESTS, "RATE_LIMITED"),
        },
        ProxyError::Origin(o) => match o {
            OriginError::NotFound | OriginError::OutsideRoot => (S::NOT_FOUND, "NOT_FOUND"),
            OriginError::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            OriginError::RangeNotSatisfiable { .. } => {
                (S::RANGE_NOT_SATISFIABLE, "RANGE_NOT_SATISFIABLE")
            }
            OriginError::Io(_) => (S::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
            OriginError::Request(_) => (S::BAD_GATEWAY, "BAD_GATEWAY"),
            OriginError::Unreachable(_) => (S::BAD_GATEWAY, "ORIGIN_UNREACHABLE"),
            OriginError::Timeout => (S::GATEWAY_TIMEOUT, "ORIGIN_TIMEOUT"),
        },
    }
}

pub use crate::telemetry::reference_id;

/// True when the client prefers an HTML page (a browser).
pub fn wants_html(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// Builds the error response. 5xx errors are logged here with their source chain and the
/// reference id the client sees.
pub fn error(e: &ProxyError, html: bool) -> Response<Body> {
    let (status, code) = status_and_code(e);
    let reference = reference_id();
    let message = e.to_string();
    if status.is_server_error() {
        let mut chain = String::new();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            src = s.source();
        }
        error!(reference_id = %reference, code, "{message}{chain}");
    }
    let mut resp = match e {
        ProxyError::Filter(Reject::PasswordRequired) if html => {
            super::password_form::page(false, &reference)
        }
        ProxyError::Filter(Reject::PasswordWrong) if html => {
            super::password_form::page(true, &reference)
        }
        _ => body(status, code, &message, &reference, html),
    };
    let h = resp.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match e {
        ProxyError::Origin(OriginError::RangeNotSatisfiable { len }) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                h.insert(CONTENT_RANGE, v);
            }
        }
        ProxyError::Origin(OriginError::MethodNotAllowed) => {
            h.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        ProxyError::Filter(
            Reject::TooManyGuesses { retry_after } | Reject::RateLimited { retry_after },
        ) => {
            h.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        _ => {}
    }
    resp
}

/// The contract's error envelope, as JSON or as a small HTML page.
pub fn body(
    status: StatusCode,
    code: &str,
    message: &str,
    reference: &str,
    html: bool,
) -> Response<Body> {
    let (ctype, text) = if html {
        let title = status.canonical_reason().unwrap_or("Error");
        (
            "text/html; charset=utf-8",
            format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>{} {title}</title>\
                 <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;color:#222}}\
                 code{{color:#666}}</style></head><body><h1>{} {title}</h1><p>{}</p>\
                 <p><code>{code} · reference {reference}</code></p></body></html>",
                status.as_u16(),
                status.as_u16(),
                escape_html(message),
            ),
        )
    } else {
        let v = serde_json::json!({
            "success": false,
            "error": {"code": code, "message": message, "reference_id": reference},
        });
        ("application/json", v.to_string())
    };
    let mut resp = Response::new(Body::full(text));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    resp
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
