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
use crate::token::mint::{
    MAX_EXPIRES_IN, MintError, MintRequest, Minted, max_expires_in, mint, parse_ip, validate,
};
use crate::token::{Keyring, Methods};

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

/// The first key that may mint and is not revoked.
fn minting_key(shared: &Shared, keyring: &Keyring) -> Result<String, ApiError> {
    keyring
        .minting_ids()
        .find(|k| !shared.state.is_key_revoked(k))
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::internal("no signing key is available: every minting key is revoked")
        })
}

fn mint_error(e: MintError) -> ApiError {
    ApiError::caused("minting failed", e)
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
    if password
        .as_ref()
        .is_some_and(|p| p.is_empty() || p.len() > crate::password::MAX_PASSWORD_BYTES)
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
    let mut req = MintRequest::new(path.clone().unwrap_or_default());
    req.expires_in = expires_in.unwrap_or(1);
    req.max_views = max_views;
    req.methods = methods.unwrap_or(Methods::GET_HEAD);
    req.ip = ip;
    req.download_name = download_name;
    req.password = password.is_some();
    // The mint rules themselves are the ones `tollgate sign` applies (token::mint); a path
    // problem is already reported by check_path.
    if decoded.is_some() {
        for e in validate(&rt.config, &req) {
            if let Some((field, message)) = e.field() {
                f.invalid(field, message);
            }
        }
    } else if expires_in.is_some_and(|e| e == 0 || e > MAX_EXPIRES_IN) {
        f.invalid(
            "expires_in",
            format!("must be between 1 and {MAX_EXPIRES_IN}"),
        );
    }
    f.finish()?;
    // finish() has returned Ok, so every required field is present and valid.
    let (Some(path), Some(decoded), Some(_), Some(_)) = (path, decoded, expires_in, methods) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    if !caller.in_scope(&decoded) {
        return Err(ApiError::Forbidden(format!(
            "`{path}` is outside this API key's scopes"
        )));
    }
    let kid = minting_key(&shared, &rt.keyring)?;
    let now = crate::clock::now_unix();
    req.key_id = Some(kid.clone());
    let password_hash = match password {
        None => None,
        Some(p) => Some(
            shared
                .state
                .verifier
                .hash(&p, super::links::HASH_WAIT)
                .await
                .map_err(|e| ApiError::internal(format!("hashing the password: {e}")))?,
        ),
    };
    let m = mint(&rt.config, &rt.keyring, &req, now).map_err(mint_error)?;
    let mut rec = record(&m, &decoded, &kid, max_views, &caller, now);
    rec.password_hash = password_hash;
    shared
        .state
        .put_tokens(vec![rec])
        .await
        .map_err(ApiError::from)?;
    Ok(ok(
        StatusCode::CREATED,
        json!({"url": m.url, "token_id": m.token_id, "expires_at": iso(m.expires_at)}),
    ))
}

/// The route that serves origin `name` (the longest prefix, should several).
fn source_route<'r>(rt: &'r Runtime, name: &str) -> Option<&'r crate::config::RouteConfig> {
    let origin = rt.config.origins.iter().position(|o| o.name == name)?;
    rt.config
        .routes
        .iter()
        .filter(|r| r.origin == origin)
        .max_by_key(|r| r.prefix.len())
}

/// Where `path` inside a route's origin is on the gateway: under the route's prefix when
/// the route strips it, else the origin path itself.
fn on_route(route: &crate::config::RouteConfig, path: &str) -> String {
    let rel = path.trim_start_matches('/');
    if route.strip_prefix {
        format!("{}{rel}", route.prefix)
    } else {
        format!("/{rel}")
    }
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
    let source = f.string("source", false);
    // With `source`, each path is inside that origin: the route that serves the origin
    // says where it is on the gateway.
    let route = match source.as_deref() {
        None => None,
        Some(name) => {
            let route = source_route(&rt, name);
            if route.is_none() {
                f.invalid(
                    "source",
                    format!("`{name}` is not an origin that a route serves"),
                );
            }
            route
        }
    };
    let mut gateway_paths = Vec::new();
    let mut decoded = Vec::new();
    if let Some(paths) = &paths {
        if paths.is_empty() || paths.len() > 1000 {
            f.invalid("filePaths", "must hold 1 to 1000 paths");
        }
        for (i, p) in paths.iter().enumerate() {
            let at = route.map_or_else(|| p.clone(), |r| on_route(r, p));
            decoded.push(check_path(&mut f, &format!("filePaths[{i}]"), &at, &rt));
            gateway_paths.push(at);
        }
    }
    let max = decoded
        .iter()
        .flatten()
        .map(|d| max_expires_in(&rt.config, d))
        .min()
        .unwrap_or(MAX_EXPIRES_IN);
    if expires_in == 0 || expires_in > max {
        f.invalid("expires_in", format!("must be between 1 and {max}"));
    }
    f.finish()?;
    let Some(paths) = paths else {
        return Err(ApiError::internal("validated fields missing"));
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
                return Err(ApiError::caused(format!("checking `{p}` at its origin"), e));
            }
        }
    }
    let kid = minting_key(&shared, &rt.keyring)?;
    let now = crate::clock::now_unix();
    let mut tokens = BTreeMap::new();
    let mut records = Vec::new();
    let mut expires_at = now + expires_in;
    for ((p, d), at) in paths.iter().zip(&decoded).zip(&gateway_paths) {
        let mut req = MintRequest::new(at.clone());
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
        .map_err(ApiError::from)?;
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
        .map_err(ApiError::from)?
        .ok_or_else(not_found)?;
    // Tokens outside the caller's scopes do not exist for it.
    if !caller.in_scope(&rec.path) {
        return Err(not_found());
    }
    let views = shared
        .state
        .views(&token_id)
        .await
        .map_err(ApiError::from)?;
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
