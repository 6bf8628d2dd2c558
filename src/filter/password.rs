//! `password`: a grant with a password (a token minted with one, or a short link created
//! with one) is served only to a client that proves it knows the password:
//!
//! - a program sends `X-Tollgate-Password: <password>`;
//! - a browser gets a form, posts `password=` back to the same URL, and on success gets a
//!   303 to that URL with a cookie bound to the grant that stands for the password for
//!   [`COOKIE_TTL`]. The cookie is `kid.exp.tag`: an HMAC over the grant id and expiry by a
//!   key derived for cookies from signing key `kid`, one that is not revoked; a cookie of a
//!   revoked (or removed) key is refused.
//!
//! Only wrong passwords spend the guess budget, kept per grant and client IP with a ceiling
//! per grant ([`crate::limits::GuessBudget`]); past it, 429 with `Retry-After`, before any
//! argon2 work is done. Verification runs on the bounded password pool. Only argon2id
//! hashes are stored. Needs `signature` earlier in the chain.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Ctx, Filter, Reject, Step};
use crate::grant::{Grant, PasswordRule};
use crate::password::{COOKIE_TTL, cookie_name};
use crate::state::State;
use crate::token::Keyring;

pub struct Password {
    pub state: Arc<State>,
    pub keyring: Arc<Keyring>,
    /// `public_url` is https: cookies are `Secure` even when TLS ends at a load balancer.
    pub secure_cookies: bool,
}

/// The header programs send the password in.
pub const HEADER: &str = "x-tollgate-password";

/// Longest a caller waits for an argon2 slot before getting 503.
const VERIFY_WAIT: Duration = Duration::from_secs(5);

/// Splits a password cookie's value, `kid.exp.tag`, into its key id, expiry (unix
/// seconds) and tag bytes; `None` for anything else. Judges nothing.
pub fn parse_cookie(v: &str) -> Option<(&str, u64, Vec<u8>)> {
    let mut parts = v.splitn(3, '.');
    let (kid, exp, tag) = (parts.next()?, parts.next()?, parts.next()?);
    let exp = exp.parse::<u64>().ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    Some((kid, exp, tag))
}

fn cookie_data(id: &str, exp: u64) -> String {
    format!("{id}\n{exp}")
}

impl Password {
    /// True when the request carries a valid, unexpired password cookie for `id`, made
    /// with a key that is not revoked.
    fn has_cookie(&self, id: &str, ctx: &Ctx<'_>) -> bool {
        let name = cookie_name(id);
        ctx.headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .filter(|(n, _)| *n == name)
            .any(|(_, v)| {
                let Some((kid, exp, tag)) = parse_cookie(v) else {
                    return false;
                };
                exp >= ctx.now
                    && !self.state.is_key_revoked(kid)
                    && self.keyring.cookie_ok(kid, &cookie_data(id, exp), &tag)
            })
    }

    fn make_cookie(&self, id: &str, ctx: &Ctx<'_>) -> Option<String> {
        let kid = self
            .keyring
            .minting_ids()
            .find(|k| !self.state.is_key_revoked(k))?;
        let exp = ctx.now + COOKIE_TTL.as_secs();
        let tag = self.keyring.cookie_tag(kid, &cookie_data(id, exp))?;
        let secure = if ctx.tls || self.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        Some(format!(
            "{}={kid}.{exp}.{}; Max-Age={}; Path=/; HttpOnly; SameSite=Lax{secure}",
            cookie_name(id),
            URL_SAFE_NO_PAD.encode(tag),
            COOKIE_TTL.as_secs()
        ))
    }

    async fn hash_of(&self, g: &Grant) -> Result<Arc<str>, Reject> {
        match &g.password {
            PasswordRule::Hash(h) => Ok(h.clone()),
            PasswordRule::None => Err(Reject::Unenforceable),
            PasswordRule::Stored => match self.state.password_hash(&g.id).await {
                Ok(Some(h)) => Ok(h),
                // Minted with the flag but no hash is known (say, by `tollgate sign`): it
                // can never be proven.
                Ok(None) => Err(Reject::Unenforceable),
                Err(e) => {
                    tracing::error!(error = %e, "state store unavailable; refusing (fail closed)");
                    Err(Reject::StateUnavailable)
                }
            },
        }
    }

    async fn admit(&self, ctx: &mut Ctx<'_>) -> Result<(), Reject> {
        let Some(g) = &ctx.grant else {
            return Err(Reject::TokenMissing);
        };
        if !ctx.form_post && self.has_cookie(&g.id, ctx) {
            return Ok(());
        }
        let hash = self.hash_of(g).await?;
        let Some(attempt) = ctx.password_attempt.take() else {
            return Err(Reject::PasswordRequired);
        };
        let id = g.id.clone();
        let ip = ctx.client_ip;
        self.state
            .guesses
            .reserve(&id, ip)
            .map_err(|retry_after| Reject::TooManyGuesses { retry_after })?;
        match self
            .state
            .verifier
            .verify(&hash, &attempt, VERIFY_WAIT)
            .await
        {
            None => {
                self.state.guesses.refund(&id, ip);
                Err(Reject::Busy)
            }
            Some(false) => Err(Reject::PasswordWrong),
            Some(true) => {
                self.state.guesses.refund(&id, ip);
                if ctx.form_post {
                    ctx.set_cookie = self.make_cookie(&id, ctx);
                }
                Ok(())
            }
        }
    }
}

impl Filter for Password {
    fn name(&self) -> &'static str {
        "password"
    }

    /// Not free of effects: a wrong password spends a guess, which is the point.
    fn check<'a>(&'a self, ctx: &'a mut Ctx<'_>) -> Step<'a> {
        match &ctx.grant {
            None => Step::Reject(Reject::TokenMissing),
            Some(g) if !g.has_password() => Step::Pass,
            Some(_) => Step::Wait(Box::pin(self.admit(ctx))),
        }
    }
}
