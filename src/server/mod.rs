//! Listeners and the process lifecycle.
//!
//! Both planes accept TCP (the data plane optionally TLS) and hand each connection to
//! hyper-util's auto builder (HTTP/1.1 or HTTP/2 by ALPN or preface). Limits that protect
//! the process, on both: a connection cap (a semaphore: beyond it, new connections wait in
//! the kernel backlog), a per-address cap on the data plane (`max_connections_per_ip`), a
//! header-size cap, and a deadline on every phase of a connection ([`guard`]).
//!
//! SIGTERM/SIGINT: `/readyz` turns 503, the listener closes, in-flight requests finish up
//! to `server.drain_timeout`, then the process exits 0. SIGHUP: reload (see
//! [`Shared::reload`]).

pub mod guard;
pub mod tls;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use dashmap::DashMap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, error, info, warn};

use crate::config::{Config, Problems};
use crate::metrics::Metrics;
use crate::runtime::{Runtime, Shared};
use crate::state::State;
use guard::{Deadlines, Expired, Watch, Watched};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("invalid config: {0}")]
    Config(Problems),
    #[error("cannot listen on {addr} ({which}): {source}")]
    Bind {
        which: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("state: {0}")]
    State(#[source] crate::state::StoreError),
    #[error("cannot install signal handlers: {0}")]
    Signal(#[source] std::io::Error),
}

async fn bind(which: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            which,
            addr,
            source,
        })
}

/// Runs the gateway until SIGTERM/SIGINT and a drain.
pub async fn run(config_path: &Path, config: Config) -> Result<(), ServeError> {
    let metrics = Arc::new(Metrics::default());
    let state = State::open(&config.state, metrics.clone())
        .await
        .map_err(ServeError::State)?;
    let runtime = Runtime::build(config, &state).map_err(ServeError::Config)?;
    let data = bind("server.listen", runtime.config.server.listen).await?;
    let admin = match &runtime.config.admin {
        Some(a) => Some(bind("admin.listen", a.listen).await?),
        None => None,
    };
    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Signal)?;
    let mut hup = signal(SignalKind::hangup()).map_err(ServeError::Signal)?;

    let server = runtime.config.server.clone();
    if let Ok(addr) = data.local_addr() {
        info!(%addr, tls = runtime.tls.is_some(), "data plane listening");
    }
    let shared = Shared::new(runtime, config_path, state, metrics);

    let (stop_tx, stop_rx) = watch::channel(false);
    let accept = tokio::spawn(accept_loop(
        data,
        shared.clone(),
        stop_rx.clone(),
        Plane::Data,
    ));
    let (admin_stop_tx, admin_stop_rx) = watch::channel(false);
    let admin_task = admin.map(|l| {
        if let Ok(addr) = l.local_addr() {
            info!(%addr, "admin plane listening");
        }
        tokio::spawn(accept_loop(l, shared.clone(), admin_stop_rx, Plane::Admin))
    });

    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => match shared.reload() {
                Ok(()) => {
                    shared.metrics.reloads_ok.fetch_add(1, Ordering::Relaxed);
                    info!("config reloaded");
                }
                Err(problems) => {
                    shared.metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
                    error!(%problems, "config reload refused; still serving the previous config");
                }
            },
        }
    }

    info!(deadline = ?server.drain_timeout, "draining");
    shared.draining.store(true, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    match accept.await {
        Ok(graceful) => {
            match tokio::time::timeout(server.drain_timeout, graceful.shutdown()).await {
                Ok(()) => info!("drained"),
                Err(_) => warn!("drain deadline reached; closing remaining connections"),
            }
        }
        Err(e) => error!(error = %e, "accept loop ended abnormally"),
    }
    let _ = admin_stop_tx.send(true);
    if let Some(t) = admin_task
        && let Ok(graceful) = t.await
    {
        let _ = tokio::time::timeout(server.drain_timeout, graceful.shutdown()).await;
    }
    Ok(())
}

/// Which plane a listener serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Plane {
    Data,
    Admin,
}

/// Open connections per client address, for `server.max_connections_per_ip`.
#[derive(Default)]
struct PerIp {
    open: DashMap<IpAddr, usize>,
}

/// One connection counted against its address; uncounted when dropped.
struct IpSlot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    fn take(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<IpSlot> {
        let mut n = self.open.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        self.table.open.remove_if_mut(&self.ip, |_, n| {
            *n -= 1;
            *n == 0
        });
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    plane: Plane,
) -> GracefulShutdown {
    // Owns the connection tracker and hands it back when accepting stops, so the caller
    // can wait for the drain.
    let graceful = GracefulShutdown::new();
    let rt = shared.runtime.load_full();
    let cfg = rt.config.server.clone();
    let max_connections = match plane {
        Plane::Data => cfg.max_connections,
        Plane::Admin => rt.config.admin.as_ref().map_or(256, |a| a.max_connections),
    };
    let per_ip_cap = match plane {
        Plane::Data => cfg.max_connections_per_ip,
        Plane::Admin => None,
    };
    let deadlines = Deadlines {
        header_read: cfg.header_read_timeout,
        idle: cfg.idle_timeout,
        send: cfg.send_timeout,
    };
    let limit = Arc::new(Semaphore::new(max_connections));
    let per_ip = Arc::new(PerIp::default());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        .max_buf_size(cfg.max_header_bytes)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(cfg.max_header_bytes as u32)
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(std::time::Duration::from_secs(30)));
    let builder = Arc::new(builder);
    let admin_router = (plane == Plane::Admin).then(|| crate::admin::router(shared.clone()));

    loop {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                // The semaphore is never closed.
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Typically EMFILE: back off briefly instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let ip_slot = match per_ip_cap {
            None => None,
            Some(cap) => match per_ip.take(peer.ip().to_canonical(), cap) {
                Some(slot) => Some(slot),
                None => {
                    shared.metrics.conn_closed("max_connections_per_ip");
                    debug!(%peer, "connection refused: max_connections_per_ip");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let hs_timeout = cfg.tls_handshake_timeout.min(cfg.header_read_timeout);
        let admin_router = admin_router.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ip_slot = ip_slot;
            // The gauge is the data plane's (a scrape of /metrics must not count itself).
            let _open = (plane == Plane::Data).then(|| shared.metrics.connection_opened());
            let watch = Watch::new();
            let tls = match plane {
                Plane::Data => shared.runtime.load().tls.clone(),
                Plane::Admin => None,
            };
            let conn = Conn {
                peer,
                shared,
                builder,
                watcher,
                watch,
                deadlines,
                admin: admin_router,
            };
            match tls {
                None => conn.serve(TokioIo::new(stream), false).await,
                Some(tls_cfg) => {
                    // The handshake is part of the first head's deadline.
                    let accept = TlsAcceptor::from(tls_cfg).accept(stream);
                    match tokio::time::timeout(hs_timeout, accept).await {
                        Ok(Ok(s)) => conn.serve(TokioIo::new(s), true).await,
                        Ok(Err(e)) => {
                            conn.shared
                                .metrics
                                .tls_handshake_failures
                                .fetch_add(1, Ordering::Relaxed);
                            debug!(%peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            conn.shared
                                .metrics
                                .tls_handshake_failures
                                .fetch_add(1, Ordering::Relaxed);
                            conn.shared.metrics.conn_closed("header_read_timeout");
                            debug!(%peer, "TLS handshake timed out");
                        }
                    }
                }
            }
        });
    }
    graceful
}

/// One accepted connection and what serving it needs.
struct Conn {
    peer: SocketAddr,
    shared: Arc<Shared>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
    watch: Arc<Watch>,
    deadlines: Deadlines,
    /// The control API, on the admin listener.
    admin: Option<axum::Router>,
}

impl Conn {
    /// Serves the connection until it ends, or until its watchdog closes it.
    async fn serve<I>(self, io: TokioIo<I>, tls: bool)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            peer,
            shared,
            builder,
            watcher,
            watch,
            deadlines,
            admin,
        } = self;
        let metrics = shared.metrics.clone();
        let served = match admin {
            None => {
                let w = watch.clone();
                let svc = service_fn(move |req| {
                    let shared = shared.clone();
                    let in_flight = w.request();
                    let progress = w.progress();
                    async move {
                        let resp =
                            crate::proxy::handle(&shared, req, peer, tls, Some(progress)).await;
                        Ok::<_, Infallible>(resp.map(|b| Watched::new(b, in_flight)))
                    }
                });
                let conn = builder.serve_connection(io, svc).into_owned();
                race(watcher.watch(conn), &watch, deadlines).await
            }
            Some(router) => {
                let w = watch.clone();
                let tower = TowerToHyperService::new(router);
                let svc = service_fn(move |req| {
                    let in_flight = w.request();
                    let fut = hyper::service::Service::call(&tower, req);
                    async move {
                        let resp = fut.await?;
                        Ok::<_, Infallible>(resp.map(|b| Watched::new(b, in_flight)))
                    }
                });
                let conn = builder.serve_connection(io, svc).into_owned();
                race(watcher.watch(conn), &watch, deadlines).await
            }
        };
        match served {
            Ok(Ok(())) => {}
            Ok(Err(e)) => debug!(%peer, error = %e, "connection closed with an error"),
            Err(why) => {
                metrics.conn_closed(why.as_str());
                debug!(%peer, deadline = why.as_str(), "connection closed by its deadline");
            }
        }
    }
}

/// The connection's own end, or its watchdog's, whichever comes first (dropping the
/// connection closes it).
async fn race<T>(
    conn: impl std::future::Future<Output = T>,
    watch: &Watch,
    deadlines: Deadlines,
) -> Result<T, Expired> {
    tokio::select! {
        r = conn => Ok(r),
        why = watch.expired(deadlines) => Err(why),
    }
}
