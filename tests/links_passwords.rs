//! Short links, passwords and API rate limits against real processes.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http_body_util::Full;
use serde_json::{Value, json};

const CHAIN: &str = r#"["signature", "revocation", "view_limit", "password"]"#;

fn files() -> Files {
    Files::new(&[("report.txt", b"quarterly figures"), ("b.txt", b"bee")])
}

fn gateway(files: &Files, origin: Option<std::net::SocketAddr>) -> Gateway {
    let mut b = GatewayBuilder::new()
        .dir_origin("files", &files.root)
        .route("/files/", "files", CHAIN, "");
    if let Some(addr) = origin {
        b = b.http_origin("up", addr, "").route("/up/", "up", CHAIN, "");
    }
    b.start()
}

async fn create_link(gw: &Gateway, body: Value) -> Value {
    let r = gw
        .api(
            "POST",
            "/api/v1/links",
            Some(SK_ADMIN),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    r.json()["data"].clone()
}

fn code_of(link: &Value) -> String {
    link["shortCode"].as_str().unwrap().to_owned()
}

async fn link_views(gw: &Gateway, code: &str) -> Value {
    let r = gw
        .api(
            "GET",
            &format!("/api/v1/links/{code}"),
            Some(SK_ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    r.json()["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_with_max_views_3_under_concurrency_serve_exactly_3() {
    let files = files();
    let gw = gateway(&files, None);
    let internal = create_link(
        &gw,
        json!({"targetUrl": "/files/report.txt", "maxViews": 3}),
    )
    .await;
    assert_eq!(internal["views"], 0);
    assert_eq!(internal["maxViews"], 3);
    assert!(
        internal["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/s/{}", code_of(&internal)))
    );
    let code = code_of(&internal);
    assert!(code.len() >= 11, "short codes carry at least 64 bits");
    let statuses = burst(&gw, &format!("/s/{code}"), 100).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 410).count(), 97);
    let v = link_views(&gw, &code).await;
    assert_eq!(v["views"], 3);
    assert!(v["lastAccessedAt"].as_str().is_some());

    let external = create_link(
        &gw,
        json!({"targetUrl": "https://example.com/a?b=c", "maxViews": 3}),
    )
    .await;
    let code = code_of(&external);
    let statuses = burst(&gw, &format!("/s/{code}"), 60).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 302).count(),
        3,
        "{statuses:?}"
    );
    let r = gw.client().method("HEAD", &format!("/s/{code}")).await;
    assert_eq!(r.status, 410);
    assert_eq!(link_views(&gw, &code).await["views"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_links_redirect_and_every_redirect_is_a_view() {
    let files = files();
    let gw = gateway(&files, None);
    let link = create_link(&gw, json!({"targetUrl": "https://example.com/doc.pdf"})).await;
    let code = code_of(&link);
    let c = gw.client();
    // A 302 hands out the target whatever the method: HEAD counts too (contract §3).
    assert_eq!(c.method("HEAD", &format!("/s/{code}")).await.status, 302);
    let r = c.get(&format!("/s/{code}")).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("https://example.com/doc.pdf"));
    assert_eq!(link_views(&gw, &code).await["views"], 2);
    // Unknown and malformed codes.
    let r = c.get("/s/AAAAAAAAAAAAAAAA").await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (404, "LINK_NOT_FOUND")
    );
    let r = c.get("/s/short").await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_and_deletion() {
    let files = files();
    let gw = gateway(&files, None);
    let expires = tollgate::admin::envelope::iso(now() + 2);
    let link = create_link(
        &gw,
        json!({"targetUrl": "/files/b.txt", "expiresAt": expires}),
    )
    .await;
    assert_eq!(link["expiresAt"], expires);
    let code = code_of(&link);
    let c = gw.client();
    assert_eq!(c.get(&format!("/s/{code}")).await.status, 200);
    // Wait (bounded) for the expiry to pass.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = c.get(&format!("/s/{code}")).await;
        if r.status == 410 {
            assert_eq!(r.code(), "EXPIRED");
            break;
        }
        assert!(Instant::now() < deadline, "link never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Deletion: 204, then 410 on the data plane and 404 on the API.
    let link = create_link(&gw, json!({"targetUrl": "/files/b.txt"})).await;
    let code = code_of(&link);
    assert_eq!(c.get(&format!("/s/{code}")).await.status, 200);
    let r = gw
        .api(
            "DELETE",
            &format!("/api/v1/links/{code}"),
            Some(SK_ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    let r = c.get(&format!("/s/{code}")).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (410, "LINK_DELETED")
    );
    let r = gw
        .api(
            "GET",
            &format!("/api/v1/links/{code}"),
            Some(SK_ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = gw
        .api(
            "DELETE",
            &format!("/api/v1/links/{code}"),
            Some(SK_ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    // A public key may read but not delete.
    let link = create_link(&gw, json!({"targetUrl": "/files/b.txt"})).await;
    let code = code_of(&link);
    let r = gw
        .api(
            "DELETE",
            &format!("/api/v1/links/{code}"),
            Some(PK_READ),
            None,
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (403, "FORBIDDEN"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_validation() {
    let files = files();
    let gw = gateway(&files, None);
    let post = |body: Value| {
        let gw = &gw;
        async move {
            gw.api(
                "POST",
                "/api/v1/links",
                Some(SK_ADMIN),
                Some(&body.to_string()),
            )
            .await
        }
    };
    let bad_targets = [
        "not a url",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,hi",
        "ftp://example.com/x",
        "file:///etc/passwd",
        "//example.com/x",
        "https://",
        "http:// spaces.example.com",
        "/nowhere/x",
        "/files/../etc/passwd",
        "",
    ];
    for t in bad_targets {
        let r = post(json!({"targetUrl": t})).await;
        assert_eq!(
            (r.status.as_u16(), r.code().as_str()),
            (400, "VALIDATION_ERROR"),
            "{t}"
        );
        assert_eq!(r.json()["error"]["details"][0]["field"], "targetUrl");
        assert!(
            r.json()["error"]["details"][0]["message"]
                .as_str()
                .unwrap()
                .starts_with("must be a valid URL")
        );
    }
    let r = post(json!({})).await;
    assert_eq!(r.code(), "MISSING_REQUIRED_FIELD");
    let r = post(json!({"targetUrl": 5})).await;
    assert_eq!(r.code(), "INVALID_PAYLOAD");
    let r = post(json!({"targetUrl": "https://example.com", "maxViews": 0})).await;
    assert_eq!(
        r.json()["error"]["details"][0]["message"],
        "must be greater than 0"
    );
    let r = post(json!({"targetUrl": "https://example.com", "expiresAt": "2001-01-01T00:00:00Z"}))
        .await;
    assert_eq!(
        r.json()["error"]["details"][0]["message"],
        "must be a future date"
    );
    let r = post(json!({"targetUrl": "https://example.com", "expiresAt": "tomorrow"})).await;
    assert_eq!(r.code(), "VALIDATION_ERROR");
    // One detail per bad field.
    let r = post(
        json!({"targetUrl": "javascript:x", "maxViews": 0, "expiresAt": "2001-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(r.json()["error"]["details"].as_array().unwrap().len(), 3);
    // A date RFC 3339 cannot write back (year 10000 in UTC) is refused, not echoed as "".
    let r =
        post(json!({"targetUrl": "https://example.com", "expiresAt": "9999-12-31T23:59:59-23:59"}))
            .await;
    assert_eq!(r.code(), "VALIDATION_ERROR");
    // The framework's own refusals come in the envelope too.
    let r = gw
        .api("GET", "/api/v1/links/%FF%FE", Some(SK_ADMIN), None)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (404, "RESOURCE_NOT_FOUND")
    );
    let huge = format!(
        "{{\"targetUrl\": \"https://example.com/{}\"}}",
        "a".repeat(2 << 20)
    );
    let r = gw
        .api("POST", "/api/v1/links", Some(SK_ADMIN), Some(&huge))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (400, "INVALID_PAYLOAD")
    );
    // A path target outside the key's scopes.
    let r = gw
        .api(
            "POST",
            "/api/v1/links",
            Some(SK_SCOPED),
            Some(&json!({"targetUrl": "/files/b.txt"}).to_string()),
        )
        .await;
    assert_eq!(r.code(), "FORBIDDEN");
}

/// Sends a password form post and returns (status, Location, Set-Cookie).
async fn post_form(c: &Client, target: &str, password: &str) -> Resp {
    let body = format!("password={}", password.replace(' ', "+"));
    let req = c
        .request("POST", target)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "text/html")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    c.send(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_flows_for_links_and_signed_urls() {
    let files = files();
    let origin = TestOrigin::start(Behaviour::Serve, 4).await;
    let gw = gateway(&files, Some(origin.addr));
    let c = gw.client();
    let link = create_link(
        &gw,
        json!({"targetUrl": "/files/report.txt", "password": "open sesame", "maxViews": 5}),
    )
    .await;
    assert_eq!(link["passwordProtected"], true);
    assert!(!link.to_string().contains("open sesame"));
    let link_target = format!("/s/{}", code_of(&link));
    let r = gw
        .api(
            "POST",
            "/api/v1/signed-urls",
            Some(SK_ADMIN),
            Some(
                &json!({"path": "/up/doc.bin", "expires_in": 600, "password": "open sesame"})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let url = r.json()["data"]["url"].as_str().unwrap().to_owned();
    let url_target = url.split_once("127.0.0.1:1").unwrap().1.to_owned();

    for target in [&link_target, &url_target] {
        // A program: JSON 401, then the header.
        let r = c.get(target).await;
        assert_eq!(
            (r.status.as_u16(), r.code().as_str()),
            (401, "PASSWORD_REQUIRED")
        );
        let r = c.get_with(target, &[("x-tollgate-password", "nope")]).await;
        assert_eq!(
            (r.status.as_u16(), r.code().as_str()),
            (401, "PASSWORD_INVALID")
        );
        let r = c
            .get_with(target, &[("x-tollgate-password", "open sesame")])
            .await;
        assert_eq!(r.status, 200, "{target}");
        // A browser: the form, a wrong post (the form again, 401), a right post (303 with
        // a cookie), then the file with the cookie.
        let r = c.get_with(target, &[("accept", "text/html")]).await;
        assert_eq!(r.status, 401);
        let page = String::from_utf8_lossy(&r.body).into_owned();
        assert!(page.contains(r#"<form method="post">"#) && page.contains(r#"name="password""#));
        assert!(
            !page.contains("<script") && !page.contains("http://") && !page.contains("https://")
        );
        let r = post_form(&c, target, "wrong").await;
        assert_eq!(r.status, 401);
        assert!(String::from_utf8_lossy(&r.body).contains("not right"));
        let r = post_form(&c, target, "open sesame").await;
        assert_eq!(r.status, 303);
        assert_eq!(r.header("location"), Some(target.as_str()));
        let cookie = r.header("set-cookie").unwrap().to_owned();
        assert!(cookie.contains("HttpOnly") && cookie.contains("Max-Age=600"));
        let pair = cookie.split(';').next().unwrap().to_owned();
        let r = c.get_with(target, &[("cookie", &pair)]).await;
        assert_eq!(r.status, 200, "cookie not accepted for {target}");
        // A forged or foreign cookie is worth nothing.
        let (name, value) = pair.split_once('=').unwrap();
        let forged = format!("{name}={}", value.replace('.', ".A"));
        assert_eq!(c.get_with(target, &[("cookie", &forged)]).await.status, 401);
    }
    // The cookie of one token does not open another.
    // Neither the password header nor the cookie reached the origin.
    for s in origin.seen() {
        assert!(s.headers.get("x-tollgate-password").is_none());
        assert!(
            s.headers
                .get("cookie")
                .is_none_or(|v| !v.to_str().unwrap().contains("tg_pw_"))
        );
    }
    // Wrong passwords never used a view: 2 header + 1 cookie + ... successful GETs only.
    assert_eq!(link_views(&gw, &code_of(&link)).await["views"], 2);
    // Nothing of the password in the log.
    let logs = gw.logs().join("\n");
    assert!(!logs.contains("open sesame") && !logs.contains("open+sesame"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guesses_are_limited_per_token() {
    let files = files();
    let gw = gateway(&files, None);
    let c = gw.client();
    let link = create_link(
        &gw,
        json!({"targetUrl": "/files/report.txt", "password": "s3cret!"}),
    )
    .await;
    let target = format!("/s/{}", code_of(&link));
    let other = create_link(
        &gw,
        json!({"targetUrl": "/files/report.txt", "password": "s3cret!"}),
    )
    .await;
    let other = format!("/s/{}", code_of(&other));
    for i in 0..5 {
        let r = c
            .get_with(&target, &[("x-tollgate-password", &format!("guess{i}"))])
            .await;
        assert_eq!(r.status, 401);
    }
    let r = c
        .get_with(&target, &[("x-tollgate-password", "guess6")])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (429, "TOO_MANY_ATTEMPTS")
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Even the right password waits: guessing is what is limited.
    let r = c
        .get_with(&target, &[("x-tollgate-password", "s3cret!")])
        .await;
    assert_eq!(r.status, 429);
    // Form posts are limited the same way.
    assert_eq!(post_form(&c, &target, "x").await.status, 429);
    // Another link is not affected.
    let r = c
        .get_with(&other, &[("x-tollgate-password", "s3cret!")])
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_and_their_views_survive_a_restart() {
    let files = files();
    let gw = gateway(&files, None);
    let link = create_link(
        &gw,
        json!({"targetUrl": "/files/b.txt", "maxViews": 2, "password": "pw"}),
    )
    .await;
    let code = code_of(&link);
    let target = format!("/s/{code}");
    let r = gw
        .client()
        .get_with(&target, &[("x-tollgate-password", "pw")])
        .await;
    assert_eq!(r.status, 200);
    let gw = gw.restart();
    let v = link_views(&gw, &code).await;
    assert_eq!(
        (v["views"].as_u64(), v["maxViews"].as_u64()),
        (Some(1), Some(2))
    );
    let c = gw.client();
    assert_eq!(
        c.get(&target).await.status,
        401,
        "the password survived too"
    );
    assert_eq!(
        c.get_with(&target, &[("x-tollgate-password", "pw")])
            .await
            .status,
        200
    );
    let r = c.get_with(&target, &[("x-tollgate-password", "pw")]).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (410, "VIEW_LIMIT_REACHED")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_rate_limited() {
    let files = files();
    let gw = gateway(&files, None);
    let body = json!({"targetUrl": "https://example.com"}).to_string();
    for remaining in [2, 1, 0] {
        let r = gw
            .api("POST", "/api/v1/links", Some(SK_LIMITED), Some(&body))
            .await;
        assert_eq!(r.status, 201);
        assert_eq!(r.header("ratelimit-limit"), Some("3"));
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
        assert!(r.header("ratelimit-reset").is_some());
    }
    let r = gw
        .api("POST", "/api/v1/links", Some(SK_LIMITED), Some(&body))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (429, "RATE_LIMIT_EXCEEDED")
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    // Reads count too, and other keys are not affected.
    let r = gw
        .api(
            "GET",
            "/api/v1/links/AAAAAAAAAAAAAAAA",
            Some(SK_LIMITED),
            None,
        )
        .await;
    assert_eq!(r.status, 429);
    let r = gw
        .api("POST", "/api/v1/links", Some(SK_ADMIN), Some(&body))
        .await;
    assert_eq!(r.status, 201);
    assert!(r.header("ratelimit-limit").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_admitted_by_a_link_or_a_counted_token_is_cacheable() {
    let files = files();
    let gw = gateway(&files, None);
    let c = gw.client();
    let link = create_link(&gw, json!({"targetUrl": "/files/b.txt"})).await;
    let r = c.get(&format!("/s/{}", code_of(&link))).await;
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
    let mut req = tollgate::token::mint::MintRequest::new("/files/b.txt");
    let r = c.get(&gw.sign(&req)).await;
    assert_eq!(r.header("cache-control"), Some("private"));
    req.max_views = Some(5);
    let r = c.get(&gw.sign(&req)).await;
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
}
