//! Short links: `POST /api/v1/links`, `GET` and `DELETE /api/v1/links/{shortCode}`.
//! Served on the data plane at `/s/{shortCode}` (see `proxy::links`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::auth::Caller;
use super::envelope::{ApiError, Detail, Fields, JsonBody, Segment, iso, ok, parse_iso};
use crate::config::FilterKind;
use crate::password::MAX_PASSWORD_BYTES;
use crate::runtime::Shared;
use crate::state::Link;

fn new_code() -> String {
    let mut b = [0u8; 12];
    rand::Rng::fill(&mut rand::thread_rng(), &mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// An absolute http(s) URL with a host. Everything else (`javascript:`, `data:`,
/// `ftp:`, relative, schemeless) is refused.
fn external_ok(s: &str) -> bool {
    if s.len() > 4096 || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return false;
    }
    matches!(s.parse::<http::Uri>(), Ok(u) if u.host().is_some_and(|h| !h.is_empty()))
}

fn view(shared: &Shared, link: &Link, views: u64, last: Option<u64>) -> Value {
    let public = &shared.runtime.load().config.public_url;
    json!({
        "shortCode": link.code,
        "url": format!("{public}{}{}", Link::PREFIX, link.code),
        "targetUrl": link.target,
        "expiresAt": link.expires_at.map(iso),
        "maxViews": link.max_views,
        "views": views,
        "createdAt": iso(link.created_at),
        "lastAccessedAt": last.map(iso),
        "passwordProtected": link.password_hash.is_some(),
    })
}

/// A caller may see a link whose target path is in its scopes, or an external link it made
/// (or any, with scope `/`).
fn visible(caller: &Caller, link: &Link) -> bool {
    if link.is_external() {
        link.created_by == caller.id || caller.is_root()
    } else {
        caller.in_scope(&link.target)
    }
}

/// Longest a caller waits for a password slot.
pub const HASH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

pub async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    caller.require_secret("create links")?;
    let rt = shared.runtime.load_full();
    let mut f = Fields::parse(&body)?;
    let target = f.string("targetUrl", true);
    let expires_at = f.string("expiresAt", false);
    let max_views = f.uint("maxViews", false);
    let password = f.string("password", false);
    let now = crate::clock::now_unix();

    let mut path_target = None;
    if let Some(t) = &target {
        if t.starts_with('/') {
            match crate::path::normalize(&crate::path::encode(t)) {
                Ok(p) if !t.contains('?') && rt.route_for(&p.decoded).is_some() => {
                    path_target = Some(p.decoded.into_owned());
                }
                _ => f.invalid(
                    "targetUrl",
                    "must be a valid URL (absolute http or https) or a path under a route",
                ),
            }
        } else if !external_ok(t) {
            f.invalid(
                "targetUrl",
                "must be a valid URL (absolute http or https) or a path under a route",
            );
        }
    }
    let expires = match expires_at.as_deref().map(parse_iso) {
        None => None,
        Some(None) => {
            f.invalid(
                "expiresAt",
                "must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z",
            );
            None
        }
        Some(Some(t)) if t <= now as i64 => {
            f.invalid("expiresAt", "must be a future date");
            None
        }
        Some(Some(t)) => Some(t as u64),
    };
    if max_views == Some(0) {
        f.invalid("maxViews", "must be greater than 0");
    }
    if let Some(p) = &password
        && (p.is_empty() || p.len() > MAX_PASSWORD_BYTES)
    {
        f.invalid("password", "must be 1 to 1024 bytes");
    }
    f.finish()?;
    let Some(target) = target else {
        return Err(internal("validated fields missing"));
    };
    // The rules a link carries must be enforceable on the route that serves it, as for
    // a token (see token::mint::validate).
    if let Some(route) = path_target.as_deref().and_then(|p| rt.config.route_for(p)) {
        let has = |k: FilterKind| route.filters.contains(&k);
        let mut details = Vec::new();
        if max_views.is_some() && has(FilterKind::Signature) && !has(FilterKind::ViewLimit) {
            details.push(Detail::new(
                "maxViews",
                "the route serving this path has no `view_limit` filter",
            ));
        }
        if password.is_some() && has(FilterKind::Signature) && !has(FilterKind::Password) {
            details.push(Detail::new(
                "password",
                "the route serving this path has no `password` filter",
            ));
        }
        if !details.is_empty() {
            return Err(ApiError::Validation(details));
        }
    }
    match &path_target {
        Some(p) if !caller.in_scope(p) => {
            return Err(ApiError::Forbidden(format!(
                "`{target}` is outside this API key's scopes"
            )));
        }
        // A link on the public domain to any URL is an open redirect in the wrong hands:
        // only a key scoped to everything may make one.
        None if !caller.is_root() => {
            return Err(ApiError::Forbidden(
                "a link to an external URL needs an API key scoped to `/`".into(),
            ));
        }
        _ => {}
    }
    let password_hash = match password {
        None => None,
        Some(p) => Some(
            shared
                .state
                .verifier
                .hash(&p, HASH_WAIT)
                .await
                .map_err(|e| ApiError::internal(format!("hashing the password: {e}")))?,
        ),
    };
    let link = Link {
        code: new_code(),
        target: path_target.unwrap_or(target),
        expires_at: expires,
        max_views,
        password_hash,
        created_at: now,
        created_by: caller.id.clone(),
        deleted_at: None,
    };
    shared
        .state
        .put_link(link.clone())
        .await
        .map_err(internal)?;
    Ok(ok(StatusCode::CREATED, view(&shared, &link, 0, None)))
}

async fn find(shared: &Shared, caller: &Caller, code: &str) -> Result<Arc<Link>, ApiError> {
    let not_found = || ApiError::NotFound(format!("no link `{code}`"));
    if !Link::valid_code(code) {
        return Err(not_found());
    }
    let link = shared
        .state
        .link(code)
        .await
        .map_err(internal)?
        .ok_or_else(not_found)?;
    if link.deleted_at.is_some() || !visible(caller, &link) {
        return Err(not_found());
    }
    Ok(link)
}

pub async fn get(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Segment(code): Segment,
) -> Result<Response, ApiError> {
    let link = find(&shared, &caller, &code).await?;
    let key = Link::view_key(&code);
    let views = shared.state.views(&key).await.map_err(internal)?;
    let last = shared.state.last_access(&key).await.map_err(internal)?;
    Ok(ok(StatusCode::OK, view(&shared, &link, views, last)))
}

pub async fn delete(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Segment(code): Segment,
) -> Result<Response, ApiError> {
    caller.require_secret("delete links")?;
    find(&shared, &caller, &code).await?;
    shared.state.delete_link(&code).await.map_err(internal)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
