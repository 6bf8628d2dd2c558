//! `GET /s/{shortCode}` on the data plane. A link is its own authorization (no token): its
//! expiry, view limit and password apply exactly as for tokens. An external target is
//! answered with a 302 (each one a view); a path target is served through its route's
//! origin, with the route's `view_grace` for resumed downloads. The route's own filters do
//! not run: they judge tokens, and a link carries none.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::header::{CACHE_CONTROL, LOCATION};
use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode};
use hyper::body::Incoming;

use super::respond::ProxyError;
use super::{LogFields, fetch, header_password, now_unix, password_form, strip_gateway_headers};
use crate::body::Body;
use crate::filter::view_limit::{count, is_counted, used_up};
use crate::filter::{Ctx, Reject};
use crate::origin::{OriginError, OriginRequest};
use crate::path::NormalPath;
use crate::runtime::{Runtime, Shared};
use crate::state::Link;

pub const PREFIX: &str = "/s/";

/// Short codes are 16 base64url characters (96 random bits).
pub const CODE_LEN: usize = 16;

pub fn valid_code(code: &str) -> bool {
    code.len() == CODE_LEN
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A code in a log line: enough to tell links apart, too little to use one.
pub fn redacted(code: &str) -> String {
    format!("{}…", code.get(..4).unwrap_or(""))
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve(
    rt: &Runtime,
    shared: &Shared,
    parts: Parts,
    mut body: Incoming,
    peer: SocketAddr,
    client_ip: IpAddr,
    tls: bool,
    path: &NormalPath<'_>,
    log: &mut LogFields,
) -> Result<Response<Body>, ProxyError> {
    let code = &path.decoded[PREFIX.len()..];
    if log.enabled {
        log.path = format!("{PREFIX}{}", redacted(code));
    }
    if !valid_code(code) {
        return Err(ProxyError::LinkNotFound);
    }
    let state = &shared.state;
    let link = state
        .link(code)
        .await
        .map_err(|_| ProxyError::Filter(Reject::StateUnavailable))?
        .ok_or(ProxyError::LinkNotFound)?;
    if link.deleted_at.is_some() {
        return Err(ProxyError::LinkDeleted);
    }
    let now = now_unix();
    if link.expires_at.is_some_and(|e| now >= e) {
        return Err(Reject::Expired.into());
    }
    let form_post = parts.method == Method::POST
        && link.password_hash.is_some()
        && password_form::is_form(&parts.headers);
    if !(form_post || parts.method == Method::GET || parts.method == Method::HEAD) {
        return Err(OriginError::MethodNotAllowed.into());
    }
    if let Some(hash) = &link.password_hash {
        let attempt = if form_post {
            Some(password_form::read_password(&mut body).await?)
        } else {
            header_password(&parts.headers)
        };
        let mut ctx = Ctx::new(
            &Method::GET,
            parts.uri.path(),
            path,
            parts.uri.query(),
            &parts.headers,
            client_ip,
            now,
        );
        ctx.tls = tls;
        ctx.password_attempt = attempt;
        ctx.form_post = form_post;
        let id = format!("l{code}");
        crate::filter::password::admit(state, &rt.keyring, &id, hash, &mut ctx).await?;
        if form_post {
            return Ok(password_form::see_other(
                &parts.uri,
                ctx.set_cookie.as_deref(),
            ));
        }
    }
    let key = Link::view_key(code);
    // Without maxViews every view is still counted, for GET /api/v1/links/{code}.
    let limit = link.max_views.unwrap_or(u64::MAX);
    let grace = match link.is_external() {
        true => Duration::ZERO,
        false => rt
            .route_for(&link.target)
            .map_or(Duration::ZERO, |r| r.view_grace),
    };
    if used_up(state, &key, &parts.method, &parts.headers, client_ip, grace) {
        return Err(Reject::ViewLimitReached.into());
    }
    if link.is_external() {
        if parts.method == Method::GET {
            count(state, &key, limit, client_ip).await?;
        }
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::FOUND;
        if let Ok(v) = HeaderValue::from_str(&link.target) {
            resp.headers_mut().insert(LOCATION, v);
        }
        resp.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(resp);
    }
    let route = rt
        .route_for(&link.target)
        .ok_or(ProxyError::LinkTargetGone)?;
    let undo = if is_counted(
        state,
        &key,
        &parts.method,
        &parts.headers,
        client_ip,
        route.view_grace,
    ) {
        count(state, &key, limit, client_ip).await?
    } else {
        None
    };
    let origin_path = if route.strip_prefix {
        format!("/{}", &link.target[route.prefix.len()..])
    } else {
        link.target.clone()
    };
    let forwarded_for =
        super::forwarded_for(peer.ip(), &parts.headers, &rt.config.server.trusted_proxies);
    let mut headers = parts.headers;
    strip_gateway_headers(&mut headers);
    let oreq = OriginRequest {
        method: parts.method.clone(),
        path: origin_path,
        query: String::new(),
        headers,
        body,
        client_ip,
        forwarded_for,
        tls,
        strip_authorization: false,
    };
    let mut resp = fetch(route, oreq, &parts.method, undo).await?;
    // A link is a capability with expiry, views and maybe a password: never cached.
    super::set_cache_control(&mut resp, true);
    Ok(resp)
}
