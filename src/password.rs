//! Link passwords: argon2id hashes (only the hash is stored), verification with bounded
//! CPU, and the short-lived cookie that remembers a browser's right answer.

use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::Semaphore;

/// How long the cookie set after a right password stays good.
pub const COOKIE_TTL: Duration = Duration::from_secs(600);
/// Longest password accepted (argon2 work is bounded by its input too).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes a password with argon2id and a random salt (PHC string format).
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_blocking(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Runs argon2 verifications on the blocking pool, at most `slots` at a time, so that
/// password guesses cannot take every core from the data plane.
pub struct Verifier {
    slots: Arc<Semaphore>,
}

impl Verifier {
    pub fn new(slots: usize) -> Verifier {
        Verifier {
            slots: Arc::new(Semaphore::new(slots.max(1))),
        }
    }

    /// Hashes a new password in one of the same slots, so that minting and link creation
    /// cannot take every core either. `Err` when no slot freed up within `wait`.
    pub async fn hash(&self, password: &str, wait: Duration) -> Result<String, String> {
        let permit = tokio::time::timeout(wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| "every password slot is busy".to_owned())?
            .map_err(|e| e.to_string())?;
        let p = password.to_owned();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash(&p)
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// `None` when no slot freed up within `wait` (the caller answers 503).
    pub async fn verify(&self, hash: &str, password: &str, wait: Duration) -> Option<bool> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Some(false);
        }
        let permit = tokio::time::timeout(wait, self.slots.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        let (h, p) = (hash.to_owned(), password.to_owned());
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verify_blocking(&h, &p)
        })
        .await
        .unwrap_or(false);
        Some(ok)
    }
}

/// The cookie name for a token id or a link code.
pub fn cookie_name(id: &str) -> String {
    format!("tg_pw_{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_never_contain_the_password() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("correct horse"));
        let v = Verifier::new(1);
        let wait = Duration::from_secs(5);
        assert_eq!(v.verify(&h, "correct horse", wait).await, Some(true));
        assert_eq!(v.verify(&h, "wrong", wait).await, Some(false));
        assert_eq!(v.verify("not a hash", "x", wait).await, Some(false));
        assert_eq!(v.verify(&h, &"x".repeat(2000), wait).await, Some(false));
    }
}
