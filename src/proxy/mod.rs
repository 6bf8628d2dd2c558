//! The data plane: path -> route -> admit (filter chain) -> origin -> stream back.

pub mod links;
pub mod password_form;
pub mod respond;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http::header::{CONTENT_DISPOSITION, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use ipnet::IpNet;
use tracing::info;

use crate::body::Body;
use crate::filter::Ctx;
use crate::origin::OriginRequest;
use crate::runtime::{Runtime, Shared};
use respond::ProxyError;

/// Serves one data-plane request. Never fails: every refusal is a response.
pub async fn handle(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
) -> Response<Body> {
    let started = Instant::now();
    let in_flight = shared.metrics.request_started();
    let rt = shared.runtime.load_full();
    let html = respond::wants_html(req.headers());
    let method = req.method().clone();
    let mut log = LogFields::default();
    let resp = match admit_and_fetch(&rt, shared, req, peer, tls, &mut log).await {
        Ok(r) => r,
        Err(e) => {
            shared
                .metrics
                .rejected_total
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            log.code = respond::status_and_code(&e).1;
            respond::error(&e, html)
        }
    };
    let status = resp.status().as_u16();
    shared.metrics.response(status);
    let outcome = if log.code == "-" { "ok" } else { log.code };
    shared
        .metrics
        .request_done(&log.route, outcome, started.elapsed());
    info!(
        target: "tollgate::access",
        %method,
        path = %log.path,
        status,
        code = log.code,
        tid = log.tid.as_deref().unwrap_or("-"),
        client = %log.client,
        ms = started.elapsed().as_secs_f64() * 1e3,
    );
    resp.map(|b| b.track(in_flight))
}

/// What the access log says of a request. Never the query string (it carries the token),
/// only the token id.
pub(crate) struct LogFields {
    /// The access log is on: only then are the per-request strings built.
    enabled: bool,
    route: Arc<str>,
    path: String,
    code: &'static str,
    tid: Option<String>,
    client: IpAddr,
}

impl LogFields {
    fn set_tid(&mut self, claims: Option<&crate::token::Claims>) {
        if self.enabled {
            self.tid = claims.map(|c| c.tid.clone());
        }
    }
}

impl Default for LogFields {
    fn default() -> Self {
        LogFields {
            enabled: tracing::enabled!(target: "tollgate::access", tracing::Level::INFO),
            route: Arc::from("-"),
            path: String::from("-"),
            code: "-",
            tid: None,
            client: IpAddr::from([0, 0, 0, 0]),
        }
    }
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn admit_and_fetch(
    rt: &Runtime,
    shared: &Shared,
    req: Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
    log: &mut LogFields,
) -> Result<Response<Body>, ProxyError> {
    let (mut parts, mut body) = req.into_parts();
    let trusted = &rt.config.server.trusted_proxies;
    // On a dual-stack listener an IPv4 client appears as ::ffff:a.b.c.d; it is an IPv4
    // client for every rule (token IP binding, trusted proxies, logs).
    let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
    let client_ip = client_ip(peer.ip(), &parts.headers, trusted).to_canonical();
    log.client = client_ip;

    let uri = parts.uri.clone();
    let raw_path = uri.path();
    let path = crate::path::normalize(raw_path)?;
    if log.enabled {
        log.path = path.canonical.to_string();
    }
    if path.decoded.starts_with(links::PREFIX) {
        log.route = Arc::from(links::PREFIX);
        return links::serve(rt, shared, parts, body, peer, client_ip, tls, &path, log).await;
    }
    let route = rt.route_for(&path.decoded).ok_or(ProxyError::NoRoute)?;
    log.route = route.name.clone();

    // A browser posting the password form: judged like a GET of the same URL, answered
    // with a redirect (and a cookie), never with bytes.
    let form_post = parts.method == Method::POST
        && route.chain.has("password")
        && password_form::is_form(&parts.headers);
    let password_attempt = if form_post {
        Some(password_form::read_password(&mut body).await?)
    } else {
        header_password(&parts.headers)
    };
    let method = if form_post {
        Method::GET
    } else {
        parts.method.clone()
    };
    let mut ctx = Ctx::new(
        &method,
        raw_path,
        &path,
        uri.query(),
        &parts.headers,
        client_ip,
        now_unix(),
    );
    ctx.tls = tls;
    ctx.password_attempt = password_attempt;
    ctx.form_post = form_post;
    if form_post {
        route.chain.check_only(&mut ctx).await?;
        log.set_tid(ctx.claims.as_ref());
        return Ok(password_form::see_other(&uri, ctx.set_cookie.as_deref()));
    }
    route.chain.admit(&mut ctx).await?;
    let query = ctx.forward_query.into_owned();
    let strip_authorization = ctx.strip_authorization;
    let claims = ctx.claims;
    let undo = ctx.undo;
    log.set_tid(claims.as_ref());

    let origin_path = if route.strip_prefix {
        format!("/{}", &path.decoded[route.prefix.len()..])
    } else {
        path.decoded.clone().into_owned()
    };
    let forwarded_for = forwarded_for(peer.ip(), &parts.headers, trusted);
    let mut headers = std::mem::take(&mut parts.headers);
    strip_gateway_headers(&mut headers);
    let oreq = OriginRequest {
        method: parts.method.clone(),
        path: origin_path,
        query,
        headers,
        body,
        client_ip,
        forwarded_for,
        tls,
        strip_authorization,
    };
    let mut resp = fetch(route, oreq, &parts.method, undo).await?;
    if let Some(c) = &claims {
        // A shared cache must never answer for the gateway: it would outlive revocation and
        // expiry. What is counted or password-protected is not stored at all.
        set_cache_control(&mut resp, c.max_views.is_some() || c.password);
    }
    if let Some(name) = claims.as_ref().and_then(|c| c.download_name.as_deref())
        && matches!(resp.status(), StatusCode::OK | StatusCode::PARTIAL_CONTENT)
        && let Ok(v) = HeaderValue::from_str(&content_disposition(name))
    {
        resp.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// Asks the origin, and gives back what admission took (a view) when the answer carries
/// no bytes: a view is a response with bytes.
pub(crate) async fn fetch(
    route: &crate::runtime::Route,
    oreq: OriginRequest,
    method: &Method,
    undo: Option<crate::filter::Undo>,
) -> Result<Response<Body>, ProxyError> {
    let served = route.origin.serve(oreq).await;
    let sends_bytes = matches!(
        served.as_ref().map(|r| r.status()),
        Ok(StatusCode::OK | StatusCode::PARTIAL_CONTENT)
    ) && method_sends_body(method);
    if !sends_bytes && let Some(undo) = undo {
        undo().await;
    }
    Ok(served?)
}

/// `private` for token-admitted answers; `private, no-store` when each view matters.
pub(crate) fn set_cache_control(resp: &mut Response<Body>, no_store: bool) {
    let v = if no_store {
        HeaderValue::from_static("private, no-store")
    } else {
        HeaderValue::from_static("private")
    };
    resp.headers_mut().insert(http::header::CACHE_CONTROL, v);
}

fn header_password(h: &http::HeaderMap) -> Option<String> {
    h.get(crate::filter::password::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Removes what only the gateway may see: the password header and its password cookies.
pub(crate) fn strip_gateway_headers(h: &mut http::HeaderMap) {
    h.remove(crate::filter::password::HEADER);
    let cookies: Vec<String> = h
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.starts_with("tg_pw_"))
        .map(str::to_owned)
        .collect();
    h.remove(http::header::COOKIE);
    if !cookies.is_empty()
        && let Ok(v) = HeaderValue::from_str(&cookies.join("; "))
    {
        h.insert(http::header::COOKIE, v);
    }
}

fn method_sends_body(m: &http::Method) -> bool {
    m != http::Method::HEAD
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|n| n.contains(&ip))
}

fn xff_entries(headers: &http::HeaderMap) -> impl DoubleEndedIterator<Item = &str> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The client's address: the peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &http::HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut last = peer;
    for entry in xff_entries(headers).rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip, trusted) => last = ip,
            Ok(ip) => return ip,
            // A garbled entry ends what can be believed.
            Err(_) => return last,
        }
    }
    last
}

/// `X-Forwarded-For` for the origin: the believed chain plus the peer.
fn forwarded_for(peer: IpAddr, headers: &http::HeaderMap, trusted: &[IpNet]) -> String {
    if is_trusted(peer, trusted) {
        let mut s: String = xff_entries(headers)
            .filter(|e| e.parse::<IpAddr>().is_ok())
            .collect::<Vec<_>>()
            .join(", ");
        if !s.is_empty() {
            s.push_str(", ");
        }
        s.push_str(&peer.to_string());
        s
    } else {
        peer.to_string()
    }
}

/// `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266).
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        crate::path::encode_component(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ip_believes_only_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = http::HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 10.1.1.1".parse().unwrap());
        let lb: IpAddr = "10.0.0.2".parse().unwrap();
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            client_ip(lb, &h, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(stranger, &h, &trusted), stranger);
        assert_eq!(client_ip(lb, &h, &[]), lb);
        assert_eq!(forwarded_for(stranger, &h, &trusted), "198.51.100.1");
        assert_eq!(
            forwarded_for(lb, &h, &trusted),
            "203.0.113.9, 10.1.1.1, 10.0.0.2"
        );
    }

    #[test]
    fn disposition_escapes() {
        assert_eq!(
            content_disposition("Q3 \"final\" é.pdf"),
            "attachment; filename=\"Q3 _final_ _.pdf\"; filename*=UTF-8''Q3%20%22final%22%20%C3%A9.pdf"
        );
    }
}
