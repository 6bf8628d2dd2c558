//! Configuration: parsed once into validated, immutable types.
//!
//! `raw.rs` mirrors the TOML file; `validate.rs` turns it into a [`Config`] or into the full
//! list of [`Problem`]s, each with its TOML path. Nothing downstream ever sees an unvalidated
//! value, and a reload swaps a whole new `Config` in or keeps the old one.

pub mod raw;
pub mod secret;
pub mod units;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

pub use secret::Secret;
pub use units::Rate;

/// One thing wrong with a config file, with the TOML path at fault (`routes[1].origin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in one config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Scheme and authority (and optional base path), without a trailing slash.
    pub public_url: String,
    pub server: ServerConfig,
    pub admin: Option<AdminConfig>,
    pub state: StateConfig,
    pub keys: Vec<KeyConfig>,
    pub origins: Vec<OriginConfig>,
    pub routes: Vec<RouteConfig>,
    pub api_keys: Vec<ApiKeyConfig>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub tls: Option<TlsFiles>,
    pub clock_skew: Duration,
    pub trusted_proxies: Vec<IpNet>,
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub tls_handshake_timeout: Duration,
    pub drain_timeout: Duration,
    /// A keep-alive or HTTP/2 connection with nothing in flight is closed after this.
    pub idle_timeout: Duration,
    /// A response that makes no progress (the client reads none of it) for this long
    /// closes its connection.
    pub send_timeout: Duration,
    /// Open connections allowed from one client address; `None` for no cap.
    pub max_connections_per_ip: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// Open connections the admin listener takes at once.
    pub max_connections: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateConfig {
    Embedded { path: PathBuf },
    Redis { url: String },
}

#[derive(Debug, Clone)]
pub struct KeyConfig {
    pub id: String,
    pub secret: Secret,
    pub verify_only: bool,
}

#[derive(Debug, Clone)]
pub struct OriginConfig {
    pub name: String,
    pub kind: OriginKind,
}

#[derive(Debug, Clone)]
pub enum OriginKind {
    Dir {
        root: PathBuf,
        /// Open and read files on tokio's blocking pool instead of on the worker that
        /// serves the request: for storage where an open or a read can stall.
        blocking_pool: bool,
    },
    Http {
        /// `http(s)://host:port` plus an optional base path without a trailing slash.
        base: http::Uri,
        /// For an https upstream: trust this CA (PEM) instead of the system's roots.
        ca: Option<PathBuf>,
        connect_timeout: Duration,
        /// Time to the first byte of the response head.
        timeout: Duration,
        /// Longest silence allowed between two body chunks.
        idle_timeout: Duration,
    },
}

/// The filters a route may list, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    Signature,
    Revocation,
    ViewLimit,
    Password,
    /// Per client IP and per token, at the route's `rate_limit`.
    RateLimit,
}

#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Starts and ends with `/`; unencoded.
    pub prefix: String,
    /// Index into [`Config::origins`].
    pub origin: usize,
    pub strip_prefix: bool,
    pub max_ttl: Duration,
    pub view_grace: Duration,
    pub filters: Vec<FilterKind>,
    /// With the `rate_limit` filter: requests allowed per client IP, and per token.
    pub rate_limit: Option<Rate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyKind {
    Secret,
    Public,
}

#[derive(Debug, Clone)]
pub struct ApiKeyConfig {
    pub id: String,
    pub kind: ApiKeyKind,
    pub sha256: [u8; 32],
    pub scopes: Vec<String>,
    pub rate_limit: Option<Rate>,
    /// Unix seconds.
    pub expires: Option<i64>,
}

pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(7 * 86_400);
pub const DEFAULT_VIEW_GRACE: Duration = Duration::from_secs(600);
/// The contract's ceiling for `view_grace`.
pub const MAX_VIEW_GRACE: Duration = Duration::from_secs(3600);

impl Config {
    /// Reads, parses and validates a config file, reporting every problem found.
    pub fn load(path: &Path) -> Result<Config, Problems> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Problems(vec![Problem {
                path: String::new(),
                message: format!("cannot read config file `{}`: {e}", path.display()),
            }])
        })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Config, Problems> {
        validate::parse(text)
    }

    /// The longest route prefix that contains `path` (decoded form).
    pub fn route_for(&self, path: &str) -> Option<&RouteConfig> {
        self.routes
            .iter()
            .filter(|r| path.starts_with(r.prefix.as_str()))
            .max_by_key(|r| r.prefix.len())
    }
}
