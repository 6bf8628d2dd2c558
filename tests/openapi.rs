//! `docs/openapi.json`, the OpenAPI document of the control API: the gateway serves exactly it
//! at `GET /api/v1/openapi.json`, it lists every endpoint of the admin plane, and schemathesis
//! (installed by test.sh into `target/py`) finds real answers of a real gateway conforming to
//! it: status codes, content types, bodies, headers, and auth.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The pinned version test.sh installs.
const SCHEMATHESIS_VERSION: &str = "4.32.5";

fn doc() -> Value {
    let text = std::fs::read_to_string(repo().join("docs/openapi.json")).unwrap();
    serde_json::from_str(&text).expect("docs/openapi.json is not valid JSON")
}

/// The files the document's examples name.
fn files() -> Files {
    Files::new(&[
        ("hello.txt", b"hello"),
        ("reports/q3 summary.txt", b"q3 figures"),
    ])
}

/// A gateway with the full filter chain on `/files/`, the harness's API keys, a minting key
/// `k1` and a verify-only key `k0` (the one the revocation example revokes).
fn gateway(files: &Files) -> Gateway {
    GatewayBuilder::new()
        .key(&format!(
            "[[keys]]\nid = \"k0\"\nsecret = \"{OTHER_KEY_B64}\"\nverify_only = true\n"
        ))
        .dir_origin("files", &files.root)
        .route(
            "/files/",
            "files",
            r#"["signature", "revocation", "view_limit", "password"]"#,
            "",
        )
        .start()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_docs_openapi_json_and_lists_every_endpoint() {
    let doc = doc();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "not an OpenAPI 3 document"
    );
    let ops: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let want: BTreeSet<String> = [
        "POST /api/v1/signed-urls",
        "POST /api/v1/file-access",
        "GET /api/v1/tokens/{token_id}",
        "POST /api/v1/revocations",
        "POST /api/v1/links",
        "GET /api/v1/links/{shortCode}",
        "DELETE /api/v1/links/{shortCode}",
        "GET /api/v1/openapi.json",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(ops, want);

    let files = files();
    let gw = gateway(&files);
    // Public: no API key.
    let r = gw.api("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let on_disk = std::fs::read(repo().join("docs/openapi.json")).unwrap();
    assert!(
        r.body == on_disk,
        "the served document differs from docs/openapi.json"
    );
    assert_eq!(r.json(), doc);
}

/// Schemathesis' runs use keys without a `rate_limit`; this checks the documented 429 and
/// `RateLimit-*` headers against a rate-limited key (3 calls a minute).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_headers_are_the_documented_ones() {
    let doc = doc();
    let headers = |status: &str| -> BTreeSet<String> {
        let mut r = &doc["paths"]["/api/v1/tokens/{token_id}"]["get"]["responses"][status];
        if let Some(name) = r["$ref"].as_str() {
            r = &doc["components"]["responses"][name.rsplit('/').next().unwrap()];
        }
        r["headers"]
            .as_object()
            .unwrap_or_else(|| panic!("no headers documented for {status}"))
            .keys()
            .map(|h| h.to_ascii_lowercase())
            .collect()
    };
    let (h404, h429) = (headers("404"), headers("429"));
    assert!(h429.contains("retry-after"));
    assert_eq!(
        doc["components"]["responses"]["429"]["headers"]["Retry-After"]["required"],
        true
    );

    let files = files();
    let gw = gateway(&files);
    let path = "/api/v1/tokens/AAECAwQFBgcICQoLDA0ODw";
    let sent = |r: &Resp| -> BTreeSet<String> {
        r.headers
            .keys()
            .map(|h| h.as_str().to_owned())
            .filter(|h| h.contains("ratelimit") || h == "retry-after")
            .collect()
    };
    for remaining in (0..3).rev() {
        let r = gw.api("GET", path, Some(SK_LIMITED), None).await;
        assert_eq!(r.status, 404);
        let s = sent(&r);
        assert_eq!(s.len(), 6, "{s:?}");
        assert!(s.is_subset(&h404), "{s:?} not all documented in {h404:?}");
        assert_eq!(r.header("ratelimit-limit"), Some("3"));
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
    }
    let r = gw.api("GET", path, Some(SK_LIMITED), None).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.code(), "RATE_LIMIT_EXCEEDED");
    let s = sent(&r);
    assert!(s.contains("retry-after"));
    assert!(s.is_subset(&h429), "{s:?} not all documented in {h429:?}");
    assert!(
        r.header("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some()
    );
}

fn schemathesis() -> PathBuf {
    let st = repo().join("target/py/bin/schemathesis");
    assert!(
        st.exists(),
        "schemathesis is not installed at {}: run ./test.sh, which installs it \
         (python3 -m venv target/py && target/py/bin/pip install schemathesis=={SCHEMATHESIS_VERSION})",
        st.display()
    );
    st
}

/// Runs `schemathesis run` on the gateway's served document with one API key; panics with
/// its output unless it exits 0.
fn run_schemathesis(gw: &Gateway, key: &str, extra: &[&str]) {
    let st = schemathesis();
    let work = tempfile::tempdir().unwrap();
    let url = format!("http://{}/api/v1/openapi.json", gw.admin);
    let auth = format!("Authorization: Bearer {key}");
    let mut args = vec![
        "run",
        &url,
        "--header",
        &auth,
        // Every check but one. `positive_data_acceptance` expects 2xx for every body the
        // schema allows, which cannot hold by design: whether a request is accepted also
        // depends on the deployment (the path must lie under a configured route and within
        // its `max_ttl`, `file-access` paths must exist at the origin, `key_id` must be a
        // configured key, `expiresAt` must be in the future), none of which a schema can say.
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--seed",
        "20260131",
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "--no-color",
    ];
    args.extend_from_slice(extra);
    let out_path = work.path().join("out.txt");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new(&st)
        .args(&args)
        .current_dir(work.path())
        .env(
            "SCHEMATHESIS_HOOKS",
            repo().join("tests/py/schemathesis_hooks.py"),
        )
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", st.display()));
    let deadline = Instant::now() + Duration::from_secs(150);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "schemathesis did not finish in 150s:\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    assert!(
        output.contains(&format!("Schemathesis v{SCHEMATHESIS_VERSION}")),
        "not the pinned schemathesis {SCHEMATHESIS_VERSION}: rerun ./test.sh\n{output}"
    );
    assert!(
        status.success(),
        "schemathesis {} failed ({status}) against a real gateway:\n{output}\nadmin log:\n{}",
        args.join(" ").replace(key, "<key>"),
        gw.logs().join("\n")
    );
}

#[test]
fn schemathesis_finds_real_answers_conform_to_the_document() {
    let files = files();
    let gw = gateway(&files);
    // The secret admin key (scope `/`): every phase, stateful runs following the document's
    // links (a minted token to its record and its revocation, a link to its GET and DELETE).
    run_schemathesis(&gw, SK_ADMIN, &["--max-examples", "30"]);
    // A public key: reads work, every mint, revocation and link change is 403 FORBIDDEN.
    run_schemathesis(
        &gw,
        PK_READ,
        &[
            "--max-examples",
            "10",
            "--phases",
            "examples,coverage,fuzzing",
        ],
    );
}
