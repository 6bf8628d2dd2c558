//! Micro-benchmarks of the hot, CPU-only parts of a data-plane request.
//!
//! ```text
//! cargo bench --bench micro               # measure (under a minute)
//! cargo bench --bench micro -- --test     # smoke run: every benchmark once, no measurement
//! cargo bench --bench micro -- token/     # only ids matching a filter
//! ```
//!
//! Groups and ids:
//!
//! * `token/mint`: `Keyring::mint` of a typical claims block (`/files/reports/q3.pdf`,
//!   GET,HEAD, no query rest).
//! * `token/verify`: `token::split` + `Keyring::verify` of that token (decode, MAC check,
//!   strict claims parse). `token/verify_bad_mac`: the same with one MAC bit flipped.
//!   `token/verify_garbage`: a random string shaped like a token (base64url, one `.`).
//!   `token/split` and `token/claims_parse` break `token/verify` down.
//! * `admission/stateless`: what a signed GET costs before the origin is touched:
//!   `path::normalize` + `Runtime::route_for` + `Chain::admit` (the `signature` filter) on a
//!   fresh `filter::Ctx`, built from an inline TOML config.
//! * `path/normalize/<input>`: plain, percent-encoded UTF-8 and hostile paths side by side,
//!   so a refused attack input can be seen to cost no more than an accepted one of its size.
//! * `baseline/hmac_sha256_200B`: raw HMAC-SHA256 (`hmac` + `sha2`, key pre-absorbed as the
//!   keyring does) of 200 bytes; `baseline/hmac_sha256_claims` of exactly the bytes that
//!   `token/verify` MACs. The floor that `token/verify` is compared against.
//!
//! Before the benchmarks run, one line per operation reports how many heap allocations it
//! makes (a counting wrapper around the system allocator; a plain non-atomic counter, so the
//! wrapper adds about a nanosecond per allocation to the measured times).

use std::alloc::System;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BenchmarkId, Criterion, criterion_group};
use futures_util::FutureExt;
use hmac::{Hmac, Mac};
use rand::{Rng, SeedableRng};
use sha2::Sha256;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

use tollgate::config::{Config, KeyConfig, Secret};
use tollgate::filter::Ctx;
use tollgate::grant::Grant;
use tollgate::path::{self, PathError};
use tollgate::proxy::credential;
use tollgate::runtime::Runtime;
use tollgate::state::State;
use tollgate::token::{self, Claims, Keyring, Methods, Scope, TokenError};

// ---------------------------------------------------------------------------------------------
// Allocation census

// stats_alloc wraps the system allocator with counters, so this file needs no `unsafe` of
// its own (the crate forbids it).
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap allocations (including reallocations) made by one call of `f`.
fn allocations<T>(mut f: impl FnMut() -> T) -> u64 {
    drop(black_box(f())); // warm any lazy state first
    let region = Region::new(GLOBAL);
    let out = black_box(f());
    let change = region.change();
    drop(out);
    (change.allocations + change.reallocations) as u64
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// 32 zero bytes, base64url: a valid key for the config (which wants at least 32 bytes).
const KEY_B64: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const KID: &str = "k1";
const PATH: &str = "/files/reports/q3.pdf";
/// Fixed so that runs compare: 2023-11-14T22:13:20Z.
const NOW: u64 = 1_700_000_000;

fn key_bytes() -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(KEY_B64).expect("key is base64url")
}

fn keyring() -> Keyring {
    Keyring::new(&[KeyConfig {
        id: KID.into(),
        secret: Secret::new(key_bytes()),
        verify_only: false,
    }])
}

/// What `tollgate sign /files/reports/q3.pdf` mints: one file, GET and HEAD, one hour.
fn typical_claims() -> Claims {
    Claims {
        kid: KID.into(),
        tid: "q83vEjRWeJCrze8SNFZ4kA".into(),
        iat: NOW,
        exp: NOW + 3600,
        nbf: None,
        methods: Methods::GET_HEAD,
        scope: Scope::File,
        path: PATH.into(),
        ip: None,
        max_views: None,
        download_name: None,
        password: false,
    }
}

/// The same token with one bit of its MAC flipped, still canonical base64url.
fn tamper_mac(tok: &str) -> String {
    let (c, m) = tok.split_once('.').expect("token has a `.`");
    let mut mac = URL_SAFE_NO_PAD.decode(m).expect("mac is base64url");
    mac[7] ^= 0x10;
    format!("{c}.{}", URL_SAFE_NO_PAD.encode(mac))
}

/// A random string as long as `like`, from the base64url alphabet, with a `.` where `like`
/// has one: it gets as far into `split`/`verify` as random input can.
fn garbage_like(like: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let dot = like.find('.').expect("token has a `.`");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x7011_6a7e);
    (0..like.len())
        .map(|i| {
            if i == dot {
                '.'
            } else {
                ALPHABET[rng.gen_range(0..ALPHABET.len())] as char
            }
        })
        .collect()
}

fn split_verify(ring: &Keyring, tok: &str, rest: &str) -> Result<Claims, TokenError> {
    let enc = token::split(tok)?;
    ring.verify(&enc, rest)
}

fn config_toml() -> String {
    // A literal TOML string: no escapes in the manifest path.
    let root = env!("CARGO_MANIFEST_DIR");
    format!(
        r#"
public_url = "https://127.0.0.1:8443"

[server]
listen = "127.0.0.1:8443"
clock_skew = "30s"

[[keys]]
id = "{KID}"
secret = "{KEY_B64}"

[[origins]]
name = "files"
kind = "dir"
root = '{root}'

[[routes]]
prefix = "/files/"
origin = "files"
strip_prefix = true
max_ttl = "7d"
filters = ["signature"]

[[routes]]
prefix = "/public/"
origin = "files"
"#
    )
}

/// A state store in a scratch directory that lives as long as the bench process.
fn state() -> std::sync::Arc<tollgate::state::State> {
    let dir = tempfile::tempdir().expect("scratch dir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let metrics = std::sync::Arc::new(tollgate::metrics::Metrics::default());
    let cfg = tollgate::config::StateConfig::Embedded {
        path: dir.path().to_owned(),
    };
    let state = rt
        .block_on(tollgate::state::State::open(&cfg, metrics))
        .expect("state opens");
    // The store's writer thread and files must outlive every benchmark.
    std::mem::forget(dir);
    std::mem::forget(rt);
    state
}

fn runtime() -> Runtime {
    let config = Config::parse(&config_toml()).expect("bench config is valid");
    Runtime::build(config, &STATE).expect("bench runtime builds")
}

/// One state for every benchmark (its store's writer thread and files live as long).
static STATE: LazyLock<std::sync::Arc<State>> = LazyLock::new(state);

/// One request through everything before the origin: normalize, read the credential
/// (token split and verified into a grant, route found), then the chain's check and commit
/// passes. Returns the grant id's length so that nothing is optimised away.
fn admit_once(rt: &Runtime, parts: &http::request::Parts) -> Result<usize, &'static str> {
    let method = http::Method::GET;
    let raw_path = parts.uri.path();
    let normal = path::normalize(raw_path).map_err(|_| "path refused")?;
    // Nothing here waits (no short link, no counted view): ready on first poll.
    let cred =
        match credential::read(rt, &STATE, &parts.uri, &parts.headers, &normal).now_or_never() {
            Some(Ok(c)) => c,
            Some(Err(_)) => return Err("refused"),
            None => return Err("credential waited"),
        };
    let mut ctx = Ctx::new(
        &method,
        raw_path,
        &normal,
        &cred.target,
        &parts.headers,
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        NOW + 60,
        cred.grant,
    );
    let chain = cred.chain;
    let admitted = async {
        chain.check(&mut ctx).await?;
        chain.commit(&mut ctx).await
    };
    match admitted.now_or_never() {
        Some(Ok(())) => Ok(ctx.grant.map_or(0, |g| g.id.len())),
        Some(Err(_)) => Err("refused"),
        None => Err("admission waited"),
    }
}

/// The head of a signed GET for `PATH` with `query`.
fn request_parts(query: &str) -> http::request::Parts {
    let (parts, ()) = http::Request::get(format!("{PATH}?{query}"))
        .body(())
        .expect("a valid request")
        .into_parts();
    parts
}

/// `path/normalize` inputs: (benchmark id, raw path, expected outcome).
fn path_inputs() -> Vec<(&'static str, String, Result<(), PathError>)> {
    let long_plain = {
        let mut s = String::from("/files");
        while s.len() < 1990 {
            s.push_str("/segment-0123456789");
        }
        s.truncate(1990);
        s.push_str("/report.pdf");
        s
    };
    // The same size with one escape: takes the decoding path, and is accepted.
    let long_one_escape = {
        let mut s = long_plain.clone();
        s.truncate(1990);
        s.push_str("/my%20report.pdf");
        s
    };
    let long_dotdot_at_end = {
        let mut s = long_plain.clone();
        s.truncate(1990);
        s.push_str("/%2e%2e/x");
        s
    };
    // `é` (two bytes) as `%C3%A9`, 330 times: ~2000 bytes, all escapes, accepted.
    let many_escapes = format!("/files/{}.pdf", "%C3%A9".repeat(330));
    // The same, with a malformed escape at the very end: refused after decoding everything.
    let many_escapes_bad_end = format!("/files/{}%zz", "%C3%A9".repeat(330));
    vec![
        ("plain", PATH.to_owned(), Ok(())),
        (
            "plain_deep",
            "/files/2024/q3/finance/reports/board-pack_v2.final.pdf".to_owned(),
            Ok(()),
        ),
        ("space_escape", "/files/my%20report.pdf".to_owned(), Ok(())),
        (
            "utf8_escapes",
            "/files/caf%C3%A9/%E6%97%A5%E6%9C%AC%E8%AA%9E.pdf".to_owned(),
            Ok(()),
        ),
        (
            "hostile_dotdot_escaped",
            "/files/%2e%2e/%2e%2e/etc/passwd".to_owned(),
            Err(PathError::DotSegment),
        ),
        (
            "hostile_encoded_slash",
            "/files/a%2fb".to_owned(),
            Err(PathError::Slash),
        ),
        (
            "hostile_backslash_dotdot",
            "/files/..%5c..%5cwindows".to_owned(),
            Err(PathError::Slash),
        ),
        (
            "hostile_nul",
            "/files/report.pdf%00.txt".to_owned(),
            Err(PathError::Control),
        ),
        ("long_plain_2000B", long_plain, Ok(())),
        ("long_one_escape_2000B", long_one_escape, Ok(())),
        (
            "hostile_long_dotdot_at_end_2000B",
            long_dotdot_at_end,
            Err(PathError::DotSegment),
        ),
        ("many_escapes_2000B", many_escapes, Ok(())),
        (
            "hostile_many_escapes_bad_end_2000B",
            many_escapes_bad_end,
            Err(PathError::BadEscape),
        ),
        (
            "hostile_too_long_5000B",
            format!("/files/{}", "a".repeat(5000)),
            Err(PathError::TooLong),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Benchmarks

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_millis(1500))
        .warm_up_time(Duration::from_millis(500))
}

fn bench_token(c: &mut Criterion) {
    let ring = keyring();
    let claims = typical_claims();
    let tok = ring.mint(&claims, "").expect("k1 mints");
    let bad = tamper_mac(&tok);
    let garbage = garbage_like(&tok);
    assert_eq!(split_verify(&ring, &tok, "").as_ref(), Ok(&claims));
    assert_eq!(split_verify(&ring, &bad, ""), Err(TokenError::BadSignature));
    assert!(split_verify(&ring, &garbage, "").is_err());
    let body = claims.encode();

    let mut g = c.benchmark_group("token");
    g.bench_function("mint", |b| {
        b.iter(|| ring.mint(black_box(&claims), black_box("")))
    });
    g.bench_function("verify", |b| {
        b.iter(|| split_verify(&ring, black_box(&tok), black_box("")))
    });
    g.bench_function("verify_bad_mac", |b| {
        b.iter(|| split_verify(&ring, black_box(&bad), black_box("")))
    });
    g.bench_function("verify_garbage", |b| {
        b.iter(|| split_verify(&ring, black_box(&garbage), black_box("")))
    });
    // Breakdown of `verify`: decoding alone, and the strict claims parse alone.
    g.bench_function("split", |b| b.iter(|| token::split(black_box(&tok))));
    g.bench_function("claims_parse", |b| {
        b.iter(|| Claims::parse(black_box(&body)))
    });
    g.finish();
}

fn bench_admission(c: &mut Criterion) {
    let rt = runtime();
    let tok = rt.keyring.mint(&typical_claims(), "").expect("k1 mints");
    let parts = request_parts(&format!("token={tok}"));
    assert_eq!(admit_once(&rt, &parts), Ok(22));

    let mut g = c.benchmark_group("admission");
    g.bench_function("stateless", |b| {
        b.iter(|| admit_once(&rt, black_box(&parts)))
    });
    g.finish();
}

fn bench_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("path");
    for (id, raw, want) in path_inputs() {
        assert_eq!(path::normalize(&raw).map(|_| ()), want, "{id}");
        g.bench_with_input(BenchmarkId::new("normalize", id), raw.as_str(), |b, raw| {
            b.iter(|| path::normalize(black_box(raw)).map(|p| p.canonical.len()))
        });
    }
    g.finish();
}

fn bench_baseline(c: &mut Criterion) {
    type HmacSha256 = Hmac<Sha256>;
    // Keyed once, cloned per message: the same thing the keyring does.
    let keyed = HmacSha256::new_from_slice(&key_bytes()).expect("any key length");
    let bytes_200 = [0x5au8; 200];
    let claims = typical_claims().encode();

    let mut g = c.benchmark_group("baseline");
    g.bench_function("hmac_sha256_200B", |b| {
        b.iter(|| {
            let mut m = keyed.clone();
            m.update(black_box(&bytes_200));
            m.finalize().into_bytes()
        })
    });
    // Exactly what `token/verify` MACs: the claims block, a newline, the (empty) query rest.
    g.bench_function("hmac_sha256_claims", |b| {
        b.iter(|| {
            let mut m = keyed.clone();
            m.update(black_box(claims.as_bytes()));
            m.update(b"\n");
            m.update(black_box(b""));
            m.finalize().into_bytes()
        })
    });
    g.finish();
}

/// Runs `per_thread` calls of `f` on each of 2 threads at once; returns the wall time
/// divided by the calls of one thread (so it compares to a single-thread `iter` time).
fn contended(iters: u64, f: impl Fn(u64) + Sync) -> Duration {
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let f = &f;
            s.spawn(move || {
                for i in 0..iters {
                    f(i.wrapping_mul(2).wrapping_add(t));
                }
            });
        }
    });
    start.elapsed()
}

/// The hot-path cache lookups (revocation, used-up views) from 2 threads at once, with a
/// `Mutex<HashSet>` in the same run as the baseline a lock-based cache would be.
fn bench_cache(c: &mut Criterion) {
    use std::collections::HashSet;
    use std::sync::Mutex;
    let state = state();
    let ring = keyring();
    // 10,000 revoked tokens and 10,000 used-up ones, none of them the one looked up.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        for i in 0..10_000u32 {
            let tid = format!("{i:0>22}");
            state
                .revoke(tollgate::state::Revocation::Token { token_id: tid })
                .await
                .expect("revoke");
        }
    });
    let grant = Grant::from_claims(typical_claims());
    let ids: Vec<String> = (0..1024).map(|i| format!("{:0>22}", i * 7 + 3)).collect();
    let baseline: Mutex<HashSet<String>> =
        Mutex::new((0..10_000u32).map(|i| format!("{i:0>22}")).collect());
    let _ = &ring;

    let mut g = c.benchmark_group("cache");
    g.bench_function("is_revoked_2threads", |b| {
        b.iter_custom(|n| {
            contended(n, |_| {
                black_box(state.is_revoked(black_box(&grant), "/files/reports/q3.pdf"));
            })
        })
    });
    g.bench_function("is_used_up_2threads", |b| {
        b.iter_custom(|n| {
            contended(n, |i| {
                black_box(state.is_used_up(&ids[(i % 1024) as usize]));
            })
        })
    });
    g.bench_function("baseline_mutex_hashset_2threads", |b| {
        b.iter_custom(|n| {
            contended(n, |i| {
                let set = baseline.lock().unwrap_or_else(|e| e.into_inner());
                black_box(set.contains(&ids[(i % 1024) as usize]));
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_token, bench_admission, bench_path, bench_baseline, bench_cache
}

/// Prints how many heap allocations each measured operation makes.
fn census() {
    let ring = keyring();
    let claims = typical_claims();
    let tok = ring.mint(&claims, "").expect("k1 mints");
    let bad = tamper_mac(&tok);
    let garbage = garbage_like(&tok);
    let body = claims.encode();
    let rt = runtime();
    let parts = request_parts(&format!("token={tok}"));
    println!(
        "token: {} bytes; claims block {} bytes (+1 newline MACed)",
        tok.len(),
        body.len()
    );
    let rows: Vec<(&str, u64)> = vec![
        ("token/mint", allocations(|| ring.mint(&claims, ""))),
        (
            "token/verify",
            allocations(|| split_verify(&ring, &tok, "")),
        ),
        (
            "token/verify_bad_mac",
            allocations(|| split_verify(&ring, &bad, "")),
        ),
        (
            "token/verify_garbage",
            allocations(|| split_verify(&ring, &garbage, "")),
        ),
        ("token/split", allocations(|| token::split(&tok))),
        ("token/claims_parse", allocations(|| Claims::parse(&body))),
        (
            "admission/stateless",
            allocations(|| admit_once(&rt, &parts)),
        ),
    ];
    for (id, n) in rows {
        println!("allocations per call: {id:<24} {n}");
    }
    for (id, raw, _) in path_inputs() {
        let n = allocations(|| path::normalize(&raw).map(|p| p.canonical.len()));
        println!("allocations per call: path/normalize/{id:<36} {n}");
    }
}

fn main() {
    // `--list` (test discovery) must print only the benchmark names.
    if !std::env::args().any(|a| a == "--list") {
        census();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
