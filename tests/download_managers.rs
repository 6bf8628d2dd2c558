//! The clients that view grace exists for: real download managers from Debian's packages
//! fetch a 24 MiB file through a `max_views = 1` token, byte-exact, and leave the token
//! used up. `aria2c -x4 -s4` sends one plain GET and, while it streams, bounded ranges on
//! three more connections; `curl -C -` and `wget -c` resume an aborted first GET with an
//! open-ended range.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use tollgate::token::mint::MintRequest;

const SIZE: usize = 24 << 20;

fn big() -> Vec<u8> {
    let mut v = Vec::with_capacity(SIZE);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while v.len() < SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

struct Setup {
    _files: Files,
    gw: Gateway,
    want: String,
    out: tempfile::TempDir,
}

fn setup() -> Setup {
    let data = big();
    let want = sha256_hex(&data);
    let files = Files::new(&[("big.bin", &data)]);
    let gw = GatewayBuilder::new()
        .dir_origin("files", &files.root)
        .route(
            "/files/",
            "files",
            r#"["signature", "revocation", "view_limit"]"#,
            "",
        )
        .start();
    Setup {
        _files: files,
        gw,
        want,
        out: tempfile::tempdir().unwrap(),
    }
}

impl Setup {
    fn url(&self) -> (String, String) {
        let mut r = MintRequest::new("/files/big.bin");
        r.max_views = Some(1);
        let path = self.gw.sign(&r);
        (format!("http://{}{path}", self.gw.addr), path)
    }

    fn check(&self, file: &Path) {
        let got = std::fs::read(file).unwrap();
        assert_eq!(got.len(), SIZE);
        assert_eq!(sha256_hex(&got), self.want, "not byte-exact");
    }

    async fn used_up(&self, path: &str) {
        let r = self.gw.client().get(path).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (410, "VIEW_LIMIT_REACHED".into())
        );
        assert_eq!(self.gw.metric("tollgate_views_counted_total").await, 1);
    }
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    eprintln!(
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aria2c_with_four_connections() {
    let s = setup();
    let (url, path) = s.url();
    let out = s.out.path().to_owned();
    let res = tokio::task::spawn_blocking(move || {
        run(Command::new("aria2c")
            .args([
                "-x4",
                "-s4",
                "-k1M",
                "--max-tries=1",
                "--file-allocation=none",
            ])
            .args(["--allow-overwrite=true", "--auto-file-renaming=false", "-q"])
            .arg("-d")
            .arg(&out)
            .args(["-o", "big.bin", &url]))
    })
    .await
    .unwrap();
    assert!(res.status.success(), "aria2c failed");
    s.check(&s.out.path().join("big.bin"));
    s.used_up(&path).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_resumes_with_dash_c() {
    let s = setup();
    let (url, path) = s.url();
    let file = s.out.path().join("big.bin");
    let f = file.clone();
    tokio::task::spawn_blocking(move || {
        // The first GET is cut off after a second, part way through.
        let first = run(Command::new("curl")
            .args(["-s", "--limit-rate", "4M", "--max-time", "1", "-o"])
            .arg(&f)
            .arg(&url));
        assert_eq!(
            first.status.code(),
            Some(28),
            "the first GET was meant to time out"
        );
        let part = std::fs::metadata(&f).unwrap().len();
        assert!(part > 0 && (part as usize) < SIZE, "{part}");
        let second = run(Command::new("curl")
            .args(["-s", "-f", "-C", "-", "-o"])
            .arg(&f)
            .arg(&url));
        assert!(second.status.success(), "curl -C - failed");
    })
    .await
    .unwrap();
    s.check(&file);
    s.used_up(&path).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wget_resumes_with_dash_c() {
    let s = setup();
    let (url, path) = s.url();
    let file = s.out.path().join("big.bin");
    let f = file.clone();
    tokio::task::spawn_blocking(move || {
        let first = run(Command::new("timeout")
            .args(["1", "wget", "-q", "--limit-rate=4m", "-O"])
            .arg(&f)
            .arg(&url));
        assert!(
            !first.status.success(),
            "the first GET was meant to be cut off"
        );
        let part = std::fs::metadata(&f).unwrap().len();
        assert!(part > 0 && (part as usize) < SIZE, "{part}");
        let second = run(Command::new("wget")
            .args(["-q", "-c", "-O"])
            .arg(&f)
            .arg(&url));
        assert!(second.status.success(), "wget -c failed");
    })
    .await
    .unwrap();
    s.check(&file);
    s.used_up(&path).await;
}
