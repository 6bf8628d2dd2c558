//! Tokens: what a signed URL carries, how it is written, how it is read.
//!
//! A token is `base64url(claims) "." base64url(mac)`; the claims are 13 lines of text in a
//! fixed order, and the MAC is HMAC-SHA256 over the claims bytes, a newline, and the rest of
//! the query string (every parameter except `token`, exactly as sent). `docs/token.md` is
//! the normative description; `tests/token_vectors.rs` holds its test vectors to the code.

pub mod keyring;
pub mod mint;

use std::borrow::Cow;
use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ipnet::IpNet;

pub use keyring::Keyring;

/// First line of every claims block; a new format gets a new tag.
pub const VERSION: &str = "tg1";
/// Tokens longer than this are refused before any decoding work.
pub const MAX_TOKEN_LEN: usize = 4096;
const CLAIM_LINES: usize = 13;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the token names an unknown key id")]
    UnknownKey,
    #[error("the token's signature does not match")]
    BadSignature,
}

/// The HTTP methods a token can allow, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Methods(u8);

const METHOD_NAMES: [(&str, u8); 7] = [
    ("GET", 1),
    ("HEAD", 2),
    ("POST", 4),
    ("PUT", 8),
    ("PATCH", 16),
    ("DELETE", 32),
    ("OPTIONS", 64),
];

impl Methods {
    pub const GET_HEAD: Methods = Methods(3);

    pub fn parse_list(s: &str) -> Result<Methods, String> {
        let mut bits = 0u8;
        for m in s.split(',') {
            let m = m.trim();
            let bit = METHOD_NAMES
                .iter()
                .find(|(n, _)| *n == m)
                .map(|(_, b)| *b)
                .ok_or_else(|| format!("unknown method `{m}`"))?;
            if bits & bit != 0 {
                return Err(format!("method `{m}` listed twice"));
            }
            bits |= bit;
        }
        Ok(Methods(bits))
    }

    pub fn allows(self, m: &http::Method) -> bool {
        METHOD_NAMES
            .iter()
            .any(|(n, b)| self.0 & b != 0 && m.as_str() == *n)
    }

    /// True when `s` lists exactly these methods in the one order `write` uses.
    fn is_canonical(self, s: &str) -> bool {
        let mut rest = s;
        let mut first = true;
        for (n, b) in METHOD_NAMES {
            if self.0 & b != 0 {
                if !first {
                    let Some(r) = rest.strip_prefix(',') else {
                        return false;
                    };
                    rest = r;
                }
                let Some(r) = rest.strip_prefix(n) else {
                    return false;
                };
                rest = r;
                first = false;
            }
        }
        rest.is_empty()
    }

    fn write(self, out: &mut String) {
        let mut first = true;
        for (n, b) in METHOD_NAMES {
            if self.0 & b != 0 {
                if !first {
                    out.push(',');
                }
                out.push_str(n);
                first = false;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The token is good for exactly `path`.
    File,
    /// The token is good for every path that starts with `path` (which ends with `/`).
    Prefix,
}

/// Everything a token binds besides the query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub kid: String,
    /// 16 random bytes, base64url: 22 characters.
    pub tid: String,
    pub iat: u64,
    pub exp: u64,
    pub nbf: Option<u64>,
    pub methods: Methods,
    pub scope: Scope,
    /// Canonical (percent-encoded) spelling, see [`crate::path`].
    pub path: String,
    pub ip: Option<IpNet>,
    pub max_views: Option<u64>,
    /// Decoded `Content-Disposition` file name.
    pub download_name: Option<String>,
    /// A password must be given (its hash is held in the state store under `tid`).
    pub password: bool,
}

pub fn new_token_id() -> String {
    let mut b = [0u8; 16];
    rand::Rng::fill(&mut rand::thread_rng(), &mut b);
    URL_SAFE_NO_PAD.encode(b)
}

impl Claims {
    /// The claims block, the exact bytes that are MACed and base64url-encoded.
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(160 + self.path.len());
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            "{VERSION}\n{}\n{}\n{}\n{}\n",
            self.kid, self.tid, self.iat, self.exp
        );
        if let Some(n) = self.nbf {
            let _ = write!(s, "{n}");
        }
        s.push('\n');
        self.methods.write(&mut s);
        s.push('\n');
        s.push(match self.scope {
            Scope::File => 'f',
            Scope::Prefix => 'p',
        });
        s.push('\n');
        s.push_str(&self.path);
        s.push('\n');
        if let Some(ip) = self.ip {
            let _ = write!(s, "{ip}");
        }
        s.push('\n');
        if let Some(v) = self.max_views {
            let _ = write!(s, "{v}");
        }
        s.push('\n');
        if let Some(d) = &self.download_name {
            s.push_str(&crate::path::encode_component(d));
        }
        s.push('\n');
        if self.password {
            s.push_str("pw");
        }
        s
    }

    /// Parses a claims block strictly: exactly the fields, in order, in their one spelling.
    pub fn parse(text: &str) -> Result<Claims, TokenError> {
        let mut f: [&str; CLAIM_LINES] = [""; CLAIM_LINES];
        let mut n = 0;
        for line in text.split('\n') {
            if n == CLAIM_LINES {
                return Err(TokenError::Malformed("too many claim lines"));
            }
            f[n] = line;
            n += 1;
        }
        if n != CLAIM_LINES {
            return Err(TokenError::Malformed("too few claim lines"));
        }
        if f[0] != VERSION {
            return Err(TokenError::Malformed("unknown version"));
        }
        let kid = f[1];
        if kid.is_empty()
            || kid.len() > 64
            || !kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(TokenError::Malformed("bad key id"));
        }
        let tid = f[2];
        let mut tid_bytes = [0u8; 16];
        if tid.len() != 22 || URL_SAFE_NO_PAD.decode_slice(tid, &mut tid_bytes) != Ok(16) {
            return Err(TokenError::Malformed("bad token id"));
        }
        let iat = num(f[3])?;
        let exp = num(f[4])?;
        let nbf = opt(f[5], num)?;
        let methods =
            Methods::parse_list(f[6]).map_err(|_| TokenError::Malformed("bad methods"))?;
        if !methods.is_canonical(f[6]) {
            return Err(TokenError::Malformed("methods not in canonical order"));
        }
        let scope = match f[7] {
            "f" => Scope::File,
            "p" => Scope::Prefix,
            _ => return Err(TokenError::Malformed("bad scope")),
        };
        let path = f[8];
        match crate::path::normalize(path) {
            Ok(p) if p.is_canonical(path) => {}
            _ => return Err(TokenError::Malformed("bad path")),
        }
        if scope == Scope::Prefix && !path.ends_with('/') {
            return Err(TokenError::Malformed("a prefix must end with `/`"));
        }
        let ip = opt(f[9], |s| {
            let net: IpNet = s.parse().map_err(|_| TokenError::Malformed("bad ip"))?;
            if net.to_string() != s || net.trunc() != net {
                return Err(TokenError::Malformed("ip not canonical"));
            }
            Ok(net)
        })?;
        let max_views = opt(f[10], num)?;
        if max_views == Some(0) {
            return Err(TokenError::Malformed("max views of 0"));
        }
        let download_name = opt(f[11], |s| {
            let d = percent_decode(s).ok_or(TokenError::Malformed("bad download name"))?;
            if crate::path::encode_component(&d) != s || d.chars().any(char::is_control) {
                return Err(TokenError::Malformed("download name not canonical"));
            }
            Ok(d)
        })?;
        let password = match f[12] {
            "" => false,
            "pw" => true,
            _ => return Err(TokenError::Malformed("unknown flags")),
        };
        Ok(Claims {
            kid: kid.to_owned(),
            tid: tid.to_owned(),
            iat,
            exp,
            nbf,
            methods,
            scope,
            path: path.to_owned(),
            ip,
            max_views,
            download_name,
            password,
        })
    }
}

fn num(s: &str) -> Result<u64, TokenError> {
    // One spelling per number: no sign, no leading zeros, at most 19 digits (fits u64).
    let ok = !s.is_empty()
        && s.len() <= 19
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if !ok {
        return Err(TokenError::Malformed("bad number"));
    }
    s.parse().map_err(|_| TokenError::Malformed("bad number"))
}

fn opt<T>(s: &str, f: impl FnOnce(&str) -> Result<T, TokenError>) -> Result<Option<T>, TokenError> {
    if s.is_empty() {
        Ok(None)
    } else {
        f(s).map(Some)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = (*b.get(i + 1)? as char).to_digit(16)?;
            let l = (*b.get(i + 2)? as char).to_digit(16)?;
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A token split into its claims bytes and MAC, not yet verified.
pub struct Encoded {
    pub claims: Vec<u8>,
    pub mac: [u8; 32],
}

/// Splits and base64url-decodes a token string. No secret is involved yet.
pub fn split(token: &str) -> Result<Encoded, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("too long"));
    }
    let (c, m) = token
        .split_once('.')
        .ok_or(TokenError::Malformed("no `.` separator"))?;
    let claims = URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| TokenError::Malformed("claims are not base64url"))?;
    // 32 bytes are 43 base64url characters without padding.
    if m.len() != 43 {
        return Err(TokenError::Malformed("mac is not 32 bytes"));
    }
    let mut mac = [0u8; 32];
    match URL_SAFE_NO_PAD.decode_slice(m, &mut mac) {
        Ok(32) => {}
        _ => return Err(TokenError::Malformed("mac is not base64url")),
    }
    // base64 has several spellings of the same bytes (set trailing bits, padding). This
    // engine refuses all but the one we write (`decode_allow_trailing_bits` is off and
    // padding is refused), so a token string is exactly what was minted; the unit test
    // `split_rejects_noncanonical_base64` holds it to that.
    Ok(Encoded { claims, mac })
}

/// Where a token was found, and the rest of the query string that its MAC covers.
#[derive(Debug, PartialEq, Eq)]
pub struct Found<'a> {
    pub token: Option<&'a str>,
    pub from_header: bool,
    /// Every query parameter except `token`, in the order and spelling sent, joined by `&`.
    pub rest: Cow<'a, str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FindError {
    #[error("the token is given more than once")]
    Duplicate,
    #[error("the query string has an empty parameter")]
    EmptyParameter,
}

/// Finds the token in the query (`token=`) or an `Authorization: Bearer` header value.
pub fn find<'a>(query: Option<&'a str>, bearer: Option<&'a str>) -> Result<Found<'a>, FindError> {
    let query = query.unwrap_or("");
    let mut token = None;
    let mut rest_parts = 0usize;
    if !query.is_empty() {
        for seg in query.split('&') {
            if seg.is_empty() {
                return Err(FindError::EmptyParameter);
            }
            if let Some(t) = seg.strip_prefix("token=") {
                if token.replace(t).is_some() {
                    return Err(FindError::Duplicate);
                }
            } else {
                rest_parts += 1;
            }
        }
    }
    let from_header = match (token, bearer) {
        (Some(_), Some(_)) => return Err(FindError::Duplicate),
        (None, Some(b)) => {
            token = Some(b);
            true
        }
        _ => false,
    };
    let rest = if token.is_none() || from_header {
        Cow::Borrowed(query)
    } else if rest_parts == 0 {
        Cow::Borrowed("")
    } else {
        let mut s = String::with_capacity(query.len());
        for seg in query.split('&').filter(|s| !s.starts_with("token=")) {
            if !s.is_empty() {
                s.push('&');
            }
            s.push_str(seg);
        }
        Cow::Owned(s)
    };
    Ok(Found {
        token,
        from_header,
        rest,
    })
}

/// The token from an `Authorization` header value, if it is a Bearer one.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Claims {
        Claims {
            kid: "k1".into(),
            tid: "AAECAwQFBgcICQoLDA0ODw".into(),
            iat: 1_700_000_000,
            exp: 1_700_003_600,
            nbf: None,
            methods: Methods::GET_HEAD,
            scope: Scope::File,
            path: "/files/report.pdf".into(),
            ip: None,
            max_views: None,
            download_name: None,
            password: false,
        }
    }

    #[test]
    fn claims_round_trip() {
        let mut c = sample();
        assert_eq!(Claims::parse(&c.encode()).unwrap(), c);
        c.nbf = Some(5);
        c.ip = Some("10.0.0.0/8".parse().unwrap());
        c.max_views = Some(3);
        c.download_name = Some("Q3 report (final).pdf".into());
        c.scope = Scope::Prefix;
        c.path = "/files/q3/".into();
        c.password = true;
        c.methods = Methods::parse_list("GET,HEAD,PUT").unwrap();
        assert_eq!(Claims::parse(&c.encode()).unwrap(), c);
    }

    #[test]
    fn claims_have_one_spelling() {
        let good = sample().encode();
        for bad in [
            good.replace("1700000000", "01700000000"),
            good.replace("GET,HEAD", "HEAD,GET"),
            good.replace("GET,HEAD", "get,head"),
            good.replace("/files/report.pdf", "/files/%72eport.pdf"),
            good.replace("/files/report.pdf", "/files/../x"),
            format!("{good}\n"),
            good.replacen("tg1", "tg2", 1),
            good.replace("\nf\n", "\nx\n"),
        ] {
            assert!(Claims::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn find_token_in_query() {
        let f = find(Some("a=1&token=T&b=2"), None).unwrap();
        assert_eq!((f.token, f.rest.as_ref()), (Some("T"), "a=1&b=2"));
        let f = find(Some("token=T"), None).unwrap();
        assert_eq!((f.token, f.rest.as_ref()), (Some("T"), ""));
        let f = find(Some("a=1"), Some("T")).unwrap();
        assert_eq!(
            (f.token, f.rest.as_ref(), f.from_header),
            (Some("T"), "a=1", true)
        );
        assert_eq!(
            find(Some("token=T&token=T"), None),
            Err(FindError::Duplicate)
        );
        assert_eq!(find(Some("token=T"), Some("T")), Err(FindError::Duplicate));
        assert_eq!(find(Some("token=T&"), None), Err(FindError::EmptyParameter));
        assert_eq!(find(None, None).unwrap().token, None);
    }

    #[test]
    fn split_rejects_noncanonical_base64() {
        assert!(split("abc").is_err());
        assert!(split(&"a".repeat(MAX_TOKEN_LEN + 1)).is_err());
        let mac = URL_SAFE_NO_PAD.encode([0u8; 32]);
        // "QQ" and "QR" both decode to "A"; only "QQ" is canonical.
        assert!(split(&format!("QQ.{mac}")).is_ok());
        assert!(split(&format!("QR.{mac}")).is_err());
        assert!(split(&format!("QQ==.{mac}")).is_err());
        assert!(split(&format!("QQ.{mac}=")).is_err());
        // The last MAC character carries 2 spare bits: `A` is canonical, `B` is not.
        let alt = format!("{}B", &mac[..42]);
        assert!(split(&format!("QQ.{alt}")).is_err());
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
