//! API keys: `Authorization: Bearer sk_...|pk_...`, matched by sha256 against
//! `[[api_keys]]` in constant time. Secret keys mint and revoke; public keys only read.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::envelope::ApiError;
use crate::config::{ApiKeyKind, Rate};
use crate::limits::Allowance;
use crate::runtime::Shared;

/// The authenticated caller of an API request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: String,
    pub kind: ApiKeyKind,
    pub scopes: Vec<String>,
}

impl Caller {
    /// Minting and revoking need a secret key.
    pub fn require_secret(&self, what: &str) -> Result<(), ApiError> {
        match self.kind {
            ApiKeyKind::Secret => Ok(()),
            ApiKeyKind::Public => Err(ApiError::Forbidden(format!(
                "a public API key cannot {what}; use a secret (sk_) key"
            ))),
        }
    }

    /// True when `path` (decoded) lies under one of the key's scopes, by whole segments:
    /// scope `/files` covers `/files/a.pdf`, not `/files-private/a.pdf`.
    pub fn in_scope(&self, path: &str) -> bool {
        self.scopes.iter().any(|s| crate::path::under(path, s))
    }

    /// Scoped to everything (`/`): needed to revoke a signing key or to create a link to
    /// an external URL.
    pub fn is_root(&self) -> bool {
        self.scopes.iter().any(|s| s == "/")
    }
}

/// Authenticates a request's API key. Compares against every configured key so the time
/// taken does not tell which one matched.
pub fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
) -> Result<(Caller, Option<Rate>), ApiError> {
    let key = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::token::bearer)
        .ok_or(ApiError::Unauthorized)?;
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let rt = shared.runtime.load();
    let mut found = None;
    for k in &rt.config.api_keys {
        if bool::from(digest.ct_eq(&k.sha256)) {
            found = Some(k);
        }
    }
    let k = found.ok_or(ApiError::InvalidApiKey)?;
    let prefix_ok = match k.kind {
        ApiKeyKind::Secret => key.starts_with("sk_"),
        ApiKeyKind::Public => key.starts_with("pk_"),
    };
    if !prefix_ok {
        return Err(ApiError::InvalidApiKey);
    }
    if k.expires
        .is_some_and(|e| e <= crate::clock::now_unix() as i64)
    {
        return Err(ApiError::ExpiredApiKey);
    }
    Ok((
        Caller {
            id: k.id.clone(),
            kind: k.kind,
            scopes: k.scopes.clone(),
        },
        k.rate_limit,
    ))
}

/// Middleware on `/api/v1/*`: authenticates, applies the key's `rate_limit`, and adds
/// `RateLimit-*` and `X-RateLimit-*` headers to the answer.
pub async fn gate(State(shared): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let (caller, rate) = match authenticate(&shared, req.headers()) {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let allowance = match rate {
        None => None,
        Some(rate) => match shared.api_limits.check(&caller.id, rate) {
            Ok(a) => Some(a),
            Err(retry_after) => {
                let mut resp = ApiError::RateLimited { retry_after }.into_response();
                add_headers(
                    resp.headers_mut(),
                    Allowance {
                        limit: rate.count,
                        remaining: 0,
                        reset: retry_after,
                    },
                );
                return resp;
            }
        },
    };
    req.extensions_mut().insert(caller);
    let mut resp = next.run(req).await;
    if let Some(a) = allowance {
        add_headers(resp.headers_mut(), a);
    }
    resp
}

fn add_headers(h: &mut HeaderMap, a: Allowance) {
    for (name, v) in [
        ("ratelimit-limit", a.limit as u64),
        ("ratelimit-remaining", a.remaining as u64),
        ("ratelimit-reset", a.reset),
        ("x-ratelimit-limit", a.limit as u64),
        ("x-ratelimit-remaining", a.remaining as u64),
        ("x-ratelimit-reset", a.reset),
    ] {
        h.insert(name, HeaderValue::from(v));
    }
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = ApiError;

    /// Set by [`gate`], which runs before every `/api/v1/*` handler.
    async fn from_request_parts(
        parts: &mut Parts,
        _shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}
