//! The test vectors of `docs/token.md`, checked against the implementation.
//!
//! Every vector here is written out in the document, field by field, and
//! [`doc_matches_vectors`] parses the document and compares: the document and the code cannot
//! drift apart. The expected values were produced by this code (run
//! `cargo test --test token_vectors -- --ignored --nocapture print_vectors` to print the
//! document's blocks again after an intentional format change), never by hand.
//!
//! - `V*`: tokens that verify. Minted with `Keyring::mint`, MAC cross-checked with a plain
//!   HMAC-SHA256, verified, round-tripped, and minted once more through the real
//!   `token::mint::mint` to check the URL assembly.
//! - `N*`: tokens whose MAC is valid but whose claims a verifier must refuse.
//! - `R*`: whole requests run through the real `signature` filter, with the status and code
//!   that `proxy::respond` gives each refusal.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use tollgate::config::{Config, KeyConfig, Secret};
use tollgate::filter::signature::Signature;
use tollgate::filter::{Ctx, Filter, Reject, Step};
use tollgate::proxy::credential;
use tollgate::proxy::respond::{ProxyError, status_and_code};
use tollgate::token::mint::{MintRequest, mint, parse_ip};
use tollgate::token::{self, Claims, Keyring, Methods, Scope, TokenError};

const PUBLIC_URL: &str = "https://files.example.com";
/// 32 bytes 0x00..=0x1f.
const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
/// 48 bytes 0xa0..=0xcf (its spelling uses `_`, one of the two URL-safe characters).
const KEY_B: &str = "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr_AwcLDxMXGx8jJysvMzc7P";
const KID_A: &str = "k1";
const KID_B: &str = "2024-q1_b";
const IAT: u64 = 1_700_000_000;

/// One signing vector: the inputs a signer is given, and everything it must produce.
struct Vector {
    name: &'static str,
    key: &'static str,
    kid: &'static str,
    tid: &'static str,
    iat: u64,
    exp: u64,
    nbf: Option<u64>,
    /// As given to a signer; the claims carry the canonical order.
    methods: &'static str,
    prefix: bool,
    /// Unencoded, as given to a signer.
    path: &'static str,
    /// Address or CIDR, as given to a signer.
    ip: Option<&'static str>,
    max_views: Option<u64>,
    /// Unencoded.
    download_name: Option<&'static str>,
    /// Unencoded key/value pairs, in order.
    query: &'static [(&'static str, &'static str)],
    password: bool,
    // Expected outputs.
    claims: &'static str,
    query_rest: &'static str,
    mac: &'static str,
    token: &'static str,
    url: &'static str,
}

const VECTORS: &[Vector] = &[
    Vector {
        name: "V1",
        key: KEY_A,
        kid: KID_A,
        tid: "dG9sbGdhdGUtdGVzdC12MQ",
        iat: IAT,
        exp: IAT + 3600,
        nbf: None,
        methods: "GET,HEAD",
        prefix: false,
        path: "/files/report.pdf",
        ip: None,
        max_views: None,
        download_name: None,
        query: &[],
        password: false,
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12MQ\n1700000000\n1700003600\n\nGET,HEAD\nf\n/files/report.pdf\n\n\n\n",
        query_rest: "",
        mac: "16d27a83d2223aca53eb2d5c01b7371466796a3cdcc5e5a1698f33bc84ddef9a",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTVEKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy9yZXBvcnQucGRmCgoKCg.FtJ6g9IiOspT6y1cAbc3FGZ5ajzcxeWhaY8zvITd75o",
        url: "https://files.example.com/files/report.pdf?token=dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTVEKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy9yZXBvcnQucGRmCgoKCg.FtJ6g9IiOspT6y1cAbc3FGZ5ajzcxeWhaY8zvITd75o",
    },
    Vector {
        name: "V2",
        key: KEY_A,
        kid: KID_A,
        tid: "dG9sbGdhdGUtdGVzdC12Mg",
        iat: IAT,
        exp: IAT + 86_400,
        nbf: Some(IAT + 3600),
        methods: "GET,HEAD",
        prefix: false,
        path: "/files/q3/summary.csv",
        ip: Some("203.0.113.0/24"),
        max_views: Some(3),
        download_name: None,
        query: &[],
        password: false,
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12Mg\n1700000000\n1700086400\n1700003600\nGET,HEAD\nf\n/files/q3/summary.csv\n203.0.113.0/24\n3\n\n",
        query_rest: "",
        mac: "8a918e1c70f2d73ce13f36404118e4ac0d75dc286bad13d7791067c341aadc32",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTWcKMTcwMDAwMDAwMAoxNzAwMDg2NDAwCjE3MDAwMDM2MDAKR0VULEhFQUQKZgovZmlsZXMvcTMvc3VtbWFyeS5jc3YKMjAzLjAuMTEzLjAvMjQKMwoK.ipGOHHDy1zzhPzZAQRjkrA113ChrrRPXeRBnw0Gq3DI",
        url: "https://files.example.com/files/q3/summary.csv?token=dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTWcKMTcwMDAwMDAwMAoxNzAwMDg2NDAwCjE3MDAwMDM2MDAKR0VULEhFQUQKZgovZmlsZXMvcTMvc3VtbWFyeS5jc3YKMjAzLjAuMTEzLjAvMjQKMwoK.ipGOHHDy1zzhPzZAQRjkrA113ChrrRPXeRBnw0Gq3DI",
    },
    Vector {
        name: "V3",
        key: KEY_A,
        kid: KID_A,
        tid: "dG9sbGdhdGUtdGVzdC12Mw",
        iat: IAT,
        exp: IAT + 604_800,
        nbf: None,
        methods: "GET,HEAD",
        prefix: true,
        path: "/files/q3/",
        ip: Some("2001:db8:1234::/48"),
        max_views: None,
        download_name: None,
        query: &[],
        password: false,
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12Mw\n1700000000\n1700604800\n\nGET,HEAD\np\n/files/q3/\n2001:db8:1234::/48\n\n\n",
        query_rest: "",
        mac: "a88d39cae8eecf11736fd4f0fcc2f9a74eb83547c25215ecc374fd1dec699e4e",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTXcKMTcwMDAwMDAwMAoxNzAwNjA0ODAwCgpHRVQsSEVBRApwCi9maWxlcy9xMy8KMjAwMTpkYjg6MTIzNDo6LzQ4CgoK.qI05yujuzxFzb9Tw_ML5p064NUfCUhXsw3T9Hexpnk4",
        url: "https://files.example.com/files/q3/?token=dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTXcKMTcwMDAwMDAwMAoxNzAwNjA0ODAwCgpHRVQsSEVBRApwCi9maWxlcy9xMy8KMjAwMTpkYjg6MTIzNDo6LzQ4CgoK.qI05yujuzxFzb9Tw_ML5p064NUfCUhXsw3T9Hexpnk4",
    },
    Vector {
        name: "V4",
        key: KEY_A,
        kid: KID_A,
        tid: "dG9sbGdhdGUtdGVzdC12NA",
        iat: IAT,
        exp: IAT + 3600,
        nbf: None,
        methods: "GET,HEAD",
        prefix: false,
        path: "/files/report.pdf",
        ip: None,
        max_views: None,
        download_name: Some("Jahresbericht März 2024 (endgültig) 📄.pdf"),
        query: &[],
        password: false,
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12NA\n1700000000\n1700003600\n\nGET,HEAD\nf\n/files/report.pdf\n\n\nJahresbericht%20M%C3%A4rz%202024%20%28endg%C3%BCltig%29%20%F0%9F%93%84.pdf\n",
        query_rest: "",
        mac: "a06900ccea4a2bd1dd0b86a281f6899d8f2fef5d2da7c1436c285888f460bf54",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTkEKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy9yZXBvcnQucGRmCgoKSmFocmVzYmVyaWNodCUyME0lQzMlQTRyeiUyMDIwMjQlMjAlMjhlbmRnJUMzJUJDbHRpZyUyOSUyMCVGMCU5RiU5MyU4NC5wZGYK.oGkAzOpKK9HdC4aigfaJnY8v710tp8FDbChYiPRgv1Q",
        url: "https://files.example.com/files/report.pdf?token=dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTkEKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy9yZXBvcnQucGRmCgoKSmFocmVzYmVyaWNodCUyME0lQzMlQTRyeiUyMDIwMjQlMjAlMjhlbmRnJUMzJUJDbHRpZyUyOSUyMCVGMCU5RiU5MyU4NC5wZGYK.oGkAzOpKK9HdC4aigfaJnY8v710tp8FDbChYiPRgv1Q",
    },
    Vector {
        name: "V5",
        key: KEY_A,
        kid: KID_A,
        tid: "dG9sbGdhdGUtdGVzdC12NQ",
        iat: IAT,
        exp: IAT + 3600,
        nbf: None,
        methods: "GET",
        prefix: false,
        path: "/files/video.mp4",
        ip: None,
        max_views: None,
        download_name: None,
        query: &[("v", "2"), ("lang", "fr CA")],
        password: false,
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12NQ\n1700000000\n1700003600\n\nGET\nf\n/files/video.mp4\n\n\n\n",
        query_rest: "v=2&lang=fr%20CA",
        mac: "6e3425e4a210397de7c6835c1b180dc484a9a99ddc11980f94e40d6fbbf235f3",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTlEKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQKZgovZmlsZXMvdmlkZW8ubXA0CgoKCg.bjQl5KIQOX3nxoNcGxgNxISpqZ3cEZgPlOQNb7vyNfM",
        url: "https://files.example.com/files/video.mp4?v=2&lang=fr%20CA&token=dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTlEKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQKZgovZmlsZXMvdmlkZW8ubXA0CgoKCg.bjQl5KIQOX3nxoNcGxgNxISpqZ3cEZgPlOQNb7vyNfM",
    },
    Vector {
        name: "V6",
        key: KEY_A,
        kid: KID_A,
        tid: "dG9sbGdhdGUtdGVzdC12Ng",
        iat: IAT,
        exp: IAT + 3600,
        nbf: None,
        methods: "GET,HEAD",
        prefix: false,
        path: "/files/contract.pdf",
        ip: None,
        max_views: Some(1),
        download_name: None,
        query: &[],
        password: true,
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12Ng\n1700000000\n1700003600\n\nGET,HEAD\nf\n/files/contract.pdf\n\n1\n\npw",
        query_rest: "",
        mac: "6aef167872d4e12de94595be9a68ea8330d6596fced4a62de94a0e69dc3554b9",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTmcKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy9jb250cmFjdC5wZGYKCjEKCnB3.au8WeHLU4S3pRZW-mmjqgzDWWW_O1KYt6UoOadw1VLk",
        url: "https://files.example.com/files/contract.pdf?token=dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTmcKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy9jb250cmFjdC5wZGYKCjEKCnB3.au8WeHLU4S3pRZW-mmjqgzDWWW_O1KYt6UoOadw1VLk",
    },
    Vector {
        name: "V7",
        key: KEY_A,
        kid: KID_A,
        tid: "dG9sbGdhdGUtdGVzdC12Nw",
        iat: IAT,
        exp: IAT + 3600,
        nbf: None,
        methods: "GET,HEAD",
        prefix: false,
        path: "/files/My Report (2024) – café/naïve ~draft_1.0.pdf",
        ip: None,
        max_views: None,
        download_name: None,
        query: &[],
        password: false,
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12Nw\n1700000000\n1700003600\n\nGET,HEAD\nf\n/files/My%20Report%20%282024%29%20%E2%80%93%20caf%C3%A9/na%C3%AFve%20~draft_1.0.pdf\n\n\n\n",
        query_rest: "",
        mac: "6ee4c2e0d40f92b847ca90bbaaac56cf4cbbf52fc0443914128e697f4e6d183c",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTncKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy9NeSUyMFJlcG9ydCUyMCUyODIwMjQlMjklMjAlRTIlODAlOTMlMjBjYWYlQzMlQTkvbmElQzMlQUZ2ZSUyMH5kcmFmdF8xLjAucGRmCgoKCg.buTC4NQPkrhHypC7qqxWz0y79S_ARDkUEo5pf05tGDw",
        url: "https://files.example.com/files/My%20Report%20%282024%29%20%E2%80%93%20caf%C3%A9/na%C3%AFve%20~draft_1.0.pdf?token=dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTncKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy9NeSUyMFJlcG9ydCUyMCUyODIwMjQlMjklMjAlRTIlODAlOTMlMjBjYWYlQzMlQTkvbmElQzMlQUZ2ZSUyMH5kcmFmdF8xLjAucGRmCgoKCg.buTC4NQPkrhHypC7qqxWz0y79S_ARDkUEo5pf05tGDw",
    },
    Vector {
        name: "V8",
        key: KEY_B,
        kid: KID_B,
        tid: "dG9sbGdhdGUtdGVzdC12OA",
        iat: IAT,
        exp: IAT + 300,
        nbf: Some(IAT),
        methods: "DELETE,PUT,GET,HEAD",
        prefix: false,
        path: "/uploads/inbox/a+b=c&d.txt",
        ip: Some("2001:db8::7"),
        max_views: Some(5),
        download_name: Some("résumé \"final\"; v2.txt"),
        query: &[("sig", "a/b+c"), ("x", "")],
        password: true,
        claims: "tg1\n2024-q1_b\ndG9sbGdhdGUtdGVzdC12OA\n1700000000\n1700000300\n1700000000\nGET,HEAD,PUT,DELETE\nf\n/uploads/inbox/a%2Bb%3Dc%26d.txt\n2001:db8::7/128\n5\nr%C3%A9sum%C3%A9%20%22final%22%3B%20v2.txt\npw",
        query_rest: "sig=a%2Fb%2Bc&x=",
        mac: "c373115e6fc2ae4fefe225316850a2a96cb128d4272ba6f19e2ff253dff176cd",
        token: "dGcxCjIwMjQtcTFfYgpkRzlzYkdkaGRHVXRkR1Z6ZEMxMk9BCjE3MDAwMDAwMDAKMTcwMDAwMDMwMAoxNzAwMDAwMDAwCkdFVCxIRUFELFBVVCxERUxFVEUKZgovdXBsb2Fkcy9pbmJveC9hJTJCYiUzRGMlMjZkLnR4dAoyMDAxOmRiODo6Ny8xMjgKNQpyJUMzJUE5c3VtJUMzJUE5JTIwJTIyZmluYWwlMjIlM0IlMjB2Mi50eHQKcHc.w3MRXm_Crk_v4iUxaFCiqWyxKNQnK6bxni_yU9_xds0",
        url: "https://files.example.com/uploads/inbox/a%2Bb%3Dc%26d.txt?sig=a%2Fb%2Bc&x=&token=dGcxCjIwMjQtcTFfYgpkRzlzYkdkaGRHVXRkR1Z6ZEMxMk9BCjE3MDAwMDAwMDAKMTcwMDAwMDMwMAoxNzAwMDAwMDAwCkdFVCxIRUFELFBVVCxERUxFVEUKZgovdXBsb2Fkcy9pbmJveC9hJTJCYiUzRGMlMjZkLnR4dAoyMDAxOmRiODo6Ny8xMjgKNQpyJUMzJUE5c3VtJUMzJUE5JTIwJTIyZmluYWwlMjIlM0IlMjB2Mi50eHQKcHc.w3MRXm_Crk_v4iUxaFCiqWyxKNQnK6bxni_yU9_xds0",
    },
];

/// A token whose MAC is right but whose claims must be refused (or whose key is unknown).
struct Negative {
    name: &'static str,
    claims: &'static str,
    token: &'static str,
    code: &'static str,
}

// All signed with KEY_A over query_rest "". Each differs from V1's claims in one place.
const NEGATIVES: &[Negative] = &[
    Negative {
        name: "N1",
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12MQ\n01700000000\n1700003600\n\nGET,HEAD\nf\n/files/report.pdf\n\n\n\n",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTVEKMDE3MDAwMDAwMDAKMTcwMDAwMzYwMAoKR0VULEhFQUQKZgovZmlsZXMvcmVwb3J0LnBkZgoKCgo.LhNB_KA856PC2QTVoOlbh0JO42Kns4MEGavbQ6qhP3A",
        code: "403 INVALID_TOKEN",
    },
    Negative {
        name: "N2",
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12MQ\n1700000000\n1700003600\n\nHEAD,GET\nf\n/files/report.pdf\n\n\n\n",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTVEKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpIRUFELEdFVApmCi9maWxlcy9yZXBvcnQucGRmCgoKCg.pGjOwNciBoTd1iMcNYC0DHYKvz2BnhaMMKXrUm0Y_4Q",
        code: "403 INVALID_TOKEN",
    },
    Negative {
        name: "N3",
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12MQ\n1700000000\n1700003600\n\nGET,HEAD\nf\n/files/%72eport.pdf\n\n\n\n",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTVEKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy8lNzJlcG9ydC5wZGYKCgoK.OSX5VWSNejYuUhGPJUAkB6yetnEjlDEOxJhrdcDwbo0",
        code: "403 INVALID_TOKEN",
    },
    Negative {
        name: "N4",
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12MQ\n1700000000\n1700003600\n\nGET,HEAD\np\n/files/q3\n\n\n\n",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTVEKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApwCi9maWxlcy9xMwoKCgo.tkXUwOw1jRwudidm52XDWpKhquCB7NIQe9MTjbCtwfI",
        code: "403 INVALID_TOKEN",
    },
    Negative {
        name: "N5",
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12MQ\n1700000000\n1700003600\n\nGET,HEAD\nf\n/files/report.pdf\n203.0.113.7/24\n\n\n",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTVEKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy9yZXBvcnQucGRmCjIwMy4wLjExMy43LzI0CgoK.1tN1jGNn3AAWMqpj7dUV4OX-nH0tRVaIFwO6KNfPRuY",
        code: "403 INVALID_TOKEN",
    },
    Negative {
        name: "N6",
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12MQ\n1700000000\n1700003600\n\nGET,HEAD\nf\n/files/report.pdf\n\n\n\n\n",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTVEKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy9yZXBvcnQucGRmCgoKCgo.cixqHqZaRI6mXOwMlRafnOBvxg2B_RWLDq4I29gEpeM",
        code: "403 INVALID_TOKEN",
    },
    Negative {
        name: "N7",
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12MR\n1700000000\n1700003600\n\nGET,HEAD\nf\n/files/report.pdf\n\n\n\n",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTVIKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy9yZXBvcnQucGRmCgoKCg.r1CSRYO2vNvXJD-Mfg2jQEiKAjBg38czYtnvo1WV8_Y",
        code: "403 INVALID_TOKEN",
    },
    Negative {
        name: "N8",
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12MQ\n1700000000\n1700003600\n\nGET,HEAD\nf\n/files/report.pdf\n\n\ncaf%c3%a9.pdf\n\n",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTVEKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy9yZXBvcnQucGRmCgoKY2FmJWMzJWE5LnBkZgoK._JZcy6TvrGanEphtLD2V38wmKgIStmrLrRLAA0Y4ZL8",
        code: "403 INVALID_TOKEN",
    },
    Negative {
        name: "N9",
        claims: "tg1\nk1\ndG9sbGdhdGUtdGVzdC12MQ\n1700000000\n1700003600\n\nGET,HEAD\nf\n/files/report.pdf\n\n\n\nPW",
        token: "dGcxCmsxCmRHOXNiR2RoZEdVdGRHVnpkQzEyTVEKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy9yZXBvcnQucGRmCgoKClBX.nr9vPQlQUrSMpZl9EGxgqWJYo6MRf-Ed2_UqujAMC0Q",
        code: "403 INVALID_TOKEN",
    },
    Negative {
        name: "N10",
        claims: "tg1\nk9\ndG9sbGdhdGUtdGVzdC12MQ\n1700000000\n1700003600\n\nGET,HEAD\nf\n/files/report.pdf\n\n\n\n",
        token: "dGcxCms5CmRHOXNiR2RoZEdVdGRHVnpkQzEyTVEKMTcwMDAwMDAwMAoxNzAwMDAzNjAwCgpHRVQsSEVBRApmCi9maWxlcy9yZXBvcnQucGRmCgoKCg.6vSbWUa7XH-s-NU4hr0kwS2-sIt0KcFJ7r4J65CysEA",
        code: "403 UNKNOWN_KEY",
    },
];

// ---------------------------------------------------------------------------------------
// Helpers

fn key_bytes(b64: &str) -> Vec<u8> {
    let k = URL_SAFE_NO_PAD.decode(b64).expect("key is base64url");
    assert!(k.len() >= 32, "keys are at least 32 bytes");
    k
}

/// A keyring holding both vector keys, both able to mint.
fn ring() -> Keyring {
    Keyring::new(&[
        KeyConfig {
            id: KID_A.into(),
            secret: Secret::new(key_bytes(KEY_A)),
            verify_only: false,
        },
        KeyConfig {
            id: KID_B.into(),
            secret: Secret::new(key_bytes(KEY_B)),
            verify_only: false,
        },
    ])
}

fn query_rest(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                tollgate::path::encode_component(k),
                tollgate::path::encode_component(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn claims_of(v: &Vector) -> Claims {
    Claims {
        kid: v.kid.into(),
        tid: v.tid.into(),
        iat: v.iat,
        exp: v.exp,
        nbf: v.nbf,
        methods: Methods::parse_list(v.methods).unwrap(),
        scope: if v.prefix { Scope::Prefix } else { Scope::File },
        path: tollgate::path::encode(v.path),
        ip: v.ip.map(|s| parse_ip(s).unwrap().trunc()),
        max_views: v.max_views,
        download_name: v.download_name.map(str::to_owned),
        password: v.password,
    }
}

fn url_of(canonical_path: &str, rest: &str, token: &str) -> String {
    let sep = if rest.is_empty() { "" } else { "&" };
    format!("{PUBLIC_URL}{canonical_path}?{rest}{sep}token={token}")
}

fn hmac_hex(key: &[u8], claims: &str, rest: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(claims.as_bytes());
    m.update(b"\n");
    m.update(rest.as_bytes());
    hex(&m.finalize().into_bytes())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A token over arbitrary claims text, built from the formula alone (no `Keyring`).
fn raw_token(key: &[u8], claims: &str, rest: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(claims.as_bytes());
    m.update(b"\n");
    m.update(rest.as_bytes());
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(claims),
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    )
}

fn escape(claims: &str) -> String {
    assert!(!claims.contains('\\'));
    claims.replace('\n', "\\n")
}

fn show_rest(rest: &str) -> &str {
    if rest.is_empty() { "(empty)" } else { rest }
}

/// The unencoded query pairs as a JSON array of pairs, as the document shows them.
fn query_json(pairs: &[(&str, &str)]) -> String {
    serde_json::to_string(pairs).unwrap()
}

fn doc_text() -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/token.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// The ```text blocks of the document that carry a `vector:` line, as field maps, in order.
fn doc_blocks(doc: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<(String, String)>> = None;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            match cur.take() {
                Some(b) => {
                    if b.iter().any(|(k, _)| k == "vector") {
                        out.push(b);
                    }
                }
                None => cur = Some(Vec::new()),
            }
            continue;
        }
        if let Some(b) = cur.as_mut()
            && let Some((k, v)) = line.split_once(':')
        {
            b.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    assert!(cur.is_none(), "unterminated code block in docs/token.md");
    out
}

fn field<'a>(block: &'a [(String, String)], name: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn code_of(e: ProxyError) -> String {
    let (status, code) = status_and_code(&e);
    format!("{} {code}", status.as_u16())
}

// ---------------------------------------------------------------------------------------
// Signing vectors

#[test]
fn vectors_mint_exactly_the_documented_tokens() {
    let ring = ring();
    for v in VECTORS {
        let claims = claims_of(v);
        let body = claims.encode();
        assert_eq!(body, v.claims, "{}: claims block", v.name);
        assert_eq!(body.split('\n').count(), 13, "{}: 13 lines", v.name);
        assert!(body.is_ascii(), "{}: the claims block is ASCII", v.name);
        let rest = query_rest(v.query);
        assert_eq!(rest, v.query_rest, "{}: query_rest", v.name);

        let token = ring.mint(&claims, &rest).unwrap();
        assert_eq!(token, v.token, "{}: token", v.name);

        // The token is exactly the documented formula, computed without the keyring.
        let mac = hmac_hex(&key_bytes(v.key), &body, &rest);
        assert_eq!(mac, v.mac, "{}: mac", v.name);
        assert_eq!(raw_token(&key_bytes(v.key), &body, &rest), v.token);
        let (c64, m64) = token.split_once('.').unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(c64).unwrap(), body.as_bytes());
        assert_eq!(hex(&URL_SAFE_NO_PAD.decode(m64).unwrap()), v.mac);
        // Safe in a query string as is.
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );

        assert_eq!(
            url_of(&claims.path, &rest, &token),
            v.url,
            "{}: url",
            v.name
        );
    }
}

#[test]
fn vectors_verify_and_round_trip() {
    let ring = ring();
    for v in VECTORS {
        let claims = claims_of(v);
        assert_eq!(Claims::parse(v.claims).unwrap(), claims, "{}", v.name);
        assert_eq!(Claims::parse(v.claims).unwrap().encode(), v.claims);

        let enc = token::split(v.token).unwrap();
        assert_eq!(enc.claims, v.claims.as_bytes());
        assert_eq!(
            ring.verify(&enc, v.query_rest).unwrap(),
            claims,
            "{}",
            v.name
        );

        // The URL's query gives back the token and the rest, in the query...
        let query = v.url.split_once('?').unwrap().1;
        let found = token::find(Some(query), None).unwrap();
        assert_eq!(found.token, Some(v.token));
        assert_eq!(found.rest, v.query_rest);
        assert!(!found.from_header);
        // ...and as a Bearer header, where the whole query is the rest.
        let header = format!("Bearer {}", v.token);
        let bearer = token::bearer(&header);
        let q = (!v.query_rest.is_empty()).then_some(v.query_rest);
        let found = token::find(q, bearer).unwrap();
        assert_eq!(
            (found.token, found.rest.as_ref()),
            (Some(v.token), v.query_rest)
        );
        assert!(found.from_header);

        // Anything else in the query breaks the MAC, as does any other key.
        for other in [
            format!("{}&x=1", v.query_rest),
            format!("x=1{}", v.query_rest),
            "x".into(),
        ] {
            assert_eq!(
                ring.verify(&enc, &other),
                Err(TokenError::BadSignature),
                "{}: rest {other:?}",
                v.name
            );
        }
        let wrong = Keyring::new(&[KeyConfig {
            id: v.kid.into(),
            secret: Secret::new(vec![7; 32]),
            verify_only: false,
        }]);
        assert_eq!(
            wrong.verify(&enc, v.query_rest),
            Err(TokenError::BadSignature)
        );
        // A verify-only key still verifies.
        let old = Keyring::new(&[KeyConfig {
            id: v.kid.into(),
            secret: Secret::new(key_bytes(v.key)),
            verify_only: true,
        }]);
        assert_eq!(old.verify(&enc, v.query_rest).unwrap(), claims);
        assert!(old.mint(&claims, v.query_rest).is_err());
    }
}

/// The real minting path (`token::mint::mint`, used by `tollgate sign` and the API) builds
/// the same claims, query rest and URL as the document says, given the same inputs. Its
/// token id is random, so the comparison swaps it in.
#[test]
fn real_mint_assembles_urls_as_documented() {
    let text = format!(
        r#"
public_url = "{PUBLIC_URL}/"
[server]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[[keys]]
id = "{KID_A}"
secret = "{KEY_A}"
[[keys]]
id = "{KID_B}"
secret = "{KEY_B}"
[[origins]]
name = "o"
kind = "dir"
root = "{root}"
[[routes]]
prefix = "/files/"
origin = "o"
filters = ["signature", "revocation", "view_limit", "password"]
[[routes]]
prefix = "/uploads/"
origin = "o"
filters = ["signature", "revocation", "view_limit", "password"]
"#,
        root = env!("CARGO_MANIFEST_DIR"),
    );
    let config = Config::parse(&text).unwrap_or_else(|p| panic!("{p}"));
    let ring = Keyring::new(&config.keys);
    for v in VECTORS {
        let mut req = MintRequest::new(v.path);
        req.prefix = v.prefix;
        req.expires_in = v.exp - v.iat;
        req.not_before = v.nbf;
        req.methods = Methods::parse_list(v.methods).unwrap();
        req.ip = v.ip.map(|s| parse_ip(s).unwrap());
        req.max_views = v.max_views;
        req.download_name = v.download_name.map(str::to_owned);
        req.password = v.password;
        req.query = v
            .query
            .iter()
            .map(|(k, val)| ((*k).to_owned(), (*val).to_owned()))
            .collect();
        req.key_id = Some(v.kid.into());
        let m = mint(&config, &ring, &req, v.iat).unwrap_or_else(|e| panic!("{}: {e}", v.name));

        let got = ring
            .verify(&token::split(&m.token).unwrap(), v.query_rest)
            .unwrap();
        assert_eq!(got.tid, m.token_id);
        let mut want = claims_of(v);
        want.tid = got.tid.clone();
        assert_eq!(got, want, "{}", v.name);
        assert_eq!(m.expires_at, v.exp);
        let token = ring.mint(&want, v.query_rest).unwrap();
        assert_eq!(m.token, token);
        assert_eq!(
            m.url,
            url_of(&want.path, v.query_rest, &token),
            "{}",
            v.name
        );
        assert_eq!(m.url, v.url.replace(v.token, &token));
    }
}

// ---------------------------------------------------------------------------------------
// Negative vectors

#[test]
fn negative_vectors_have_a_good_mac_and_are_refused() {
    // The verifier knows only k1 (KEY_A), as in the document.
    let ring = Keyring::new(&[KeyConfig {
        id: KID_A.into(),
        secret: Secret::new(key_bytes(KEY_A)),
        verify_only: false,
    }]);
    for n in NEGATIVES {
        assert_eq!(n.claims.split('\n').next(), Some("tg1"));
        let token = raw_token(&key_bytes(KEY_A), n.claims, "");
        assert_eq!(token, n.token, "{}: token", n.name);
        assert!(Claims::parse(n.claims).is_err() || n.code == "403 UNKNOWN_KEY");
        let enc = token::split(n.token).unwrap_or_else(|e| panic!("{}: {e}", n.name));
        let err = ring.verify(&enc, "").unwrap_err();
        assert_eq!(
            code_of(ProxyError::Filter(Reject::Token(err))),
            n.code,
            "{}: {err}",
            n.name
        );
    }
}

// ---------------------------------------------------------------------------------------
// Requests through the real signature filter

/// One request: which vector's token, and how it is sent.
struct Req {
    id: &'static str,
    vector: &'static str,
    method: &'static str,
    /// The request-target's path; `None`: the vector's canonical path.
    path: Option<&'static str>,
    /// How the token travels.
    via: Via,
    now: u64,
    client: &'static str,
    /// The route's `max_ttl`, in seconds.
    max_ttl: u64,
    /// `admitted` or `STATUS CODE`.
    expect: &'static str,
}

enum Via {
    /// The vector's URL query, as minted.
    Query,
    /// This exact query string, with `{t}` replaced by the token.
    Custom(&'static str),
    /// `Authorization: Bearer <token>`, with this query string.
    Bearer(&'static str),
    /// Both the URL query and the header.
    Both,
}

const WEEK: u64 = 604_800;

// One request per line, as in the document's table.
#[rustfmt::skip]
const REQUESTS: &[Req] = &[
    Req {
        id: "R1",
        vector: "V1",
        method: "GET",
        path: None,
        via: Via::Query,
        now: IAT + 100,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "admitted",
    },
    Req {
        id: "R2",
        vector: "V1",
        method: "PUT",
        path: None,
        via: Via::Query,
        now: IAT + 100,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "403 METHOD_NOT_ALLOWED",
    },
    Req {
        id: "R3",
        vector: "V1",
        method: "HEAD",
        path: None,
        via: Via::Query,
        now: IAT + 3630,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "admitted",
    },
    Req {
        id: "R4",
        vector: "V1",
        method: "GET",
        path: None,
        via: Via::Query,
        now: IAT + 3631,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "410 EXPIRED",
    },
    Req {
        id: "R5",
        vector: "V1",
        method: "GET",
        path: None,
        via: Via::Query,
        now: IAT - 31,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "403 INVALID_TOKEN",
    },
    Req {
        id: "R6",
        vector: "V1",
        method: "GET",
        path: Some("/files/report.PDF"),
        via: Via::Query,
        now: IAT,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "403 PATH_MISMATCH",
    },
    Req {
        id: "R7",
        vector: "V1",
        method: "GET",
        path: Some("/files/%72eport.pdf"),
        via: Via::Query,
        now: IAT,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "403 PATH_NOT_CANONICAL",
    },
    Req {
        id: "R8",
        vector: "V1",
        method: "GET",
        path: Some("/files/../report.pdf"),
        via: Via::Query,
        now: IAT,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "400 BAD_PATH",
    },
    Req {
        id: "R9",
        vector: "V1",
        method: "GET",
        path: None,
        via: Via::Custom("token={t}="),
        now: IAT,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "403 INVALID_TOKEN",
    },
    Req {
        id: "R10",
        vector: "V1",
        method: "GET",
        path: None,
        via: Via::Custom("token={t}&token={t}"),
        now: IAT,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "403 DUPLICATE_TOKEN",
    },
    Req {
        id: "R11",
        vector: "V1",
        method: "GET",
        path: None,
        via: Via::Custom("token={t}&"),
        now: IAT,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "403 BAD_QUERY",
    },
    Req {
        id: "R12",
        vector: "V1",
        method: "GET",
        path: None,
        via: Via::Custom("x=1"),
        now: IAT,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "401 TOKEN_MISSING",
    },
    Req {
        id: "R13",
        vector: "V2",
        method: "GET",
        path: None,
        via: Via::Query,
        now: IAT + 3569,
        client: "203.0.113.9",
        max_ttl: WEEK,
        expect: "403 NOT_YET_VALID",
    },
    Req {
        id: "R14",
        vector: "V2",
        method: "GET",
        path: None,
        via: Via::Query,
        now: IAT + 3570,
        client: "203.0.113.9",
        max_ttl: WEEK,
        expect: "admitted",
    },
    Req {
        id: "R15",
        vector: "V2",
        method: "GET",
        path: None,
        via: Via::Query,
        now: IAT + 3600,
        client: "198.51.100.1",
        max_ttl: WEEK,
        expect: "403 IP_MISMATCH",
    },
    Req {
        id: "R16",
        vector: "V3",
        method: "GET",
        path: Some("/files/q3/a/b%20c.txt"),
        via: Via::Query,
        now: IAT,
        client: "2001:db8:1234:ff::1",
        max_ttl: WEEK,
        expect: "admitted",
    },
    Req {
        id: "R17",
        vector: "V3",
        method: "GET",
        path: Some("/files/q3x/a.txt"),
        via: Via::Query,
        now: IAT,
        client: "2001:db8:1234::1",
        max_ttl: WEEK,
        expect: "403 PATH_MISMATCH",
    },
    Req {
        id: "R18",
        vector: "V3",
        method: "GET",
        path: Some("/files/q3/a.txt"),
        via: Via::Query,
        now: IAT,
        client: "2001:db8:1234::1",
        max_ttl: 86_400,
        expect: "403 TTL_TOO_LONG",
    },
    Req {
        id: "R19",
        vector: "V5",
        method: "GET",
        path: None,
        via: Via::Custom("lang=fr%20CA&v=2&token={t}"),
        now: IAT,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "403 BAD_SIGNATURE",
    },
    Req {
        id: "R20",
        vector: "V5",
        method: "GET",
        path: None,
        via: Via::Custom("v=2&token={t}&lang=fr%20CA"),
        now: IAT,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "admitted",
    },
    Req {
        id: "R21",
        vector: "V5",
        method: "GET",
        path: None,
        via: Via::Custom("v=2&lang=fr+CA&token={t}"),
        now: IAT,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "403 BAD_SIGNATURE",
    },
    Req {
        id: "R22",
        vector: "V5",
        method: "GET",
        path: None,
        via: Via::Bearer("v=2&lang=fr%20CA"),
        now: IAT,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "admitted",
    },
    Req {
        id: "R23",
        vector: "V5",
        method: "GET",
        path: None,
        via: Via::Both,
        now: IAT,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "403 DUPLICATE_TOKEN",
    },
    Req {
        id: "R24",
        vector: "V7",
        method: "GET",
        path: Some(
            "/files/My%20Report%20%282024%29%20%e2%80%93%20caf%c3%a9/na%c3%afve%20~draft_1.0.pdf",
        ),
        via: Via::Query,
        now: IAT,
        client: "192.0.2.1",
        max_ttl: WEEK,
        expect: "403 PATH_NOT_CANONICAL",
    },
    Req {
        id: "R25",
        vector: "V8",
        method: "DELETE",
        path: None,
        via: Via::Query,
        now: IAT + 330,
        client: "2001:db8::7",
        max_ttl: WEEK,
        expect: "admitted",
    },
    Req {
        id: "R26",
        vector: "V8",
        method: "POST",
        path: None,
        via: Via::Query,
        now: IAT + 330,
        client: "2001:db8::7",
        max_ttl: WEEK,
        expect: "403 METHOD_NOT_ALLOWED",
    },
    Req {
        id: "R27",
        vector: "V8",
        method: "GET",
        path: None,
        via: Via::Query,
        now: IAT,
        client: "2001:db8::8",
        max_ttl: WEEK,
        expect: "403 IP_MISMATCH",
    },
];

fn run_request(r: &Req) -> String {
    let v = VECTORS.iter().find(|v| v.name == r.vector).unwrap();
    let (url_path, url_query) = v
        .url
        .strip_prefix(PUBLIC_URL)
        .unwrap()
        .split_once('?')
        .unwrap();
    let raw_path = r.path.unwrap_or(url_path);
    let mut headers = http::HeaderMap::new();
    let query: String = match r.via {
        Via::Query | Via::Both => url_query.to_owned(),
        Via::Custom(q) => q.replace("{t}", v.token),
        Via::Bearer(q) => q.to_owned(),
    };
    if matches!(r.via, Via::Bearer(_) | Via::Both) {
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {}", v.token).parse().unwrap(),
        );
    }
    let path = match tollgate::path::normalize(raw_path) {
        Ok(p) => p,
        Err(e) => return code_of(ProxyError::Path(e)),
    };
    let method: http::Method = r.method.parse().unwrap();
    let cred = match credential::token(
        &ring(),
        (!query.is_empty()).then_some(query.as_str()),
        &headers,
    ) {
        Ok(c) => c,
        Err(e) => return code_of(ProxyError::Filter(e)),
    };
    let mut ctx = Ctx::new(
        &method,
        raw_path,
        &path,
        &path.decoded,
        &headers,
        r.client.parse::<IpAddr>().unwrap(),
        r.now,
        cred.grant,
    );
    let filter = Signature {
        clock_skew: Duration::from_secs(30),
        max_ttl: Duration::from_secs(r.max_ttl),
        // The vectors' tokens with max_views or the password flag are judged on their
        // signature here, as a route that enforces both would.
        enforces_views: true,
        enforces_password: true,
    };
    let outcome = match filter.check(&mut ctx) {
        Step::Pass => Ok(()),
        Step::Reject(e) => Err(e),
        Step::Wait(_) => panic!("the signature filter never waits"),
    };
    if let Err(e) = outcome {
        return code_of(ProxyError::Filter(e));
    }
    // What the origin would be given: the query less the token, no Authorization.
    assert_eq!(cred.forward_query, v.query_rest, "{}", r.id);
    assert_eq!(
        cred.from_header,
        matches!(r.via, Via::Bearer(_)),
        "{}",
        r.id
    );
    assert_eq!(ctx.grant.as_ref().unwrap().id, v.tid);
    "admitted".to_owned()
}

#[test]
fn requests_get_the_documented_status() {
    let doc = doc_text();
    for r in REQUESTS {
        assert_eq!(run_request(r), r.expect, "{}", r.id);
        // The document's table has the row with the same outcome.
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", r.id)))
            .unwrap_or_else(|| panic!("docs/token.md has no row `| {} |`", r.id));
        assert!(
            row.contains(&format!("| {} |", r.vector)),
            "{}: row names another vector: {row}",
            r.id
        );
        assert!(
            row.contains(&format!("`{}`", r.expect)),
            "{}: row does not say `{}`: {row}",
            r.id,
            r.expect
        );
    }
}

// ---------------------------------------------------------------------------------------
// The document

#[test]
fn doc_matches_vectors() {
    let doc = doc_text();
    let blocks = doc_blocks(&doc);
    let names: Vec<&str> = blocks.iter().map(|b| field(b, "vector").unwrap()).collect();
    let want: Vec<&str> = VECTORS
        .iter()
        .map(|v| v.name)
        .chain(NEGATIVES.iter().map(|n| n.name))
        .collect();
    assert_eq!(names, want, "docs/token.md's vector blocks");

    for v in VECTORS {
        assert!(
            doc.contains(v.token),
            "{}: token not in the document",
            v.name
        );
        assert!(doc.contains(v.url), "{}: url not in the document", v.name);
        let b = blocks
            .iter()
            .find(|b| field(b, "vector") == Some(v.name))
            .unwrap();
        let get = |k: &str| field(b, k).unwrap_or_else(|| panic!("{}: no `{k}:` line", v.name));
        assert_eq!(get("key"), v.key, "{}", v.name);
        assert_eq!(get("kid"), v.kid, "{}", v.name);
        assert_eq!(get("claims"), escape(v.claims), "{}", v.name);
        assert_eq!(get("query_rest"), show_rest(v.query_rest), "{}", v.name);
        assert_eq!(get("mac"), v.mac, "{}", v.name);
        assert_eq!(get("token"), v.token, "{}", v.name);
        assert_eq!(get("url"), v.url, "{}", v.name);
        assert_eq!(get("path (raw)"), v.path, "{}", v.name);
        assert_eq!(
            field(b, "download_name (raw)"),
            v.download_name,
            "{}",
            v.name
        );
        let q = (!v.query.is_empty()).then(|| query_json(v.query));
        assert_eq!(field(b, "query (raw)"), q.as_deref(), "{}", v.name);
    }
    for n in NEGATIVES {
        assert!(
            doc.contains(n.token),
            "{}: token not in the document",
            n.name
        );
        let b = blocks
            .iter()
            .find(|b| field(b, "vector") == Some(n.name))
            .unwrap();
        assert_eq!(field(b, "key"), Some(KEY_A), "{}", n.name);
        assert_eq!(
            field(b, "claims"),
            Some(escape(n.claims).as_str()),
            "{}",
            n.name
        );
        assert_eq!(field(b, "query_rest"), Some("(empty)"), "{}", n.name);
        assert_eq!(field(b, "token"), Some(n.token), "{}", n.name);
        let expect = field(b, "expect").unwrap_or("");
        assert!(expect.starts_with(n.code), "{}: expect {expect:?}", n.name);
    }
}

/// Prints the document's vector blocks from the code (values computed, not copied), for
/// when the format changes on purpose: `TOLLGATE_PRINT_VECTORS=1 cargo test --test
/// token_vectors print_vectors -- --nocapture`. Otherwise it only checks they can be built.
#[test]
fn print_vectors() {
    let print = std::env::var_os("TOLLGATE_PRINT_VECTORS").is_some();
    macro_rules! out {
        ($($t:tt)*) => {
            if print {
                println!($($t)*)
            }
        };
    }
    let ring = ring();
    for v in VECTORS {
        let claims = claims_of(v);
        let body = claims.encode();
        let rest = query_rest(v.query);
        let token = ring.mint(&claims, &rest).unwrap();
        out!("```text");
        out!("vector:     {}", v.name);
        out!("key:        {}", v.key);
        out!("kid:        {}", v.kid);
        out!("path (raw): {}", v.path);
        if let Some(d) = v.download_name {
            out!("download_name (raw): {d}");
        }
        if !v.query.is_empty() {
            out!("query (raw): {}", query_json(v.query));
        }
        out!("claims:     {}", escape(&body));
        out!("query_rest: {}", show_rest(&rest));
        out!("mac:        {}", hmac_hex(&key_bytes(v.key), &body, &rest));
        out!("token:      {token}");
        out!("url:        {}", url_of(&claims.path, &rest, &token));
        out!("```");
    }
    for n in NEGATIVES {
        let token = raw_token(&key_bytes(KEY_A), n.claims, "");
        out!("```text");
        out!("vector:     {}", n.name);
        out!("key:        {KEY_A}");
        out!("claims:     {}", escape(n.claims));
        out!("query_rest: (empty)");
        out!("token:      {token}");
        out!("expect:     {}", n.code);
        out!("```");
    }
}
