//! The data plane: path -> credential (a grant) -> route -> the route's filter chain
//! (check, commit) -> origin -> the chain's respond -> stream back. Tokens and short links
//! take the same way; only [`credential`] tells them apart.

pub mod credential;
pub mod password_form;
pub mod respond;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use http::header::{
    AUTHORIZATION, CONTENT_DISPOSITION, HOST, HeaderName, HeaderValue, LOCATION, REFERER,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use ipnet::IpNet;
use tracing::info;

use crate::body::Body;
use crate::filter::{Answer, Chain, Ctx};
use crate::grant::{Grant, Target};
use crate::origin::OriginRequest;
use crate::runtime::{Runtime, Shared};
use crate::server::guard::Progress;
use crate::state::Link;
use respond::ProxyError;

/// Serves one data-plane request. Never fails: every refusal is a response.
pub async fn handle(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
    progress: Option<Progress>,
) -> Response<Body> {
    let started = Instant::now();
    let in_flight = shared.metrics.request_started();
    let rt = shared.runtime.load_full();
    let html = respond::wants_html(req.headers());
    let method = req.method().clone();
    let mut log = LogFields::default();
    let resp = match admit_and_fetch(&rt, shared, req, peer, tls, progress, &mut log).await {
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
    fn set_tid(&mut self, grant: Option<&Grant>) {
        if self.enabled {
            // A link's id holds its code: log only the redacted form.
            self.tid = grant.map(|g| match g.id.strip_prefix('l') {
                Some(code) if !g.is_token() => format!("l{}", Link::redacted(code)),
                _ => g.id.clone(),
            });
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

async fn admit_and_fetch(
    rt: &Runtime,
    shared: &Shared,
    req: Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
    progress: Option<Progress>,
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
        log.path = match path.decoded.strip_prefix(Link::PREFIX) {
            Some(code) => format!("{}{}", Link::PREFIX, Link::redacted(code)),
            None => path.canonical.to_string(),
        };
    }
    let cred = credential::read(rt, &shared.state, &uri, &parts.headers, &path).await?;
    log.route = cred
        .route
        .map_or_else(|| Arc::from(Link::PREFIX), |r| r.name.clone());
    log.set_tid(cred.grant.as_ref());

    // A browser posting the password form: judged like a GET of the same URL, answered
    // with a redirect (and a cookie), never with bytes.
    let form_post = parts.method == Method::POST
        && cred.grant.as_ref().is_some_and(|g| g.has_password())
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
    let now = crate::clock::now_unix();
    let chain = cred.chain;
    let mut ctx = Ctx::new(
        &method,
        raw_path,
        &path,
        &cred.target,
        &parts.headers,
        client_ip,
        now,
        cred.grant,
    );
    ctx.tls = tls;
    ctx.password_attempt = password_attempt;
    ctx.form_post = form_post;
    chain.check(&mut ctx).await?;
    if form_post {
        return Ok(password_form::see_other(&uri, ctx.set_cookie.as_deref()));
    }
    if let Err(e) = chain.commit(&mut ctx).await {
        // A later filter refused after an earlier one committed (a rate limit listed after
        // `view_limit`, say): nothing is spent.
        return Err(settle_refused(chain, &mut ctx, e.into()).await);
    }
    // The request's headers go to the origin now; what the chain still needs to settle
    // the answer is kept, without them.
    let Ctx { grant, view, .. } = ctx;

    let served = match (&grant, cred.route) {
        (
            Some(Grant {
                target: Some(Target::External(url)),
                ..
            }),
            _,
        ) => Ok(redirect(url)),
        (_, None) => Err(ProxyError::LinkTargetGone),
        (_, Some(route)) => {
            let oreq = origin_request(
                route,
                &cred.target,
                cred.forward_query,
                &mut parts,
                body,
                progress,
                peer,
                trusted,
                tls,
                cred.token.as_deref(),
                cred.from_header,
            );
            route.origin.serve(oreq).await.map_err(ProxyError::from)
        }
    };
    let mut ctx = Ctx::new(
        &method,
        raw_path,
        &path,
        &cred.target,
        &NO_HEADERS,
        client_ip,
        now,
        grant,
    );
    ctx.view = view;
    let mut resp = match served {
        Ok(resp) => {
            let answer = Answer {
                status: resp.status(),
                headers: resp.headers(),
            };
            chain.respond(&mut ctx, &answer).await?;
            resp
        }
        Err(e) => return Err(settle_refused(chain, &mut ctx, e).await),
    };
    if let Some(g) = &ctx.grant {
        // A shared cache must never answer for the gateway: it would outlive revocation and
        // expiry. What is counted or password-protected is not stored at all.
        set_cache_control(&mut resp, g.counts_views() || g.has_password());
        if let Some(name) = g.download_name.as_deref()
            && matches!(resp.status(), StatusCode::OK | StatusCode::PARTIAL_CONTENT)
            && let Ok(v) = HeaderValue::from_str(&content_disposition(name))
        {
            resp.headers_mut().insert(CONTENT_DISPOSITION, v);
        }
    }
    Ok(resp)
}

/// Settles what the chain committed for a request that ends in `e` rather than in an
/// answer with bytes (gives back a view), and returns `e`, which is the answer.
async fn settle_refused(chain: &Chain, ctx: &mut Ctx<'_>, e: ProxyError) -> ProxyError {
    let answer = Answer {
        status: respond::status_and_code(&e).0,
        headers: &NO_HEADERS,
    };
    let _ = chain.respond(ctx, &answer).await;
    e
}

/// What the chain's `respond` pass sees of the request's headers: none, they went to the
/// origin.
static NO_HEADERS: LazyLock<HeaderMap> = LazyLock::new(HeaderMap::new);

/// A short link's answer for an external target.
fn redirect(url: &str) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(url) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

/// THE one builder of an origin request, for every credential: the route's origin path,
/// the query less the token, and the request's headers less what only the gateway may see,
/// with the forwarding headers as tollgate sets them.
#[allow(clippy::too_many_arguments)]
fn origin_request(
    route: &crate::runtime::Route,
    target: &str,
    query: String,
    parts: &mut http::request::Parts,
    body: Incoming,
    progress: Option<Progress>,
    peer: SocketAddr,
    trusted: &[IpNet],
    tls: bool,
    token: Option<&str>,
    token_in_authorization: bool,
) -> OriginRequest {
    let path = if route.strip_prefix {
        format!("/{}", &target[route.prefix.len()..])
    } else {
        target.to_owned()
    };
    if !route.origin.sends_headers() {
        return OriginRequest {
            method: parts.method.clone(),
            path,
            query,
            headers: std::mem::take(&mut parts.headers),
            body,
            progress,
        };
    }
    let trusted_peer = is_trusted(peer.ip(), trusted);
    let forwarded_for = forwarded_for(peer.ip(), &parts.headers, trusted);
    let host = parts.headers.get(HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let mut headers = std::mem::take(&mut parts.headers);
    // First, so that a client's `Connection` cannot name (and so remove) a header the
    // gateway sets below.
    crate::origin::http::strip_hop_by_hop(&mut headers);
    strip_gateway_headers(&mut headers);
    if token_in_authorization {
        headers.remove(AUTHORIZATION);
    }
    if !trusted_peer {
        strip_forwarding_headers(&mut headers);
    }
    if let Some(token) = token {
        strip_token(&mut headers, token);
    }
    strip_referer_query(&mut headers);
    if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    if !(trusted_peer && headers.contains_key(X_FORWARDED_PROTO)) {
        headers.insert(
            X_FORWARDED_PROTO,
            HeaderValue::from_static(if tls { "https" } else { "http" }),
        );
    }
    if !(trusted_peer && headers.contains_key(X_FORWARDED_HOST)) {
        match host {
            Some(h) => {
                headers.insert(X_FORWARDED_HOST, h);
            }
            None => {
                headers.remove(X_FORWARDED_HOST);
            }
        }
    }
    OriginRequest {
        method: parts.method.clone(),
        path,
        query,
        headers,
        body,
        progress,
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Drops the forwarding headers a client sent itself: only a trusted proxy's are believed.
fn strip_forwarding_headers(h: &mut HeaderMap) {
    let names: Vec<HeaderName> = h
        .keys()
        .filter(|n| {
            let n = n.as_str();
            n.starts_with("x-forwarded-")
                || n == "forwarded"
                || n == "x-real-ip"
                || n == "x-client-ip"
                || n == "true-client-ip"
                || n == "x-original-forwarded-for"
                || n == "x-forwarded"
                || n == "x-original-url"
                || n == "x-rewrite-url"
        })
        .cloned()
        .collect();
    for n in names {
        h.remove(n);
    }
}

/// Drops every header that carries the token (a `Referer` holding the signed URL, a
/// cookie a client copied it into...): the token never reaches the origin.
fn strip_token(h: &mut HeaderMap, token: &str) {
    let names: Vec<HeaderName> = h
        .iter()
        .filter(|(_, v)| {
            let v = v.as_bytes();
            v.len() >= token.len()
                && match std::str::from_utf8(v) {
                    // Linear-time substring search.
                    Ok(s) => s.contains(token),
                    Err(_) => v.windows(token.len()).any(|w| w == token.as_bytes()),
                }
        })
        .map(|(n, _)| n.clone())
        .collect();
    for n in names {
        h.remove(n);
    }
}

/// A `Referer` reaches the origin without its query: the page a visitor came from may
/// itself be a signed URL (another token), and the origin needs no query to know the page.
fn strip_referer_query(h: &mut HeaderMap) {
    let Some(v) = h.get(REFERER) else { return };
    // A page served through a short link names the link's code, itself a credential.
    if let Ok(s) = v.to_str()
        && let Some(rest) = s.split_once("://").map(|(_, r)| r)
        && rest[rest.find('/').unwrap_or(rest.len())..].starts_with(Link::PREFIX)
    {
        h.remove(REFERER);
        return;
    }
    let Some(bytes) = v.as_bytes().iter().position(|b| *b == b'?' || *b == b'#') else {
        return;
    };
    match HeaderValue::from_bytes(&v.as_bytes()[..bytes]) {
        Ok(short) => {
            h.insert(REFERER, short);
        }
        Err(_) => {
            h.remove(REFERER);
        }
    }
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
    // UTF-8, not only visible ASCII: the API accepts any password.
    h.get(crate::filter::password::HEADER)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .map(str::to_owned)
}

/// Removes what only the gateway may see: the password header and its password cookies.
pub(crate) fn strip_gateway_headers(h: &mut http::HeaderMap) {
    h.remove(crate::filter::password::HEADER);
    if !h.contains_key(http::header::COOKIE) {
        return;
    }
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
