//! `tests/py/tollgate_sign.py`, a signer written from `docs/token.md` with the Python standard
//! library only, against the gateway's own code: given the same inputs, it must print exactly
//! the token and URL that `Keyring::mint` gives, and refuse what the gateway refuses.
//!
//! The Rust side here never reads the Python side's claims: it builds its own from the raw
//! inputs (`path::encode`, `Methods::parse_list`, `mint::parse_ip`, `config::secret::decode_key`)
//! and compares the results.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use tollgate::config::secret::decode_key;
use tollgate::config::{KeyConfig, Secret};
use tollgate::path::{encode, encode_component, normalize};
use tollgate::token::mint::parse_ip;
use tollgate::token::{self, Claims, Keyring, Methods, Scope};

const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const PUBLIC_URL: &str = "https://files.example.com";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python(args: &[&str]) -> Output {
    Command::new("python3")
        .arg(repo().join("tests/py/tollgate_sign.py"))
        .args(args)
        .output()
        .expect("python3 must be installed to run this test (test.sh installs it)")
}

/// Everything a signer is given, unencoded.
#[derive(Debug, Clone)]
struct Inputs {
    key: String,
    kid: String,
    public_url: String,
    path: String,
    expires_in: u64,
    iat: u64,
    tid: String,
    nbf: Option<u64>,
    ip: Option<String>,
    max_views: Option<u64>,
    methods: String,
    prefix: bool,
    download_name: Option<String>,
    query: Vec<(String, String)>,
    password: bool,
}

impl Inputs {
    fn new(path: &str) -> Inputs {
        Inputs {
            key: KEY_A.into(),
            kid: "k1".into(),
            public_url: PUBLIC_URL.into(),
            path: path.into(),
            expires_in: 3600,
            iat: 1_700_000_000,
            tid: "AAECAwQFBgcICQoLDA0ODw".into(),
            nbf: None,
            ip: None,
            max_views: None,
            methods: "GET,HEAD".into(),
            prefix: false,
            download_name: None,
            query: vec![],
            password: false,
        }
    }

    fn from_json(v: &Value) -> Inputs {
        let s = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("{k}: {v}"))
                .to_owned()
        };
        let u = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k}: {v}"));
        Inputs {
            key: s("key"),
            kid: s("kid"),
            public_url: s("public_url"),
            path: s("path"),
            expires_in: u("expires_in"),
            iat: u("iat"),
            tid: s("tid"),
            nbf: v["nbf"].as_u64(),
            ip: v["ip"].as_str().map(str::to_owned),
            max_views: v["max_views"].as_u64(),
            methods: s("methods"),
            prefix: v["prefix"].as_bool().unwrap(),
            download_name: v["download_name"].as_str().map(str::to_owned),
            query: v["query"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_str().unwrap().to_owned(),
                        p[1].as_str().unwrap().to_owned(),
                    )
                })
                .collect(),
            password: v["password"].as_bool().unwrap(),
        }
    }

    /// The command line that asks the Python signer for the same URL.
    fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--key".into(),
            self.key.clone(),
            "--kid".into(),
            self.kid.clone(),
            "--public-url".into(),
            self.public_url.clone(),
            "--path".into(),
            self.path.clone(),
            "--expires-in".into(),
            self.expires_in.to_string(),
            "--iat".into(),
            self.iat.to_string(),
            "--tid".into(),
            self.tid.clone(),
            "--methods".into(),
            self.methods.clone(),
        ];
        if let Some(n) = self.nbf {
            a.extend(["--nbf".into(), n.to_string()]);
        }
        if let Some(ip) = &self.ip {
            a.extend(["--ip".into(), ip.clone()]);
        }
        if let Some(n) = self.max_views {
            a.extend(["--max-views".into(), n.to_string()]);
        }
        if self.prefix {
            a.push("--prefix".into());
        }
        if let Some(d) = &self.download_name {
            a.extend(["--download-name".into(), d.clone()]);
        }
        for (k, v) in &self.query {
            a.extend(["--query".into(), format!("{k}={v}")]);
        }
        if self.password {
            a.push("--password-flag".into());
        }
        a
    }
}

/// What the gateway's code makes of the inputs.
struct Signed {
    claims: String,
    query_rest: String,
    token: String,
    url: String,
}

fn rust_sign(i: &Inputs) -> Signed {
    let secret = decode_key(&i.key).expect("the key decodes");
    assert!(secret.len() >= 32);
    let ring = Keyring::new(&[KeyConfig {
        id: i.kid.clone(),
        secret: Secret::new(secret),
        verify_only: false,
    }]);
    let path = encode(&i.path);
    assert!(normalize(&path).is_ok(), "{:?} is admissible", i.path);
    let claims = Claims {
        kid: i.kid.clone(),
        tid: i.tid.clone(),
        iat: i.iat,
        exp: i.iat + i.expires_in,
        nbf: i.nbf,
        methods: Methods::parse_list(&i.methods).unwrap(),
        scope: if i.prefix { Scope::Prefix } else { Scope::File },
        path: path.clone(),
        ip: i.ip.as_deref().map(|s| parse_ip(s).unwrap().trunc()),
        max_views: i.max_views,
        download_name: i.download_name.clone(),
        password: i.password,
    };
    let body = claims.encode();
    // What is signed must also be what the verifier accepts.
    assert_eq!(Claims::parse(&body).as_ref(), Ok(&claims), "{i:?}");
    let rest = i
        .query
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&");
    let token = ring.mint(&claims, &rest).unwrap();
    assert_eq!(
        ring.verify(&token::split(&token).unwrap(), &rest).unwrap(),
        claims
    );
    let sep = if rest.is_empty() { "" } else { "&" };
    let url = format!(
        "{}{path}?{rest}{sep}token={token}",
        i.public_url.trim_end_matches('/')
    );
    Signed {
        claims: body,
        query_rest: rest,
        token,
        url,
    }
}

/// Runs the Python CLI for `i` and returns the one URL it printed.
fn python_url(i: &Inputs) -> String {
    let args = i.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = python(&args);
    assert!(
        out.status.success(),
        "{i:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.ends_with('\n') && text.lines().count() == 1,
        "{text:?}"
    );
    text.trim_end().to_owned()
}

fn doc_text() -> String {
    std::fs::read_to_string(repo().join("docs/token.md")).unwrap()
}

#[test]
fn python_vectors_equal_keyring_mint() {
    let out = python(&["--vectors"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = doc_text();
    let mut names = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let name = v["name"].as_str().unwrap().to_owned();
        let inputs = Inputs::from_json(&v);
        let rust = rust_sign(&inputs);
        assert_eq!(v["claims"].as_str(), Some(rust.claims.as_str()), "{name}");
        assert_eq!(
            v["query_rest"].as_str(),
            Some(rust.query_rest.as_str()),
            "{name}"
        );
        assert_eq!(v["token"].as_str(), Some(rust.token.as_str()), "{name}");
        assert_eq!(v["url"].as_str(), Some(rust.url.as_str()), "{name}");
        // And these are the document's vectors, not some other ones.
        assert!(
            doc.contains(&rust.token),
            "{name}: token not in docs/token.md"
        );
        assert!(doc.contains(&rust.url), "{name}: url not in docs/token.md");
        assert!(
            doc.contains(&format!("mac:        {}", v["mac"].as_str().unwrap())),
            "{name}: mac not in docs/token.md"
        );
        names.push(name);
    }
    assert_eq!(names, ["V1", "V2", "V3", "V4", "V5", "V6", "V7", "V8"]);
}

/// The command line, which other tests use against a real gateway, gives the vectors' URLs.
#[test]
fn python_cli_prints_the_vector_urls() {
    let out = python(&["--vectors"]);
    assert!(out.status.success());
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let inputs = Inputs::from_json(&v);
        assert_eq!(python_url(&inputs), rust_sign(&inputs).url, "{}", v["name"]);
    }
}

/// Corners the vectors do not reach, signed by both and compared byte for byte.
#[test]
fn python_cli_matches_rust_on_edge_cases() {
    let mut cases = Vec::new();
    // Textual IP forms: truncation, IPv4-mapped (dotted tail), IPv4-compatible and NAT64
    // (hex tail), one zero group (not compressed), a tie between two zero runs (the first).
    for ip in [
        "10.1.2.3/8",
        "192.0.2.7",
        "0.0.0.0/0",
        "::/0",
        "::",
        "::1",
        "::ffff:192.0.2.9/120",
        "::ffff:0:0/96",
        "::ffff:192.0.2.9",
        "::192.0.2.1",
        "64:ff9b::192.0.2.1",
        "2001:db8:0:1:1:1:1:1",
        "2001:db8:0:0:1:0:0:1",
        "2001:0:0:1:0:0:0:1",
        "2001:DB8:ABCD:0012:0000:0000:0000:0000/64",
        "fe80::1:2:3:4/10",
        "1:2:3:4:5:6:7:8",
    ] {
        let mut i = Inputs::new("/files/a.txt");
        i.ip = Some(ip.into());
        cases.push(i);
    }
    // Paths: `%`, `+`, `~`, emoji, a prefix with spaces, the root, a trailing-slash file.
    for (path, prefix) in [
        ("/files/100% sure+ok.txt", false),
        ("/files/~user/📁 docs/", true),
        ("/", true),
        ("/files/dir/", false),
        ("/files/a=b&c;d,e'f\"g<h>i#j?k", false),
        ("/files/日本語/файл.txt", false),
    ] {
        let mut i = Inputs::new(path);
        i.prefix = prefix;
        cases.push(i);
    }
    // Download names: all ASCII punctuation; format characters (not control characters).
    for name in [
        "a!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~z",
        "zero\u{200b}width\u{feff}.txt",
        " leading and trailing ",
    ] {
        let mut i = Inputs::new("/files/a.txt");
        i.download_name = Some(name.into());
        cases.push(i);
    }
    // Query: `=` inside a value (split at the first `=`), non-ASCII, empty value, unreserved.
    let mut i = Inputs::new("/files/a.txt");
    i.query = vec![
        ("a".into(), "b=c".into()),
        ("é".into(), "ü ö".into()),
        ("x".into(), String::new()),
        ("k~._-".into(), "~._-".into()),
        ("tokens".into(), "not the token".into()),
    ];
    cases.push(i);
    // Every method, given backwards; numbers at their edges; a 64-character key id; a padded
    // key; a longer key; a public URL with a trailing slash.
    let mut i = Inputs::new("/files/a.txt");
    i.methods = "OPTIONS,DELETE,PATCH,PUT,POST,HEAD,GET".into();
    i.iat = 0;
    i.nbf = Some(0);
    i.expires_in = 1;
    i.max_views = Some(999_999_999_999_999_999);
    i.kid = "A".repeat(32) + &"-_z9".repeat(8);
    i.key = format!("{KEY_A}=");
    i.public_url = format!("{PUBLIC_URL}/");
    cases.push(i);
    let mut i = Inputs::new("/files/a.txt");
    i.key = "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr_AwcLDxMXGx8jJysvMzc7P".into();
    i.methods = " PUT , GET ".into();
    i.expires_in = 9_000_000_000;
    i.tid = "_____________________w".into();
    cases.push(i);

    for i in &cases {
        assert_eq!(python_url(i), rust_sign(i).url, "{i:?}");
    }
}

/// Without `--iat`, `--tid`, `--expires-in` and `--methods`: now, a random id, an hour, GET
/// and HEAD.
#[test]
fn python_cli_defaults() {
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let ring = Keyring::new(&[KeyConfig {
        id: "k1".into(),
        secret: Secret::new(decode_key(KEY_A).unwrap()),
        verify_only: false,
    }]);
    let mut tids = Vec::new();
    for _ in 0..2 {
        let before = now();
        let out = python(&[
            "--key",
            KEY_A,
            "--kid",
            "k1",
            "--public-url",
            PUBLIC_URL,
            "--path",
            "/files/my report.pdf",
            "--query",
            "v=1",
        ]);
        let after = now();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim_end().to_owned();
        let query = url
            .strip_prefix(&format!("{PUBLIC_URL}/files/my%20report.pdf?"))
            .unwrap_or_else(|| panic!("{url}"));
        let found = token::find(Some(query), None).unwrap();
        assert_eq!(found.rest, "v=1");
        let claims = ring
            .verify(&token::split(found.token.unwrap()).unwrap(), &found.rest)
            .unwrap();
        assert!(before <= claims.iat && claims.iat <= after);
        assert_eq!(claims.exp - claims.iat, 3600);
        assert_eq!(claims.methods, Methods::GET_HEAD);
        assert_eq!(claims.scope, Scope::File);
        assert_eq!(
            (claims.nbf, claims.ip, claims.max_views, claims.password),
            (None, None, None, false)
        );
        tids.push(claims.tid);
    }
    assert_ne!(tids[0], tids[1], "token ids are random");
}

fn refused(extra: &[&str], path: &str) {
    let mut args = vec![
        "--key",
        KEY_A,
        "--kid",
        "k1",
        "--public-url",
        PUBLIC_URL,
        "--path",
        path,
    ];
    args.extend_from_slice(extra);
    let out = python(&args);
    assert_eq!(out.status.code(), Some(2), "{args:?} must be refused");
    assert!(out.stdout.is_empty(), "{args:?} printed a URL");
    assert!(!out.stderr.is_empty(), "{args:?}: no reason given");
}

/// The Python signer refuses what the format or the gateway's minting refuses.
#[test]
fn python_cli_refuses_what_the_gateway_refuses() {
    // Paths the gateway would never admit.
    for p in [
        "files/a",
        "/files/../a",
        "/files/./a",
        "/files/..",
        "/files//a",
        "/files/a\\b",
        "/files/a\u{7}b",
        "/files/a\u{7f}b",
    ] {
        assert!(normalize(&encode(p)).is_err(), "{p:?}");
        refused(&[], p);
    }
    refused(&[], &format!("/{}", "a".repeat(4096)));
    refused(&["--prefix"], "/files/q3");

    // Keys: too short, standard alphabet, non-canonical trailing bits, not base64.
    for k in [
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+/",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9",
        "not a key at all, not at all, not at all!!",
    ] {
        assert!(decode_key(k).map_or(true, |b| b.len() < 32), "{k}");
        let out = python(&[
            "--key",
            k,
            "--kid",
            "k1",
            "--public-url",
            PUBLIC_URL,
            "--path",
            "/files/a",
        ]);
        assert_eq!(out.status.code(), Some(2), "key {k}");
    }

    for m in ["GET,GET", "get", "", "GET,,HEAD", "CONNECT"] {
        assert!(Methods::parse_list(m).is_err(), "{m:?}");
        refused(&["--methods", m], "/files/a");
    }
    for ip in [
        "10.0.0.1/33",
        "fe80::1%eth0",
        "010.0.0.1",
        "example.com",
        "",
    ] {
        assert!(parse_ip(ip).is_err(), "{ip:?}");
        refused(&["--ip", ip], "/files/a");
    }
    for extra in [
        &["--query", "token=x"][..],
        &["--query", "=x"],
        &["--query", "novalue"],
        &["--max-views", "0"],
        &["--expires-in", "0"],
        &["--download-name", ""],
        &["--download-name", "a\tb"],
        &["--download-name", "a\u{85}b"],
        &["--kid", "bad kid"],
        &["--tid", "dG9sbGdhdGUtdGVzdC12MR"],
        &["--tid", "dG9sbGdhdGUtdGVzdC12"],
        &["--iat", "9999999999999999999"],
    ] {
        refused(extra, "/files/a");
    }
    let long_kid = "k".repeat(65);
    refused(&["--kid", &long_kid], "/files/a");
    // No --path at all.
    let out = python(&["--key", KEY_A, "--kid", "k1", "--public-url", PUBLIC_URL]);
    assert_eq!(out.status.code(), Some(2));
}
