//! The serde mirror of the TOML file. Nothing here is validated beyond its TOML type: that is
//! `validate.rs`'s job. Unknown keys are not denied here, since `deny_unknown_fields` stops at
//! the first one: `validate.rs` collects every one of them, with its TOML path, as an error.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct RawConfig {
    pub public_url: String,
    pub server: RawServer,
    pub admin: Option<RawAdmin>,
    pub state: Option<RawState>,
    #[serde(default)]
    pub keys: Vec<RawKey>,
    #[serde(default)]
    pub origins: Vec<RawOrigin>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    #[serde(default)]
    pub api_keys: Vec<RawApiKey>,
}

#[derive(Debug, Deserialize)]
pub struct RawServer {
    pub listen: String,
    pub tls: Option<RawTls>,
    pub clock_skew: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
    /// Extensions beyond the contract.
    pub max_connections: Option<u32>,
    pub header_read_timeout: Option<String>,
    pub max_header_bytes: Option<u32>,
    pub tls_handshake_timeout: Option<String>,
    pub drain_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub send_timeout: Option<String>,
    pub max_connections_per_ip: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub struct RawTls {
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Deserialize)]
pub struct RawAdmin {
    pub listen: String,
    pub max_connections: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub struct RawState {
    pub backend: String,
    pub path: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RawKey {
    pub id: String,
    pub secret: String,
    pub verify_only: Option<bool>,
}

/// One flat table for every origin kind, so that a key given to the wrong kind can be named
/// precisely ("`root` is not used by kind http") instead of failing as an unknown variant.
#[derive(Debug, Deserialize)]
pub struct RawOrigin {
    pub name: String,
    pub kind: String,
    pub root: Option<String>,
    pub blocking_pool: Option<bool>,
    pub url: Option<String>,
    pub connect_timeout: Option<String>,
    pub timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub ca: Option<String>,
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    pub region: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RawRoute {
    pub prefix: String,
    pub origin: String,
    pub strip_prefix: Option<bool>,
    pub max_ttl: Option<String>,
    pub view_grace: Option<String>,
    pub filters: Option<Vec<String>>,
    pub rate_limit: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RawApiKey {
    pub id: String,
    pub kind: String,
    pub sha256: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub rate_limit: Option<String>,
    pub expires: Option<String>,
}
