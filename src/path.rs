//! Request paths: the one place that decides what a path means.
//!
//! A path is admitted only if its decoded form is unambiguous: no dot-segments, no empty
//! segments, no encoded slash or backslash, no NUL or other control byte, valid UTF-8. Every
//! later stage (routing, the token's path binding, the `dir` origin) works on the result, so
//! two spellings of one file cannot be told apart by one stage and confused by another.
//!
//! The *canonical* spelling of a path percent-encodes every byte except the RFC 3986
//! unreserved characters (`A-Z a-z 0-9 - . _ ~`) and `/`, with upper-case hex. Tokens bind
//! that spelling, and a signed request must use it byte for byte (see `docs/token.md`).

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path must start with `/`")]
    NotAbsolute,
    #[error("the path has a malformed percent-escape")]
    BadEscape,
    #[error("the path contains an encoded slash or a backslash")]
    Slash,
    #[error("the path contains a NUL or control character")]
    Control,
    #[error("the path contains a `.` or `..` segment")]
    DotSegment,
    #[error("the path contains an empty segment (`//`)")]
    EmptySegment,
    #[error("the path is not valid UTF-8")]
    NotUtf8,
    #[error("the path is too long")]
    TooLong,
}

pub const MAX_PATH_BYTES: usize = 4096;

/// A path that passed [`normalize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath<'a> {
    /// Decoded, as the file system and routes see it.
    pub decoded: Cow<'a, str>,
    /// The canonical percent-encoded spelling.
    pub canonical: Cow<'a, str>,
}

impl NormalPath<'_> {
    /// True when the request spelled the path exactly canonically.
    pub fn is_canonical(&self, raw: &str) -> bool {
        self.canonical == raw
    }
}

#[inline]
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Checks and decodes a raw request path (the part of the request-target before `?`).
pub fn normalize(raw: &str) -> Result<NormalPath<'_>, PathError> {
    if raw.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let bytes = raw.as_bytes();
    // Fast path: nothing encoded and nothing that needs encoding. Then decoded, canonical and
    // raw are the same string and nothing is allocated.
    let plain = bytes.iter().all(|&b| is_unreserved(b) || b == b'/');
    let decoded: Cow<'_, str> = if plain {
        Cow::Borrowed(raw)
    } else {
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'%' {
                let (Some(h), Some(l)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let v = h * 16 + l;
                if v == b'/' || v == b'\\' {
                    return Err(PathError::Slash);
                }
                out.push(v);
                i += 3;
            } else {
                if b == b'\\' {
                    return Err(PathError::Slash);
                }
                out.push(b);
                i += 1;
            }
        }
        Cow::Owned(String::from_utf8(out).map_err(|_| PathError::NotUtf8)?)
    };
    check_segments(&decoded)?;
    let canonical = if plain {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(encode(&decoded))
    };
    Ok(NormalPath { decoded, canonical })
}

/// Checks a decoded path's segments. Also used by origins on the path they are handed, as a
/// second line of defence.
pub fn check_segments(decoded: &str) -> Result<(), PathError> {
    if decoded.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(PathError::Control);
    }
    if decoded.contains('\\') {
        return Err(PathError::Slash);
    }
    let mut segs = decoded.split('/').skip(1).peekable();
    while let Some(seg) = segs.next() {
        match seg {
            "." | ".." => return Err(PathError::DotSegment),
            // A trailing slash (a directory) is fine; `//` inside is not.
            "" if segs.peek().is_some() => return Err(PathError::EmptySegment),
            _ => {}
        }
    }
    Ok(())
}

/// True when `path` lies under `prefix` by whole segments: `/files/` and `/files` both
/// cover `/files/a.pdf`, and `/files` covers `/files` itself, but neither covers
/// `/files-private/a.pdf`. Used for API key scopes, revocation prefixes and route prefixes.
pub fn under(path: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        return path.starts_with(prefix);
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The canonical spelling of a decoded path: unreserved characters and `/` stay, every other
/// byte becomes `%XX` with upper-case hex.
pub fn encode(decoded: &str) -> String {
    encode_with(decoded, |b| is_unreserved(b) || b == b'/')
}

/// The canonical spelling of a query-string key or value: unreserved characters stay,
/// everything else (including `/`, `&`, `=`, `+`, space) becomes `%XX`.
pub fn encode_component(s: &str) -> String {
    encode_with(s, is_unreserved)
}

fn encode_with(s: &str, keep: impl Fn(u8) -> bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_matches_whole_segments() {
        assert!(under("/files/a.pdf", "/files/"));
        assert!(under("/files/a.pdf", "/files"));
        assert!(under("/files", "/files"));
        assert!(!under("/files-private/a.pdf", "/files"));
        assert!(!under("/files-private/a.pdf", "/files/"));
        assert!(!under("/filesx", "/files"));
        assert!(under("/anything", "/"));
    }

    #[test]
    fn plain_paths_borrow() {
        let p = normalize("/files/a-b_c.d~e/f.pdf").unwrap();
        assert!(matches!(p.decoded, Cow::Borrowed(_)));
        assert!(p.is_canonical("/files/a-b_c.d~e/f.pdf"));
    }

    #[test]
    fn decodes_and_canonicalises() {
        let p = normalize("/files/my%20report.pdf").unwrap();
        assert_eq!(p.decoded, "/files/my report.pdf");
        assert_eq!(p.canonical, "/files/my%20report.pdf");
        let p = normalize("/files/%61.pdf").unwrap();
        assert_eq!(p.decoded, "/files/a.pdf");
        assert!(!p.is_canonical("/files/%61.pdf"));
        let p = normalize("/files/caf%c3%a9").unwrap();
        assert_eq!(p.decoded, "/files/café");
        assert_eq!(p.canonical, "/files/caf%C3%A9");
        assert!(normalize("/files/(1).pdf").is_ok_and(|p| p.canonical == "/files/%281%29.pdf"));
    }

    #[test]
    fn refuses_escapes() {
        use PathError::*;
        let cases = [
            ("files/a", NotAbsolute),
            ("/files/../etc/passwd", DotSegment),
            ("/files/%2e%2e/etc/passwd", DotSegment),
            ("/files/%2E%2E/x", DotSegment),
            ("/files/./a", DotSegment),
            ("/files/..", DotSegment),
            ("/files/a%2fb", Slash),
            ("/files/a%2Fb", Slash),
            ("/files/a%5cb", Slash),
            ("/files/a\\b", Slash),
            ("/files/a%00b", Control),
            ("/files/a%0ab", Control),
            ("/files//a", EmptySegment),
            ("/files/%zz", BadEscape),
            ("/files/%4", BadEscape),
            ("/files/%", BadEscape),
            ("/files/%ff", NotUtf8),
            ("/files/%252e%252e/x", DotSegment),
        ];
        for (raw, want) in cases {
            // `%252e` decodes once to `%2e`, a literal name, which is fine: only one decoding.
            if raw.contains("%25") {
                assert!(normalize(raw).is_ok(), "{raw}");
                continue;
            }
            assert_eq!(normalize(raw), Err(want), "{raw}");
        }
        assert_eq!(
            normalize(&format!("/{}", "a".repeat(MAX_PATH_BYTES))),
            Err(TooLong)
        );
    }

    #[test]
    fn trailing_slash_is_a_directory_not_an_error() {
        assert!(normalize("/files/dir/").is_ok());
    }

    #[test]
    fn component_encoding() {
        assert_eq!(encode_component("a b&c=d/e+f"), "a%20b%26c%3Dd%2Fe%2Bf");
    }
}
