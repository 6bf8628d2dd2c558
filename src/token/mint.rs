//! Minting: from "this path, these rules" to a signed URL. Used by `tollgate sign` and by
//! the control API, so both refuse exactly the same things.

use std::net::IpAddr;

use ipnet::IpNet;

use super::keyring::{Keyring, MintError as KeyError};
use super::{Claims, Methods, Scope, new_token_id};
use crate::config::Config;
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
    #[error("download name must not contain control characters")]
    BadDownloadName,
    #[error("query parameter names must not be empty or `token`")]
    BadQueryName,
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Mints a signed URL for `req` at time `now` (unix seconds).
pub fn mint(
    config: &Config,
    keyring: &Keyring,
    req: &MintRequest,
    now: u64,
) -> Result<Minted, MintError> {
    let canonical = path::encode(&req.path);
    let normal =
        path::normalize(&canonical).map_err(|e| MintError::BadPath(req.path.clone(), e))?;
    if req.prefix && !req.path.ends_with('/') {
        return Err(MintError::PrefixNeedsSlash);
    }
    let route = config
        .route_for(&normal.decoded)
        .ok_or_else(|| MintError::NoRoute(req.path.clone()))?;
    let max = route.max_ttl.as_secs();
    if req.expires_in == 0 || req.expires_in > max {
        return Err(MintError::TtlOutOfRange { max });
    }
    if req.max_views == Some(0) {
        return Err(MintError::ZeroViews);
    }
    if req
        .download_name
        .as_deref()
        .is_some_and(|d| d.is_empty() || d.chars().any(char::is_control))
    {
        return Err(MintError::BadDownloadName);
    }
    let kid = keyring.minting_kid(req.key_id.as_deref())?;
    let mut rest = String::new();
    for (k, v) in &req.query {
        if k.is_empty() || k == "token" {
            return Err(MintError::BadQueryName);
        }
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
