//! The wall clock, read in one place so every module below the data plane can use it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now; 0 if the clock is before 1970 (no token is then valid).
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
