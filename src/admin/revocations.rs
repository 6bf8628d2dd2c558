//! `POST /api/v1/revocations`: by token id, by key id (the key is compromised: all its
//! tokens, past and future, answer 410 and the API stops minting with it), or by path prefix
//! and issue time. The revocation is on disk and in the cache before the answer.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::auth::Caller;
use super::envelope::{ApiError, Detail, Fields, JsonBody, iso, ok, parse_iso};
use crate::runtime::Shared;
use crate::state::Revocation;

pub async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    caller.require_secret("revoke")?;
    let rt = shared.runtime.load_full();
    let mut f = Fields::parse(&body)?;
    let token_id = f.string("token_id", false);
    let key_id = f.string("key_id", false);
    let prefix = f.string("prefix", false);
    let issued_before = f.string("issued_before", false);

    let kinds = [token_id.is_some(), key_id.is_some(), prefix.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if let Some(t) = &token_id
        && (t.len() != 22
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        f.invalid("token_id", "must be a 22-character token id");
    }
    if let Some(k) = &key_id
        && !rt.keyring.has_key(k)
    {
        f.invalid("key_id", "no such key in [[keys]]");
    }
    if let Some(p) = &prefix {
        if !p.starts_with('/') {
            f.invalid("prefix", "must start with `/`");
        } else {
            // Compared with decoded request paths: a prefix that does not normalize to
            // itself (dot-segments, `//`, escapes) would never match, and the revocation
            // would be silently ignored.
            let same = crate::path::normalize(&crate::path::encode(p))
                .is_ok_and(|n| n.decoded == p.as_str() || format!("{}/", n.decoded) == *p);
            if !same {
                f.invalid(
                    "prefix",
                    "must be a plain path (no dot-segments, empty segments or escapes)",
                );
            }
        }
    }
    let before = match (&prefix, &issued_before) {
        (Some(_), Some(s)) => match parse_iso(s) {
            Some(t) if t >= 0 => Some(t as u64),
            _ => {
                f.invalid(
                    "issued_before",
                    "must be an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z",
                );
                None
            }
        },
        (None, Some(_)) => {
            f.invalid("issued_before", "is only used with `prefix`");
            None
        }
        _ => None,
    };
    if kinds > 1 {
        f.invalid("token_id", "give exactly one of token_id, key_id or prefix");
    }
    f.finish()?;
    if kinds == 0 {
        return Err(ApiError::MissingField(vec![Detail::new(
            "token_id",
            "one of token_id, key_id or prefix is required",
        )]));
    }
    let r = if let Some(t) = token_id {
        // A token minted through the API for a path outside the caller's scopes is not
        // the caller's to revoke.
        if let Ok(Some(rec)) = shared.state.token(&t).await
            && !caller.in_scope(&rec.path)
        {
            return Err(ApiError::Forbidden(
                "that token is for a path outside this API key's scopes".into(),
            ));
        }
        Revocation::Token { token_id: t }
    } else if let Some(k) = key_id {
        if !caller.is_root() {
            return Err(ApiError::Forbidden(
                "revoking a signing key needs an API key scoped to `/`".into(),
            ));
        }
        Revocation::Key { key_id: k }
    } else if let (Some(p), Some(before)) = (prefix, before) {
        if !caller.in_scope(&p) {
            return Err(ApiError::Forbidden(format!(
                "`{p}` is outside this API key's scopes"
            )));
        }
        Revocation::Prefix {
            prefix: p,
            issued_before: before,
        }
    } else {
        return Err(ApiError::MissingField(vec![Detail::new(
            "issued_before",
            "is required with `prefix`",
        )]));
    };
    shared
        .state
        .revoke(r.clone())
        .await
        .map_err(ApiError::from)?;
    tracing::info!(by = %caller.id, revocation = ?r, "revoked");
    let mut data = serde_json::to_value(&r).unwrap_or_default();
    if let Revocation::Prefix { issued_before, .. } = &r {
        data["issued_before"] = json!(iso(*issued_before));
    }
    data["revoked_at"] = json!(iso(crate::clock::now_unix()));
    Ok(ok(StatusCode::CREATED, data))
}
