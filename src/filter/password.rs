//! `password`: a token minted with a password (or a short link created with one) is served
//! only to a client that proves it knows the password:
//!
//! - a program sends `X-Tollgate-Password: <password>`;
//! - a browser gets a form, posts `password=` back to the same URL, and on success gets a
//!   303 to that URL with a cookie bound to the token (HMAC over its id and expiry, by a
//!   signing key) that stands for the password for [`COOKIE_TTL`].
//!
//! Every attempt (right or wrong) takes one of [`GUESSES_PER_MINUTE`] per token or link;
//! past that, 429 with `Retry-After`, before any argon2 work is done. Verification runs on
//! the blocking pool, two at a time at most. Only argon2id hashes are stored.
//! Needs `signature` earlier in the chain.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Ctx, Filter, Reject, Step};
use crate::password::{COOKIE_TTL, cookie_name};
use crate::state::State;
use crate::token::Keyring;

#[allow(unused_imports)]
use crate::limits::GUESSES_PER_MINUTE;

pub struct Password {
    pub state: Arc<State>,
    pub keyring: Arc<Keyring>,
}

/// The header programs send the password in.
pub const HEADER: &str = "x-tollgate-password";

/// Longest a caller waits for an argon2 slot before getting 503.
const VERIFY_WAIT: Duration = Duration::from_secs(5);

fn cookie_data(id: &str, exp: u64) -> String {
    format!("{id}\n{exp}")
}

/// True when the request carries a valid, unexpired password cookie for `id`.
fn has_cookie(keyring: &Keyring, id: &str, ctx: &Ctx<'_>) -> bool {
    let name = cookie_name(id);
    ctx.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .any(|(_, v)| {
            let Some((exp, tag)) = v.split_once('.') else {
                return false;
            };
            let (Ok(exp), Ok(tag)) = (exp.parse::<u64>(), URL_SAFE_NO_PAD.decode(tag)) else {
                return false;
            };
            exp >= ctx.now && keyring.cookie_ok(&cookie_data(id, exp), &tag)
        })
}

fn make_cookie(keyring: &Keyring, id: &str, ctx: &Ctx<'_>) -> Option<String> {
    let exp = ctx.now + COOKIE_TTL.as_secs();
    let tag = keyring.cookie_tag(&cookie_data(id, exp))?;
    let secure = if ctx.tls { "; Secure" } else { "" };
    Some(format!(
        "{}={exp}.{}; Max-Age={}; Path=/; HttpOnly; SameSite=Lax{secure}",
        cookie_name(id),
        URL_SAFE_NO_PAD.encode(tag),
        COOKIE_TTL.as_secs()
    ))
}

/// Admits a request to something protected by `hash`, identified by `id` (a token id, or
/// `l<code>` for a link). Shared by the filter and the short-link handler.
pub async fn admit(
    state: &State,
    keyring: &Keyring,
    id: &str,
    hash: &str,
    ctx: &mut Ctx<'_>,
) -> Result<(), Reject> {
    if !ctx.form_post && has_cookie(keyring, id, ctx) {
        return Ok(());
    }
    let Some(attempt) = ctx.password_attempt.take() else {
        return Err(Reject::PasswordRequired);
    };
    state
        .guesses
        .attempt(id)
        .map_err(|retry_after| Reject::TooManyGuesses { retry_after })?;
    match state.verifier.verify(hash, &attempt, VERIFY_WAIT).await {
        None => Err(Reject::Busy),
        Some(false) => Err(Reject::PasswordWrong),
        Some(true) => {
            if ctx.form_post {
                ctx.set_cookie = make_cookie(keyring, id, ctx);
            }
            Ok(())
        }
    }
}

impl Filter for Password {
    fn name(&self) -> &'static str {
        "password"
    }

    /// Not free of effects: an attempt uses one of the token's guesses, which is the point.
    fn check<'a>(&'a self, ctx: &'a mut Ctx<'_>) -> Step<'a> {
        let Some(c) = &ctx.claims else {
            return Step::Reject(Reject::TokenMissing);
        };
        if !c.password {
            return Step::Pass;
        }
        let tid = c.tid.clone();
        Step::Wait(Box::pin(async move {
            let hash = match self.state.password_hash(&tid).await {
                Ok(Some(h)) => h,
                // Minted with the flag but no hash is known: it can never be proven.
                Ok(None) => return Err(Reject::Unenforceable),
                Err(e) => {
                    tracing::error!(error = %e, "state store unavailable; refusing (fail closed)");
                    return Err(Reject::StateUnavailable);
                }
            };
            admit(&self.state, &self.keyring, &tid, &hash, ctx).await
        }))
    }
}
