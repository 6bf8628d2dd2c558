//! `path::normalize`, the one place that decides what a request path means.
//! Input: the raw path (before `?`), UTF-8.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::path::{encode, normalize};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = normalize(raw) else {
        return;
    };
    let d = &*p.decoded;
    // What the dir origin would open: no way out of the root, nothing a C API truncates,
    // no second separator for another OS.
    assert!(!d.split('/').any(|seg| seg == ".." || seg == "."), "dot segment in {d:?}");
    assert!(!d.contains('\0') && !d.contains('\\'), "NUL or backslash in {d:?}");
    // One meaning per path: its canonical spelling must mean the same path, and be the
    // spelling tokens bind.
    let canon = encode(d);
    assert_eq!(p.canonical, canon, "canonical differs from encode(decoded)");
    // The length limit is on the spelling a request uses: a raw (unencoded) path under it
    // can have a canonical spelling over it. No token can be minted for such a path (minting
    // normalizes the canonical spelling), so it can only be served by a public route.
    let again = match normalize(&canon) {
        Err(tollgate::path::PathError::TooLong) => return,
        r => r.expect("canonical spelling refused"),
    };
    assert_eq!(again.decoded, d, "canonical spelling decodes differently");
    assert!(again.is_canonical(&canon));
});
