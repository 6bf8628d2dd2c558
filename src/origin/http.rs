//! `http`: an upstream HTTP/1.1 server, plain or over TLS (rustls, the system's roots or a
//! private CA, SNI and host-name verification), through a pooled keep-alive client.
//!
//! Bodies stream both ways. Hop-by-hop headers (RFC 9110 §7.6.1) are dropped in both
//! directions; the proxy has already taken the token out of the query and the headers and
//! set `X-Forwarded-For`/`-Proto`/`-Host`.

use std::error::Error as _;
use std::time::Duration;

use std::path::Path;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName};
use http::{Request, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::CertificateDer;

use super::{ExistsFuture, Origin, OriginError, OriginFuture, OriginRequest};
use crate::body::Body;

pub struct HttpOrigin {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    /// `http://host:port` or `https://host:port`
    authority: String,
    /// Base path without a trailing slash (may be empty).
    base_path: String,
    timeout: Duration,
    idle_timeout: Duration,
}

/// Why an https upstream's trust roots could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read the CA file `{path}`: {source}")]
    Ca {
        path: String,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("the CA file `{0}` holds no usable certificate")]
    NoCertificate(String),
    #[error("the system's trust store has no usable certificate")]
    NoSystemRoots,
    #[error("the TLS client could not be configured: {0}")]
    Rustls(#[source] rustls::Error),
}

/// The TLS client settings for https upstreams: the system's roots, or only `ca`'s.
/// Certificates are verified against the URL's host name, which is also sent as SNI.
pub fn client_tls(ca: Option<&Path>) -> Result<rustls::ClientConfig, TlsSetupError> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let shown = path.display().to_string();
            for cert in CertificateDer::pem_file_iter(path).map_err(|source| TlsSetupError::Ca {
                path: shown.clone(),
                source,
            })? {
                let cert = cert.map_err(|source| TlsSetupError::Ca {
                    path: shown.clone(),
                    source,
                })?;
                // A certificate that is no CA is skipped; none at all is refused below.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(TlsSetupError::NoCertificate(shown));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "skipping part of the system trust store");
            }
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(TlsSetupError::NoSystemRoots);
            }
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(TlsSetupError::Rustls)?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

impl HttpOrigin {
    /// `tls` is needed (and used) only for an https `base`.
    pub fn new(
        base: &Uri,
        tls: Option<rustls::ClientConfig>,
        connect_timeout: Duration,
        timeout: Duration,
        idle_timeout: Duration,
    ) -> HttpOrigin {
        let mut conn = HttpConnector::new();
        conn.set_connect_timeout(Some(connect_timeout));
        conn.set_nodelay(true);
        conn.enforce_http(false);
        let https = match tls {
            Some(cfg) => HttpsConnectorBuilder::new()
                .with_tls_config(cfg)
                .https_only()
                .enable_http1()
                .wrap_connector(conn),
            // A plain-http origin never speaks TLS: no roots to load, no https allowed.
            None => HttpsConnectorBuilder::new()
                .with_tls_config(
                    rustls::ClientConfig::builder_with_provider(Arc::new(
                        rustls::crypto::ring::default_provider(),
                    ))
                    .with_safe_default_protocol_versions()
                    // Fails only for a provider without TLS 1.2 and 1.3 suites; ring has both.
                    .expect("ring supports the default TLS versions")
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
                )
                .https_or_http()
                .enable_http1()
                .wrap_connector(conn),
        };
        let client = Client::builder(TokioExecutor::new())
            // Idle upstream connections are kept up to the concurrency a burst reached: capping
            // them at 64 (nginx's keepalive 64) cost 37% of throughput at 1000 client
            // connections, every request past 64 opening a new upstream connection
            // (benches/load/run.sh). Each idle one holds ~50 KiB, released after 30 s idle.
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(1024)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https);
        let authority = format!(
            "{}://{}",
            base.scheme_str().unwrap_or("http"),
            base.authority().map(|a| a.as_str()).unwrap_or("")
        );
        HttpOrigin {
            client,
            authority,
            base_path: base.path().trim_end_matches('/').to_owned(),
            timeout,
            idle_timeout,
        }
    }
}

/// Hop-by-hop headers: never forwarded, in either direction.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, including those that `Connection` names.
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in HOP_BY_HOP {
        h.remove(n);
    }
    h.remove("proxy-connection");
}

fn classify(e: hyper_util::client::legacy::Error) -> OriginError {
    let mut src = e.source();
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return OriginError::Timeout;
        }
        src = s.source();
    }
    OriginError::Unreachable(e)
}

impl Origin for HttpOrigin {
    /// A HEAD request: 404 and 410 mean absent; any other answer means present (the origin
    /// may refuse HEAD and still serve GET).
    fn exists(&self, path: &str) -> ExistsFuture<'_> {
        let uri = format!(
            "{}{}{}",
            self.authority,
            self.base_path,
            crate::path::encode(path)
        );
        Box::pin(async move {
            let req = Request::builder()
                .method(http::Method::HEAD)
                .uri(uri)
                .body(Body::empty())
                .map_err(OriginError::Request)?;
            match tokio::time::timeout(self.timeout, self.client.request(req)).await {
                Err(_) => Err(OriginError::Timeout),
                Ok(Err(e)) => Err(classify(e)),
                Ok(Ok(r)) => Ok(!matches!(r.status().as_u16(), 404 | 410)),
            }
        })
    }

    fn serve(&self, req: OriginRequest) -> OriginFuture<'_> {
        Box::pin(async move {
            let mut uri = String::with_capacity(
                self.authority.len() + self.base_path.len() + req.path.len() + req.query.len() + 2,
            );
            uri.push_str(&self.authority);
            uri.push_str(&self.base_path);
            uri.push_str(&crate::path::encode(&req.path));
            if !req.query.is_empty() {
                uri.push('?');
                uri.push_str(&req.query);
            }
            let mut headers = req.headers;
            strip_hop_by_hop(&mut headers);
            // The client's Host names the gateway (the proxy passed it on as
            // X-Forwarded-Host); the client sets the origin's from the URI.
            headers.remove(header::HOST);
            let mut out = Request::builder()
                .method(req.method)
                .uri(uri)
                .body(Body::request(req.body, req.progress))
                .map_err(OriginError::Request)?;
            *out.headers_mut() = headers;

            let resp = match tokio::time::timeout(self.timeout, self.client.request(out)).await {
                Err(_) => return Err(OriginError::Timeout),
                Ok(Err(e)) => return Err(classify(e)),
                Ok(Ok(r)) => r,
            };
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Ok(http::Response::from_parts(
                parts,
                Body::upstream(body, self.idle_timeout),
            ))
        })
    }
}
