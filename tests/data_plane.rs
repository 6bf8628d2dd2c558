//! The data plane against real processes: streaming, Range, conditionals, HTTP/2 over TLS,
//! the contract's status table, and the token never reaching the origin.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use sha2::Digest;
use tollgate::token::Methods;
use tollgate::token::mint::MintRequest;

fn small_files() -> Files {
    Files::new(&[
        ("a.txt", b"0123456789abcdefghij"),
        ("my report (v2).pdf", b"%PDF-1.7 pretend"),
        ("dir/page.html", b"<p>hi</p>"),
    ])
}

async fn dir_gateway(files: &Files) -> Gateway {
    dir_gateway_with(files, "").await
}

async fn dir_gateway_with(files: &Files, origin_extra: &str) -> Gateway {
    GatewayBuilder::new()
        .dir_origin_with("files", &files.root, origin_extra)
        .route("/files/", "files", r#"["signature"]"#, "")
        .route("/public/", "files", "[]", "")
        .start()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_256_mib_with_flat_memory() {
    const SIZE: u64 = 256 << 20;
    let files = Files::new(&[]);
    // A 1 MiB block of pseudo-random bytes, written 256 times, each time with its index
    // stamped in, so that a reordered or repeated chunk would change the hash.
    let mut block: Vec<u8> = (0..1u64 << 20).map(pattern_byte).collect();
    let mut want = sha2::Sha256::new();
    {
        use std::io::Write;
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(files.root.join("big.bin")).unwrap());
        for i in 0..(SIZE >> 20) {
            block[..8].copy_from_slice(&i.to_le_bytes());
            want.update(&block);
            f.write_all(&block).unwrap();
        }
    }
    let want = want.finalize();
    let gw = dir_gateway(&files).await;
    let url = gw.sign_path("/files/big.bin");
    let resp = gw
        .client()
        .send_streaming(
            gw.client()
                .request("GET", &url)
                .body(Full::default())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], SIZE.to_string().as_str());
    let mut body = resp.into_body();
    let mut got = sha2::Sha256::new();
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(d) = frame.unwrap().into_data() {
            n += d.len() as u64;
            got.update(&d);
        }
    }
    assert_eq!(n, SIZE);
    assert_eq!(got.finalize(), want, "bytes differ");
    let rss = gw.peak_rss_kib();
    eprintln!("gateway peak RSS after 256 MiB: {rss} KiB");
    assert!(rss < 64 * 1024, "peak RSS {rss} KiB exceeds 64 MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_head_and_conditionals() {
    let files = small_files();
    // A file above dir::SMALL (64 KiB) is streamed from an offset instead of sliced from
    // memory; both ways, on the serving worker (the default) and on the blocking pool.
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(files.root.join("big.bin"), &big).unwrap();
    for origin_extra in ["", "blocking_pool = true"] {
        let gw = dir_gateway_with(&files, origin_extra).await;
        let url = gw.sign_path("/files/big.bin");
        let r = gw
            .client()
            .get_with(&url, &[("range", "bytes=70000-70009")])
            .await;
        assert_eq!(r.status, 206, "{origin_extra}");
        assert_eq!(&r.body[..], &big[70_000..70_010], "{origin_extra}");
        assert_eq!(gw.client().get(&url).await.body, big, "{origin_extra}");
        range_head_and_conditionals_on(&gw).await;
    }
}

async fn range_head_and_conditionals_on(gw: &Gateway) {
    let c = gw.client();
    let url = gw.sign_path("/files/a.txt");

    let full = c.get(&url).await;
    assert_eq!(full.status, 200);
    assert_eq!(&full.body[..], b"0123456789abcdefghij");
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    assert_eq!(full.header("content-type"), Some("text/plain"));
    let etag = full.header("etag").unwrap().to_owned();
    let modified = full.header("last-modified").unwrap().to_owned();

    let r = c.get_with(&url, &[("range", "bytes=2-5")]).await;
    assert_eq!((r.status.as_u16(), &r.body[..]), (206, &b"2345"[..]));
    assert_eq!(r.header("content-range"), Some("bytes 2-5/20"));
    let r = c.get_with(&url, &[("range", "bytes=-3")]).await;
    assert_eq!((r.status.as_u16(), &r.body[..]), (206, &b"hij"[..]));
    let r = c.get_with(&url, &[("range", "bytes=15-")]).await;
    assert_eq!((r.status.as_u16(), &r.body[..]), (206, &b"fghij"[..]));
    let r = c.get_with(&url, &[("range", "bytes=20-")]).await;
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */20"));
    assert_eq!(r.code(), "RANGE_NOT_SATISFIABLE");
    // If-Range with the current ETag honours the range; with a stale one, the whole file.
    let r = c
        .get_with(&url, &[("range", "bytes=0-1"), ("if-range", &etag)])
        .await;
    assert_eq!(r.status, 206);
    let r = c
        .get_with(&url, &[("range", "bytes=0-1"), ("if-range", "\"stale\"")])
        .await;
    assert_eq!(r.status, 200);

    let h = c.method("HEAD", &url).await;
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length"), Some("20"));
    assert!(h.body.is_empty());

    let r = c.get_with(&url, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = c.get_with(&url, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(r.status, 200);
    let r = c.get_with(&url, &[("if-modified-since", &modified)]).await;
    assert_eq!(r.status, 304);
    let r = c
        .get_with(
            &url,
            &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")],
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_and_http1_over_tls() {
    let files = small_files();
    let gw = GatewayBuilder::new()
        .tls()
        .dir_origin("files", &files.root)
        .route("/files/", "files", r#"["signature"]"#, "")
        .start();
    let url = gw.sign_path("/files/my report (v2).pdf");
    assert!(url.starts_with("/files/my%20report%20%28v2%29.pdf?token="));
    let r = gw.h2_client().get(&url).await;
    assert_eq!(r.version, http::Version::HTTP_2);
    assert_eq!(
        (r.status.as_u16(), &r.body[..]),
        (200, &b"%PDF-1.7 pretend"[..])
    );
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    let r = gw.client().get(&url).await;
    assert_eq!(r.version, http::Version::HTTP_11);
    assert_eq!(r.status, 200);
    // Refusals look the same over HTTP/2.
    let r = gw.h2_client().get("/files/a.txt").await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (401, "TOKEN_MISSING")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_and_download_name() {
    let files = small_files();
    let gw = dir_gateway(&files).await;
    let mut req = MintRequest::new("/files/a.txt");
    req.download_name = Some("Résumé 2026.txt".into());
    let url = gw.sign(&req);
    let (path, query) = url.split_once('?').unwrap();
    let token = query.strip_prefix("token=").unwrap();
    let r = gw
        .client()
        .get_with(path, &[("authorization", &format!("Bearer {token}"))])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some(
            "attachment; filename=\"R_sum_ 2026.txt\"; filename*=UTF-8''R%C3%A9sum%C3%A9%202026.txt"
        )
    );
    // Token in both places is ambiguous and refused.
    let r = gw
        .client()
        .get_with(&url, &[("authorization", &format!("Bearer {token}"))])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (403, "DUPLICATE_TOKEN")
    );
}

/// Every row of the contract's status table that the foundation covers, against an `http`
/// origin that counts what reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_table() {
    let origin = TestOrigin::start(Behaviour::Serve, 11).await;
    let gw = GatewayBuilder::new()
        .http_origin("up", origin.addr, "")
        .route("/files/", "up", r#"["signature"]"#, "max_ttl = \"1d\"")
        .key(&format!(
            "[[keys]]\nid = \"old\"\nsecret = \"{OTHER_KEY_B64}\"\nverify_only = true\n"
        ))
        .start();
    let c = gw.client();
    let t = now();
    let sign = |f: &dyn Fn(&mut MintRequest)| {
        let mut r = MintRequest::new("/files/doc.pdf");
        f(&mut r);
        gw.sign(&r)
    };
    let valid = sign(&|_| {});

    // (request, method, expected status, expected code)
    let mut cases: Vec<(String, &str, u16, &str)> = vec![
        ("/files/doc.pdf".into(), "GET", 401, "TOKEN_MISSING"),
        (
            valid.replace("token=", "token=x"),
            "GET",
            403,
            "INVALID_TOKEN",
        ),
        (
            format!("{}A", &valid[..valid.len() - 1]),
            "GET",
            403,
            "BAD_SIGNATURE",
        ),
        (valid.clone(), "POST", 403, "METHOD_NOT_ALLOWED"),
        (valid.clone(), "DELETE", 403, "METHOD_NOT_ALLOWED"),
        (
            valid.replace("/files/doc.pdf", "/files/other.pdf"),
            "GET",
            403,
            "PATH_MISMATCH",
        ),
        (format!("{valid}&x=1"), "GET", 403, "BAD_SIGNATURE"),
        (valid.replace("?", "?x=1&"), "GET", 403, "BAD_SIGNATURE"),
        (
            format!("{valid}&{}", valid.split_once('?').unwrap().1),
            "GET",
            403,
            "DUPLICATE_TOKEN",
        ),
        (
            sign(&|r| r.ip = Some("10.0.0.0/8".parse().unwrap())),
            "GET",
            403,
            "IP_MISMATCH",
        ),
        (
            sign(&|r| r.not_before = Some(t + 3600)),
            "GET",
            403,
            "NOT_YET_VALID",
        ),
        (
            gw.sign_at(&MintRequest::new("/files/doc.pdf"), t - 7200),
            "GET",
            410,
            "EXPIRED",
        ),
        (
            gw.sign_at(&MintRequest::new("/files/doc.pdf"), t + 3600),
            "GET",
            403,
            "INVALID_TOKEN",
        ),
    ];
    // Unknown key id: minted by a keyring the gateway does not have.
    {
        let cfg = tollgate::config::Config::load(&gw.config_path).unwrap();
        let ring = tollgate::token::Keyring::new(&[tollgate::config::KeyConfig {
            id: "stranger".into(),
            secret: tollgate::config::Secret::new(vec![7; 32]),
            verify_only: false,
        }]);
        let m = tollgate::token::mint::mint(&cfg, &ring, &MintRequest::new("/files/doc.pdf"), t)
            .unwrap();
        let u = m.url.strip_prefix(&cfg.public_url).unwrap().to_owned();
        cases.push((u, "GET", 403, "UNKNOWN_KEY"));
        // A key with a known id but the wrong secret.
        let ring = tollgate::token::Keyring::new(&[tollgate::config::KeyConfig {
            id: "k1".into(),
            secret: tollgate::config::Secret::new(vec![7; 32]),
            verify_only: false,
        }]);
        let m = tollgate::token::mint::mint(&cfg, &ring, &MintRequest::new("/files/doc.pdf"), t)
            .unwrap();
        let u = m.url.strip_prefix(&cfg.public_url).unwrap().to_owned();
        cases.push((u, "GET", 403, "BAD_SIGNATURE"));
    }
    for (target, method, status, code) in &cases {
        let r = c.method(method, target).await;
        assert_eq!(
            (r.status.as_u16(), r.code().as_str()),
            (*status, *code),
            "{method} {target}"
        );
        assert!(
            r.json()["error"]["reference_id"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        assert_eq!(r.json()["success"], false);
    }
    assert_eq!(origin.count(), 0, "a refused request reached the origin");

    // A token past max_ttl for the route is refused even with a valid MAC: mint with a
    // route that allows more, then serve it where the limit is lower.
    let r = c.get(&valid).await;
    assert_eq!((r.status.as_u16(), &r.body.len()), (200, &11));
    assert_eq!(origin.count(), 1);
    // HEAD is allowed by default; PUT only when minted for it.
    let r = c.method("HEAD", &valid).await;
    assert_eq!(r.status, 200);
    let mut put = MintRequest::new("/files/doc.pdf");
    put.methods = Methods::parse_list("PUT").unwrap();
    let r = c.method("PUT", &gw.sign(&put)).await;
    assert_eq!(r.status, 200);
    assert_eq!(origin.seen().last().unwrap().method, "PUT");

    // Browsers get HTML.
    let r = c
        .get_with("/files/doc.pdf", &[("accept", "text/html,*/*")])
        .await;
    assert_eq!(r.status, 401);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(String::from_utf8_lossy(&r.body).contains("TOKEN_MISSING"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_never_sees_the_token() {
    let origin = TestOrigin::start(Behaviour::Serve, 5).await;
    let gw = GatewayBuilder::new()
        .http_origin("up", origin.addr, "")
        .route("/files/", "up", r#"["signature"]"#, "")
        .start();
    let mut req = MintRequest::new("/files/a b.pdf");
    req.query = vec![("v".into(), "2".into()), ("lang".into(), "fr CA".into())];
    let url = gw.sign(&req);
    let token = url.split("token=").nth(1).unwrap().to_owned();
    let c = gw.client();
    let r = c
        .get_with(
            &url,
            &[
                ("connection", "x-hop"),
                ("x-hop", "private"),
                ("x-forwarded-for", "6.6.6.6"),
                ("cookie", "a=b"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-origin"), Some("yes"));
    assert_eq!(
        r.header("x-origin-private"),
        None,
        "hop-by-hop header leaked back"
    );
    let (path, _) = url.split_once('?').unwrap();
    let r = c
        .get_with(
            &format!("{path}?v=2&lang=fr%20CA"),
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(r.status, 200);
    let seen = origin.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(s.uri, "/a%20b.pdf?v=2&lang=fr%20CA");
        assert!(!s.uri.contains(&token));
        for (name, v) in &s.headers {
            assert!(
                !v.as_bytes()
                    .windows(20)
                    .any(|w| token.as_bytes().starts_with(w)),
                "{name} carries the token"
            );
        }
        assert!(s.headers.get("authorization").is_none());
        assert!(s.headers.get("x-hop").is_none());
        // The client is not a trusted proxy: its X-Forwarded-For is replaced.
        assert_eq!(s.headers["x-forwarded-for"], "127.0.0.1");
        assert_eq!(s.headers["x-forwarded-proto"], "http");
    }
    // Ordinary end-to-end headers pass through.
    assert_eq!(seen[0].headers["cookie"], "a=b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_down_is_502_and_stalled_is_504() {
    // A port that was just free: nothing listens there.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let stalled = TestOrigin::start(Behaviour::Stall, 5).await;
    let gw = GatewayBuilder::new()
        .http_origin("dead", dead, "connect_timeout = \"1s\"")
        .http_origin("slow", stalled.addr, "timeout = \"1s\"")
        .route("/dead/", "dead", r#"["signature"]"#, "")
        .route("/slow/", "slow", r#"["signature"]"#, "")
        .start();
    let c = gw.client();
    let r = c.get(&gw.sign_path("/dead/x")).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (502, "ORIGIN_UNREACHABLE")
    );
    let started = std::time::Instant::now();
    let r = c.get(&gw.sign_path("/slow/x")).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (504, "ORIGIN_TIMEOUT")
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The 5xx reference id is in the log, so an operator can find the cause.
    let id = r.json()["error"]["reference_id"]
        .as_str()
        .unwrap()
        .to_owned();
    gw.wait_log(&id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_stalling_mid_body_is_cut_off() {
    let origin = TestOrigin::start(Behaviour::StallBody, 1 << 20).await;
    let gw = GatewayBuilder::new()
        .http_origin("up", origin.addr, "idle_timeout = \"1s\"")
        .route("/files/", "up", "[]", "")
        .start();
    let resp = gw
        .client()
        .send_streaming(
            gw.client()
                .request("GET", "/files/x")
                .body(Full::default())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let res = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect()).await;
    assert!(
        matches!(res, Ok(Err(_))),
        "the body should end in an error, not hang"
    );
    gw.wait_metric("tollgate_requests_in_flight", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_abort_mid_download_leaves_nothing_behind() {
    let files = Files::new(&[]);
    std::fs::write(files.root.join("big.bin"), vec![7u8; 64 << 20]).unwrap();
    let origin = TestOrigin::start(Behaviour::Serve, 512 << 20).await;
    let gw = GatewayBuilder::new()
        .dir_origin("files", &files.root)
        .http_origin("up", origin.addr, "")
        .route("/files/", "files", r#"["signature"]"#, "")
        .route("/up/", "up", r#"["signature"]"#, "")
        .start();
    for url in [gw.sign_path("/files/big.bin"), gw.sign_path("/up/big.bin")] {
        let c = gw.client();
        let resp = c
            .send_streaming(c.request("GET", &url).body(Full::default()).unwrap())
            .await;
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut got = 0;
        while got < (1 << 20) {
            got += body
                .frame()
                .await
                .unwrap()
                .unwrap()
                .into_data()
                .map(|d| d.len())
                .unwrap_or(0);
        }
        assert!(gw.metric("tollgate_requests_in_flight").await >= 1);
        drop(body); // closes the connection mid-download
        gw.wait_metric("tollgate_requests_in_flight", 0).await;
        gw.wait_metric("tollgate_connections_open", 0).await;
    }
    // The origin's side of the aborted proxy stream was released too.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while origin.aborted.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "origin body never dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_tokens_cover_their_prefix_only() {
    let files = small_files();
    let gw = dir_gateway(&files).await;
    let mut req = MintRequest::new("/files/dir/");
    req.prefix = true;
    let url = gw.sign(&req);
    let q = url.split_once('?').unwrap().1;
    let c = gw.client();
    let r = c.get(&format!("/files/dir/page.html?{q}")).await;
    assert_eq!((r.status.as_u16(), &r.body[..]), (200, &b"<p>hi</p>"[..]));
    let r = c.get(&format!("/files/a.txt?{q}")).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (403, "PATH_MISMATCH")
    );
    let r = c.get(&format!("/files/dir/../a.txt?{q}")).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (400, "BAD_PATH"));
    let r = c.get(&format!("/files/dir/missing.txt?{q}")).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (404, "NOT_FOUND"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_route_serves_without_token_and_unknown_route_is_404() {
    let files = small_files();
    let gw = dir_gateway(&files).await;
    let c = gw.client();
    let r = c.get("/public/a.txt").await;
    assert_eq!(r.status, 200);
    let r = c.get("/nowhere/a.txt").await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (404, "ROUTE_NOT_FOUND")
    );
    let r = c.method("POST", "/public/a.txt").await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (405, "METHOD_NOT_ALLOWED")
    );
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    let _ = Bytes::new();
}

/// A signer written in Python from docs/token.md alone (standard library only) mints URLs
/// that the real gateway admits, and the gateway refuses them once tampered with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_admits_urls_from_the_python_signer() {
    let files = small_files();
    let gw = dir_gateway(&files).await;
    let script = repo().join("tests/py/tollgate_sign.py");
    let py = |args: &[&str]| {
        let out = std::process::Command::new("python3")
            .arg(&script)
            .args([
                "--key",
                KEY_B64,
                "--kid",
                "k1",
                "--public-url",
                "http://gw.example",
            ])
            .args(args)
            .output()
            .expect("python3 must be installed (test.sh installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap();
        url.trim()
            .strip_prefix("http://gw.example")
            .unwrap()
            .to_owned()
    };
    let c = gw.client();
    let r = c.get(&py(&["--path", "/files/a.txt"])).await;
    assert_eq!(
        (r.status.as_u16(), &r.body[..]),
        (200, &b"0123456789abcdefghij"[..])
    );
    let url = py(&[
        "--path",
        "/files/my report (v2).pdf",
        "--expires-in",
        "60",
        "--methods",
        "GET",
        "--ip",
        "127.0.0.0/8",
        "--download-name",
        "Résumé.pdf",
        "--query",
        "v=2",
        "--query",
        "lang=fr CA",
    ]);
    let r = c.get(&url).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-disposition")
            .unwrap()
            .contains("R%C3%A9sum%C3%A9.pdf")
    );
    assert_eq!(c.method("HEAD", &url).await.status, 403);
    assert_eq!(c.get(&url.replace("v=2", "v=3")).await.status, 403);
    let mut prefix = py(&["--path", "/files/dir/", "--prefix"]);
    prefix = prefix.replace("/files/dir/?", "/files/dir/page.html?");
    assert_eq!(c.get(&prefix).await.status, 200);
    let expired = py(&[
        "--path",
        "/files/a.txt",
        "--iat",
        &(now() - 7200).to_string(),
    ]);
    assert_eq!(c.get(&expired).await.code(), "EXPIRED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_authorization_headers_are_refused() {
    let files = small_files();
    let gw = dir_gateway(&files).await;
    let url = gw.sign_path("/files/a.txt");
    let (path, q) = url.split_once('?').unwrap();
    let token = q.strip_prefix("token=").unwrap();
    let c = gw.client();
    let req = c
        .request("GET", path)
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", "Bearer other")
        .body(Full::default())
        .unwrap();
    let r = c.send(req).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (403, "DUPLICATE_TOKEN")
    );
}
