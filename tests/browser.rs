//! A real browser against a real gateway: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven by Selenium from `target/py`; `test.sh` installs all three) opens
//! a password-protected short link, is shown the form, gets it wrong once, then right, and
//! ends on the file. `tests/browser/password_link.py` does the clicking and checking; this
//! test starts the gateway, creates the links through the control API, and runs it.
//!
//! Missing tools make this test fail, not skip: a green run means a browser really did it.
//! `TOLLGATE_SCREENSHOT=path` also keeps the form's screenshot there (how
//! `docs/password-form.png` was made).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

const SENTENCE: &str = "The quarterly report: revenue rose by four percent.";
const PASSWORD: &str = "open sesame";
const WRONG: &str = "open barley";
/// The whole script (browser start, three page loads, two submits) is allowed this long.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(45);

fn python() -> PathBuf {
    repo().join("target/py/bin/python")
}

/// Fails (never skips) with what to install when a tool is missing.
fn require_tools() {
    let mut missing = vec![];
    for exe in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        if !Path::new(exe).is_file() {
            missing.push(exe.to_owned());
        }
    }
    let py = python();
    let selenium = py.is_file()
        && std::process::Command::new(&py)
            .args(["-c", "import selenium"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !selenium {
        missing.push(format!("selenium in {}", py.display()));
    }
    assert!(
        missing.is_empty(),
        "the browser test needs {missing:?}: run ./test.sh (it installs them), or \
         `apt-get install chromium chromium-driver` and \
         `python3 -m venv target/py && target/py/bin/pip install selenium`"
    );
}

/// The link's URL on the data plane, and its short code.
async fn create_link(gw: &Gateway, target: &str) -> (String, String) {
    let body = serde_json::json!({"targetUrl": target, "password": PASSWORD}).to_string();
    let r = gw
        .api("POST", "/api/v1/links", Some(SK_ADMIN), Some(&body))
        .await;
    assert_eq!(r.status, 201, "{:?}", String::from_utf8_lossy(&r.body));
    let data = &r.json()["data"];
    assert_eq!(data["passwordProtected"], true);
    let code = data["shortCode"].as_str().unwrap().to_owned();
    (
        format!("http://127.0.0.1:{}/s/{code}", gw.addr.port()),
        code,
    )
}

/// The views the gateway counted for a link: the script's two admitted GETs (its browser
/// cache is off), and neither the form pages nor the posts.
async fn assert_views(gw: &Gateway, code: &str, want: u64) {
    let r = gw
        .api(
            "GET",
            &format!("/api/v1/links/{code}"),
            Some(SK_ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["data"]["views"], want, "{}", r.json());
}

/// Runs the driver script; panics with its whole output unless it exits 0.
async fn drive(url: &str, expect: &str, expect_url: Option<&str>, screenshot: Option<&Path>) {
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(repo().join("tests/browser/password_link.py"))
        .arg(url)
        .args(["--password", PASSWORD, "--wrong", WRONG, "--expect", expect])
        .env("SE_OFFLINE", "true")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(u) = expect_url {
        cmd.args(["--expect-url", u]);
    }
    if let Some(s) = screenshot {
        cmd.arg("--screenshot").arg(s);
    }
    let started = Instant::now();
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("the browser script ran past {SCRIPT_TIMEOUT:?} on {url}"))
        .expect("could not run target/py/bin/python");
    let text = format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "browser script failed ({}) on {url}\n{text}",
        out.status
    );
    assert!(text.contains("all checks passed"), "{text}");
    eprintln!("browser script on {url}: {:?}", started.elapsed());
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR",
        "not a PNG"
    );
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

#[tokio::test]
async fn browser_opens_a_password_protected_short_link() {
    require_tools();
    let files = Files::new(&[("report.txt", format!("{SENTENCE}\n").as_bytes())]);
    let gw = GatewayBuilder::new()
        .dir_origin("docs", &files.root)
        .route(
            "/files/",
            "docs",
            r#"["signature", "revocation", "view_limit", "password"]"#,
            "",
        )
        .start();

    // A link to a file behind the gateway: the browser ends on the file itself.
    let (url, code) = create_link(&gw, "/files/report.txt").await;
    let shot = match std::env::var_os("TOLLGATE_SCREENSHOT") {
        Some(p) => PathBuf::from(p),
        None => gw.dir.path().join("password-form.png"),
    };
    let _ = std::fs::remove_file(&shot);
    drive(&url, SENTENCE, None, Some(&shot)).await;

    let png = std::fs::read(&shot).expect("the script saved no screenshot");
    let (w, h) = png_size(&png);
    assert!(w >= 400 && h >= 300, "screenshot is only {w}x{h}");
    // A blank page compresses to a few hundred bytes; the form (text, field, button) doesn't.
    assert!(png.len() > 5_000, "screenshot is only {} bytes", png.len());
    assert_views(&gw, &code, 2).await;

    // A link to an external URL (here the admin plane's /healthz, on loopback): after the
    // password, the browser follows the 303 and then the link's 302 to it.
    let target = format!("http://127.0.0.1:{}/healthz", gw.admin.port());
    let (url, code) = create_link(&gw, &target).await;
    drive(&url, r#""status":"ok""#, Some(&target), None).await;
    assert_views(&gw, &code, 2).await;
}
