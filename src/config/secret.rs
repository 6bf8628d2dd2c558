//! Secrets from the config: `env:NAME`, `file:/path`, or the literal value.
//!
//! A [`Secret`] cannot be printed: its `Debug` writes `<redacted>`, and it has no `Display`.
//! That is how no signing key reaches a log, by construction rather than by care.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Resolves the string form of a secret to its text, reading the environment or a file.
/// The error message never contains the secret, only where it was looked for.
pub fn resolve(spec: &str) -> Result<String, String> {
    if let Some(name) = spec.strip_prefix("env:") {
        std::env::var(name).map_err(|_| format!("environment variable `{name}` is not set"))
    } else if let Some(path) = spec.strip_prefix("file:") {
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .map_err(|e| format!("cannot read `{path}`: {e}"))
    } else {
        Ok(spec.to_owned())
    }
}

/// Decodes base64url (padding optional) key material.
pub fn decode_key(text: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .map_err(|_| "is not base64url (generate one with `tollgate keygen`)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{s:?}"), "<redacted>");
    }

    #[test]
    fn resolves_literal_and_file() {
        assert_eq!(resolve("abc").unwrap(), "abc");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, "xyz\n").unwrap();
        assert_eq!(resolve(&format!("file:{}", p.display())).unwrap(), "xyz");
        let err = resolve("env:TOLLGATE_SURELY_UNSET_VAR").unwrap_err();
        assert!(err.contains("TOLLGATE_SURELY_UNSET_VAR"));
    }
}
