//! Raw TOML -> validated [`Config`], collecting every problem with its TOML path.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{RawApiKey, RawConfig, RawKey, RawOrigin, RawRoute, RawServer, RawState};
use super::units::{parse_duration, parse_net, parse_rate};
use super::*;

/// Collects problems while validating; each helper records and returns `None` on failure so
/// that validation goes on and reports everything in one pass.
#[derive(Default)]
struct Check {
    problems: Vec<Problem>,
}

impl Check {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn duration(&mut self, path: &str, v: Option<&String>, default: Duration) -> Duration {
        match v.map(|s| parse_duration(s)) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                self.err(path, e);
                default
            }
        }
    }

    fn addr(&mut self, path: &str, v: &str) -> Option<SocketAddr> {
        match v.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(path, format!("`{v}` is not an ip:port address"));
                None
            }
        }
    }
}

pub(super) fn parse(text: &str) -> Result<Config, Problems> {
    let de =
        toml::Deserializer::parse(text).map_err(|e| Problems(vec![toml_problem("", &e, text)]))?;
    // Unknown keys are collected, not denied, so that all of them are listed together with the
    // semantic problems that `build` finds; any one of them still refuses the config.
    let mut c = Check::default();
    let mut unknown = |p: serde_ignored::Path| c.err(ignored_path(&p), "unknown key");
    let raw: Result<RawConfig, _> =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(de, &mut unknown));
    // A type error stops deserialization: report it with the unknown keys seen before it.
    let raw = match raw {
        Ok(raw) => raw,
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            c.problems.push(toml_problem(&path, e.inner(), text));
            return Err(Problems(c.problems));
        }
    };
    let config = build(&mut c, raw);
    match config {
        Some(cfg) if c.problems.is_empty() => Ok(cfg),
        _ => Err(Problems(c.problems)),
    }
}

fn toml_problem(path: &str, e: &toml::de::Error, text: &str) -> Problem {
    let mut message = e.message().trim().to_owned();
    if let Some(span) = e.span() {
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        message = format!("{message} (line {line})");
    }
    Problem {
        path: path.to_owned(),
        message,
    }
}

/// In serde_path_to_error's style (`routes[1].filtres`), so that unknown keys and type errors
/// read alike; serde_ignored's own `Display` would give `routes.1.filtres`.
fn ignored_path(p: &serde_ignored::Path) -> String {
    use serde_ignored::Path;
    match p {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => match ignored_path(parent) {
            parent if parent.is_empty() => key.clone(),
            parent => format!("{parent}.{key}"),
        },
        // `Option` and newtype wrappers have no TOML key of their own.
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

fn build(c: &mut Check, raw: RawConfig) -> Option<Config> {
    let public_url = public_url(c, &raw.public_url);
    let server = server(c, &raw.server);
    let admin = raw
        .admin
        .as_ref()
        .and_then(|a| c.addr("admin.listen", &a.listen))
        .map(|listen| AdminConfig {
            listen,
            max_connections: raw
                .admin
                .as_ref()
                .and_then(|a| a.max_connections)
                .unwrap_or(256) as usize,
        });
    if raw.admin.as_ref().and_then(|a| a.max_connections) == Some(0) {
        c.err("admin.max_connections", "must be greater than 0");
    }
    let state = state(c, raw.state.as_ref());
    let keys = keys(c, &raw.keys);
    let origins = origins(c, &raw.origins);
    let routes = routes(c, &raw.routes, &raw.origins);
    let api_keys = api_keys(c, &raw.api_keys);
    if let (Some(s), Some(a)) = (&server, &admin)
        && s.listen == a.listen
        && s.listen.port() != 0
    {
        c.err("admin.listen", "must differ from server.listen");
    }
    Some(Config {
        public_url: public_url?,
        server: server?,
        admin,
        state: state?,
        keys,
        origins,
        routes,
        api_keys,
    })
}

fn public_url(c: &mut Check, s: &str) -> Option<String> {
    let ok = match s.parse::<http::Uri>() {
        Ok(u) => {
            matches!(u.scheme_str(), Some("http" | "https"))
                && u.authority().is_some()
                && u.query().is_none()
        }
        Err(_) => false,
    };
    if !ok {
        c.err(
            "public_url",
            format!("`{s}` must be an absolute http(s) URL without a query"),
        );
        return None;
    }
    Some(s.trim_end_matches('/').to_owned())
}

fn server(c: &mut Check, s: &RawServer) -> Option<ServerConfig> {
    let listen = c.addr("server.listen", &s.listen);
    let tls = s.tls.as_ref().map(|t| TlsFiles {
        cert: PathBuf::from(&t.cert),
        key: PathBuf::from(&t.key),
    });
    if let Some(t) = &tls {
        for (key, p) in [("server.tls.cert", &t.cert), ("server.tls.key", &t.key)] {
            if !p.is_file() {
                c.err(key, format!("`{}` is not a readable file", p.display()));
            }
        }
    }
    let mut trusted = Vec::new();
    for (i, p) in s.trusted_proxies.iter().flatten().enumerate() {
        match parse_net(p) {
            Ok(n) => trusted.push(n),
            Err(e) => c.err(format!("server.trusted_proxies[{i}]"), e),
        }
    }
    let max_connections = s.max_connections.unwrap_or(10_000) as usize;
    if max_connections == 0 {
        c.err("server.max_connections", "must be greater than 0");
    }
    let max_header_bytes = s.max_header_bytes.unwrap_or(16 * 1024) as usize;
    // hyper's HTTP/1 reader needs at least 8 KiB of buffer.
    if !(8192..=1 << 20).contains(&max_header_bytes) {
        c.err(
            "server.max_header_bytes",
            "must be between 8192 and 1048576",
        );
    }
    let clock_skew = c.duration(
        "server.clock_skew",
        s.clock_skew.as_ref(),
        Duration::from_secs(30),
    );
    let header_read_timeout = c.duration(
        "server.header_read_timeout",
        s.header_read_timeout.as_ref(),
        Duration::from_secs(10),
    );
    let tls_handshake_timeout = c.duration(
        "server.tls_handshake_timeout",
        s.tls_handshake_timeout.as_ref(),
        Duration::from_secs(10),
    );
    let drain_timeout = c.duration(
        "server.drain_timeout",
        s.drain_timeout.as_ref(),
        Duration::from_secs(30),
    );
    let idle_timeout = c.duration(
        "server.idle_timeout",
        s.idle_timeout.as_ref(),
        Duration::from_secs(60),
    );
    let send_timeout = c.duration(
        "server.send_timeout",
        s.send_timeout.as_ref(),
        Duration::from_secs(60),
    );
    for (key, d) in [
        ("server.idle_timeout", idle_timeout),
        ("server.send_timeout", send_timeout),
    ] {
        if d.is_zero() {
            c.err(key, "must be greater than 0");
        }
    }
    if s.max_connections_per_ip == Some(0) {
        c.err("server.max_connections_per_ip", "must be greater than 0");
    }
    // Everything above is checked even when `listen` is bad, so all problems are listed.
    let cfg = ServerConfig {
        listen: listen?,
        tls,
        clock_skew,
        trusted_proxies: trusted,
        max_connections,
        header_read_timeout,
        max_header_bytes,
        tls_handshake_timeout,
        drain_timeout,
        idle_timeout,
        send_timeout,
        max_connections_per_ip: s.max_connections_per_ip.map(|n| n as usize),
    };
    if cfg.header_read_timeout.is_zero() {
        c.err("server.header_read_timeout", "must be greater than 0");
    }
    Some(cfg)
}

fn state(c: &mut Check, s: Option<&RawState>) -> Option<StateConfig> {
    let Some(s) = s else {
        return Some(StateConfig::Embedded {
            path: PathBuf::from("data/state"),
        });
    };
    match s.backend.as_str() {
        "embedded" => {
            if s.url.is_some() {
                c.err("state.url", "is only used with backend = \"redis\"");
            }
            let Some(path) = &s.path else {
                c.err("state.path", "is required for backend = \"embedded\"");
                return None;
            };
            let path = PathBuf::from(path);
            if path.exists() && !path.is_dir() {
                c.err(
                    "state.path",
                    format!("`{}` is not a directory", path.display()),
                );
            }
            Some(StateConfig::Embedded { path })
        }
        "redis" => {
            if s.path.is_some() {
                c.err("state.path", "is only used with backend = \"embedded\"");
            }
            let Some(url) = &s.url else {
                c.err("state.url", "is required for backend = \"redis\"");
                return None;
            };
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                c.err("state.url", "must start with redis:// or rediss://");
                return None;
            }
            Some(StateConfig::Redis { url: url.clone() })
        }
        other => {
            c.err(
                "state.backend",
                format!("unknown backend `{other}` (expected \"embedded\" or \"redis\")"),
            );
            None
        }
    }
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn keys(c: &mut Check, keys: &[RawKey]) -> Vec<KeyConfig> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, k) in keys.iter().enumerate() {
        if !valid_id(&k.id) {
            c.err(
                format!("keys[{i}].id"),
                "must be 1 to 64 characters of A-Z, a-z, 0-9, - or _",
            );
            continue;
        }
        if !seen.insert(k.id.clone()) {
            c.err(
                format!("keys[{i}].id"),
                format!("duplicate key id `{}`", k.id),
            );
        }
        let bytes = secret::resolve(&k.secret).and_then(|t| secret::decode_key(&t));
        match bytes {
            Ok(b) if b.len() >= 32 => out.push(KeyConfig {
                id: k.id.clone(),
                secret: Secret::new(b),
                verify_only: k.verify_only.unwrap_or(false),
            }),
            Ok(b) => c.err(
                format!("keys[{i}].secret"),
                format!("decodes to {} bytes; at least 32 are required", b.len()),
            ),
            Err(e) => c.err(format!("keys[{i}].secret"), e),
        }
    }
    if !keys.is_empty() && out.iter().all(|k| k.verify_only) && out.len() == keys.len() {
        c.err(
            "keys",
            "every key is verify_only: at least one must be able to mint",
        );
    }
    out
}

fn origins(c: &mut Check, origins: &[RawOrigin]) -> Vec<OriginConfig> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, o) in origins.iter().enumerate() {
        let at = |k: &str| format!("origins[{i}].{k}");
        if !seen.insert(o.name.as_str()) {
            c.err(at("name"), format!("duplicate origin name `{}`", o.name));
        }
        let used: &[(&str, bool)] = &[
            ("root", o.root.is_some()),
            ("blocking_pool", o.blocking_pool.is_some()),
            ("url", o.url.is_some()),
            ("connect_timeout", o.connect_timeout.is_some()),
            ("timeout", o.timeout.is_some()),
            ("idle_timeout", o.idle_timeout.is_some()),
            ("ca", o.ca.is_some()),
            ("endpoint", o.endpoint.is_some()),
            ("bucket", o.bucket.is_some()),
            ("region", o.region.is_some()),
            ("access_key", o.access_key.is_some()),
            ("secret_key", o.secret_key.is_some()),
        ];
        let allowed: &[&str] = match o.kind.as_str() {
            "dir" => &["root", "blocking_pool"],
            "http" => &["url", "connect_timeout", "timeout", "idle_timeout", "ca"],
            "s3" => {
                c.err(
                    at("kind"),
                    "kind \"s3\" is not implemented in this version (use \"dir\" or \"http\")",
                );
                continue;
            }
            other => {
                c.err(
                    at("kind"),
                    format!("unknown kind `{other}` (expected \"dir\", \"http\" or \"s3\")"),
                );
                continue;
            }
        };
        for (key, present) in used {
            if *present && !allowed.contains(key) {
                c.err(at(key), format!("is not used by kind \"{}\"", o.kind));
            }
        }
        let kind = if o.kind == "dir" {
            let Some(root) = &o.root else {
                c.err(at("root"), "is required for kind \"dir\"");
                continue;
            };
            match std::fs::canonicalize(root) {
                Ok(p) if p.is_dir() => OriginKind::Dir {
                    root: p,
                    blocking_pool: o.blocking_pool.unwrap_or(false),
                },
                Ok(_) => {
                    c.err(at("root"), format!("`{root}` is not a directory"));
                    continue;
                }
                Err(e) => {
                    c.err(at("root"), format!("`{root}`: {e}"));
                    continue;
                }
            }
        } else {
            let Some(url) = &o.url else {
                c.err(at("url"), "is required for kind \"http\"");
                continue;
            };
            let base = match url.parse::<http::Uri>() {
                Ok(u)
                    if matches!(u.scheme_str(), Some("http" | "https"))
                        && u.authority().is_some()
                        && u.query().is_none() =>
                {
                    let trimmed = url.trim_end_matches('/');
                    match trimmed.parse::<http::Uri>() {
                        Ok(u) => u,
                        Err(_) => u,
                    }
                }
                _ => {
                    c.err(
                        at("url"),
                        format!(
                            "`{url}` must be an absolute http:// or https:// URL without a query"
                        ),
                    );
                    continue;
                }
            };
            let ca = match o.ca.as_deref() {
                None => None,
                Some(_) if base.scheme_str() != Some("https") => {
                    c.err(at("ca"), "is only used with an https:// url");
                    None
                }
                Some(v) => match v.strip_prefix("file:") {
                    Some(p) if Path::new(p).is_file() => Some(PathBuf::from(p)),
                    Some(p) => {
                        c.err(at("ca"), format!("`{p}` is not a readable file"));
                        None
                    }
                    None => {
                        c.err(at("ca"), "must be \"file:/path/to/ca.pem\"");
                        None
                    }
                },
            };
            OriginKind::Http {
                base,
                ca,
                connect_timeout: c.duration(
                    &at("connect_timeout"),
                    o.connect_timeout.as_ref(),
                    Duration::from_secs(5),
                ),
                timeout: c.duration(&at("timeout"), o.timeout.as_ref(), Duration::from_secs(30)),
                idle_timeout: c.duration(
                    &at("idle_timeout"),
                    o.idle_timeout.as_ref(),
                    Duration::from_secs(60),
                ),
            }
        };
        out.push(OriginConfig {
            name: o.name.clone(),
            kind,
        });
    }
    out
}

fn routes(c: &mut Check, routes: &[RawRoute], origins: &[RawOrigin]) -> Vec<RouteConfig> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, r) in routes.iter().enumerate() {
        let at = |k: &str| format!("routes[{i}].{k}");
        let prefix_ok = r.prefix.starts_with('/')
            && r.prefix.ends_with('/')
            && crate::path::normalize(&crate::path::encode(&r.prefix)).is_ok();
        if !prefix_ok {
            c.err(
                at("prefix"),
                format!(
                    "`{}` must start and end with `/` and contain no dot-segments",
                    r.prefix
                ),
            );
        } else if r.prefix == "/s/" || r.prefix.starts_with("/s/") {
            c.err(at("prefix"), "`/s/` is reserved for short links");
        }
        if !seen.insert(r.prefix.as_str()) {
            c.err(
                at("prefix"),
                format!("duplicate route prefix `{}`", r.prefix),
            );
        }
        let origin = origins.iter().position(|o| o.name == r.origin);
        if origin.is_none() {
            c.err(
                at("origin"),
                format!("no origin named `{}` in [[origins]]", r.origin),
            );
        }
        let max_ttl = c.duration(&at("max_ttl"), r.max_ttl.as_ref(), DEFAULT_MAX_TTL);
        if max_ttl.is_zero() {
            c.err(at("max_ttl"), "must be greater than 0");
        }
        let view_grace = c.duration(&at("view_grace"), r.view_grace.as_ref(), DEFAULT_VIEW_GRACE);
        if view_grace > MAX_VIEW_GRACE {
            c.err(at("view_grace"), "must be at most 1h");
        }
        let rate_limit = match r.rate_limit.as_deref().map(parse_rate) {
            None => None,
            Some(Ok(rate)) => Some(rate),
            Some(Err(e)) => {
                c.err(at("rate_limit"), e);
                None
            }
        };
        let mut filters = Vec::new();
        for (j, f) in r.filters.iter().flatten().enumerate() {
            let path = format!("routes[{i}].filters[{j}]");
            let kind = match f.as_str() {
                "signature" => FilterKind::Signature,
                "revocation" => FilterKind::Revocation,
                "view_limit" => FilterKind::ViewLimit,
                "password" => FilterKind::Password,
                "rate_limit" => FilterKind::RateLimit,
                other => {
                    c.err(
                        path,
                        format!(
                            "unknown filter `{other}` (known: signature, revocation, view_limit, password, rate_limit)"
                        ),
                    );
                    continue;
                }
            };
            if filters.contains(&kind) {
                c.err(path, format!("filter `{f}` is listed twice"));
                continue;
            }
            if !matches!(kind, FilterKind::Signature | FilterKind::RateLimit)
                && !filters.contains(&FilterKind::Signature)
            {
                c.err(
                    path,
                    format!("filter `{f}` judges a token, so `signature` must come before it"),
                );
                continue;
            }
            filters.push(kind);
        }
        let limits = filters.contains(&FilterKind::RateLimit);
        if limits && rate_limit.is_none() && r.rate_limit.is_none() {
            c.err(
                at("rate_limit"),
                "the `rate_limit` filter needs a rate, e.g. rate_limit = \"20/s\"",
            );
        }
        if !limits && r.rate_limit.is_some() {
            c.err(
                at("rate_limit"),
                "is only enforced with `rate_limit` in this route's filters",
            );
        }
        if let Some(origin) = origin {
            out.push(RouteConfig {
                prefix: r.prefix.clone(),
                origin,
                strip_prefix: r.strip_prefix.unwrap_or(true),
                max_ttl,
                view_grace,
                filters,
                rate_limit,
            });
        }
    }
    out
}

fn api_keys(c: &mut Check, keys: &[RawApiKey]) -> Vec<ApiKeyConfig> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, k) in keys.iter().enumerate() {
        let at = |f: &str| format!("api_keys[{i}].{f}");
        if !valid_id(&k.id) {
            c.err(
                at("id"),
                "must be 1 to 64 characters of A-Z, a-z, 0-9, - or _",
            );
        } else if !seen.insert(k.id.as_str()) {
            c.err(at("id"), format!("duplicate api key id `{}`", k.id));
        }
        let kind = match k.kind.as_str() {
            "secret" => Some(ApiKeyKind::Secret),
            "public" => Some(ApiKeyKind::Public),
            other => {
                c.err(
                    at("kind"),
                    format!("unknown kind `{other}` (expected \"secret\" or \"public\")"),
                );
                None
            }
        };
        let sha = hex32(&k.sha256);
        if sha.is_none() {
            c.err(
                at("sha256"),
                "must be 64 hex digits (see `tollgate keygen --api-key`)",
            );
        }
        for (j, s) in k.scopes.iter().enumerate() {
            if !s.starts_with('/') {
                c.err(format!("api_keys[{i}].scopes[{j}]"), "must start with `/`");
            }
        }
        let rate_limit = match k.rate_limit.as_deref().map(parse_rate) {
            None => None,
            Some(Ok(r)) => Some(r),
            Some(Err(e)) => {
                c.err(at("rate_limit"), e);
                None
            }
        };
        let expires = match &k.expires {
            None => None,
            Some(s) => {
                match time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                {
                    Ok(t) => Some(t.unix_timestamp()),
                    Err(_) => {
                        c.err(at("expires"), format!("`{s}` is not an RFC 3339 date-time"));
                        None
                    }
                }
            }
        };
        if let (Some(kind), Some(sha256)) = (kind, sha) {
            out.push(ApiKeyConfig {
                id: k.id.clone(),
                kind,
                sha256,
                scopes: k.scopes.clone(),
                rate_limit,
                expires,
            });
        }
    }
    out
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let hi = (chunk[0] as char).to_digit(16)?;
        let lo = (chunk[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn base(extra: &str) -> String {
        format!(
            r#"
public_url = "https://127.0.0.1:8443"
[server]
listen = "127.0.0.1:8443"
[admin]
listen = "127.0.0.1:9090"
[[keys]]
id = "k1"
secret = "{KEY}"
[[origins]]
name = "o"
kind = "dir"
root = "."
[[routes]]
prefix = "/files/"
origin = "o"
filters = ["signature"]
{extra}
"#
        )
    }

    fn paths(text: &str) -> Vec<String> {
        Config::parse(text)
            .unwrap_err()
            .0
            .into_iter()
            .map(|p| p.path)
            .collect()
    }

    #[test]
    fn valid_config_parses() {
        let cfg = Config::parse(&base("")).unwrap();
        assert_eq!(cfg.routes[0].filters, vec![FilterKind::Signature]);
        assert_eq!(cfg.routes[0].max_ttl, DEFAULT_MAX_TTL);
        assert!(cfg.route_for("/files/a").is_some());
        assert!(cfg.route_for("/other/a").is_none());
    }

    #[test]
    fn unknown_key_names_its_path() {
        let text = base("").replace("[admin]", "[admin]\nbogus = 1");
        assert_eq!(paths(&text), vec!["admin.bogus"]);
        let text = base("max_tll = \"1h\"");
        assert_eq!(paths(&text), vec!["routes[0].max_tll"]);
    }

    #[test]
    fn every_problem_is_reported() {
        let text = base(
            r#"
[[routes]]
prefix = "nope"
origin = "missing"
max_ttl = "forever"
filters = ["signature", "teleport"]
"#,
        )
        .replace("secret = \"AAAA", "secret = \"!!AAAA");
        let mut got = paths(&text);
        got.sort();
        assert_eq!(
            got,
            vec![
                "keys[0].secret",
                "routes[1].filters[1]",
                "routes[1].max_ttl",
                "routes[1].origin",
                "routes[1].prefix",
            ]
        );
    }

    #[test]
    fn wrong_type_names_its_path() {
        let text = base("strip_prefix = \"yes\"");
        assert_eq!(paths(&text), vec!["routes[0].strip_prefix"]);
    }

    #[test]
    fn unknown_keys_and_semantic_problems_are_reported_together() {
        let text = base(
            r#"
[[routes]]
prefix = "/other/"
origin = "missing"
filtres = ["signature"]
"#,
        )
        .replace("[server]", "[server]\nlistne = \"127.0.0.1:1\"")
        .replace("root = \".\"", "root = \".\"\nrooot = \"/\"");
        let problems = Config::parse(&text).unwrap_err().0;
        let mut got: Vec<_> = problems
            .iter()
            .map(|p| (p.path.as_str(), p.message.as_str()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("origins[0].rooot", "unknown key"),
                ("routes[1].filtres", "unknown key"),
                (
                    "routes[1].origin",
                    "no origin named `missing` in [[origins]]"
                ),
                ("server.listne", "unknown key"),
            ]
        );
    }

    #[test]
    fn type_error_is_reported_with_the_unknown_keys_before_it() {
        let text = base("strip_prefix = \"yes\"").replace("[admin]", "[admin]\nlisten_at = 1");
        let problems = Config::parse(&text).unwrap_err().0;
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].path, "admin.listen_at");
        assert_eq!(problems[1].path, "routes[0].strip_prefix");
        assert!(
            problems[1].message.contains("expected a boolean"),
            "{}",
            problems[1].message
        );
    }

    #[test]
    fn short_keys_are_refused() {
        let text = base("").replace(KEY, "AAAA");
        assert_eq!(paths(&text), vec!["keys[0].secret"]);
    }

    #[test]
    fn origin_keys_must_match_kind() {
        let text = base("").replace("root = \".\"", "root = \".\"\nurl = \"http://x\"");
        assert_eq!(paths(&text), vec!["origins[0].url"]);
    }
}
