//! Listeners and the process lifecycle.
//!
//! The data plane accepts TCP (optionally TLS), and hands each connection to hyper-util's
//! auto builder (HTTP/1.1 or HTTP/2 by ALPN or preface). Limits that protect the process:
//! a connection cap (a semaphore: beyond it, new connections wait in the kernel backlog),
//! a TLS handshake timeout, a header-read timeout and a header-size cap.
//!
//! SIGTERM/SIGINT: `/readyz` turns 503, the listener closes, in-flight requests finish up
//! to `server.drain_timeout`, then the process exits 0. SIGHUP: reload (see
//! [`Shared::reload`]).

pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, error, info, warn};

use crate::config::{Config, Problems};
use crate::metrics::Metrics;
use crate::runtime::{Runtime, Shared};
use crate::state::State;

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
    let accept = tokio::spawn(accept_loop(data, shared.clone(), stop_rx.clone()));
    let (admin_stop_tx, admin_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let admin_task = admin.map(|l| {
        if let Ok(addr) = l.local_addr() {
            info!(%addr, "admin plane listening");
        }
        tokio::spawn(crate::admin::serve(l, shared.clone(), admin_stop_rx))
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
    let _ = admin_stop_tx.send(());
    if let Some(t) = admin_task {
        let _ = t.await;
    }
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> GracefulShutdown {
    // Owns the connection tracker and hands it back when accepting stops, so the caller
    // can wait for the drain.
    let graceful = GracefulShutdown::new();
    let cfg = shared.runtime.load().config.server.clone();
    let limit = Arc::new(Semaphore::new(cfg.max_connections));
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
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let hs_timeout = cfg.tls_handshake_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let _open = shared.metrics.connection_opened();
            let tls = shared.runtime.load().tls.clone();
            match tls {
                None => {
                    serve_conn(TokioIo::new(stream), peer, false, shared, builder, watcher).await
                }
                Some(cfg) => {
                    match tokio::time::timeout(hs_timeout, TlsAcceptor::from(cfg).accept(stream))
                        .await
                    {
                        Ok(Ok(s)) => {
                            serve_conn(TokioIo::new(s), peer, true, shared, builder, watcher).await
                        }
                        Ok(Err(e)) => {
                            shared
                                .metrics
                                .tls_handshake_failures
                                .fetch_add(1, Ordering::Relaxed);
                            debug!(%peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            shared
                                .metrics
                                .tls_handshake_failures
                                .fetch_add(1, Ordering::Relaxed);
                            debug!(%peer, "TLS handshake timed out");
                        }
                    }
                }
            }
        });
    }
    graceful
}

async fn serve_conn<I>(
    io: TokioIo<I>,
    peer: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(crate::proxy::handle(&shared, req, peer, tls).await) }
    });
    let conn = builder.serve_connection(io, svc).into_owned();
    if let Err(e) = watcher.watch(conn).await {
        debug!(%peer, error = %e, "connection closed with an error");
    }
}
