//! Minting: from "this path, these rules" to a signed URL. Used by `tollgate sign` and by
//! the control API, so both refuse exactly the same things.

use std::net::IpAddr;

use ipnet::IpNet;

use super::keyring::{Keyring, MintError as KeyError};
use super::{Claims, Methods, Scope, new_token_id};
use crate::config::{Config, FilterKind};
use crate::path;

/// What to mint. `path` is the raw, unencoded path (`/files/my report.pdf`).
#[derive(Debug, Clone)]
pub struct MintRequest {
    pub path: String,
    pub prefix: bool,
    pub expires_in: u64,
    pub not_before: Option<u64>,
    pub methods: Methods,
    pub ip: Option<IpNet>,
    pub max_views: Option<u64>,
    pub download_name: Option<String>,
    pub password: bool,
    /// Extra query parameters, unencoded, in order; the token binds them.
    pub query: Vec<(String, String)>,
    pub key_id: Option<String>,
}

impl MintRequest {
    pub fn new(path: impl Into<String>) -> MintRequest {
        MintRequest {
            path: path.into(),
            prefix: false,
            expires_in: 3600,
            not_before: None,
            methods: Methods::GET_HEAD,
            ip: None,
            max_views: None,
            download_name: None,
            password: false,
            query: Vec::new(),
            key_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    pub url: String,
    pub token: String,
    pub token_id: String,
    pub expires_at: u64,
}

/// The longest validity any token may have, whatever its route allows (the control API's
/// documented ceiling, applied to `tollgate sign` too).
pub const MAX_EXPIRES_IN: u64 = 604_800;

/// The longest download name accepted, in bytes.
pub const MAX_DOWNLOAD_NAME: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    #[error("path `{0}` is not allowed: {1}")]
    BadPath(String, crate::path::PathError),
    #[error("no route serves `{0}`")]
    NoRoute(String),
    #[error("a prefix must end with `/`")]
    PrefixNeedsSlash,
    #[error("expires_in must be between 1 and {max} seconds for this route")]
    TtlOutOfRange { max: u64 },
    #[error("max_views must be greater than 0")]
    ZeroViews,
    #[error("max_views needs the `view_limit` filter on the route serving this path")]
    ViewsNotEnforced,
    #[error("a password needs the `password` filter on the route serving this path")]
    PasswordNotEnforced,
    #[error("download name must be 1 to 255 bytes without control characters")]
    BadDownloadName,
    #[error("query parameter names must not be empty or `token`")]
    BadQueryName,
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl MintError {
    /// The request field at fault (as the control API names it) and what is wrong with it,
    /// for errors the caller's request caused; `None` for the gateway's own (keys).
    pub fn field(&self) -> Option<(&'static str, String)> {
        Some(match self {
            MintError::BadPath(_, e) => ("path", format!("is not allowed: {e}")),
            MintError::NoRoute(_) => ("path", "no route serves this path".into()),
            MintError::PrefixNeedsSlash => ("path", "a prefix must end with `/`".into()),
            MintError::TtlOutOfRange { max } => {
                ("expires_in", format!("must be between 1 and {max}"))
            }
            MintError::ZeroViews => ("max_views", "must be greater than 0".into()),
            MintError::ViewsNotEnforced => (
                "max_views",
                "the route serving this path has no `view_limit` filter".into(),
            ),
            MintError::PasswordNotEnforced => (
                "password",
                "the route serving this path has no `password` filter".into(),
            ),
            MintError::BadDownloadName => (
                "download_name",
                "must be 1 to 255 bytes without control characters".into(),
            ),
            MintError::BadQueryName => ("query", "names must not be empty or `token`".into()),
            MintError::Key(_) => return None,
        })
    }
}

/// The longest `expires_in` a token for `decoded` may ask for: its route's `max_ttl`,
/// capped at [`MAX_EXPIRES_IN`]; 0 when no route serves it.
pub fn max_expires_in(config: &Config, decoded: &str) -> u64 {
    config
        .route_for(decoded)
        .map_or(0, |r| r.max_ttl.as_secs().min(MAX_EXPIRES_IN))
}

/// Every rule a mint request must meet, the one list that `tollgate sign` and the control
/// API both apply: all problems, in field order, none if it may be minted.
pub fn validate(config: &Config, req: &MintRequest) -> Vec<MintError> {
    let mut out = Vec::new();
    let canonical = path::encode(&req.path);
    let route = match path::normalize(&canonical) {
        Err(e) => {
            out.push(MintError::BadPath(req.path.clone(), e));
            None
        }
        Ok(normal) => {
            let route = config.route_for(&normal.decoded);
            if route.is_none() {
                out.push(MintError::NoRoute(req.path.clone()));
            }
            route
        }
    };
    if req.prefix && !req.path.ends_with('/') {
        out.push(MintError::PrefixNeedsSlash);
    }
    if let Some(route) = route {
        let max = route.max_ttl.as_secs().min(MAX_EXPIRES_IN);
        if req.expires_in == 0 || req.expires_in > max {
            out.push(MintError::TtlOutOfRange { max });
        }
        if req.max_views.is_some() && !route.filters.contains(&FilterKind::ViewLimit) {
            out.push(MintError::ViewsNotEnforced);
        }
        if req.password && !route.filters.contains(&FilterKind::Password) {
            out.push(MintError::PasswordNotEnforced);
        }
    }
    if req.max_views == Some(0) {
        out.push(MintError::ZeroViews);
    }
    if req.download_name.as_deref().is_some_and(|d| {
        d.is_empty() || d.len() > MAX_DOWNLOAD_NAME || d.chars().any(char::is_control)
    }) {
        out.push(MintError::BadDownloadName);
    }
    if req.query.iter().any(|(k, _)| k.is_empty() || k == "token") {
        out.push(MintError::BadQueryName);
    }
    out
}

/// Mints a signed URL for `req` at time `now` (unix seconds), or refuses with the first
/// problem [`validate`] finds.
pub fn mint(
    config: &Config,
    keyring: &Keyring,
    req: &MintRequest,
    now: u64,
) -> Result<Minted, MintError> {
    if let Some(e) = validate(config, req).into_iter().next() {
        return Err(e);
    }
    let canonical = path::encode(&req.path);
    let kid = keyring.minting_kid(req.key_id.as_deref())?;
    let mut rest = String::new();
    for (k, v) in &req.query {
        if !rest.is_empty() {
            rest.push('&');
        }
        rest.push_str(&path::encode_component(k));
        rest.push('=');
        rest.push_str(&path::encode_component(v));
    }
    let claims = Claims {
        kid,
        tid: new_token_id(),
        iat: now,
        exp: now + req.expires_in,
        nbf: req.not_before,
        methods: req.methods,
        scope: if req.prefix {
            Scope::Prefix
        } else {
            Scope::File
        },
        path: canonical.clone(),
        ip: req.ip.map(|n| n.trunc()),
        max_views: req.max_views,
        download_name: req.download_name.clone(),
        password: req.password,
    };
    let token = keyring.mint(&claims, &rest)?;
    let sep = if rest.is_empty() { "" } else { "&" };
    let url = format!("{}{canonical}?{rest}{sep}token={token}", config.public_url);
    Ok(Minted {
        url,
        token,
        token_id: claims.tid,
        expires_at: claims.exp,
    })
}

/// Parses `--ip`: an address or a CIDR.
pub fn parse_ip(s: &str) -> Result<IpNet, String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    crate::config::units::parse_net(s)
}
