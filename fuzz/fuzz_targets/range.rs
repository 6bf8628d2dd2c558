//! `Range` handling: the origin's `parse_range` and view_limit's `single_range`.
//!
//! Input: UTF-8 text. Line 1 is the file length in decimal (anything else counts as 0);
//! line 2 is the `Range` value given to `parse_range`; lines 2.. are each one `Range`
//! header for `single_range` (more than one must be refused).
#![no_main]

use http::{HeaderMap, HeaderValue, header::RANGE};
use libfuzzer_sys::fuzz_target;
use tollgate::origin::range::{RangeAnswer, parse_range};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (len, rest) = s.split_once('\n').unwrap_or((s, ""));
    let len: u64 = len.trim().parse().unwrap_or(0);
    let value = rest.split('\n').next().unwrap_or("");

    match parse_range(value, len) {
        // The bytes sent must exist: an out-of-file range would read past EOF or
        // underflow the Content-Length computation.
        RangeAnswer::Part { start, end } => {
            assert!(start <= end && end < len, "{value:?} on {len} bytes -> {start}-{end}");
        }
        RangeAnswer::Full | RangeAnswer::Unsatisfiable => {}
    }

    let mut headers = HeaderMap::new();
    let mut n = 0;
    for line in rest.split('\n').filter(|_| !rest.is_empty()) {
        // Values hyper would refuse never reach tollgate.
        if let Ok(v) = HeaderValue::from_str(line) {
            headers.append(RANGE, v);
            n += 1;
        }
    }
    let single = tollgate::filter::view_limit::single_range(&headers);
    assert!(!single || n == 1, "single_range accepted {n} Range headers");
});
