//! The live snapshot: a validated config and everything built from it (keyring, origins,
//! routes with their filter chains, TLS settings). Requests load the current snapshot once
//! and use it to the end, so a reload never changes the rules under a request in flight.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::config::{Config, FilterKind, OriginKind, Problem, Problems, RouteConfig};
use crate::filter::password::Password;
use crate::filter::rate_limit::RateLimit;
use crate::filter::revocation::Revocation;
use crate::filter::view_limit::ViewLimit;
use crate::filter::{Chain, Filter, signature::Signature};
use crate::metrics::Metrics;
use crate::origin::{Origin, dir::DirOrigin, http::HttpOrigin};
use crate::state::State;
use crate::token::Keyring;

pub struct Route {
    pub prefix: String,
    /// The prefix again, shared, for metrics and logs without a copy per request.
    pub name: Arc<str>,
    pub strip_prefix: bool,
    pub origin: Arc<dyn Origin>,
    pub chain: Chain,
    /// Judges short links to this route when its own chain takes no credential: the links'
    /// rules with this route's `view_grace`.
    pub link_chain: Option<Chain>,
    pub view_grace: Duration,
}

pub struct Runtime {
    pub config: Config,
    pub keyring: Arc<Keyring>,
    /// Longest prefix first, so the first match is the best one.
    pub routes: Vec<Route>,
    /// Judges short links that no route's chain can: external targets, and targets on
    /// routes that take no credential.
    pub link_chain: Chain,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Runtime {
    /// The TLS settings of a config: the part of building that reads files, shared with
    /// `tollgate check`.
    pub fn tls(config: &Config) -> Result<Option<Arc<rustls::ServerConfig>>, Problems> {
        match &config.server.tls {
            None => Ok(None),
            Some(files) => crate::server::tls::server_config(files)
                .map(Some)
                .map_err(|e| {
                    Problems(vec![Problem {
                        path: e.toml_path().to_owned(),
                        message: e.to_string(),
                    }])
                }),
        }
    }

    /// Builds a snapshot. Fails (with TOML paths) on anything that only shows when the
    /// parts are made, such as a certificate that does not parse.
    pub fn build(config: Config, state: &Arc<State>) -> Result<Runtime, Problems> {
        let tls = Self::tls(&config)?;
        let keyring = Arc::new(Keyring::new(&config.keys));
        let mut origins: Vec<Arc<dyn Origin>> = Vec::with_capacity(config.origins.len());
        for (i, o) in config.origins.iter().enumerate() {
            origins.push(match &o.kind {
                OriginKind::Dir {
                    root,
                    blocking_pool,
                } => Arc::new(DirOrigin::new(root.clone(), *blocking_pool)),
                OriginKind::Http {
                    base,
                    ca,
                    connect_timeout,
                    timeout,
                    idle_timeout,
                } => {
                    let tls = match base.scheme_str() {
                        Some("https") => {
                            Some(crate::origin::http::client_tls(ca.as_deref()).map_err(|e| {
                                Problems(vec![Problem {
                                    path: format!(
                                        "origins[{i}].{}",
                                        if ca.is_some() { "ca" } else { "url" }
                                    ),
                                    message: e.to_string(),
                                }])
                            })?)
                        }
                        _ => None,
                    };
                    Arc::new(HttpOrigin::new(
                        base,
                        tls,
                        *connect_timeout,
                        *timeout,
                        *idle_timeout,
                    ))
                }
            });
        }
        let mut routes: Vec<Route> = config
            .routes
            .iter()
            .map(|r| {
                let chain = build_chain(&config, &keyring, state, r);
                let link_chain = (!r.filters.contains(&FilterKind::Signature)).then(|| {
                    let mut links = links_route();
                    links.view_grace = r.view_grace;
                    build_chain(&config, &keyring, state, &links)
                });
                Route {
                    link_chain,
                    prefix: r.prefix.clone(),
                    name: Arc::from(r.prefix.as_str()),
                    strip_prefix: r.strip_prefix,
                    origin: origins[r.origin].clone(),
                    chain,
                    view_grace: r.view_grace,
                }
            })
            .collect();
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        let link_chain = build_chain(&config, &keyring, state, &links_route());
        Ok(Runtime {
            config,
            keyring,
            routes,
            link_chain,
            tls,
        })
    }

    pub fn route_for(&self, decoded_path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| crate::path::under(decoded_path, &r.prefix))
    }
}

/// A route's chain, in its config order (plus `revocation`, see [`Chain::new`]).
fn build_chain(
    config: &Config,
    keyring: &Arc<Keyring>,
    state: &Arc<State>,
    r: &RouteConfig,
) -> Chain {
    let filters = r
        .filters
        .iter()
        .map(|f| -> Arc<dyn Filter> {
            match f {
                FilterKind::Signature => Arc::new(Signature {
                    clock_skew: config.server.clock_skew,
                    max_ttl: r.max_ttl,
                    enforces_views: r.filters.contains(&FilterKind::ViewLimit),
                    enforces_password: r.filters.contains(&FilterKind::Password),
                }),
                FilterKind::Revocation => Arc::new(Revocation {
                    state: state.clone(),
                }),
                FilterKind::Password => Arc::new(Password {
                    state: state.clone(),
                    keyring: keyring.clone(),
                    secure_cookies: config.public_url.starts_with("https:"),
                }),
                FilterKind::ViewLimit => Arc::new(ViewLimit {
                    state: state.clone(),
                    grace: r.view_grace,
                }),
                FilterKind::RateLimit => Arc::new(RateLimit::new(
                    // Validation refuses the filter without a rate.
                    r.rate_limit.unwrap_or(crate::config::Rate {
                        count: 1,
                        per: Duration::from_secs(1),
                    }),
                )),
            }
        })
        .collect();
    let state = state.clone();
    Chain::new(filters, move || Arc::new(Revocation { state }))
}

/// The rules every short link is judged by when no route's chain does: its expiry,
/// revocation, views and password; no grace (a redirect is not resumed).
fn links_route() -> RouteConfig {
    RouteConfig {
        prefix: crate::state::Link::PREFIX.to_owned(),
        origin: 0,
        strip_prefix: false,
        max_ttl: Duration::MAX,
        view_grace: Duration::ZERO,
        filters: vec![
            FilterKind::Signature,
            FilterKind::Revocation,
            FilterKind::ViewLimit,
            FilterKind::Password,
        ],
        rate_limit: None,
    }
}

/// What every part of the running server shares.
pub struct Shared {
    pub runtime: ArcSwap<Runtime>,
    pub config_path: PathBuf,
    pub metrics: Arc<Metrics>,
    pub state: Arc<State>,
    /// Per-API-key quotas; outlive reloads.
    pub api_limits: crate::limits::ApiLimits,
    /// Set once a drain has begun: `/readyz` answers 503 so load balancers stop sending.
    pub draining: AtomicBool,
}

impl Shared {
    pub fn new(
        runtime: Runtime,
        config_path: &Path,
        state: Arc<State>,
        metrics: Arc<Metrics>,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            runtime: ArcSwap::from_pointee(runtime),
            config_path: config_path.to_owned(),
            metrics,
            state,
            api_limits: Default::default(),
            draining: AtomicBool::new(false),
        })
    }

    /// Re-reads the config file and swaps the new snapshot in whole, or keeps the old one.
    /// Listener addresses are fixed for the life of the process; a change is reported.
    pub fn reload(&self) -> Result<(), Problems> {
        let config = Config::load(&self.config_path)?;
        let old = self.runtime.load();
        let mut warn = Vec::new();
        if config.server.listen != old.config.server.listen {
            warn.push("server.listen");
        }
        if config.admin.as_ref().map(|a| a.listen) != old.config.admin.as_ref().map(|a| a.listen) {
            warn.push("admin.listen");
        }
        if config.server.tls.is_some() != old.config.server.tls.is_some() {
            warn.push("server.tls");
        }
        if config.state != old.config.state {
            warn.push("state");
        }
        if !warn.is_empty() {
            tracing::warn!(
                keys = ?warn,
                "reload: listener settings changed; they take effect on restart only"
            );
        }
        let mut rt = Runtime::build(config, &self.state)?;
        if rt.tls.is_some() != old.tls.is_some() {
            // The listener's TLS mode is fixed; keep serving as it started.
            rt.tls = old.tls.clone();
        }
        self.runtime.store(Arc::new(rt));
        Ok(())
    }
}
