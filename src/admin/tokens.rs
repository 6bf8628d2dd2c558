//! Minting through the API: `POST /api/v1/signed-urls`, `POST /api/v1/file-access`, and
//! reading a minted token back: `GET /api/v1/tokens/{token_id}` (an extension: its views).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::auth::Caller;
use super::envelope::{ApiError, Fields, JsonBody, Segment, iso, ok};
use crate::runtime::{Runtime, Shared};
use crate::state::TokenRecord;
use crate::token::mint::{MintError, MintRequest, Minted, mint, parse_ip};
use crate::token::{Keyring, Methods};

/// The contract's ceiling for `expires_in`, whatever a route allows.
pub const MAX_EXPIRES_IN: u64 = 604_800;

/// Checks a path field: absolute, no escapes, served by a route. Returns the decoded path.
fn check_path(f: &mut Fields, field: &str, path: &str, rt: &Runtime) -> Option<String> {
    if !path.starts_with('/') {
        f.invalid(field, "must be an absolute path starting with `/`");
        return None;
    }
    match crate::path::normalize(&crate::path::encode(path)) {
        Err(e) => {
            f.invalid(field, format!("is not allowed: {e}"));
            None
        }
        Ok(p) if rt.route_for(&p.decoded).is_none() => {
            f.invalid(field, "no route serves this path");
            None
        }
        Ok(p) => Some(p.decoded.into_owned()),
    }
}

/// The route's `max_ttl` for a routed path, in seconds.
fn max_ttl(rt: &Runtime, decoded: &str) -> u64 {
    rt.config
        .route_for(decoded)
        .map(|r| r.max_ttl.as_secs())
        .unwrap_or(0)
        .min(MAX_EXPIRES_IN)
}

/// True when the route serving `decoded` runs filter `kind`.
fn route_enforces(rt: &Runtime, decoded: &str, kind: crate::config::FilterKind) -> bool {
    rt.config
        .route_for(decoded)
        .is_some_and(|r| r.filters.contains(&kind))
}

/// The first key that may mint and is not revoked.
fn minting_key(shared: &Shared, keyring: &Keyring) -> Result<String, ApiError> {
    keyring
        .minting_ids()
        .find(|k| !shared.state.is_key_revoked(k))
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::Internal("no signing key is available: every minting key is revoked".into())
        })
}

fn mint_error(e: MintError) -> ApiError {
    ApiError::Internal(format!("minting failed: {e}"))
}

fn record(
    m: &Minted,
    path: &str,
    kid: &str,
    max_views: Option<u64>,
    caller: &Caller,
    now: u64,
) -> TokenRecord {
    TokenRecord {
        token_id: m.token_id.clone(),
        path: path.to_owned(),
        key_id: kid.to_owned(),
        issued_at: now,
        expires_at: m.expires_at,
        max_views,
        minted_by: caller.id.clone(),
        password_hash: None,
    }
}

pub async fn signed_url(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    caller.require_secret("mint URLs")?;
    let rt = shared.runtime.load_full();
    let mut f = Fields::parse(&body)?;
    let path = f.string("path", true);
    let expires_in = f.uint("expires_in", true);
    let max_views = f.uint("max_views", false);
    let password = f.string("password", false);
    let methods = f.strings("methods", false);
    let client_ip = f.string("client_ip", false);
    let download_name = f.string("download_name", false);

    let decoded = path
        .as_deref()
        .and_then(|p| check_path(&mut f, "path", p, &rt));
    if let Some(e) = expires_in {
        let max = decoded
            .as_deref()
            .map_or(MAX_EXPIRES_IN, |d| max_ttl(&rt, d));
        if e == 0 || e > max {
            f.invalid("expires_in", format!("must be between 1 and {max}"));
        }
    }
    if max_views == Some(0) {
        f.invalid("max_views", "must be greater than 0");
    }
    if let Some(p) = &password
        && (p.is_empty() || p.len() > crate::password::MAX_PASSWORD_BYTES)
    {
        f.invalid("password", "must be 1 to 1024 bytes");
    }
    let methods = match methods {
        None => Some(Methods::GET_HEAD),
        Some(list) if list.is_empty() => {
            f.invalid("methods", "must not be empty");
            None
        }
        Some(list) => match Methods::parse_list(&list.join(",")) {
            Ok(m) => Some(m),
            Err(e) => {
                f.invalid("methods", e);
                None
            }
        },
    };
    let ip = match client_ip.as_deref().map(parse_ip) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            f.invalid("client_ip", "must be an IP address or CIDR");
            None
        }
    };
    if download_name
        .as_deref()
        .is_some_and(|d| d.is_empty() || d.chars().any(char::is_control) || d.len() > 255)
    {
        f.invalid(
            "download_name",
            "must be 1 to 255 bytes without control characters",
        );
    }
    f.finish()?;
    // finish() has returned Ok, so every required field is present and valid.
    let (Some(path), Some(decoded), Some(expires_in), Some(methods)) =
        (path, decoded, expires_in, methods)
    else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    if !caller.in_scope(&decoded) {
        return Err(ApiError::Forbidden(format!(
            "`{path}` is outside this API key's scopes"
        )));
    }
    let kid = minting_key(&shared, &rt.keyring)?;
    let now = crate::clock::now_unix();
    let mut req = MintRequest::new(path.clone());
    req.expires_in = expires_in;
    req.max_views = max_views;
    req.methods = methods;
    req.ip = ip;
    req.download_name = download_name;
    req.key_id = Some(kid.clone());
    if password.is_some() && !route_enforces(&rt, &decoded, crate::config::FilterKind::Password) {
        return Err(ApiError::Validation(vec![super::envelope::Detail::new(
            "password",
            "the route serving this path has no `password` filter",
        )]));
    }
    if max_views.is_some() && !route_enforces(&rt, &decoded, crate::config::FilterKind::ViewLimit) {
        return Err(ApiError::Validation(vec![super::envelope::Detail::new(
            "max_views",
            "the route serving this path has no `view_limit` filter",
        )]));
    }
    req.password = password.is_some();
    let password_hash = match password {
        None => None,
        Some(p) => Some(
            shared
                .state
                .verifier
                .hash(&p, super::links::HASH_WAIT)
                .await
                .map_err(ApiError::Internal)?,
        ),
    };
    let m = mint(&rt.config, &rt.keyring, &req, now).map_err(mint_error)?;
    let mut rec = record(&m, &decoded, &kid, max_views, &caller, now);
    rec.password_hash = password_hash;
    shared
        .state
        .put_tokens(vec![rec])
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(ok(
        StatusCode::CREATED,
        json!({"url": m.url, "token_id": m.token_id, "expires_at": iso(m.expires_at)}),
    ))
}

pub async fn file_access(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    caller.require_secret("mint tokens")?;
    let rt = shared.runtime.load_full();
    let mut f = Fields::parse(&body)?;
    let paths = f.strings("filePaths", true);
    let expires_in = f.uint("expires_in", false).unwrap_or(300);
    let mut decoded = Vec::new();
    if let Some(paths) = &paths {
        if paths.is_empty() || paths.len() > 1000 {
            f.invalid("filePaths", "must hold 1 to 1000 paths");
        }
        for (i, p) in paths.iter().enumerate() {
            decoded.push(check_path(&mut f, &format!("filePaths[{i}]"), p, &rt));
        }
    }
    let max = decoded
        .iter()
        .flatten()
        .map(|d| max_ttl(&rt, d))
        .min()
        .unwrap_or(MAX_EXPIRES_IN);
    if expires_in == 0 || expires_in > max {
        f.invalid("expires_in", format!("must be between 1 and {max}"));
    }
    f.finish()?;
    let Some(paths) = paths else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let decoded: Vec<String> = decoded.into_iter().flatten().collect();
    if let Some(p) = paths
        .iter()
        .zip(&decoded)
        .find(|(_, d)| !caller.in_scope(d))
    {
        return Err(ApiError::Forbidden(format!(
            "`{}` is outside this API key's scopes",
            p.0
        )));
    }
    for (p, d) in paths.iter().zip(&decoded) {
        // check_path guaranteed a route.
        let Some(route) = rt.route_for(d) else {
            continue;
        };
        let origin_path = if route.strip_prefix {
            format!("/{}", &d[route.prefix.len()..])
        } else {
            d.clone()
        };
        match route.origin.exists(&origin_path).await {
            Ok(true) => {}
            Ok(false) => return Err(ApiError::NotFound(format!("`{p}` does not exist"))),
            Err(e) => {
                return Err(ApiError::Internal(format!(
                    "checking `{p}` at its origin: {e}"
                )));
            }
        }
    }
    let kid = minting_key(&shared, &rt.keyring)?;
    let now = crate::clock::now_unix();
    let mut tokens = BTreeMap::new();
    let mut records = Vec::new();
    let mut expires_at = now + expires_in;
    for (p, d) in paths.iter().zip(&decoded) {
        let mut req = MintRequest::new(p.clone());
        req.expires_in = expires_in;
        req.key_id = Some(kid.clone());
        let m = mint(&rt.config, &rt.keyring, &req, now).map_err(mint_error)?;
        expires_at = m.expires_at;
        records.push(record(&m, d, &kid, None, &caller, now));
        tokens.insert(p.clone(), m.token);
    }
    shared
        .state
        .put_tokens(records)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let n = tokens.len();
    Ok(ok(
        StatusCode::OK,
        json!({
            "access_tokens": tokens,
            "expires_at": iso(expires_at),
            "message": format!("{n} access token(s) issued; send each as ?token= or Authorization: Bearer on its path"),
        }),
    ))
}

pub async fn get_token(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Segment(token_id): Segment,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("no token `{token_id}`"));
    let rec = shared
        .state
        .token(&token_id)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or_else(not_found)?;
    // Tokens outside the caller's scopes do not exist for it.
    if !caller.in_scope(&rec.path) {
        return Err(not_found());
    }
    let views = shared
        .state
        .views(&token_id)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "token_id": rec.token_id,
            "path": rec.path,
            "key_id": rec.key_id,
            "issued_at": iso(rec.issued_at),
            "expires_at": iso(rec.expires_at),
            "max_views": rec.max_views,
            "views": views,
        }),
    ))
}
