//! `filter::password::parse_cookie`: the value of a password cookie, `kid.exp.tag`,
//! read from a client-controlled `Cookie` header before any MAC check.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((kid, _exp, _tag)) = tollgate::filter::password::parse_cookie(v) {
        // The key id is looked up in the keyring: it must be a piece of the value, not
        // something the parser made up.
        assert!(v.contains(kid));
    }
});
