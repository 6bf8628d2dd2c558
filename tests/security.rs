//! Hostile input: a tamper suite over every part of a signed URL, path escapes written as
//! raw bytes, oversized and slow requests, malformed TLS, and secrets kept out of logs.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tollgate::token::mint::MintRequest;

/// Every mutation of a valid URL that must not get through.
fn mutations(url: &str) -> Vec<(String, String)> {
    let (path, query) = url.split_once('?').unwrap();
    let params: Vec<&str> = query.split('&').collect();
    let token = params
        .iter()
        .find_map(|p| p.strip_prefix("token="))
        .unwrap();
    let (claims_b64, mac_b64) = token.split_once('.').unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |what: String, u: String| {
        if u != url {
            out.push((what, u));
        }
    };
    let join = |ps: &[String]| format!("{path}?{}", ps.join("&"));
    let owned: Vec<String> = params.iter().map(|s| s.to_string()).collect();

    // Each parameter removed, duplicated, changed, its name's case changed, percent-encoded.
    for i in 0..owned.len() {
        let mut ps = owned.clone();
        ps.remove(i);
        add(format!("remove param {i}"), join(&ps));
        let mut ps = owned.clone();
        ps.insert(i, owned[i].clone());
        add(format!("duplicate param {i}"), join(&ps));
        let (k, v) = owned[i].split_once('=').unwrap();
        if k != "token" {
            let mut ps = owned.clone();
            ps[i] = format!("{k}={v}x");
            add(format!("change value {i}"), join(&ps));
            let mut ps = owned.clone();
            ps[i] = format!("{}={v}", k.to_uppercase());
            add(format!("upper-case name {i}"), join(&ps));
            let mut ps = owned.clone();
            ps[i] = format!("%{:02X}{}={v}", k.as_bytes()[0], &k[1..]);
            add(format!("encode name {i}"), join(&ps));
            let mut ps = owned.clone();
            ps[i] = format!("{k}={}", v.replace("%20", "+"));
            add(format!("space as plus {i}"), join(&ps));
            let mut ps = owned.clone();
            ps[i] = format!("{k}={}", v.to_lowercase());
            add(format!("lower-case value/escapes {i}"), join(&ps));
        }
    }
    // Reordering, adding at either end, empty parameters.
    let mut ps = owned.clone();
    ps.reverse();
    add("reverse params".into(), join(&ps));
    for extra in ["a=1", "token", "x=", "=1", "token=", ""] {
        let mut ps = owned.clone();
        ps.insert(0, extra.into());
        add(format!("prepend {extra:?}"), join(&ps));
        let mut ps = owned.clone();
        ps.push(extra.into());
        add(format!("append {extra:?}"), join(&ps));
    }
    add("trailing ?".into(), format!("{url}&"));
    // The path: case, encodings, slashes.
    add(
        "upper-case path".into(),
        format!("{}?{query}", path.to_uppercase()),
    );
    add(
        "encode a path letter".into(),
        format!(
            "{}?{query}",
            path.replacen("files/", "files/%72", 1)
                .replacen("%72r", "%72", 1)
        ),
    );
    add(
        "lower-case path escape".into(),
        format!(
            "{}?{query}",
            path.replace("%20", "%2f")
                .replace("%2f", "%20")
                .to_lowercase()
        ),
    );
    add("trailing slash".into(), format!("{path}/?{query}"));
    add(
        "double slash".into(),
        format!("{}?{query}", path.replacen("/files/", "/files//", 1)),
    );
    add(
        "dot segment".into(),
        format!("{}?{query}", path.replacen("/files/", "/files/./", 1)),
    );
    add("sibling".into(), format!("{}x?{query}", path));
    // The token: every character changed, truncated, extended, case-flipped, re-padded.
    let tok_pos = url.find("token=").unwrap() + 6;
    for i in 0..token.len() {
        let b = token.as_bytes()[i];
        let repl = match b {
            b'A' => 'B',
            b'.' => '_',
            _ => 'A',
        };
        let mut u = url.to_owned();
        u.replace_range(tok_pos + i..tok_pos + i + 1, &repl.to_string());
        add(format!("token char {i}"), u);
    }
    add(
        "token truncated".into(),
        url.replace(token, &token[..token.len() - 1]),
    );
    add(
        "token extended".into(),
        url.replace(token, &format!("{token}A")),
    );
    add(
        "token padded".into(),
        url.replace(token, &format!("{token}=")),
    );
    add(
        "token upper-cased".into(),
        url.replace(token, &token.to_uppercase()),
    );
    add(
        "token percent-encoded dot".into(),
        url.replace(token, &token.replace('.', "%2E")),
    );
    add("mac only".into(), url.replace(token, mac_b64));
    // Claims edited and re-encoded with the old MAC: longer expiry, other path, no IP.
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(claims_b64).unwrap()).unwrap();
    let lines: Vec<&str> = claims.split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        l[i] = match i {
            3..=5 => (line.parse::<u64>().unwrap_or(0) + 86_400).to_string(),
            6 => "GET,HEAD,PUT".into(),
            7 => "p".into(),
            9 => String::new(),
            10 => "999".into(),
            _ => format!("{line}x"),
        };
        let forged = format!("{}.{mac_b64}", URL_SAFE_NO_PAD.encode(l.join("\n")));
        add(
            format!("claim line {i} edited"),
            url.replace(token, &forged),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tamper_suite_gets_nothing_through() {
    let origin = TestOrigin::start(Behaviour::Serve, 3).await;
    let gw = GatewayBuilder::new()
        .http_origin("up", origin.addr, "")
        .route(
            "/files/",
            "up",
            r#"["signature", "revocation", "view_limit"]"#,
            "",
        )
        .start();
    let mut req = MintRequest::new("/files/q3 report.pdf");
    req.query = vec![("v".into(), "2".into()), ("lang".into(), "fr CA".into())];
    req.ip = Some("127.0.0.0/8".parse().unwrap());
    req.max_views = Some(3);
    req.download_name = Some("q3.pdf".into());
    req.not_before = Some(now() - 10);
    let url = gw.sign(&req);
    let c = gw.client();

    // Control: the untouched URL works, with GET and HEAD.
    assert_eq!(c.get(&url).await.status, 200);
    assert_eq!(c.method("HEAD", &url).await.status, 200);
    let admitted = origin.count();

    let muts = mutations(&url);
    assert!(muts.len() > 200, "only {} mutations", muts.len());
    let mut through = Vec::new();
    for (what, u) in &muts {
        // Some mutations are not even valid request-targets; those cannot get through either.
        let Ok(req) = c.request("GET", u).body(http_body_util::Full::default()) else {
            continue;
        };
        let r = c.send(req).await;
        if r.status.is_success() {
            through.push(what.clone());
        }
        assert!(r.status.is_client_error(), "{what}: {}", r.status);
    }
    for m in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = c.method(m, &url).await;
        assert_eq!(r.status, 403, "{m}");
    }
    assert!(through.is_empty(), "got through: {through:?}");
    assert_eq!(
        origin.count(),
        admitted,
        "a tampered request reached the origin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_escapes_never_leave_the_root() {
    let files = Files::new(&[("a.txt", b"fine"), ("sub/b.txt", b"fine too")]);
    // A symlink inside the root pointing out of it, and one to a directory outside.
    std::os::unix::fs::symlink(
        files.tmp.path().join("secret.txt"),
        files.root.join("link.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(files.tmp.path(), files.root.join("up")).unwrap();
    let gw = GatewayBuilder::new()
        .dir_origin("files", &files.root)
        .route("/files/", "files", r#"["signature"]"#, "")
        .route("/public/", "files", "[]", "")
        .start();

    // Correctly signed URLs for paths that resolve outside: the signature passes, the
    // origin refuses.
    for p in ["/files/link.txt", "/files/up/secret.txt"] {
        let r = gw.client().get(&gw.sign_path(p)).await;
        assert_eq!(
            (r.status.as_u16(), r.code().as_str()),
            (404, "NOT_FOUND"),
            "{p}"
        );
        assert!(!String::from_utf8_lossy(&r.body).contains("TOP SECRET"));
    }
    // Raw request-targets, on both a public and a signed route.
    let attacks = [
        "/public/../secret.txt",
        "/public/%2e%2e/secret.txt",
        "/public/%2E%2E/secret.txt",
        "/public/.%2e/secret.txt",
        "/public/sub/../../secret.txt",
        "/public/..%2fsecret.txt",
        "/public/..%2Fsecret.txt",
        "/public/..%5csecret.txt",
        "/public/..\\secret.txt",
        "/public/a.txt%00.pdf",
        "/public/%00",
        "/public//etc/passwd",
        "/public/./a.txt",
        "/public/up/secret.txt",
        "/public/link.txt",
        "/public/%252e%252e/secret.txt",
        "/public/%c0%ae%c0%ae/secret.txt",
        "/public/sub/",
        "/public/",
        "/files/../public/a.txt",
        "/files/%2e%2e/secret.txt",
        "/../secret.txt",
        "//secret.txt",
    ];
    for a in attacks {
        let resp = raw(
            gw.addr,
            format!("GET {a} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(5),
        )
        .await;
        let text = String::from_utf8_lossy(&resp);
        assert!(!text.contains("TOP SECRET"), "{a} leaked the secret");
        let status = raw_status(&resp);
        assert!((400..500).contains(&status), "{a}: {status}");
    }
    // Control: the same gateway does serve inside the root.
    let r = gw.client().get("/public/sub/b.txt").await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_slow_and_malformed_requests() {
    let files = Files::new(&[("a.txt", b"ok")]);
    let gw = GatewayBuilder::new()
        .server("header_read_timeout = \"1s\"")
        .server("max_header_bytes = 16384")
        .dir_origin("files", &files.root)
        .route("/files/", "files", r#"["signature"]"#, "")
        .start();
    // Oversized headers: 431, not a crash.
    let big = format!(
        "GET /files/a.txt HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let resp = raw(gw.addr, big.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(raw_status(&resp), 431);
    // A huge query string (far past the header limit): refused.
    let huge = format!(
        "GET /files/a.txt?{} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a=1&".repeat(50_000)
    );
    let resp = raw(gw.addr, huge.as_bytes(), Duration::from_secs(5)).await;
    assert!(
        matches!(raw_status(&resp), 414 | 431 | 400),
        "{}",
        raw_status(&resp)
    );
    // A long but legal query: a clear 403, not a 500.
    let long = format!("/files/a.txt?{}token=x.y", "a=1&".repeat(1000));
    let r = gw.client().get(&long).await;
    assert_eq!(r.status, 403);
    // A client that starts a request and stalls is cut off by the header-read timeout.
    let started = std::time::Instant::now();
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /files/a.txt HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "slow client was not disconnected");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Garbage instead of HTTP.
    let resp = raw(
        gw.addr,
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 1, 2, 3, b'\n', b'\n'],
        Duration::from_secs(5),
    )
    .await;
    assert!(resp.is_empty() || raw_status(&resp) == 400);
    // Still alive and serving.
    let r = gw.client().get(&gw.sign_path("/files/a.txt")).await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tls_does_not_hurt() {
    let files = Files::new(&[("a.txt", b"ok")]);
    let gw = GatewayBuilder::new()
        .tls()
        .server("tls_handshake_timeout = \"1s\"")
        .dir_origin("files", &files.root)
        .route("/files/", "files", r#"["signature"]"#, "")
        .start();
    // Plain HTTP to the TLS port, a truncated ClientHello, random bytes, and a silent client.
    let junk: [&[u8]; 3] = [
        b"GET / HTTP/1.1\r\nhost: x\r\n\r\n",
        &[
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ],
        &[
            0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
        ],
    ];
    for j in junk {
        let _ = raw(gw.addr, j, Duration::from_secs(5)).await;
    }
    let started = std::time::Instant::now();
    let _ = raw(gw.addr, b"", Duration::from_secs(10)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "silent TLS client not cut off"
    );
    gw.wait_metric("tollgate_connections_open", 0).await;
    assert!(gw.metric("tollgate_tls_handshake_failures_total").await >= 4);
    let r = gw.h2_client().get(&gw.sign_path("/files/a.txt")).await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log() {
    let files = Files::new(&[("a.txt", b"ok")]);
    let secret_from_env = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE";
    let gw = GatewayBuilder::new()
        .key(
            r#"[[keys]]
id = "envkey"
secret = "env:TG_TEST_KEY"
"#,
        )
        .env("TG_TEST_KEY", secret_from_env)
        .dir_origin("files", &files.root)
        .route("/files/", "files", r#"["signature"]"#, "")
        .start();
    let c = gw.client();
    let mut tokens = Vec::new();
    for kid in ["k1", "envkey"] {
        let mut req = MintRequest::new("/files/a.txt");
        req.key_id = Some(kid.into());
        let url = gw.sign(&req);
        tokens.push(url.split("token=").nth(1).unwrap().to_owned());
        assert_eq!(c.get(&url).await.status, 200);
        // Refusals log too: a tampered token, a bearer header.
        assert_eq!(c.get(&format!("{url}x")).await.status, 403);
        let t = tokens.last().unwrap().clone();
        let r = c
            .get_with("/files/a.txt", &[("authorization", &format!("Bearer {t}"))])
            .await;
        assert_eq!(r.status, 200);
    }
    // SIGHUP with a config whose problem sits next to a secret.
    let text = std::fs::read_to_string(&gw.config_path).unwrap();
    std::fs::write(
        &gw.config_path,
        text.replace("[admin]", "bogus = 1\n[admin]"),
    )
    .unwrap();
    gw.signal("HUP");
    gw.wait_log("reload refused");
    let logs = gw.logs().join("\n");
    assert!(logs.contains("tollgate::access"), "no access log at all");
    for s in [KEY_B64, secret_from_env] {
        assert!(!logs.contains(s), "a signing key is in the log");
    }
    for t in &tokens {
        // Neither the token nor either half of it.
        let (claims, mac) = t.split_once('.').unwrap();
        for part in [t.as_str(), claims, mac] {
            assert!(!logs.contains(part), "a token is in the log");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_holds_new_connections_until_one_closes() {
    let files = Files::new(&[("a.txt", b"ok")]);
    let gw = GatewayBuilder::new()
        .server("max_connections = 2")
        .dir_origin("files", &files.root)
        .route("/files/", "files", "[]", "")
        .start();
    // Two idle keep-alive connections take both slots.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        s.write_all(b"GET /files/a.txt HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    gw.wait_metric("tollgate_connections_open", 2).await;
    // A third is accepted by the kernel but not served while both slots are taken.
    let third = tokio::spawn({
        let addr = gw.addr;
        async move {
            raw(
                addr,
                b"GET /files/a.txt HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                Duration::from_secs(20),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!third.is_finished(), "served beyond max_connections");
    assert_eq!(gw.metric("tollgate_connections_open").await, 2);
    drop(held.pop());
    let resp = third.await.unwrap();
    assert_eq!(raw_status(&resp), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_whose_rules_the_route_cannot_enforce_is_refused() {
    let files = Files::new(&[("a.txt", b"ok")]);
    let gw = GatewayBuilder::new()
        .dir_origin("files", &files.root)
        .route("/files/", "files", r#"["signature"]"#, "")
        .start();
    // `tollgate sign` and the API refuse to mint it; a signer of its own can.
    let mut req = MintRequest::new("/files/a.txt");
    req.max_views = Some(1);
    assert!(std::panic::catch_unwind(|| gw.sign(&req)).is_err());
    let now = now();
    let claims = tollgate::token::Claims {
        kid: "k1".into(),
        tid: tollgate::token::new_token_id(),
        iat: now,
        exp: now + 600,
        nbf: None,
        methods: tollgate::token::Methods::GET_HEAD,
        scope: tollgate::token::Scope::File,
        path: "/files/a.txt".into(),
        ip: None,
        max_views: Some(1),
        download_name: None,
        password: false,
    };
    let ring = tollgate::token::Keyring::new(&gw.config().keys);
    let token = ring.mint(&claims, "").unwrap();
    let r = gw
        .client()
        .get(&format!("/files/a.txt?token={token}"))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (403, "UNENFORCEABLE_TOKEN")
    );
}
