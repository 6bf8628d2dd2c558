//! API keys: `Authorization: Bearer sk_...|pk_...`, matched by sha256 against
//! `[[api_keys]]` in constant time. Secret keys mint and revoke; public keys only read.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::envelope::ApiError;
use crate::config::ApiKeyKind;
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

    /// True when `path` (decoded) lies under one of the key's scopes.
    pub fn in_scope(&self, path: &str) -> bool {
        self.scopes.iter().any(|s| path.starts_with(s.as_str()))
    }
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::token::bearer)
            .ok_or(ApiError::Unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let rt = shared.runtime.load();
        // Compare against every key, so the time taken does not tell which one matched.
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
            .is_some_and(|e| e <= crate::proxy::now_unix() as i64)
        {
            return Err(ApiError::ExpiredApiKey);
        }
        Ok(Caller {
            id: k.id.clone(),
            kind: k.kind,
            scopes: k.scopes.clone(),
        })
    }
}
