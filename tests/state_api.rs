//! Durable state and the control API against real processes: view limits under
//! concurrency, across restarts and kill -9; revocations on pooled connections; every error
//! code of the API.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const CHAIN: &str = r#"["signature", "revocation", "view_limit"]"#;

fn files() -> Files {
    Files::new(&[
        ("a/doc.txt", b"document body"),
        ("a/other.txt", b"other body"),
        ("b/x.txt", b"x"),
    ])
}

fn gateway(files: &Files) -> GatewayBuilder {
    GatewayBuilder::new()
        .key(&format!(
            "[[keys]]\nid = \"k2\"\nsecret = \"{OTHER_KEY_B64}\"\n"
        ))
        .server("trusted_proxies = [\"127.0.0.1/32\"]")
        .dir_origin("files", &files.root)
        .route("/files/", "files", CHAIN, "view_grace = \"10m\"")
}

/// Mints through the API and returns (path-and-query, token_id).
async fn mint(gw: &Gateway, body: Value) -> (String, String) {
    gw.mint_api(body).await
}

async fn views(gw: &Gateway, tid: &str) -> u64 {
    gw.views(tid).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_views_7_under_500_concurrent_gets_and_restarts() {
    let files = files();
    let gw = gateway(&files).start();
    let (target, tid) = mint(
        &gw,
        json!({"path": "/files/a/doc.txt", "expires_in": 600, "max_views": 7}),
    )
    .await;
    let statuses = burst(&gw, &target, 500).await;
    assert_eq!(statuses.len(), 500);
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let gone = statuses.iter().filter(|s| **s == 410).count();
    assert_eq!((ok, gone), (7, 493), "{statuses:?}");
    assert_eq!(views(&gw, &tid).await, 7);
    // Across a clean restart and a kill -9 restart: still used up, still 7.
    let mut gw = gw;
    gw.signal("TERM");
    gw.wait_exit(Duration::from_secs(15));
    let gw = gw.restart();
    let r = gw.client().get(&target).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (410, "VIEW_LIMIT_REACHED")
    );
    assert_eq!(views(&gw, &tid).await, 7);
    let gw = gw.restart();
    assert_eq!(gw.client().get(&target).await.status, 410);
    assert_eq!(views(&gw, &tid).await, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_counts_as_a_view() {
    let files = files();
    let gw = gateway(&files).start();
    let c = gw.client();
    let (target, tid) = mint(
        &gw,
        json!({"path": "/files/a/doc.txt", "expires_in": 600, "max_views": 2}),
    )
    .await;
    // HEAD never counts.
    for _ in 0..3 {
        assert_eq!(c.method("HEAD", &target).await.status, 200);
    }
    assert_eq!(views(&gw, &tid).await, 0);
    // A GET with bytes counts once.
    let first = c.get(&target).await;
    assert_eq!(first.status, 200);
    assert_eq!(views(&gw, &tid).await, 1);
    // A conditional GET answered 304 sends no bytes: not a view.
    let etag = first.header("etag").unwrap().to_owned();
    assert_eq!(
        c.get_with(&target, &[("if-none-match", &etag)])
            .await
            .status,
        304
    );
    assert_eq!(views(&gw, &tid).await, 1);
    // A Range GET from the same client within the grace continues the view.
    let r = c.get_with(&target, &[("range", "bytes=3-")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(views(&gw, &tid).await, 1);
    // From another client address (via a trusted proxy), a Range GET is a new view.
    let r = c
        .get_with(
            &target,
            &[("range", "bytes=0-1"), ("x-forwarded-for", "203.0.113.7")],
        )
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(views(&gw, &tid).await, 2);
    // Used up: a plain GET is refused, the origin untouched; but the last viewer may still
    // resume within the grace.
    let r = c.get(&target).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (410, "VIEW_LIMIT_REACHED")
    );
    // (That view was itself bytes 0-1: the rest of the file completes its one copy.)
    let r = c
        .get_with(
            &target,
            &[("range", "bytes=2-"), ("x-forwarded-for", "203.0.113.7")],
        )
        .await;
    assert_eq!(r.status, 206);
    // Used up, a token reveals nothing more, not even to HEAD, except to the last viewer.
    assert_eq!(c.method("HEAD", &target).await.status, 410);
    let r = c
        .send(
            c.request("HEAD", &target)
                .header("x-forwarded-for", "203.0.113.7")
                .body(Full::default())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(views(&gw, &tid).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_is_given_back_when_no_bytes_are_sent() {
    let files = files();
    let gw = gateway(&files).start();
    let c = gw.client();
    let (target, tid) = mint(
        &gw,
        json!({"path": "/files/a/doc.txt", "expires_in": 600, "max_views": 1}),
    )
    .await;
    let r = c.get_with(&target, &[("range", "bytes=999-")]).await;
    assert_eq!(r.status, 416);
    assert_eq!(views(&gw, &tid).await, 0);
    assert_eq!(c.get(&target).await.status, 200);
    assert_eq!(c.get(&target).await.status, 410);
    // A token for a missing file: 404 each time, and no view is ever used.
    let (missing, mtid) = mint(
        &gw,
        json!({"path": "/files/a/missing.txt", "expires_in": 600, "max_views": 1}),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(c.get(&missing).await.status, 404);
    }
    assert_eq!(views(&gw, &mtid).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_never_serves_beyond_the_limit_nor_loses_a_revocation() {
    const LIMIT: usize = 40;
    let files = files();
    let gw = gateway(&files).start();
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(
            mint(
                &gw,
                json!({"path": "/files/a/doc.txt", "expires_in": 600, "max_views": LIMIT}),
            )
            .await,
        );
    }
    let (revoked_target, revoked_tid) = mint(
        &gw,
        json!({"path": "/files/a/other.txt", "expires_in": 600}),
    )
    .await;
    assert_eq!(gw.client().get(&revoked_target).await.status, 200);

    // Load on every token, and kill -9 in the middle of it.
    let mut served = vec![0usize; tokens.len()];
    let mut loads = tokio::task::JoinSet::new();
    for (i, (t, _)) in tokens.iter().enumerate() {
        for _ in 0..4 {
            let c = gw.client();
            let t = t.clone();
            loads.spawn(async move {
                let mut ok = 0;
                for _ in 0..30 {
                    let Ok(tcp) = tokio::net::TcpStream::connect(c.addr).await else {
                        break;
                    };
                    let Ok((mut s, conn)) =
                        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await
                    else {
                        break;
                    };
                    tokio::spawn(conn);
                    let req = c.request("GET", &t).body(Full::<Bytes>::default()).unwrap();
                    match s.send_request(req).await {
                        // A 200 head means the view was counted before any byte was sent.
                        Ok(r) if r.status() == 200 => ok += 1,
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                (i, ok)
            });
        }
    }
    // A revocation acknowledged during the load must survive the kill.
    let r = gw
        .api(
            "POST",
            "/api/v1/revocations",
            Some(SK_ADMIN),
            Some(&json!({"token_id": revoked_tid}).to_string()),
        )
        .await;
    assert_eq!(r.status, 201);
    // Kill once some views have been counted.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while gw.metric("tollgate_views_counted_total").await < 20 {
        assert!(std::time::Instant::now() < deadline, "no views counted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut gw = gw;
    gw.kill9();
    while let Some(r) = loads.join_next().await {
        let (i, ok) = r.unwrap();
        served[i] += ok;
    }
    let gw = gw.restart();
    assert_eq!(
        gw.client().get(&revoked_target).await.code(),
        "REVOKED",
        "revocation lost"
    );
    // Second life: drain every token.
    for (i, (t, tid)) in tokens.iter().enumerate() {
        let before = views(&gw, tid).await as usize;
        assert!(
            before >= served[i],
            "token {i}: served {} but the store says {before}",
            served[i]
        );
        let statuses = burst(&gw, t, 2 * LIMIT).await;
        served[i] += statuses.iter().filter(|s| **s == 200).count();
        assert!(
            served[i] <= LIMIT,
            "token {i}: served {} > {LIMIT}",
            served[i]
        );
        assert_eq!(views(&gw, tid).await as usize, LIMIT);
    }
}

/// One keep-alive connection, reused for every request.
struct Pooled {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    client: Client,
}

impl Pooled {
    async fn new(gw: &Gateway) -> Pooled {
        let c = gw.client();
        let tcp = tokio::net::TcpStream::connect(c.addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        Pooled { sender, client: c }
    }

    async fn get(&mut self, target: &str) -> (u16, String) {
        let req = self
            .client
            .request("GET", target)
            .body(Full::default())
            .unwrap();
        self.sender.ready().await.unwrap();
        let r = self.sender.send_request(req).await.unwrap();
        let status = r.status().as_u16();
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let code = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_default();
        (status, code)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_revocation_kind_applies_to_pooled_connections_at_once() {
    let files = files();
    let gw = gateway(&files).start();
    let revoke = |body: Value| {
        let gw = &gw;
        async move {
            let r = gw
                .api(
                    "POST",
                    "/api/v1/revocations",
                    Some(SK_ADMIN),
                    Some(&body.to_string()),
                )
                .await;
            assert_eq!(r.status, 201, "{:?}", r.json());
            r
        }
    };
    // By token id.
    let (t1, tid1) = mint(&gw, json!({"path": "/files/a/doc.txt", "expires_in": 600})).await;
    let (t1b, _) = mint(&gw, json!({"path": "/files/a/doc.txt", "expires_in": 600})).await;
    let mut conn = Pooled::new(&gw).await;
    assert_eq!(conn.get(&t1).await.0, 200);
    revoke(json!({"token_id": tid1})).await;
    assert_eq!(conn.get(&t1).await, (410, "REVOKED".into()));
    assert_eq!(
        conn.get(&t1b).await.0,
        200,
        "another token for the same file was hit"
    );

    // By prefix and issue time: tokens issued before are gone, later ones work, other
    // prefixes untouched.
    let (t2, _) = mint(
        &gw,
        json!({"path": "/files/a/other.txt", "expires_in": 600}),
    )
    .await;
    let (t3, _) = mint(&gw, json!({"path": "/files/b/x.txt", "expires_in": 600})).await;
    assert_eq!(conn.get(&t2).await.0, 200);
    let cutoff = now() + 1;
    revoke(json!({"prefix": "/files/a/", "issued_before": iso(cutoff)})).await;
    assert_eq!(conn.get(&t2).await, (410, "REVOKED".into()));
    assert_eq!(conn.get(&t3).await.0, 200);
    let after = gw.sign_at(
        &tollgate::token::mint::MintRequest::new("/files/a/other.txt"),
        cutoff,
    );
    assert_eq!(conn.get(&after).await.0, 200);

    // By key: every token signed with k1, before and after the call, and no more minting
    // with it.
    let (t4, _) = mint(&gw, json!({"path": "/files/b/x.txt", "expires_in": 600})).await;
    assert_eq!(conn.get(&t4).await.0, 200);
    revoke(json!({"key_id": "k1"})).await;
    assert_eq!(conn.get(&t4).await, (410, "REVOKED".into()));
    let later = gw.sign_at(
        &tollgate::token::mint::MintRequest::new("/files/b/x.txt"),
        now() + 5,
    );
    assert_eq!(conn.get(&later).await, (410, "REVOKED".into()));
    let (t5, _) = mint(&gw, json!({"path": "/files/b/x.txt", "expires_in": 600})).await;
    let claims = t5
        .split("token=")
        .nth(1)
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    use base64::Engine;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .unwrap();
    assert_eq!(
        String::from_utf8(claims).unwrap().lines().nth(1),
        Some("k2")
    );
    assert_eq!(conn.get(&t5).await.0, 200);

    // All of it survives a restart.
    let gw = gw.restart();
    let mut conn = Pooled::new(&gw).await;
    for t in [&t1, &t2, &t4, &later] {
        assert_eq!(conn.get(t).await, (410, "REVOKED".into()));
    }
    assert_eq!(conn.get(&t5).await.0, 200);
}

fn iso(unix: u64) -> String {
    tollgate::admin::envelope::iso(unix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_access_tokens_work_as_bearer_and_query() {
    let files = files();
    let gw = gateway(&files).start();
    let body = json!({"filePaths": ["/files/a/doc.txt", "/files/a/other.txt"], "expires_in": 120});
    let r = gw
        .api(
            "POST",
            "/api/v1/file-access",
            Some(SK_ADMIN),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let d = r.json()["data"].clone();
    assert!(d["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(d["message"].as_str().is_some());
    let t = d["access_tokens"]["/files/a/doc.txt"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!t.contains(['&', '=', '+', '/', ' ']));
    let c = gw.client();
    let r = c
        .get_with(
            "/files/a/doc.txt",
            &[("authorization", &format!("Bearer {t}"))],
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), &r.body[..]),
        (200, &b"document body"[..])
    );
    assert_eq!(
        c.get(&format!("/files/a/doc.txt?token={t}")).await.status,
        200
    );
    // A token is for its own path only.
    assert_eq!(
        c.get(&format!("/files/a/other.txt?token={t}")).await.status,
        403
    );
    // The scoped key may mint under /files/a/ only; one path outside fails the whole call.
    let body = json!({"filePaths": ["/files/a/doc.txt", "/files/b/x.txt"]});
    let r = gw
        .api(
            "POST",
            "/api/v1/file-access",
            Some(SK_SCOPED),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (403, "FORBIDDEN"));
    let body = json!({"filePaths": ["/files/a/doc.txt"]});
    let r = gw
        .api(
            "POST",
            "/api/v1/file-access",
            Some(SK_SCOPED),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(r.status, 200);
    // A path the origin does not have.
    let body = json!({"filePaths": ["/files/a/doc.txt", "/files/a/nope.txt"]});
    let r = gw
        .api(
            "POST",
            "/api/v1/file-access",
            Some(SK_ADMIN),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (404, "RESOURCE_NOT_FOUND")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_access_by_source_takes_paths_inside_the_origin() {
    let files = files();
    let gw = gateway(&files).start();
    let post = |body: Value| {
        let gw = &gw;
        async move {
            gw.api(
                "POST",
                "/api/v1/file-access",
                Some(SK_ADMIN),
                Some(&body.to_string()),
            )
            .await
        }
    };
    // Paths inside the `files` origin, with and without a leading slash, keyed as given.
    let r = post(json!({"source": "files", "filePaths": ["a/doc.txt", "/b/x.txt"]})).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let tokens = r.json()["data"]["access_tokens"].clone();
    let t = tokens["a/doc.txt"].as_str().unwrap();
    assert!(tokens["/b/x.txt"].as_str().is_some());
    // Minted for the route that serves the origin: /files/a/doc.txt on the gateway.
    let r = gw
        .client()
        .get(&format!("/files/a/doc.txt?token={t}"))
        .await;
    assert_eq!(
        (r.status.as_u16(), &r.body[..]),
        (200, &b"document body"[..])
    );
    // An unknown origin, and a path that tries to leave the origin.
    let r = post(json!({"source": "nope", "filePaths": ["a/doc.txt"]})).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (400, "VALIDATION_ERROR")
    );
    assert_eq!(r.json()["error"]["details"][0]["field"], "source");
    let r = post(json!({"source": "files", "filePaths": ["../secret.txt"]})).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (400, "VALIDATION_ERROR")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_error_code() {
    let files = files();
    let gw = gateway(&files).start();
    let post = |path: &'static str, key: Option<&'static str>, body: &str| {
        let gw = &gw;
        let body = body.to_owned();
        async move { gw.api("POST", path, key, Some(&body)).await }
    };
    let su = "/api/v1/signed-urls";
    let good = r#"{"path": "/files/a/doc.txt", "expires_in": 60}"#;
    let cases: Vec<(Resp, u16, &str)> = vec![
        (post(su, None, good).await, 401, "UNAUTHORIZED"),
        (
            post(su, Some("sk_nope"), good).await,
            401,
            "INVALID_API_KEY",
        ),
        (
            post(su, Some(SK_EXPIRED), good).await,
            401,
            "EXPIRED_API_KEY",
        ),
        (post(su, Some(PK_READ), good).await, 403, "FORBIDDEN"),
        (
            post(
                su,
                Some(SK_SCOPED),
                r#"{"path": "/files/b/x.txt", "expires_in": 60}"#,
            )
            .await,
            403,
            "FORBIDDEN",
        ),
        (
            post(
                "/api/v1/revocations",
                Some(PK_READ),
                r#"{"token_id": "AAAAAAAAAAAAAAAAAAAAAA"}"#,
            )
            .await,
            403,
            "FORBIDDEN",
        ),
        (
            post(su, Some(SK_ADMIN), "not json").await,
            400,
            "INVALID_PAYLOAD",
        ),
        (
            post(su, Some(SK_ADMIN), r#"{"path": 5, "expires_in": 60}"#).await,
            400,
            "INVALID_PAYLOAD",
        ),
        (
            post(
                su,
                Some(SK_ADMIN),
                r#"{"path": "/files/a/doc.txt", "expires_in": "1h"}"#,
            )
            .await,
            400,
            "INVALID_PAYLOAD",
        ),
        (
            post(
                su,
                Some(SK_ADMIN),
                r#"{"path": "/files/a/doc.txt", "expires_in": 60, "colour": 1}"#,
            )
            .await,
            400,
            "INVALID_PAYLOAD",
        ),
        (
            post(su, Some(SK_ADMIN), r#"{"expires_in": 60}"#).await,
            400,
            "MISSING_REQUIRED_FIELD",
        ),
        (
            post(
                su,
                Some(SK_ADMIN),
                r#"{"path": "/files/a/doc.txt", "expires_in": 0}"#,
            )
            .await,
            400,
            "VALIDATION_ERROR",
        ),
        (
            post(
                su,
                Some(SK_ADMIN),
                r#"{"path": "/files/a/doc.txt", "expires_in": 604801}"#,
            )
            .await,
            400,
            "VALIDATION_ERROR",
        ),
        (
            post(
                su,
                Some(SK_ADMIN),
                r#"{"path": "/files/a/doc.txt", "expires_in": 60, "max_views": 0}"#,
            )
            .await,
            400,
            "VALIDATION_ERROR",
        ),
        (
            post(
                su,
                Some(SK_ADMIN),
                r#"{"path": "/files/../etc", "expires_in": 60}"#,
            )
            .await,
            400,
            "VALIDATION_ERROR",
        ),
        (
            post(
                su,
                Some(SK_ADMIN),
                r#"{"path": "/nowhere/x", "expires_in": 60}"#,
            )
            .await,
            400,
            "VALIDATION_ERROR",
        ),
        (
            post("/api/v1/revocations", Some(SK_ADMIN), r#"{}"#).await,
            400,
            "MISSING_REQUIRED_FIELD",
        ),
        (
            post(
                "/api/v1/revocations",
                Some(SK_ADMIN),
                r#"{"prefix": "/files/"}"#,
            )
            .await,
            400,
            "MISSING_REQUIRED_FIELD",
        ),
        (
            post(
                "/api/v1/revocations",
                Some(SK_ADMIN),
                r#"{"token_id": "x", "key_id": "k1"}"#,
            )
            .await,
            400,
            "VALIDATION_ERROR",
        ),
        (
            post(
                "/api/v1/revocations",
                Some(SK_ADMIN),
                r#"{"prefix": "/files/", "issued_before": "yesterday"}"#,
            )
            .await,
            400,
            "VALIDATION_ERROR",
        ),
        (
            post(
                "/api/v1/revocations",
                Some(SK_SCOPED),
                r#"{"key_id": "k1"}"#,
            )
            .await,
            403,
            "FORBIDDEN",
        ),
        (
            gw.api(
                "GET",
                "/api/v1/tokens/AAAAAAAAAAAAAAAAAAAAAA",
                Some(PK_READ),
                None,
            )
            .await,
            404,
            "RESOURCE_NOT_FOUND",
        ),
        (
            gw.api("GET", "/api/v1/nothing", Some(PK_READ), None).await,
            404,
            "RESOURCE_NOT_FOUND",
        ),
    ];
    for (i, (r, status, code)) in cases.iter().enumerate() {
        assert_eq!(
            (r.status.as_u16(), r.code().as_str()),
            (*status, *code),
            "case {i}: {:?}",
            r.json()
        );
        let e = &r.json()["error"];
        assert_eq!(r.json()["success"], false);
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(e["reference_id"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // One detail per bad field.
    let r = post(
        su,
        Some(SK_ADMIN),
        r#"{"path": "/files/a/doc.txt", "expires_in": 0, "max_views": 0, "client_ip": "x"}"#,
    )
    .await;
    let mut fields: Vec<String> = r.json()["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_owned())
        .collect();
    fields.sort();
    assert_eq!(fields, ["client_ip", "expires_in", "max_views"]);
    assert_eq!(
        r.json()["error"]["details"][0]["message"]
            .as_str()
            .map(|m| !m.is_empty()),
        Some(true)
    );
    let r = post(
        su,
        Some(SK_ADMIN),
        r#"{"path": "/files/a/doc.txt", "expires_in": 604801}"#,
    )
    .await;
    assert_eq!(
        r.json()["error"]["details"][0]["message"],
        "must be between 1 and 604800"
    );

    // INTERNAL_ERROR: with every signing key revoked nothing can mint. Its reference id is
    // in the log.
    for k in ["k1", "k2"] {
        let r = post(
            "/api/v1/revocations",
            Some(SK_ADMIN),
            &json!({"key_id": k}).to_string(),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    let r = post(su, Some(SK_ADMIN), good).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (500, "INTERNAL_ERROR")
    );
    let reference = r.json()["error"]["reference_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(gw.wait_log(&reference).contains("signing key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_and_tokens_stay_out_of_the_log_and_metrics_are_exported() {
    let files = files();
    let gw = gateway(&files).start();
    let (target, _) = mint(
        &gw,
        json!({"path": "/files/a/doc.txt", "expires_in": 60, "max_views": 3}),
    )
    .await;
    assert_eq!(gw.client().get(&target).await.status, 200);
    for key in [SK_ADMIN, PK_READ, SK_EXPIRED, "sk_wrong_guess"] {
        let _ = gw
            .api("POST", "/api/v1/signed-urls", Some(key), Some("{}"))
            .await;
    }
    let r = gw
        .api(
            "POST",
            "/api/v1/revocations",
            Some(SK_ADMIN),
            Some(&json!({"key_id": "k1"}).to_string()),
        )
        .await;
    assert_eq!(r.status, 201);
    gw.wait_log("revoked");
    let logs = gw.logs().join("\n");
    let token = target.split("token=").nth(1).unwrap();
    for secret in [
        SK_ADMIN,
        PK_READ,
        SK_EXPIRED,
        SK_SCOPED,
        "sk_wrong_guess",
        token,
        KEY_B64,
        OTHER_KEY_B64,
    ] {
        assert!(!logs.contains(secret), "{secret} is in the log");
    }
    let m = gw.api("GET", "/metrics", None, None).await;
    let text = String::from_utf8_lossy(&m.body);
    for name in [
        "tollgate_requests_total{route=\"/files/\",outcome=\"ok\"} 1",
        "tollgate_request_duration_seconds_bucket",
        "tollgate_bytes_sent_total 13",
        "tollgate_views_counted_total 1",
        "tollgate_revocations_total 1",
        "tollgate_store_commit_seconds_count",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}
