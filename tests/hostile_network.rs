//! The hostile network: no connection holds a slot for free. Each test is the attack as
//! raw sockets against a real gateway with short deadlines; before the deadlines of
//! `server::guard`, every one of these sockets stayed open (three silent ones for 120 s
//! with `header_read_timeout` at 10 s).

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tollgate::token::mint::MintRequest;

const DEADLINES: [&str; 3] = [
    r#"header_read_timeout = "1s""#,
    r#"idle_timeout = "1s""#,
    r#"send_timeout = "1s""#,
];

fn builder(files: &Files) -> GatewayBuilder {
    let mut b = GatewayBuilder::new();
    for d in DEADLINES {
        b = b.server(d);
    }
    b.dir_origin("files", &files.root)
        .route("/files/", "files", r#"["signature"]"#, "")
}

fn files() -> Files {
    let big: Vec<u8> = (0..32u64 << 20).map(pattern_byte).collect();
    Files::new(&[("a.txt", b"hello"), ("big.bin", &big)])
}

/// Reads until the peer closes (or resets) the connection; returns the bytes read and how
/// long that took. Panics past `within`.
async fn until_closed<S: tokio::io::AsyncRead + Unpin>(
    s: &mut S,
    within: Duration,
) -> (usize, Duration) {
    let t = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0;
    loop {
        match tokio::time::timeout(within.saturating_sub(t.elapsed()), s.read(&mut buf)).await {
            Err(_) => panic!("still open after {within:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return (n, t.elapsed()),
            Ok(Ok(k)) => n += k,
        }
    }
}

async fn closed_by(gw: &Gateway, reason: &str) -> i64 {
    gw.metric(&format!(
        "tollgate_connections_closed_total{{reason=\"{reason}\"}}"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_are_closed_by_the_first_head_deadline() {
    let files = files();
    let gw = builder(&files).start();
    let mut socks = Vec::new();
    for _ in 0..3 {
        socks.push(TcpStream::connect(gw.addr).await.unwrap());
    }
    // A client that trickles a head one byte at a time never completes it in time either.
    let mut trickle = TcpStream::connect(gw.addr).await.unwrap();
    let t = Instant::now();
    let head = b"GET /files/a.txt HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    for b in head.iter().take(12) {
        if trickle.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    for s in &mut socks {
        let (n, _) = until_closed(s, Duration::from_secs(5)).await;
        assert_eq!(n, 0);
    }
    until_closed(&mut trickle, Duration::from_secs(5)).await;
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert!(closed_by(&gw, "header_read_timeout").await >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_handshake_alone_or_half_an_h2_preface_holds_nothing() {
    let files = files();
    let gw = builder(&files).tls().start();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    // The handshake completes, then nothing.
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let mut tls = tls_connector(&[b"h2"])
        .connect(name.clone(), tcp)
        .await
        .unwrap();
    // The same, with part of the HTTP/2 preface.
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let mut half = tls_connector(&[b"h2"]).connect(name, tcp).await.unwrap();
    half.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    // A TCP connection that never starts the handshake.
    let mut raw_tcp = TcpStream::connect(gw.addr).await.unwrap();
    let (_, t1) = until_closed(&mut tls, Duration::from_secs(5)).await;
    let (_, t2) = until_closed(&mut half, Duration::from_secs(5)).await;
    let (_, t3) = until_closed(&mut raw_tcp, Duration::from_secs(5)).await;
    for t in [t1, t2, t3] {
        assert!(t < Duration::from_secs(3), "{t:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_and_http2_connections_are_closed() {
    let files = files();
    // hyper's own HTTP/1 timer for the next head would race an idle_timeout of the same
    // length: give it more, so what closes the idle connection is idle_timeout.
    let gw = GatewayBuilder::new()
        .server(r#"header_read_timeout = "3s""#)
        .server(r#"idle_timeout = "1s""#)
        .server(r#"send_timeout = "1s""#)
        .dir_origin("files", &files.root)
        .route("/files/", "files", r#"["signature"]"#, "")
        .tls()
        .start();
    let url = gw.sign(&MintRequest::new("/files/a.txt"));
    // HTTP/2: one request, then no stream at all.
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let tls = tls_connector(&[b"h2"])
        .connect(name.clone(), tcp)
        .await
        .unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let req = http::Request::get(format!("https://localhost{url}"))
        .body(Full::<Bytes>::default())
        .unwrap();
    let r = send.send_request(req).await.unwrap();
    assert_eq!(r.status(), 200);
    drop(r);
    let t = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("an idle HTTP/2 connection stayed open");
    assert!(
        t.elapsed() >= Duration::from_millis(800),
        "{:?}",
        t.elapsed()
    );

    // HTTP/1.1 keep-alive over TLS: one request, then silence.
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let mut tls = tls_connector(&[b"http/1.1"])
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(format!("GET {url} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (n, t) = until_closed(&mut tls, Duration::from_secs(5)).await;
    assert!(n > 0, "the request was answered first");
    assert!(t >= Duration::from_millis(800), "{t:?}");
    assert!(closed_by(&gw, "idle_timeout").await >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_nothing_is_closed_and_lets_go_of_the_file() {
    let files = files();
    let gw = builder(&files).start();
    let url = gw.sign(&MintRequest::new("/files/big.bin"));
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(format!("GET {url} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // Read nothing while the gateway's send buffer fills, then longer than send_timeout.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (n, _) = until_closed(&mut s, Duration::from_secs(10)).await;
    assert!(n < 32 << 20, "the whole file went through: {n}");
    assert!(closed_by(&gw, "send_timeout").await >= 1);
    gw.wait_metric("tollgate_requests_in_flight", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_cannot_hold_every_slot() {
    let files = files();
    let gw = builder(&files).server("max_connections = 3").start();
    let mut socks = Vec::new();
    for _ in 0..3 {
        socks.push(TcpStream::connect(gw.addr).await.unwrap());
    }
    // The fourth connection waits in the backlog until a deadline frees a slot.
    let url = gw.sign(&MintRequest::new("/files/a.txt"));
    let t = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), gw.client().get(&url))
        .await
        .expect("a valid request never got a slot");
    assert_eq!(r.status, 200);
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_gets_at_most_its_share_of_connections() {
    let files = files();
    let gw = builder(&files).server("max_connections_per_ip = 2").start();
    let a = TcpStream::connect(gw.addr).await.unwrap();
    let _b = TcpStream::connect(gw.addr).await.unwrap();
    let mut c = TcpStream::connect(gw.addr).await.unwrap();
    let (_, t) = until_closed(&mut c, Duration::from_secs(2)).await;
    assert!(t < Duration::from_millis(500), "{t:?}");
    assert_eq!(closed_by(&gw, "max_connections_per_ip").await, 1);
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = gw.sign(&MintRequest::new("/files/a.txt"));
    assert_eq!(gw.client().get(&url).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_keeps_the_same_deadlines_and_a_cap() {
    let files = files();
    let gw = builder(&files).start();
    let mut silent = TcpStream::connect(gw.admin).await.unwrap();
    let (_, t) = until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(t < Duration::from_secs(3), "{t:?}");
    // Keep-alive on the admin plane: closed once idle.
    let mut s = TcpStream::connect(gw.admin).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (n, t) = until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(n > 0);
    assert!(t >= Duration::from_millis(800), "{t:?}");

    let gw = builder(&files).admin("max_connections = 2").start();
    let _a = TcpStream::connect(gw.admin).await.unwrap();
    let _b = TcpStream::connect(gw.admin).await.unwrap();
    // A third waits for a slot; the deadline of the first two frees one.
    let t = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        gw.api("GET", "/healthz", None, None),
    )
    .await
    .expect("the admin plane stayed full");
    assert_eq!(r.status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_that_keeps_its_window_shut_is_closed() {
    let files = files();
    let gw = builder(&files).tls().start();
    let url = gw.sign(&MintRequest::new("/files/big.bin"));
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let tls = tls_connector(&[b"h2"]).connect(name, tcp).await.unwrap();
    // A window of zero: the gateway may send the head, never a byte of the body; the
    // client keeps the connection alive (hyper answers PINGs) and reads nothing.
    let (mut send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(0)
        .initial_connection_window_size(65_535)
        .handshake(TokioIo::new(tls))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let req = http::Request::get(format!("https://localhost{url}"))
        .body(Full::<Bytes>::default())
        .unwrap();
    let r = send.send_request(req).await.unwrap();
    assert_eq!(r.status(), 200);
    let t = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(6), conn)
        .await
        .expect("a zero-window HTTP/2 client kept its connection");
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert!(closed_by(&gw, "send_timeout").await >= 1);
    gw.wait_metric("tollgate_requests_in_flight", 0).await;
    drop(r);
}

/// An origin that reads each request's whole body, then answers with its length.
async fn counting_origin() -> std::net::SocketAddr {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async {
                        let n = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes().len())
                            .unwrap_or(0);
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            Bytes::from(n.to_string()),
                        )))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_but_steady_upload_is_not_a_client_that_reads_nothing() {
    let origin = counting_origin().await;
    let mut b = GatewayBuilder::new();
    for d in DEADLINES {
        b = b.server(d);
    }
    let gw = b
        .http_origin("up", origin, "")
        .route("/up/", "up", r#"["signature"]"#, "")
        .start();
    let mut req = MintRequest::new("/up/blob");
    req.methods = tollgate::token::Methods::parse_list("PUT").unwrap();
    let url = gw.sign(&req);
    // 10 KiB over 3 s, a piece every 300 ms: three times send_timeout in all, never
    // silent for as long as one.
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(
        format!("PUT {url} HTTP/1.1\r\nHost: x\r\nContent-Length: 10240\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.write_all(&[b'x'; 1024]).await.unwrap();
    }
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("10240"), "{text}");
    // An upload that stops part way is a client that moves nothing: closed by send_timeout.
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(
        format!("PUT {url} HTTP/1.1\r\nHost: x\r\nContent-Length: 10240\r\n\r\nxxxx").as_bytes(),
    )
    .await
    .unwrap();
    let t = Instant::now();
    until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}
