//! `Range` and conditional-request rules (RFC 9110 §13, §14) for origins that serve files
//! themselves.

use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use http::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, RANGE};

/// What to send for a `Range` header.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No (usable) range: the whole file, 200.
    Full,
    /// One range, inclusive: 206.
    Part { start: u64, end: u64 },
    /// 416.
    Unsatisfiable,
}

/// Parses a single `bytes=` range against a file of `len` bytes. Multiple ranges and unknown
/// units are answered with the whole file, which RFC 9110 allows.
pub fn parse_range(value: &str, len: u64) -> RangeAnswer {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Full;
    };
    if spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAnswer::Full;
    };
    let parse = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.trim(), b.trim()) {
        ("", suffix) => match parse(suffix) {
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(n) if len > 0 => RangeAnswer::Part {
                start: len.saturating_sub(n),
                end: len - 1,
            },
            Some(_) => RangeAnswer::Unsatisfiable,
            None => RangeAnswer::Full,
        },
        (start, end) => {
            let Some(start) = parse(start) else {
                return RangeAnswer::Full;
            };
            let end = if end.is_empty() {
                Some(u64::MAX)
            } else {
                parse(end)
            };
            match end {
                None => RangeAnswer::Full,
                Some(end) if end < start => RangeAnswer::Full,
                Some(_) if start >= len => RangeAnswer::Unsatisfiable,
                Some(end) => RangeAnswer::Part {
                    start,
                    end: end.min(len - 1),
                },
            }
        }
    }
}

/// The validators of one file version.
pub struct Validators {
    pub etag: String,
    pub modified: SystemTime,
}

impl Validators {
    pub fn new(len: u64, modified: SystemTime) -> Validators {
        let nanos = modified
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Validators {
            etag: format!("\"{len:x}-{nanos:x}\""),
            modified,
        }
    }

    fn modified_secs(&self) -> u64 {
        self.modified
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// True when a GET/HEAD should be answered 304 (RFC 9110 §13.2.2 steps 3 and 4).
    pub fn not_modified(&self, headers: &HeaderMap) -> bool {
        if let Some(inm) = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
            return inm
                .split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == self.etag);
        }
        if let Some(ims) = headers
            .get(IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
        {
            let ims = ims
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            return self.modified_secs() <= ims;
        }
        false
    }

    /// The `Range` header to honour, if any, after `If-Range` (RFC 9110 §13.1.5): a range is
    /// used only if `If-Range` is absent or names this exact version (strong comparison).
    pub fn range<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let range = headers.get(RANGE)?.to_str().ok()?;
        match headers.get(IF_RANGE).and_then(|v| v.to_str().ok()) {
            None => Some(range),
            Some(v) if v.starts_with('"') => (v == self.etag).then_some(range),
            Some(v) => httpdate::parse_http_date(v)
                .ok()
                .filter(|d| {
                    d.duration_since(UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0)
                        == self.modified_secs()
                })
                .map(|_| range),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeAnswer::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Part { start: 0, end: 9 });
        assert_eq!(parse_range("bytes=90-", 100), Part { start: 90, end: 99 });
        assert_eq!(parse_range("bytes=-10", 100), Part { start: 90, end: 99 });
        assert_eq!(parse_range("bytes=-1000", 100), Part { start: 0, end: 99 });
        assert_eq!(
            parse_range("bytes=50-1000", 100),
            Part { start: 50, end: 99 }
        );
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=9-1", 100), Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Full);
        assert_eq!(parse_range("items=0-1", 100), Full);
        assert_eq!(parse_range("bytes=x-1", 100), Full);
        assert_eq!(parse_range("bytes=+1-2", 100), Full);
    }
}
