//! The first attack review, one test per hole, each written as the attack against real
//! gateway processes. Every one of these failed on the main of 94f5bb6.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::Full;
use serde_json::{Value, json};
use tollgate::token::mint::MintRequest;

const CHAIN: &str = r#"["signature", "revocation", "view_limit", "password"]"#;

fn data(len: usize) -> Vec<u8> {
    (0..len as u64).map(pattern_byte).collect()
}

fn files() -> Files {
    let a = data(4096);
    let b = data(5000);
    Files::new(&[
        ("a.bin", &a),
        ("b.bin", &b),
        ("a/x.bin", b"under a"),
        ("ab.bin", b"beside a"),
    ])
}

fn gateway(files: &Files) -> Gateway {
    GatewayBuilder::new()
        .dir_origin("files", &files.root)
        .route("/files/", "files", CHAIN, "")
        .start()
}

fn views(n: u64, path: &str) -> MintRequest {
    let mut r = MintRequest::new(path);
    r.max_views = Some(n);
    r
}

async fn api_ok(gw: &Gateway, key: &str, path: &str, body: Value) -> Value {
    let r = gw
        .api("POST", path, Some(key), Some(&body.to_string()))
        .await;
    assert!(r.status.is_success(), "{path}: {} {:?}", r.status, r.json());
    r.json()["data"].clone()
}

async fn mint_api(gw: &Gateway, body: Value) -> (String, String) {
    gw.mint_api(body).await
}

async fn link(gw: &Gateway, body: Value) -> String {
    let d = api_ok(gw, SK_ADMIN, "/api/v1/links", body).await;
    format!("/s/{}", d["shortCode"].as_str().unwrap())
}

/// An `issued_before` that covers every token issued so far.
fn in_five_seconds() -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(5))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn status_code(r: &Resp) -> (u16, String) {
    (r.status.as_u16(), r.code())
}

// ---------------------------------------------------------------------------------------
// Views bypassed through Range

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_ranges_are_a_new_view_not_a_free_copy() {
    let files = files();
    let gw = gateway(&files);
    let c = gw.client();
    let url = gw.sign(&views(1, "/files/a.bin"));
    assert_eq!(c.get(&url).await.status, 200);
    // The attack: the dir origin answers several ranges with the whole file (200), and
    // this used to pass as a "continuation", uncounted, forever.
    for _ in 0..3 {
        let r = c.get_with(&url, &[("range", "bytes=0-1,2-3")]).await;
        assert_eq!(status_code(&r), (410, "VIEW_LIMIT_REACHED".into()));
    }
    // On a token with views left, several ranges spend one.
    let url = gw.sign(&views(2, "/files/a.bin"));
    for _ in 0..2 {
        let r = c.get_with(&url, &[("range", "bytes=0-1,2-3")]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), 4096);
    }
    assert_eq!(c.get(&url).await.status, 410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuations_carry_at_most_one_copy() {
    let files = files();
    let gw = gateway(&files);
    let c = gw.client();
    let url = gw.sign(&views(1, "/files/a.bin"));
    assert_eq!(c.get(&url).await.status, 200);
    // A resume of the whole file is a continuation once...
    let r = c.get_with(&url, &[("range", "bytes=0-")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body.len(), 4096);
    // ...and never again: that was one whole copy.
    for range in ["bytes=0-", "bytes=10-20", "bytes=-1"] {
        let r = c.get_with(&url, &[("range", range)]).await;
        assert_eq!(
            status_code(&r),
            (410, "VIEW_LIMIT_REACHED".into()),
            "{range}"
        );
    }
    // Pieces add up to one copy, not more.
    let url = gw.sign(&views(1, "/files/a.bin"));
    assert_eq!(c.get(&url).await.status, 200);
    for range in ["bytes=0-2047", "bytes=2048-4095"] {
        assert_eq!(c.get_with(&url, &[("range", range)]).await.status, 206);
    }
    let r = c.get_with(&url, &[("range", "bytes=0-0")]).await;
    assert_eq!(r.status, 410);
    // HEAD never counts, and a used-up token's last viewer may still ask it.
    assert_eq!(c.method("HEAD", &url).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_of_one_file_does_not_open_the_others_under_a_prefix() {
    let files = files();
    let gw = gateway(&files);
    let c = gw.client();
    let mut req = views(1, "/files/");
    req.prefix = true;
    let signed = gw.sign(&req);
    let query = signed.split_once('?').unwrap().1;
    assert_eq!(c.get(&format!("/files/a.bin?{query}")).await.status, 200);
    let r = c
        .get_with(&format!("/files/b.bin?{query}"), &[("range", "bytes=0-")])
        .await;
    assert_eq!(status_code(&r), (410, "VIEW_LIMIT_REACHED".into()));
    assert_eq!(c.get(&format!("/files/b.bin?{query}")).await.status, 410);
}

// ---------------------------------------------------------------------------------------
// Revocations ignored on some routes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_hold_on_routes_that_do_not_list_the_filter() {
    let files = files();
    let gw = GatewayBuilder::new()
        .key(&format!(
            "[[keys]]\nid = \"k2\"\nsecret = \"{OTHER_KEY_B64}\"\n"
        ))
        .dir_origin("files", &files.root)
        .route("/open/", "files", r#"["signature"]"#, "")
        .start();
    let c = gw.client();
    let (url, tid) = mint_api(&gw, json!({"path": "/open/a.bin", "expires_in": 600})).await;
    assert_eq!(c.get(&url).await.status, 200);
    api_ok(
        &gw,
        SK_ADMIN,
        "/api/v1/revocations",
        json!({"token_id": tid}),
    )
    .await;
    assert_eq!(status_code(&c.get(&url).await), (410, "REVOKED".into()));

    // A revoked key: every token it signed, whatever the route's filters.
    let by_k1 = gw.sign(&MintRequest::new("/open/b.bin"));
    assert_eq!(c.get(&by_k1).await.status, 200);
    api_ok(
        &gw,
        SK_ADMIN,
        "/api/v1/revocations",
        json!({"key_id": "k1"}),
    )
    .await;
    assert_eq!(status_code(&c.get(&by_k1).await), (410, "REVOKED".into()));

    // A link to a path on that route, revoked by prefix.
    let l = link(&gw, json!({"targetUrl": "/open/a.bin"})).await;
    assert_eq!(c.get(&l).await.status, 200);
    let before = in_five_seconds();
    api_ok(
        &gw,
        SK_ADMIN,
        "/api/v1/revocations",
        json!({"prefix": "/open/", "issued_before": before}),
    )
    .await;
    assert_eq!(status_code(&c.get(&l).await), (410, "REVOKED".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_and_scopes_match_whole_segments() {
    let files = files();
    let gw = gateway(&files);
    let c = gw.client();
    let inside = gw.sign(&MintRequest::new("/files/a/x.bin"));
    let beside = gw.sign(&MintRequest::new("/files/ab.bin"));
    let before = in_five_seconds();
    api_ok(
        &gw,
        SK_ADMIN,
        "/api/v1/revocations",
        json!({"prefix": "/files/a", "issued_before": before}),
    )
    .await;
    assert_eq!(c.get(&inside).await.status, 410);
    assert_eq!(
        c.get(&beside).await.status,
        200,
        "`/files/a` is not `/files/ab.bin`"
    );
    // A prefix that would never match a decoded path is refused, not silently kept.
    for bad in ["/files/./a/", "/files//a/", "/files/../x/"] {
        let body = json!({"prefix": bad, "issued_before": before}).to_string();
        let r = gw
            .api("POST", "/api/v1/revocations", Some(SK_ADMIN), Some(&body))
            .await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.json());
    }
}

// ---------------------------------------------------------------------------------------
// Passwords: the budget

async fn password_token(gw: &Gateway) -> String {
    mint_api(
        gw,
        json!({"path": "/files/a.bin", "expires_in": 600, "password": "open sesame"}),
    )
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_passwords_are_never_rate_limited() {
    let files = files();
    let gw = gateway(&files);
    let url = password_token(&gw).await;
    let c = gw.client();
    for i in 0..12 {
        let r = c
            .get_with(&url, &[("x-tollgate-password", "open sesame")])
            .await;
        assert_eq!(r.status, 200, "request {i}: {:?}", r.code());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guessing_client_does_not_lock_out_the_others() {
    let files = files();
    let gw = GatewayBuilder::new()
        .server(r#"trusted_proxies = ["127.0.0.1/32"]"#)
        .dir_origin("files", &files.root)
        .route("/files/", "files", CHAIN, "")
        .start();
    let url = password_token(&gw).await;
    let c = gw.client();
    let attacker = [
        ("x-forwarded-for", "203.0.113.7"),
        ("x-tollgate-password", "guess"),
    ];
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(c.get_with(&url, &attacker).await.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
    let r = c.get_with(&url, &attacker).await;
    assert!(r.header("retry-after").is_some());
    // The user, from its own address, with the right password.
    let user = [
        ("x-forwarded-for", "198.51.100.2"),
        ("x-tollgate-password", "open sesame"),
    ];
    assert_eq!(c.get_with(&url, &user).await.status, 200);
}

// ---------------------------------------------------------------------------------------
// Short links

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_on_an_external_link_is_a_view() {
    let files = files();
    let gw = gateway(&files);
    let l = link(
        &gw,
        json!({"targetUrl": "https://example.com/report.pdf", "maxViews": 1}),
    )
    .await;
    let c = gw.client();
    let r = c.method("HEAD", &l).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("https://example.com/report.pdf"));
    for m in ["HEAD", "GET", "HEAD"] {
        let r = c.method(m, &l).await;
        assert_eq!(r.status, 410, "{m}");
        assert!(r.header("location").is_none());
    }
    assert_eq!(c.get(&l).await.code(), "VIEW_LIMIT_REACHED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_links_need_a_key_scoped_to_everything() {
    let files = files();
    let gw = gateway(&files);
    let body = json!({"targetUrl": "https://evil.example/phish"}).to_string();
    let r = gw
        .api("POST", "/api/v1/links", Some(SK_SCOPED), Some(&body))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"]["code"].clone()),
        (403, json!("FORBIDDEN"))
    );
    // Its own paths it may still link to.
    let body = json!({"targetUrl": "/files/a/x.bin"}).to_string();
    let r = gw
        .api("POST", "/api/v1/links", Some(SK_SCOPED), Some(&body))
        .await;
    assert_eq!(r.status, 201);
}

// ---------------------------------------------------------------------------------------
// Password cookies

async fn form_post(c: &Client, target: &str, password: &str) -> Resp {
    let req = c
        .request("POST", target)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "text/html")
        .body(Full::new(Bytes::from(format!("password={password}"))))
        .unwrap();
    c.send(req).await
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_name_their_key_die_with_it_and_are_secure_behind_a_tls_lb() {
    let files = files();
    let gw = GatewayBuilder::new()
        .public_url("https://files.example.com")
        .key(&format!(
            "[[keys]]\nid = \"k2\"\nsecret = \"{OTHER_KEY_B64}\"\n"
        ))
        .dir_origin("files", &files.root)
        .route("/files/", "files", CHAIN, "")
        .start();
    let l = link(
        &gw,
        json!({"targetUrl": "/files/a.bin", "password": "open sesame"}),
    )
    .await;
    let c = gw.client();
    let r = form_post(&c, &l, "open%20sesame").await;
    assert_eq!(r.status, 303);
    let set = r.header("set-cookie").unwrap().to_owned();
    assert!(set.contains("; Secure"), "{set}");
    assert!(set.contains("HttpOnly"), "{set}");
    let cookie = cookie_pair(&set);
    assert!(
        cookie.split_once('=').unwrap().1.starts_with("k1."),
        "{cookie}"
    );
    assert_eq!(c.get_with(&l, &[("cookie", &cookie)]).await.status, 200);
    // The same tag under another key id is refused: the tag is bound to its key.
    let forged = cookie.replacen("=k1.", "=k2.", 1);
    assert_eq!(c.get_with(&l, &[("cookie", &forged)]).await.status, 401);

    // The key is compromised: its cookies go with it.
    api_ok(
        &gw,
        SK_ADMIN,
        "/api/v1/revocations",
        json!({"key_id": "k1"}),
    )
    .await;
    let r = c.get_with(&l, &[("cookie", &cookie)]).await;
    assert_eq!(status_code(&r), (401, "PASSWORD_REQUIRED".into()));
    // A new cookie comes from a key that is not revoked.
    let r = form_post(&c, &l, "open%20sesame").await;
    let cookie = cookie_pair(r.header("set-cookie").unwrap());
    assert!(
        cookie.split_once('=').unwrap().1.starts_with("k2."),
        "{cookie}"
    );
    assert_eq!(c.get_with(&l, &[("cookie", &cookie)]).await.status, 200);
}

// ---------------------------------------------------------------------------------------
// Forwarding headers and the token in headers

async fn upstream_gateway(origin: &TestOrigin, tls: bool) -> Gateway {
    let mut b = GatewayBuilder::new()
        .http_origin("up", origin.addr, "")
        .route("/up/", "up", r#"["signature"]"#, "");
    if tls {
        b = b.tls();
    }
    b.start()
}

const SPOOFED: [(&str, &str); 8] = [
    // A `Connection` naming the headers the gateway sets must not remove them.
    (
        "connection",
        "keep-alive, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host",
    ),
    ("x-forwarded-host", "evil.example"),
    ("x-forwarded-for", "192.0.2.66"),
    ("x-forwarded-proto", "https"),
    ("x-forwarded-port", "1"),
    ("forwarded", "for=192.0.2.66;host=evil.example"),
    ("x-real-ip", "192.0.2.66"),
    ("x-forwarded-prefix", "/admin"),
];

fn assert_not_spoofed(seen: &Seen, host: Option<&str>) {
    let h = |n: &str| seen.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(h("x-forwarded-host").as_deref(), host, "{:?}", seen.headers);
    assert_eq!(h("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    for n in [
        "forwarded",
        "x-real-ip",
        "x-forwarded-port",
        "x-forwarded-prefix",
    ] {
        assert!(h(n).is_none(), "{n} reached the origin: {:?}", seen.headers);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_from_clients_never_reach_the_origin() {
    let origin = TestOrigin::start(Behaviour::Serve, 10).await;
    let gw = upstream_gateway(&origin, false).await;
    let url = gw.sign(&MintRequest::new("/up/a.bin"));
    let r = gw.client().get_with(&url, &SPOOFED).await;
    assert_eq!(r.status, 200);
    let host = format!("localhost:{}", gw.addr.port());
    let seen = origin.seen();
    assert_not_spoofed(&seen[0], Some(&host));
    assert_eq!(seen[0].headers["x-forwarded-proto"], "http");

    // HTTP/1.0 without a Host: the client's X-Forwarded-Host must not stand in for one.
    let raw_req = format!(
        "GET {url} HTTP/1.0\r\nx-forwarded-host: evil.example\r\nforwarded: host=evil.example\r\n\r\n"
    );
    let resp = raw(gw.addr, raw_req.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(raw_status(&resp), 200);
    assert_not_spoofed(&origin.seen()[1], None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_over_http2_never_reach_the_origin() {
    let origin = TestOrigin::start(Behaviour::Serve, 10).await;
    let gw = upstream_gateway(&origin, true).await;
    let url = gw.sign(&MintRequest::new("/up/a.bin"));
    let r = gw.h2_client().get_with(&url, &SPOOFED).await;
    assert_eq!(r.status, 200);
    let seen = origin.seen();
    assert_not_spoofed(&seen[0], Some(&format!("localhost:{}", gw.addr.port())));
    assert_eq!(seen[0].headers["x-forwarded-proto"], "https");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_header_carries_a_token_upstream() {
    let origin = TestOrigin::start(Behaviour::Serve, 10).await;
    let gw = upstream_gateway(&origin, false).await;
    let url = gw.sign(&MintRequest::new("/up/a.bin"));
    let token = url.split("token=").nth(1).unwrap().to_owned();
    let other = gw.sign(&MintRequest::new("/up/other.bin"));
    let other_token = other.split("token=").nth(1).unwrap();
    let referer = format!("https://files.example.com{url}");
    let referer_other = format!("https://files.example.com/up/other.bin?token={other_token}");
    let c = gw.client();
    assert_eq!(c.get_with(&url, &[("referer", &referer)]).await.status, 200);
    assert_eq!(
        c.get_with(&url, &[("referer", &referer_other), ("x-copied", &token)])
            .await
            .status,
        200
    );
    for seen in origin.seen() {
        for (name, value) in &seen.headers {
            let v = value.to_str().unwrap_or("");
            assert!(
                !v.contains(&token) && !v.contains(other_token),
                "{name} carried a token to the origin"
            );
        }
        assert!(!seen.uri.contains("token="), "{}", seen.uri);
    }
    let seen = origin.seen();
    assert_eq!(
        seen[1].headers["referer"],
        "https://files.example.com/up/other.bin"
    );
}

// ---------------------------------------------------------------------------------------
// The data-plane rate limit, a filter added through the one chain

/// A gateway behind a trusted proxy (so tests choose the client address) with a rate limit.
fn rate_limited(files: &Files, filters: &str, rate: &str) -> Gateway {
    GatewayBuilder::new()
        .server(r#"trusted_proxies = ["127.0.0.1/32"]"#)
        .dir_origin("files", &files.root)
        .route(
            "/files/",
            "files",
            filters,
            &format!("rate_limit = \"{rate}\""),
        )
        .start()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_counts_per_client_ip_and_per_token() {
    let files = files();
    let gw = rate_limited(&files, r#"["signature", "rate_limit"]"#, "3/m");
    let c = gw.client();
    let a = gw.sign(&MintRequest::new("/files/a.bin"));
    let b = gw.sign(&MintRequest::new("/files/b.bin"));
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    for _ in 0..3 {
        assert_eq!(c.get_with(&a, &from("192.0.2.1")).await.status, 200);
    }
    let r = c.get_with(&a, &from("192.0.2.1")).await;
    assert_eq!(status_code(&r), (429, "RATE_LIMITED".into()));
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // The same token from another address: the token's own budget is spent.
    assert_eq!(c.get_with(&a, &from("192.0.2.2")).await.status, 429);
    // Another token from the first address: that address's budget is spent.
    assert_eq!(c.get_with(&b, &from("192.0.2.1")).await.status, 429);
    // Another token from another address goes through.
    assert_eq!(c.get_with(&b, &from("192.0.2.3")).await.status, 200);
    // A request refused before the chain's commit spends nothing.
    let bad = format!("{b}x");
    for _ in 0..5 {
        assert_eq!(c.get_with(&bad, &from("192.0.2.4")).await.status, 403);
    }
    let fresh = gw.sign(&MintRequest::new("/files/a.bin"));
    assert_eq!(c.get_with(&fresh, &from("192.0.2.4")).await.status, 200);
}

// ---------------------------------------------------------------------------------------
// A link and a token with the same limits behave the same

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_and_tokens_with_the_same_limits_behave_the_same() {
    let files = files();
    let gw = gateway(&files);
    let c = gw.client();
    let cases: [(Option<u64>, Option<&str>); 4] = [
        (Some(1), None),
        (Some(2), None),
        (Some(2), Some("pw")),
        (None, Some("pw")),
    ];
    for (max_views, password) in cases {
        let mut tok = json!({"path": "/files/a.bin", "expires_in": 600});
        let mut lnk = json!({"targetUrl": "/files/a.bin"});
        if let Some(n) = max_views {
            tok["max_views"] = json!(n);
            lnk["maxViews"] = json!(n);
        }
        if let Some(p) = password {
            tok["password"] = json!(p);
            lnk["password"] = json!(p);
        }
        let token_url = mint_api(&gw, tok).await.0;
        let link_url = link(&gw, lnk).await;
        let mut seqs = Vec::new();
        for target in [&token_url, &link_url] {
            let pw = password.unwrap_or("");
            let with = |extra: &[(&'static str, &'static str)]| {
                let mut h: Vec<(&str, &str)> = vec![("x-tollgate-password", pw)];
                h.extend_from_slice(extra);
                h
            };
            let mut seq = Vec::new();
            seq.push(c.get(target).await.status.as_u16());
            seq.push(c.get_with(target, &with(&[])).await.status.as_u16());
            let head = c
                .send(
                    c.request("HEAD", target)
                        .header("x-tollgate-password", pw)
                        .body(Full::default())
                        .unwrap(),
                )
                .await;
            seq.push(head.status.as_u16());
            seq.push(
                c.get_with(target, &with(&[("range", "bytes=0-9")]))
                    .await
                    .status
                    .as_u16(),
            );
            seq.push(
                c.get_with(target, &with(&[("range", "bytes=0-1,5-6")]))
                    .await
                    .status
                    .as_u16(),
            );
            seq.push(c.get_with(target, &with(&[])).await.status.as_u16());
            seqs.push(seq);
        }
        assert_eq!(
            seqs[0], seqs[1],
            "token vs link with max_views {max_views:?}, password {password:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_by_a_later_filter_spends_no_view() {
    let files = files();
    let gw = rate_limited(
        &files,
        r#"["signature", "view_limit", "rate_limit"]"#,
        "2/m",
    );
    let c = gw.client();
    let from = [("x-forwarded-for", "192.0.2.9")];
    for _ in 0..2 {
        let other = gw.sign(&MintRequest::new("/files/b.bin"));
        assert_eq!(c.get_with(&other, &from).await.status, 200);
    }
    // view_limit commits (counts) before rate_limit refuses: the view is given back.
    let once = gw.sign(&views(1, "/files/a.bin"));
    assert_eq!(c.get_with(&once, &from).await.status, 429);
    let elsewhere = [("x-forwarded-for", "192.0.2.10")];
    assert_eq!(c.get_with(&once, &elsewhere).await.status, 200);
    assert_eq!(c.get_with(&once, &elsewhere).await.status, 410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_given_back_leaves_nothing_to_continue() {
    // Views counted and given back (416) while racing each other used to restore each
    // other's continuation records: a later `Range: bytes=0-` then continued a view that
    // no longer existed, for free.
    let files = files();
    let gw = GatewayBuilder::new()
        .server(r#"trusted_proxies = ["127.0.0.1/32"]"#)
        .dir_origin("files", &files.root)
        .route("/files/", "files", CHAIN, "")
        .start();
    let url = gw.sign(&views(1, "/files/a.bin"));
    let (ca, cb) = (gw.client(), gw.client());
    for _ in 0..20 {
        let (a, b) = tokio::join!(
            ca.get_with(
                &url,
                &[("range", "bytes=99999-"), ("x-forwarded-for", "192.0.2.1")]
            ),
            cb.get_with(
                &url,
                &[("range", "bytes=99999-"), ("x-forwarded-for", "192.0.2.2")]
            ),
        );
        // While one holds the only view, the other may be refused: never served.
        for s in [a.status.as_u16(), b.status.as_u16()] {
            assert!(s == 416 || s == 410, "{s}");
        }
    }
    let mut served = 0;
    for ip in ["192.0.2.1", "192.0.2.2", "192.0.2.1"] {
        let r = gw
            .client()
            .get_with(&url, &[("range", "bytes=0-"), ("x-forwarded-for", ip)])
            .await;
        if r.status.is_success() {
            served += r.body.len();
        }
    }
    // One view: the first resume is counted (and is the whole file); nothing after it.
    assert_eq!(served, 4096);
    assert_eq!(gw.client().get(&url).await.status, 410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_a_public_route_keeps_the_route_s_grace() {
    let files = files();
    let gw = GatewayBuilder::new()
        .dir_origin("files", &files.root)
        .route("/open/", "files", "[]", r#"view_grace = "10m""#)
        .start();
    let l = link(&gw, json!({"targetUrl": "/open/a.bin", "maxViews": 1})).await;
    let c = gw.client();
    assert_eq!(c.get(&l).await.status, 200);
    // A resume by the same client continues the view, as it would through a token.
    let r = c.get_with(&l, &[("range", "bytes=2048-")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(c.get(&l).await.status, 410);
}
