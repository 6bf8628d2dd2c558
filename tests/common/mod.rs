//! One harness for the integration tests: real gateway processes on loopback (port 0),
//! a real HTTP origin that records what reaches it, and clients that speak HTTP/1.1 (raw
//! bytes when needed), HTTP/1.1 over TLS and HTTP/2 over TLS.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use tollgate::config::Config;
use tollgate::token::Keyring;
use tollgate::token::mint::{MintRequest, mint};

pub const KEY_B64: &str = "T4ptSfTHt436myOmizcmcejqtuYnjbCp8waK7fRY61c";
pub const OTHER_KEY_B64: &str = "3q2-796tvu_erb7v3q2-796tvu_erb7v3q2-796tvu8";

/// API keys every test gateway knows: an admin secret key scoped to `/`, a public key, a
/// secret key scoped to `/files/a/`, and an expired secret key.
pub const SK_ADMIN: &str = "sk_test_admin_0123456789abcdefghijklmnopqrstuv";
pub const PK_READ: &str = "pk_test_read_0123456789abcdefghijklmnopqrstuvw";
pub const SK_SCOPED: &str = "sk_test_scoped_0123456789abcdefghijklmnopqrstu";
pub const SK_EXPIRED: &str = "sk_test_expired_0123456789abcdefghijklmnopqrst";
/// A secret key limited to 3 calls a minute.
pub const SK_LIMITED: &str = "sk_test_limited_0123456789abcdefghijklmnopqrst";

fn api_keys_toml() -> String {
    let k = |id: &str, kind: &str, key: &str, scopes: &str, extra: &str| {
        format!(
            "[[api_keys]]\nid = \"{id}\"\nkind = \"{kind}\"\nsha256 = \"{}\"\nscopes = {scopes}\n{extra}\n",
            sha256_hex(key.as_bytes())
        )
    };
    k("admin", "secret", SK_ADMIN, r#"["/"]"#, "")
        + &k("reader", "public", PK_READ, r#"["/"]"#, "")
        + &k("scoped", "secret", SK_SCOPED, r#"["/files/a/"]"#, "")
        + &k(
            "old",
            "secret",
            SK_EXPIRED,
            r#"["/"]"#,
            "expires = \"2020-01-01T00:00:00Z\"",
        )
        + &k(
            "limited",
            "secret",
            SK_LIMITED,
            r#"["/"]"#,
            "rate_limit = \"3/m\"",
        )
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Builds a config file and starts `tollgate serve` on it.
pub struct GatewayBuilder {
    tls: bool,
    origins: Vec<String>,
    routes: Vec<String>,
    server_extra: Vec<String>,
    keys: Vec<String>,
    env: Vec<(String, String)>,
    public_url: Option<String>,
    admin_extra: Vec<String>,
}

impl GatewayBuilder {
    pub fn new() -> Self {
        GatewayBuilder {
            tls: false,
            origins: vec![],
            routes: vec![],
            server_extra: vec![],
            keys: vec![format!("[[keys]]\nid = \"k1\"\nsecret = \"{KEY_B64}\"\n")],
            env: vec![],
            public_url: None,
            admin_extra: vec![],
        }
    }

    /// A line under `[admin]`, e.g. `max_connections = 2`.
    pub fn admin(mut self, line: &str) -> Self {
        self.admin_extra.push(line.to_owned());
        self
    }

    /// Another `public_url` than the listener's scheme on port 1, e.g. an https URL for a
    /// plain listener behind a TLS-terminating load balancer.
    pub fn public_url(mut self, url: &str) -> Self {
        self.public_url = Some(url.to_owned());
        self
    }

    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    pub fn dir_origin(self, name: &str, root: &Path) -> Self {
        self.dir_origin_with(name, root, "")
    }

    /// A `dir` origin with more keys, e.g. `blocking_pool = true`.
    pub fn dir_origin_with(mut self, name: &str, root: &Path, extra: &str) -> Self {
        self.origins.push(format!(
            "[[origins]]\nname = \"{name}\"\nkind = \"dir\"\nroot = \"{}\"\n{extra}\n",
            root.display()
        ));
        self
    }

    pub fn http_origin(mut self, name: &str, addr: SocketAddr, extra: &str) -> Self {
        self.origins.push(format!(
            "[[origins]]\nname = \"{name}\"\nkind = \"http\"\nurl = \"http://{addr}\"\n{extra}\n"
        ));
        self
    }

    /// An `[[origins]]` table written out in full.
    pub fn origin_toml(mut self, toml: &str) -> Self {
        self.origins.push(format!("[[origins]]\n{toml}\n"));
        self
    }

    /// `filters` as TOML, e.g. `["signature"]`.
    pub fn route(mut self, prefix: &str, origin: &str, filters: &str, extra: &str) -> Self {
        self.routes.push(format!(
            "[[routes]]\nprefix = \"{prefix}\"\norigin = \"{origin}\"\nfilters = {filters}\n{extra}\n"
        ));
        self
    }

    pub fn server(mut self, line: &str) -> Self {
        self.server_extra.push(line.to_owned());
        self
    }

    pub fn key(mut self, toml: &str) -> Self {
        self.keys.push(toml.to_owned());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn toml(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let public = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://127.0.0.1:1"));
        let mut s = format!("public_url = \"{public}\"\n[server]\nlisten = \"127.0.0.1:0\"\n");
        if self.tls {
            let c = repo().join("certs");
            s += &format!(
                "tls = {{ cert = \"{}\", key = \"{}\" }}\n",
                c.join("dev.crt").display(),
                c.join("dev.key").display()
            );
        }
        for l in &self.server_extra {
            s += l;
            s.push('\n');
        }
        s += "[admin]\nlisten = \"127.0.0.1:0\"\n";
        for l in &self.admin_extra {
            s += l;
            s.push('\n');
        }
        for k in &self.keys {
            s += k;
        }
        for o in &self.origins {
            s += o;
        }
        for r in &self.routes {
            s += r;
        }
        s += &api_keys_toml();
        s
    }

    pub fn start(self) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let toml = self.toml()
            + &format!(
                "[state]\nbackend = \"embedded\"\npath = \"{}\"\n",
                state.display()
            );
        let config_path = dir.path().join("tollgate.toml");
        std::fs::write(&config_path, &toml).unwrap();
        Gateway::spawn(dir, config_path, self.tls, &self.env)
    }
}

pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub tls: bool,
    logs: Arc<Mutex<Vec<String>>>,
    config: Config,
    env: Vec<(String, String)>,
}

impl Gateway {
    fn spawn(
        dir: tempfile::TempDir,
        config_path: PathBuf,
        tls: bool,
        env: &[(String, String)],
    ) -> Gateway {
        let env = env.to_vec();
        // TOLLGATE_TEST_BIN runs the suite against another build (say, the last release,
        // to show that an attack test fails there).
        let bin = std::env::var_os("TOLLGATE_TEST_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_tollgate").into());
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env("TOLLGATE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let l2 = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening addr=") {
                    let _ = tx.send(line.clone());
                }
                l2.lock().unwrap().push(line);
            }
        });
        let mut addr = None;
        let mut admin = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        while addr.is_none() || admin.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("gateway did not start: {:?}", logs.lock().unwrap()));
            let a: SocketAddr = line
                .split("addr=")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap();
            if line.contains("data plane") {
                addr = Some(a);
            } else {
                admin = Some(a);
            }
        }
        // The config resolves `env:` secrets from the child's environment: put the same
        // values in the text this process parses for minting (no change to its own
        // environment, which other tests' threads read).
        let mut text = std::fs::read_to_string(&config_path).unwrap();
        for (k, v) in &env {
            text = text.replace(&format!("\"env:{k}\""), &format!("\"{v}\""));
        }
        let config = Config::parse(&text).unwrap();
        Gateway {
            dir,
            config_path,
            child,
            addr: addr.unwrap(),
            admin: admin.unwrap(),
            tls,
            logs,
            config,
            env,
        }
    }

    /// Kills the process with SIGKILL (no drain, no flush) and waits for it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a new process on the same config file and state directory (new ports).
    pub fn restart(self) -> Gateway {
        let mut me = self;
        me.kill9();
        let dir = std::mem::replace(&mut me.dir, tempfile::tempdir().unwrap());
        let path = me.config_path.clone();
        let (tls, env) = (me.tls, me.env.clone());
        drop(me);
        Gateway::spawn(dir, path, tls, &env)
    }

    /// Calls the control API with an API key and an optional JSON body.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        let c = Client {
            addr: self.admin,
            tls: None,
        };
        let mut b = c.request(method, path);
        if let Some(k) = key {
            b = b.header("authorization", format!("Bearer {k}"));
        }
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        let body = body.map(|s| Bytes::from(s.to_owned())).unwrap_or_default();
        c.send(b.body(Full::new(body)).unwrap()).await
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits (bounded) until a log line contains `needle`.
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(l) = self.logs().into_iter().find(|l| l.contains(needle)) {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?}: {:#?}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Waits (bounded) for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(
                Instant::now() < deadline,
                "gateway did not exit in {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Peak resident memory of the gateway process, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        s.lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Mints a URL (path and query only) with the gateway's own config, at time `at`.
    pub fn sign_at(&self, req: &MintRequest, at: u64) -> String {
        let keyring = Keyring::new(&self.config.keys);
        let m = mint(&self.config, &keyring, req, at).unwrap();
        m.url
            .strip_prefix(&self.config.public_url)
            .unwrap()
            .to_owned()
    }

    /// Mints through the control API (`POST /api/v1/signed-urls` with `body`, as the
    /// admin key) and returns the URL's path and query, and the token id.
    pub async fn mint_api(&self, body: serde_json::Value) -> (String, String) {
        let r = self
            .api(
                "POST",
                "/api/v1/signed-urls",
                Some(SK_ADMIN),
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.json());
        let d = &r.json()["data"];
        let url = d["url"].as_str().unwrap();
        // Everything after the authority of `public_url`, whatever it is.
        let rest = url.split_once("://").unwrap().1;
        let target = rest[rest.find('/').unwrap()..].to_owned();
        (target, d["token_id"].as_str().unwrap().to_owned())
    }

    /// The views counted for a token id, read through the control API.
    pub async fn views(&self, tid: &str) -> u64 {
        let r = self
            .api("GET", &format!("/api/v1/tokens/{tid}"), Some(PK_READ), None)
            .await;
        assert_eq!(r.status, 200, "{:?}", r.json());
        r.json()["data"]["views"].as_u64().unwrap()
    }

    /// The config the gateway was started with, as this process parsed it.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn sign(&self, req: &MintRequest) -> String {
        self.sign_at(req, now())
    }

    pub fn sign_path(&self, path: &str) -> String {
        self.sign(&MintRequest::new(path))
    }

    pub fn client(&self) -> Client {
        Client {
            addr: self.addr,
            tls: if self.tls { Some(TlsMode::H1) } else { None },
        }
    }

    pub fn h2_client(&self) -> Client {
        assert!(self.tls);
        Client {
            addr: self.addr,
            tls: Some(TlsMode::H2),
        }
    }

    pub async fn metric(&self, name: &str) -> i64 {
        let c = Client {
            addr: self.admin,
            tls: None,
        };
        let r = c.get("/metrics").await;
        let text = String::from_utf8_lossy(&r.body).into_owned();
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("no metric {name}"))
            .parse()
            .unwrap()
    }

    /// Polls a metric (bounded) until it equals `want`.
    pub async fn wait_metric(&self, name: &str, want: i64) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let v = self.metric(name).await;
            if v == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} stayed at {v}, wanted {want}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy)]
pub enum TlsMode {
    H1,
    H2,
}

#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub tls: Option<TlsMode>,
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub version: http::Version,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The error code of a contract error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

pub fn tls_connector(alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let ca =
        rustls_pki_types::CertificateDer::from_pem_file(repo().join("certs/dev-ca.crt")).unwrap();
    roots.add(ca).unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

impl Client {
    /// Sends one request on a new connection and returns the response head with its body
    /// still streaming.
    pub async fn send_streaming(&self, req: Request<Full<Bytes>>) -> Response<Incoming> {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        match self.tls {
            None => {
                let (mut s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .unwrap();
                tokio::spawn(conn);
                s.send_request(req).await.unwrap()
            }
            Some(mode) => {
                let alpn: &[&[u8]] = match mode {
                    TlsMode::H1 => &[b"http/1.1"],
                    TlsMode::H2 => &[b"h2"],
                };
                let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
                let tls = tls_connector(alpn).connect(name, tcp).await.unwrap();
                match mode {
                    TlsMode::H1 => {
                        let (mut s, conn) =
                            hyper::client::conn::http1::handshake(TokioIo::new(tls))
                                .await
                                .unwrap();
                        tokio::spawn(conn);
                        s.send_request(req).await.unwrap()
                    }
                    TlsMode::H2 => {
                        let (mut s, conn) = hyper::client::conn::http2::handshake(
                            TokioExecutor::new(),
                            TokioIo::new(tls),
                        )
                        .await
                        .unwrap();
                        tokio::spawn(conn);
                        let mut req = req;
                        *req.version_mut() = http::Version::HTTP_2;
                        s.send_request(req).await.unwrap()
                    }
                }
            }
        }
    }

    pub async fn send(&self, req: Request<Full<Bytes>>) -> Resp {
        let r = self.send_streaming(req).await;
        let (parts, body) = r.into_parts();
        Resp {
            status: parts.status,
            headers: parts.headers,
            version: parts.version,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    pub fn request(&self, method: &str, target: &str) -> http::request::Builder {
        let b = Request::builder().method(method);
        match self.tls {
            Some(TlsMode::H2) => b.uri(format!("https://localhost:{}{target}", self.addr.port())),
            _ => b
                .uri(target)
                .header("host", format!("localhost:{}", self.addr.port())),
        }
    }

    pub async fn get(&self, target: &str) -> Resp {
        self.send(self.request("GET", target).body(Full::default()).unwrap())
            .await
    }

    pub async fn get_with(&self, target: &str, headers: &[(&str, &str)]) -> Resp {
        let mut b = self.request("GET", target);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Full::default()).unwrap()).await
    }

    pub async fn method(&self, method: &str, target: &str) -> Resp {
        self.send(self.request(method, target).body(Full::default()).unwrap())
            .await
    }
}

/// Writes raw bytes on a plain connection and returns everything read until the server
/// closes or `within` passes.
pub async fn raw(addr: SocketAddr, bytes: &[u8], within: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(within, s.read_to_end(&mut out)).await;
    out
}

/// The status code of a raw HTTP/1.1 response.
pub fn raw_status(resp: &[u8]) -> u16 {
    let s = String::from_utf8_lossy(resp);
    s.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {s:?}"))
}

/// What a test origin saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: HeaderMap,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers 200 with `body_len` bytes of a fixed pattern (Range not supported).
    Serve,
    /// Accepts the request and never answers.
    Stall,
    /// Sends the head and the first chunk, then stops sending.
    StallBody,
}

/// A real HTTP/1.1 origin on loopback that records every request that reaches it.
pub struct TestOrigin {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Number of response bodies dropped before they were fully sent.
    pub aborted: Arc<std::sync::atomic::AtomicUsize>,
}

pub fn pattern_byte(i: u64) -> u8 {
    (i.wrapping_mul(2654435761) >> 13) as u8
}

struct PatternBody {
    pos: u64,
    len: u64,
    stall_after_first: bool,
    aborted: Arc<std::sync::atomic::AtomicUsize>,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl Drop for PatternBody {
    fn drop(&mut self) {
        if self.pos < self.len {
            self.aborted
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl http_body::Body for PatternBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        use std::task::Poll;
        if self.pos >= self.len {
            return Poll::Ready(None);
        }
        if self.stall_after_first && self.pos > 0 {
            let s = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_secs(3600))));
            let _ = s.as_mut().poll(cx);
            return Poll::Pending;
        }
        let n = (self.len - self.pos).min(64 * 1024);
        let chunk: Vec<u8> = (self.pos..self.pos + n).map(pattern_byte).collect();
        self.pos += n;
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(chunk)))))
    }
}

use std::future::Future as _;

impl TestOrigin {
    pub async fn start(behaviour: Behaviour, body_len: u64) -> TestOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let aborted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (s2, a2) = (seen.clone(), aborted.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, aborted) = (s2.clone(), a2.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (seen, aborted) = (seen.clone(), aborted.clone());
                        async move {
                            seen.lock().unwrap().push(Seen {
                                method: req.method().to_string(),
                                uri: req.uri().to_string(),
                                headers: req.headers().clone(),
                            });
                            if behaviour == Behaviour::Stall {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                            }
                            let body = PatternBody {
                                pos: 0,
                                len: body_len,
                                stall_after_first: behaviour == Behaviour::StallBody,
                                aborted,
                                sleep: None,
                            };
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .header("content-length", body_len)
                                    .header("connection", "x-origin-private")
                                    .header("x-origin-private", "1")
                                    .header("x-origin", "yes")
                                    .body(body)
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        TestOrigin {
            addr,
            seen,
            aborted,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// A directory of small files for `dir` origins, plus a secret file beside it.
pub struct Files {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Files {
    pub fn new(files: &[(&str, &[u8])]) -> Files {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(tmp.path().join("secret.txt"), b"TOP SECRET").unwrap();
        for (name, data) in files {
            let p = root.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
        Files { tmp, root }
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub type Headers = HashMap<String, String>;

/// Fires `n` concurrent GETs, each on its own connection; returns the statuses.
pub async fn burst(gw: &Gateway, target: &str, n: usize) -> Vec<u16> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let c = gw.client();
        let t = target.to_owned();
        set.spawn(async move {
            let tcp = tokio::net::TcpStream::connect(c.addr).await.ok()?;
            let (mut s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .ok()?;
            tokio::spawn(conn);
            let req = c.request("GET", &t).body(Full::<Bytes>::default()).ok()?;
            let r = s.send_request(req).await.ok()?;
            let status = r.status().as_u16();
            let _ = r.into_body().collect().await;
            Some(status)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(Some(s)) = r {
            out.push(s);
        }
    }
    out
}
