//! Process lifecycle and the command line: reload on SIGHUP, drain on SIGTERM, exit codes,
//! `check`, `sign` and `keygen` as the contract describes them.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use http_body_util::{BodyExt, Full};

fn tollgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_keeps_old_config_when_new_one_is_broken() {
    let files = Files::new(&[("a.txt", b"ok")]);
    let gw = GatewayBuilder::new()
        .dir_origin("files", &files.root)
        .route("/files/", "files", r#"["signature"]"#, "")
        .start();
    let url = gw.sign_path("/files/a.txt");
    let c = gw.client();
    assert_eq!(c.get(&url).await.status, 200);
    let good = std::fs::read_to_string(&gw.config_path).unwrap();

    // Broken: a syntax error. Then broken differently: a route to a missing origin.
    for broken in [
        good.replace("[admin]", "[admin"),
        good.replace("origin = \"files\"", "origin = \"nope\""),
    ] {
        std::fs::write(&gw.config_path, &broken).unwrap();
        let refused = gw.metric("tollgate_reload_failures_total").await;
        gw.signal("HUP");
        gw.wait_metric("tollgate_reload_failures_total", refused + 1)
            .await;
        assert_eq!(
            c.get(&url).await.status,
            200,
            "stopped serving after a bad reload"
        );
    }
    assert!(gw.wait_log("routes[0].origin").contains("reload refused"));

    // A good change takes effect without dropping the listener: a new public route.
    let new = format!("{good}\n[[routes]]\nprefix = \"/open/\"\norigin = \"files\"\n");
    std::fs::write(&gw.config_path, new).unwrap();
    assert_eq!(c.get("/open/a.txt").await.status, 404);
    gw.signal("HUP");
    gw.wait_metric("tollgate_reloads_total", 1).await;
    assert_eq!(c.get("/open/a.txt").await.status, 200);
    assert_eq!(c.get(&url).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_then_exits_zero() {
    let files = Files::new(&[]);
    std::fs::write(files.root.join("big.bin"), vec![1u8; 32 << 20]).unwrap();
    let mut gw = GatewayBuilder::new()
        .dir_origin("files", &files.root)
        .route("/files/", "files", r#"["signature"]"#, "")
        .start();
    let c = gw.client();
    let resp = c
        .send_streaming(
            c.request("GET", &gw.sign_path("/files/big.bin"))
                .body(Full::default())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    // Read a little, so the download is truly in flight, then ask the gateway to stop.
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let admin = Client {
        addr: gw.admin,
        tls: None,
    };
    assert_eq!(admin.get("/readyz").await.status, 200);
    gw.signal("TERM");
    gw.wait_log("draining");
    let r = admin.get("/readyz").await;
    assert_eq!(r.status, 503, "readyz must fail while draining");
    assert_eq!(admin.get("/healthz").await.status, 200);
    // New connections are refused once the listener is closed.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(gw.addr).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "listener still open while draining"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The in-flight download completes in full.
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(first.len() + rest.len(), 32 << 20);
    assert_eq!(gw.wait_exit(Duration::from_secs(15)), Some(0));
}

#[test]
fn serve_fails_fast_with_one_line_reasons() {
    let files = Files::new(&[("a.txt", b"ok")]);
    // Busy port.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut b = GatewayBuilder::new()
        .dir_origin("files", &files.root)
        .route("/files/", "files", r#"["signature"]"#, "");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("t.toml");
    let toml = b.toml().replacen(
        "listen = \"127.0.0.1:0\"\n",
        &format!("listen = \"{}\"\n", busy.local_addr().unwrap()),
        1,
    );
    std::fs::write(&cfg, &toml).unwrap();
    let out = tollgate(&["serve", "--config", cfg.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen on"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("tollgate:")).count(),
        1
    );

    // Unreadable certificate.
    b = b.tls();
    let bad_cert = dir.path().join("bad.crt");
    std::fs::write(&bad_cert, "not a certificate").unwrap();
    let toml = b.toml().replace(
        &repo().join("certs/dev.crt").display().to_string(),
        &bad_cert.display().to_string(),
    );
    std::fs::write(&cfg, &toml).unwrap();
    let out = tollgate(&["serve", "--config", cfg.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.tls.cert"), "{err}");

    // Bad config.
    std::fs::write(&cfg, "public_url = 5").unwrap();
    let out = tollgate(&["serve", "--config", cfg.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("public_url"));
}

#[test]
fn check_lists_every_problem_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("t.toml");
    std::fs::write(
        &cfg,
        r#"
public_url = "ftp://x"
[server]
listen = "nowhere"
clock_skew = "5 minutes"
[admin]
listen = "127.0.0.1:9090"
lisen = "typo"
[[keys]]
id = "k1"
secret = "env:TOLLGATE_TEST_SURELY_UNSET"
[[origins]]
name = "files"
kind = "dir"
root = "/definitely/not/here"
[[origins]]
name = "up"
kind = "http"
url = "ftp://example.com"
[[routes]]
prefix = "/files"
origin = "files"
filters = ["signature", "magic"]
[[routes]]
prefix = "/x/"
origin = "ghost"
max_ttl = "1y"
filtres = ["signature"]
view_grace = "2h"
"#,
    )
    .unwrap();
    let out = tollgate(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for path in [
        "public_url:",
        "server.listen:",
        "server.clock_skew:",
        "keys[0].secret:",
        "origins[0].root:",
        "origins[1].url:",
        "routes[0].prefix:",
        "routes[0].filters[1]:",
        "routes[1].origin:",
        "routes[1].max_ttl:",
        // Unknown keys, in the same run as every other problem.
        "admin.lisen:",
        "routes[1].filtres:",
        "routes[1].view_grace:",
    ] {
        assert!(err.contains(path), "missing {path} in:\n{err}");
    }
    // Unknown keys are errors with their path.
    std::fs::write(
        &cfg,
        "public_url = \"http://x\"\n[server]\nlisten = \"127.0.0.1:1\"\nlisten_typo = 1\n",
    )
    .unwrap();
    let out = tollgate(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.listen_typo"));
    // The shipped default config is valid (run from the repository root).
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["check"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_prints_one_url_that_the_gateway_admits() {
    let files = Files::new(&[("my report.pdf", b"report")]);
    let gw = GatewayBuilder::new()
        .dir_origin("files", &files.root)
        .route("/files/", "files", r#"["signature"]"#, "max_ttl = \"1h\"")
        .start();
    let cfg = gw.config_path.to_str().unwrap();
    let out = tollgate(&[
        "sign",
        "--config",
        cfg,
        "--path",
        "/files/my report.pdf",
        "--expires-in",
        "600",
        "--methods",
        "GET",
        "--ip",
        "127.0.0.1",
        "--download-name",
        "r.pdf",
        "--query",
        "v=1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    let url = stdout.trim();
    assert!(
        url.starts_with("http://127.0.0.1:1/files/my%20report.pdf?v=1&token="),
        "{url}"
    );
    let target = url.strip_prefix("http://127.0.0.1:1").unwrap();
    let r = gw.client().get(target).await;
    assert_eq!((r.status.as_u16(), &r.body[..]), (200, &b"report"[..]));
    assert_eq!(gw.client().method("HEAD", target).await.status, 403);

    // Bad arguments: exit 2.
    for bad in [
        vec!["--path", "/files/a", "--expires-in", "7200"],
        vec!["--path", "/files/a", "--expires-in", "0"],
        vec!["--path", "/elsewhere/a"],
        vec!["--path", "/files/../etc/passwd"],
        vec!["--path", "/files/a", "--methods", "FETCH"],
        vec!["--path", "/files/a", "--ip", "not-an-ip"],
        vec!["--path", "/files/a", "--query", "novalue"],
        vec!["--path", "/files/a", "--key-id", "nope"],
        vec!["--path", "/files/a", "--prefix"],
        vec!["--path", "/files/a", "--max-views", "0"],
        vec!["--path", "/files/a", "--expires-in", "soon"],
    ] {
        let mut args = vec!["sign", "--config", cfg];
        args.extend(bad.iter());
        let out = tollgate(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bad:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn keygen_formats() {
    use base64::Engine;
    let out = tollgate(&["keygen"]);
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap();
    let key = key.trim();
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(key)
            .unwrap()
            .len(),
        32
    );
    assert_ne!(
        key,
        String::from_utf8(tollgate(&["keygen"]).stdout)
            .unwrap()
            .trim()
    );
    for (kind, prefix) in [("secret", "sk_"), ("public", "pk_")] {
        let out = tollgate(&["keygen", "--api-key", kind]);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with(prefix));
        assert_eq!(lines[1], sha256_hex(lines[0].as_bytes()));
    }
    assert_eq!(
        tollgate(&["keygen", "--api-key", "other"]).status.code(),
        Some(2)
    );
}
