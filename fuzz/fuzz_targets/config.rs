//! `Config::parse` on arbitrary TOML text: every problem must come back as a `Problem`.
//! run.sh runs this target from a scratch directory, so relative paths in the input
//! (state.path, origins.root) probe that directory and not the repository.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toml::{Table, Value};

/// A secret written `file:/path` is read whole by the parser. That is the operator's file,
/// not an input to harden against, but the fuzzer could name `/dev/zero` or a FIFO and hang
/// or exhaust memory here. Allow only small regular files outside /proc and /sys.
fn reads_only_small_files(v: &Value) -> bool {
    match v {
        Value::String(s) => match s.strip_prefix("file:") {
            None => true,
            Some(p) => {
                let p = std::path::Path::new(p);
                !p.starts_with("/proc")
                    && !p.starts_with("/sys")
                    && std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() < 1 << 20)
            }
        },
        Value::Array(a) => a.iter().all(reads_only_small_files),
        Value::Table(t) => t.values().all(reads_only_small_files),
        _ => true,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The same toml version as tollgate's, so this sees the strings its parser will see.
    if let Ok(t) = text.parse::<Table>() {
        if !t.values().all(reads_only_small_files) {
            return;
        }
    }
    let _ = tollgate::config::Config::parse(text);
});
