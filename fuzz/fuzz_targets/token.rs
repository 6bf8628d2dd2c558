//! Token reading: `split`, `Claims::parse`, and the data plane's whole credential step
//! (`proxy::credential::token`: query/Bearer lookup, split, MAC, claims).
//!
//! Input: UTF-8 text. All of it goes to `split` and `Claims::parse`. For the credential
//! step, line 1 is the query string and every later line is a request header, `Name: value`,
//! or, without `: `, the value of an `Authorization` header (so two such lines test the
//! duplicate-header refusal).
#![no_main]

use std::sync::LazyLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tollgate::config::{KeyConfig, Secret};
use tollgate::token::{self, Claims, Keyring};

/// Key `k1` of docs/token.md §11 (bytes 0x00..=0x1f): the seeds are its test vectors, so
/// the fuzzer starts from tokens whose MAC verifies and mutates what follows the MAC check.
static KEYRING: LazyLock<Keyring> = LazyLock::new(|| {
    Keyring::new(&[KeyConfig {
        id: "k1".into(),
        secret: Secret::new((0u8..32).collect()),
        verify_only: false,
    }])
});

/// The parser promises one spelling per claims block, so a block it accepts must be exactly
/// what the encoder writes for the result, and that must parse back to the same claims.
fn check_round_trip(text: &str, c: &Claims) {
    let again = c.encode();
    assert_eq!(Claims::parse(&again).as_ref(), Ok(c), "re-encoded claims do not parse back");
    assert_eq!(again, text, "accepted claims block is not the canonical spelling");
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(c) = Claims::parse(s) {
        check_round_trip(s, &c);
    }
    if let Ok(enc) = token::split(s) {
        // A verified token is a parsed one: the same round trip must hold.
        if let Ok(c) = KEYRING.verify(&enc, "") {
            check_round_trip(std::str::from_utf8(&enc.claims).unwrap(), &c);
        }
    }

    let mut lines = s.split('\n');
    let query = lines.next().unwrap_or("");
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = match line.split_once(": ") {
            Some((n, v)) => match HeaderName::from_bytes(n.as_bytes()) {
                Ok(n) => (n, v),
                Err(_) => continue,
            },
            None => (http::header::AUTHORIZATION, line),
        };
        // Values hyper would refuse never reach tollgate; skip them rather than panic here.
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.append(name, v);
        }
    }
    if let Ok(cred) = tollgate::proxy::credential::token(&KEYRING, Some(query), &headers) {
        // What the origin is sent: no token parameter may survive into it, wherever the
        // token came from.
        assert!(
            !cred.forward_query.split('&').any(|p| p.starts_with("token=")),
            "token forwarded upstream: {:?}",
            cred.forward_query
        );
    }
});
