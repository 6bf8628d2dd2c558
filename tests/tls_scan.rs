//! The data plane's TLS listener meets Mozilla's "intermediate" profile
//! (<https://ssl-config.mozilla.org/>), as judged by a real scanner: sslyze (installed by
//! test.sh into `target/py`, pinned) scans a real gateway on loopback with
//! `--mozilla_config=intermediate`, and this test checks both sslyze's verdict and, from its
//! JSON output, each criterion one by one, so a failure names what broke: no SSL 2/3, TLS 1.0
//! or 1.1; TLS 1.2 with ECDHE + AEAD suites only; only the three TLS 1.3 suites; no
//! compression; secure renegotiation and no client-initiated renegotiation; no known TLS
//! vulnerability; only the profile's key-exchange curves.
//!
//! The certificate is part of sslyze's verdict too (trusted for the hostname, key type and
//! size, lifespan at most 366 days). `certs/dev.crt` is valid for 10 years, which the profile
//! rejects for reasons that have nothing to do with the listener's TLS settings, so the test
//! makes its own at run time with `openssl`: a throwaway CA and an ECDSA P-256 leaf valid for
//! 90 days (SAN `localhost`, `127.0.0.1`), and gives sslyze the CA (`--certinfo_ca_file`), so
//! the certificate checks run in full rather than being excluded.
//!
//! A missing sslyze or openssl makes this test fail, not skip.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The pinned version test.sh installs.
const SSLYZE_VERSION: &str = "6.3.1";
/// A full intermediate scan of a loopback gateway takes about 6 s.
const SCAN_TIMEOUT: Duration = Duration::from_secs(50);

/// Mozilla intermediate (profile 5.7), TLS 1.2: the ECDHE suites with an AEAD cipher. The
/// profile also allows three DHE_RSA suites; the gateway's contract is stricter (ECDHE only).
const TLS12_ALLOWED: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];
/// Mozilla intermediate, TLS 1.3 suites.
const TLS13_ALLOWED: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];
/// Mozilla intermediate key-exchange groups (prime256v1 is secp256r1).
const CURVES_ALLOWED: &[&str] = &["X25519", "secp256r1", "secp384r1"];

/// The scan commands `--mozilla_config` queues; each must have run to completion.
const SCAN_COMMANDS: &[&str] = &[
    "certificate_info",
    "ssl_2_0_cipher_suites",
    "ssl_3_0_cipher_suites",
    "tls_1_0_cipher_suites",
    "tls_1_1_cipher_suites",
    "tls_1_2_cipher_suites",
    "tls_1_3_cipher_suites",
    "tls_compression",
    "openssl_ccs_injection",
    "tls_fallback_scsv",
    "heartbleed",
    "robot",
    "session_renegotiation",
    "elliptic_curves",
    "tls_extended_master_secret",
];

/// Fails (never skips) with what to install when sslyze is missing.
fn sslyze() -> PathBuf {
    let exe = repo().join("target/py/bin/sslyze");
    assert!(
        exe.is_file(),
        "sslyze is not installed at {}: run ./test.sh, which installs it \
         (python3 -m venv target/py && target/py/bin/pip install sslyze=={SSLYZE_VERSION})",
        exe.display()
    );
    exe
}

/// Runs `openssl` with `args` in `dir`; panics with its output unless it exits 0.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}): run ./test.sh or `apt-get install openssl`")
        });
    assert!(
        out.status.success(),
        "openssl {} failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway CA and a leaf it signs, in `dir`: returns (chain = leaf + CA, leaf key, CA).
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "90",
            "-subj",
            "/CN=tollgate tls_scan test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
        ],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "90",
            "-sha256",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.crt",
        ],
    );
    let chain = [
        std::fs::read_to_string(dir.join("leaf.crt")).unwrap(),
        std::fs::read_to_string(dir.join("ca.crt")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("chain.crt"), chain).unwrap();
    (
        dir.join("chain.crt"),
        dir.join("leaf.key"),
        dir.join("ca.crt"),
    )
}

/// Runs sslyze on `target`, bounded by SCAN_TIMEOUT: (exit status, stdout + stderr, JSON).
fn run_sslyze(work: &Path, target: &str, ca: &Path) -> (std::process::ExitStatus, String, Value) {
    let json_path = work.join("sslyze.json");
    let log_path = work.join("sslyze.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(sslyze())
        .arg("--mozilla_config=intermediate")
        .arg("--certinfo_ca_file")
        .arg(ca)
        .arg("--json_out")
        .arg(&json_path)
        .arg(target)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("could not run target/py/bin/sslyze");
    let deadline = Instant::now() + SCAN_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sslyze ran past {SCAN_TIMEOUT:?} on {target}:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    let json = std::fs::read_to_string(&json_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| {
            panic!("sslyze ({status}) wrote no readable JSON to {json_path:?}:\n{output}")
        });
    (status, output, json)
}

fn names(suites: &Value) -> Vec<String> {
    suites
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["cipher_suite"]["name"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every criterion the JSON shows broken, one line each (empty: all met).
fn check(json: &Value) -> Vec<String> {
    let mut bad = vec![];
    if json["sslyze_version"] != SSLYZE_VERSION {
        bad.push(format!(
            "not the pinned sslyze {SSLYZE_VERSION} but {}: rerun ./test.sh",
            json["sslyze_version"]
        ));
    }
    let results = json["server_scan_results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let [server] = &results[..] else {
        bad.push(format!(
            "expected one server scan result, got {}",
            results.len()
        ));
        return bad;
    };
    if server["connectivity_status"] != "COMPLETED" || server["scan_status"] != "COMPLETED" {
        bad.push(format!(
            "scan did not complete: connectivity {} ({}), scan {}",
            server["connectivity_status"],
            server["connectivity_error_trace"],
            server["scan_status"]
        ));
        return bad;
    }
    let r = &server["scan_result"];
    for cmd in SCAN_COMMANDS {
        if r[cmd]["status"] != "COMPLETED" {
            bad.push(format!(
                "scan command {cmd} did not complete: {} {}",
                r[cmd]["status"], r[cmd]["error_reason"]
            ));
        }
    }
    if !bad.is_empty() {
        return bad;
    }

    // Protocol versions: nothing below TLS 1.2; TLS 1.2 and 1.3 both offered (the
    // intermediate profile's point is TLS 1.2 clients as well).
    for (cmd, label) in [
        ("ssl_2_0_cipher_suites", "SSL 2.0"),
        ("ssl_3_0_cipher_suites", "SSL 3.0"),
        ("tls_1_0_cipher_suites", "TLS 1.0"),
        ("tls_1_1_cipher_suites", "TLS 1.1"),
    ] {
        let res = &r[cmd]["result"];
        let accepted = names(&res["accepted_cipher_suites"]);
        if res["is_tls_version_supported"] != false || !accepted.is_empty() {
            bad.push(format!(
                "{label} is accepted (must be refused), suites: {accepted:?}"
            ));
        }
    }
    for (cmd, label, allowed) in [
        ("tls_1_2_cipher_suites", "TLS 1.2", TLS12_ALLOWED),
        ("tls_1_3_cipher_suites", "TLS 1.3", TLS13_ALLOWED),
    ] {
        let res = &r[cmd]["result"];
        let accepted = names(&res["accepted_cipher_suites"]);
        if res["is_tls_version_supported"] != true || accepted.is_empty() {
            bad.push(format!(
                "{label} is not accepted (intermediate offers TLS 1.2 and 1.3)"
            ));
        }
        let weak: Vec<_> = accepted
            .iter()
            .filter(|n| !allowed.contains(&n.as_str()))
            .collect();
        if !weak.is_empty() {
            bad.push(format!(
                "{label} accepts suites outside Mozilla intermediate (ECDHE + AEAD): {weak:?}"
            ));
        }
        for s in res["accepted_cipher_suites"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = s["cipher_suite"]["name"].as_str().unwrap_or("?");
            let key = &s["ephemeral_key"];
            // sslyze's checker adds 3 bits to X25519's reported 253.
            let bits = key["size"].as_u64().unwrap_or(0) + 3;
            let curve = key["curve_name"].as_str().unwrap_or("");
            if key["type_name"] != "ECDH" || bits < 256 || !CURVES_ALLOWED.contains(&curve) {
                bad.push(format!(
                    "{label} {name}: ephemeral key {} {curve} ({} bits), want ECDH on one of \
                     {CURVES_ALLOWED:?}",
                    key["type_name"], key["size"]
                ));
            }
        }
    }

    let curves: BTreeSet<String> = r["elliptic_curves"]["result"]["supported_curves"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap_or("?").to_owned())
        .collect();
    let extra: Vec<_> = curves
        .iter()
        .filter(|c| !CURVES_ALLOWED.contains(&c.as_str()))
        .collect();
    if !extra.is_empty() {
        bad.push(format!(
            "key-exchange curves outside the profile are accepted: {extra:?}"
        ));
    }

    if r["tls_compression"]["result"]["supports_compression"] != false {
        bad.push("TLS compression is supported (CRIME)".into());
    }
    let reneg = &r["session_renegotiation"]["result"];
    if reneg["supports_secure_renegotiation"] != true {
        bad.push("secure renegotiation (RFC 5746) is not supported: insecure renegotiation".into());
    }
    if reneg["is_vulnerable_to_client_renegotiation_dos"] != false
        || reneg["client_renegotiations_success_count"] != 0
    {
        bad.push(format!(
            "client-initiated renegotiation is accepted ({} successful)",
            reneg["client_renegotiations_success_count"]
        ));
    }
    if r["tls_fallback_scsv"]["result"]["supports_fallback_scsv"] != true {
        bad.push("TLS_FALLBACK_SCSV downgrade protection missing".into());
    }
    if r["tls_extended_master_secret"]["result"]["supports_ems_extension"] != true {
        bad.push("the Extended Master Secret extension is not supported".into());
    }
    if r["heartbleed"]["result"]["is_vulnerable_to_heartbleed"] != false {
        bad.push("vulnerable to Heartbleed".into());
    }
    if r["openssl_ccs_injection"]["result"]["is_vulnerable_to_ccs_injection"] != false {
        bad.push("vulnerable to CCS injection".into());
    }
    let robot = r["robot"]["result"]["robot_result"].as_str().unwrap_or("?");
    if !robot.starts_with("NOT_VULNERABLE") {
        bad.push(format!("ROBOT: {robot}"));
    }

    // The certificate: every deployment sslyze saw validates against the test's CA for
    // `localhost` (sslyze 6 checks the name during path validation).
    let deployments = r["certificate_info"]["result"]["certificate_deployments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if deployments.is_empty() {
        bad.push("sslyze saw no certificate".into());
    }
    for d in &deployments {
        let ours = d["path_validation_results"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["trust_store"]["name"] == "Supplied CA file");
        match ours {
            Some(p) if p["was_validation_successful"] == true => {}
            Some(p) => bad.push(format!(
                "certificate does not validate against the test CA for localhost: {}",
                p["validation_error"]
            )),
            None => bad.push("no path validation against the test CA (--certinfo_ca_file)".into()),
        }
    }
    bad
}

/// One line per protocol version: the suites the gateway accepted.
fn findings(json: &Value) -> String {
    let r = &json["server_scan_results"][0]["scan_result"];
    let mut s = String::new();
    for (cmd, label) in [
        ("ssl_2_0_cipher_suites", "SSL 2.0"),
        ("ssl_3_0_cipher_suites", "SSL 3.0"),
        ("tls_1_0_cipher_suites", "TLS 1.0"),
        ("tls_1_1_cipher_suites", "TLS 1.1"),
        ("tls_1_2_cipher_suites", "TLS 1.2"),
        ("tls_1_3_cipher_suites", "TLS 1.3"),
    ] {
        let accepted = names(&r[cmd]["result"]["accepted_cipher_suites"]);
        s += &format!("  {label}: {accepted:?}\n");
    }
    s
}

#[test]
fn tls_listener_meets_mozilla_intermediate() {
    // Missing tools fail here, before anything starts.
    sslyze();
    let work = tempfile::tempdir().unwrap();
    let (chain, key, ca) = make_certs(work.path());
    let files = Files::new(&[("hello.txt", b"hello")]);
    let gw = GatewayBuilder::new()
        .public_url("https://127.0.0.1:1")
        .server(&format!(
            "tls = {{ cert = \"{}\", key = \"{}\" }}",
            chain.display(),
            key.display()
        ))
        .dir_origin("files", &files.root)
        .route("/files/", "files", "[]", "")
        .start();
    let line = gw.wait_log("data plane listening");
    assert!(
        line.contains("tls=true"),
        "the data plane is not TLS: {line}"
    );

    // SNI and certificate name `localhost`, connecting to the gateway's loopback address.
    let target = format!("localhost:{}{{{}}}", gw.addr.port(), gw.addr.ip());
    let started = Instant::now();
    let (status, output, json) = run_sslyze(work.path(), &target, &ca);
    let took = started.elapsed();
    let found = findings(&json);
    eprintln!("sslyze {SSLYZE_VERSION} on {target} in {took:?}, accepted suites:\n{found}");

    let mut bad = check(&json);
    // sslyze's own verdict covers the rest of the profile (certificate key type, size,
    // signature and lifespan).
    let verdict = output
        .lines()
        .skip_while(|l| !l.contains("COMPLIANCE AGAINST TLS CONFIGURATION"))
        .collect::<Vec<_>>()
        .join("\n");
    if !status.success() || !verdict.contains("OK - Compliant.") {
        bad.push(format!(
            "sslyze reports the server not compliant ({status}):\n{verdict}"
        ));
    }
    assert!(
        bad.is_empty(),
        "the TLS listener does not meet Mozilla intermediate:\n- {}\n\naccepted suites:\n{found}\n\
         --- sslyze output\n{output}\n--- gateway log\n{}",
        bad.join("\n- "),
        gw.logs().join("\n")
    );
}
