//! `http` origins with `https://` URLs: a real TLS origin on loopback (the dev certificate,
//! issued by certs/dev-ca.crt for localhost and 127.0.0.1). The gateway trusts the system's
//! roots by default, or only the CA a route's origin names; a certificate from any other CA
//! is a 502, never a silent success.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::*;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tollgate::token::mint::MintRequest;

/// A TLS origin that answers every request with `secret origin bytes` and records the SNI
/// each handshake carried.
async fn tls_origin_on(bind: &str) -> (SocketAddr, Arc<Mutex<Vec<Option<String>>>>) {
    use rustls_pki_types::pem::PemObject;
    let certs: Vec<_> =
        rustls_pki_types::CertificateDer::pem_file_iter(repo().join("certs/dev.crt"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(repo().join("certs/dev.key")).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sni = Arc::new(Mutex::new(Vec::new()));
    let seen = sni.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                seen.lock()
                    .unwrap()
                    .push(tls.get_ref().1.server_name().map(str::to_owned));
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                        b"secret origin bytes",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, sni)
}

async fn tls_origin() -> (SocketAddr, Arc<Mutex<Vec<Option<String>>>>) {
    tls_origin_on("127.0.0.1:0").await
}

fn gateway(url: &str, ca: Option<&str>) -> Gateway {
    let ca = ca
        .map(|c| format!("ca = \"file:{c}\"\n"))
        .unwrap_or_default();
    GatewayBuilder::new()
        .origin_toml(&format!(
            "name = \"up\"\nkind = \"http\"\nurl = \"{url}\"\n{ca}"
        ))
        .route("/up/", "up", r#"["signature"]"#, "")
        .start()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_and_sni_names_the_host() {
    let (addr, sni) = tls_origin().await;
    let ca = repo().join("certs/dev-ca.crt");
    let gw = gateway(
        &format!("https://localhost:{}", addr.port()),
        Some(ca.to_str().unwrap()),
    );
    let r = gw
        .client()
        .get(&gw.sign(&MintRequest::new("/up/a.txt")))
        .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(&r.body[..], b"secret origin bytes");
    assert_eq!(
        sni.lock().unwrap().as_slice(),
        [Some("localhost".to_owned())]
    );
    // By address: the certificate names 127.0.0.1 too (no SNI for an IP).
    let gw = gateway(
        &format!("https://127.0.0.1:{}", addr.port()),
        Some(ca.to_str().unwrap()),
    );
    let r = gw
        .client()
        .get(&gw.sign(&MintRequest::new("/up/a.txt")))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_a_502() {
    let (addr, _) = tls_origin().await;
    let url = format!("https://localhost:{}", addr.port());
    // The system's roots do not know the dev CA.
    let gw = gateway(&url, None);
    let r = gw
        .client()
        .get(&gw.sign(&MintRequest::new("/up/a.txt")))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (502, "ORIGIN_UNREACHABLE")
    );
    assert!(!String::from_utf8_lossy(&r.body).contains("secret origin bytes"));
    // Nor does a CA of one's own that did not issue the origin's certificate.
    let dir = tempfile::tempdir().unwrap();
    let (key, crt) = (dir.path().join("k.pem"), dir.path().join("ca.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=another test CA",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let gw = gateway(&url, Some(crt.to_str().unwrap()));
    let r = gw
        .client()
        .get(&gw.sign(&MintRequest::new("/up/a.txt")))
        .await;
    assert_eq!(r.status, 502);
    // The right CA but the wrong name: the certificate is not for this host.
    let ca = repo().join("certs/dev-ca.crt");
    let gw = gateway(
        &format!("https://127.0.0.2:{}", addr.port()),
        Some(ca.to_str().unwrap()),
    );
    let r = gw
        .client()
        .get(&gw.sign(&MintRequest::new("/up/a.txt")))
        .await;
    assert_eq!(r.status, 502);
}
