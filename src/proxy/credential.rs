//! The request's credential, read into a [`Grant`]: a token (query `token=` or
//! `Authorization: Bearer`, its MAC verified by the keyring in constant time) or a short
//! code (`/s/{code}`, read from the state store). What the credential leaves of the request
//! (the query without the token) and which chain judges the grant come along.

use std::borrow::Cow;

use http::{HeaderMap, Uri};

use super::respond::ProxyError;
use crate::filter::{Chain, Reject};
use crate::grant::{Grant, Target};
use crate::path::NormalPath;
use crate::runtime::{Route, Runtime};
use crate::state::{Link, State};
use crate::token::{self, Keyring};

/// What a request's credential comes to. `'r` borrows the runtime, `'q` the request's
/// URI and path (so a signed GET costs no copy of either).
pub struct Credential<'r, 'q> {
    pub grant: Option<Grant>,
    /// The route that serves the request: `None` for an external short link.
    pub route: Option<&'r Route>,
    /// The chain that judges the grant.
    pub chain: &'r Chain,
    /// The decoded path served: the request's own, or a link's target.
    pub target: Cow<'q, str>,
    /// The query to forward to the origin: the request's, less the token.
    pub forward_query: String,
    /// The token as presented, so that no header carries it upstream.
    pub token: Option<Cow<'q, str>>,
    /// The token came in `Authorization`, so that header must not reach the origin.
    pub from_header: bool,
}

/// Reads the credential of a request for `path`. A route that does not run `signature`
/// takes no credential: its query goes to the origin as it came.
pub async fn read<'r, 'q>(
    rt: &'r Runtime,
    state: &State,
    uri: &'q Uri,
    headers: &HeaderMap,
    path: &'q NormalPath<'q>,
) -> Result<Credential<'r, 'q>, ProxyError> {
    if let Some(code) = path.decoded.strip_prefix(Link::PREFIX) {
        return link(rt, state, code).await;
    }
    let route = rt.route_for(&path.decoded).ok_or(ProxyError::NoRoute)?;
    let query = uri.query();
    if !route.chain.has("signature") {
        // A route that takes no credential judges no token, but one sent anyway (for
        // another path, say) still never reaches the origin.
        let (bearer, _) = bearer(headers);
        let (forward_query, token, from_header) = match token::find(query, bearer) {
            Ok(found) => (
                found.rest.into_owned(),
                found.token.map(|t| Cow::Owned(t.to_owned())),
                found.from_header,
            ),
            // Not a query the token grammar reads (a duplicate `token`, an empty
            // parameter): passed on without any `token` parameter.
            Err(_) => (
                query
                    .unwrap_or("")
                    .split('&')
                    .filter(|p| *p != "token" && !p.starts_with("token="))
                    .collect::<Vec<_>>()
                    .join("&"),
                None,
                false,
            ),
        };
        return Ok(Credential {
            grant: None,
            route: Some(route),
            chain: &route.chain,
            target: Cow::Borrowed(&path.decoded),
            forward_query,
            token,
            from_header,
        });
    }
    let t = token(&rt.keyring, query, headers)?;
    // A token from the query is borrowed from it; one from a header is copied, as the
    // headers go to the origin.
    let presented = match (t.token_span, query) {
        (Some((a, b)), Some(q)) => q.get(a..b).map(Cow::Borrowed),
        _ => t.token.map(Cow::Owned),
    };
    Ok(Credential {
        grant: t.grant,
        route: Some(route),
        chain: &route.chain,
        target: Cow::Borrowed(&path.decoded),
        forward_query: t.forward_query,
        token: presented,
        from_header: t.from_header,
    })
}

/// The token of a Bearer `Authorization` header, if the first one is that, and whether
/// more `Authorization` headers follow.
fn bearer(headers: &HeaderMap) -> (Option<&str>, bool) {
    let mut auth = headers.get_all(http::header::AUTHORIZATION).iter();
    let first = auth
        .next()
        .and_then(|v| v.to_str().ok())
        .and_then(token::bearer);
    (first, auth.next().is_some())
}

/// A request's token, read and verified.
pub struct TokenCredential {
    /// `None` when the request carries no token.
    pub grant: Option<Grant>,
    pub forward_query: String,
    /// The token as presented, when it came in a header.
    pub token: Option<String>,
    /// Where the token lies in the query, when it came in the query.
    pub token_span: Option<(usize, usize)>,
    pub from_header: bool,
}

/// Finds the token in `query` or a Bearer `Authorization` header, and verifies its MAC and
/// claims against the keyring. Nothing about the request but the token is judged here.
pub fn token(
    keyring: &Keyring,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<TokenCredential, Reject> {
    let (bearer, more) = bearer(headers);
    if bearer.is_some() && more {
        // Two Authorization headers: which one counts is ambiguous, so neither does.
        return Err(Reject::Find(token::FindError::Duplicate));
    }
    let found = token::find(query, bearer)?;
    let grant = match found.token {
        None => None,
        Some(tok) => {
            let enc = token::split(tok)?;
            Some(Grant::from_claims(keyring.verify(&enc, &found.rest)?))
        }
    };
    let (token, token_span) = match (found.token, found.from_header, query) {
        (Some(t), false, Some(q)) => {
            // `t` is a slice of `q`: its offsets say where, without a copy (checked, and
            // copied after all should it ever not be).
            let start = (t.as_ptr() as usize).wrapping_sub(q.as_ptr() as usize);
            match q.get(start..start.saturating_add(t.len())) {
                Some(same) if same.as_ptr() == t.as_ptr() => (None, Some((start, start + t.len()))),
                _ => (Some(t.to_owned()), None),
            }
        }
        (t, _, _) => (t.map(str::to_owned), None),
    };
    Ok(TokenCredential {
        grant,
        forward_query: found.rest.into_owned(),
        token,
        token_span,
        from_header: found.from_header,
    })
}

async fn link<'r, 'q>(
    rt: &'r Runtime,
    state: &State,
    code: &str,
) -> Result<Credential<'r, 'q>, ProxyError> {
    if !Link::valid_code(code) {
        return Err(ProxyError::LinkNotFound);
    }
    let link = state
        .link(code)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "state store unavailable; refusing (fail closed)");
            ProxyError::Filter(Reject::StateUnavailable)
        })?
        .ok_or(ProxyError::LinkNotFound)?;
    if link.deleted_at.is_some() {
        return Err(ProxyError::LinkDeleted);
    }
    let grant = Grant::from_link(&link);
    let (route, chain, target) = match &grant.target {
        Some(Target::Path(p)) => {
            let route = rt.route_for(p).ok_or(ProxyError::LinkTargetGone)?;
            // A route that takes no credential has no chain to judge a link by: the
            // link's own rules still hold, through the links' chain with the route's grace.
            let chain = route.link_chain.as_ref().unwrap_or(&route.chain);
            (Some(route), chain, Cow::Owned(p.clone()))
        }
        _ => (None, &rt.link_chain, Cow::Borrowed("")),
    };
    Ok(Credential {
        grant: Some(grant),
        route,
        chain,
        target,
        forward_query: String::new(),
        token: None,
        from_header: false,
    })
}
