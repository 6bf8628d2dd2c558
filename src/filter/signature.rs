//! `signature`: the request carries a token that this gateway minted for exactly this
//! request: key, MAC, validity window, method, path or prefix, client address, and the rest
//! of the query string. On success the verified [`Claims`](crate::token::Claims) are left in
//! the context for later filters.

use std::sync::Arc;
use std::time::Duration;

use super::{Ctx, Filter, Reject, Step};
use crate::token::{self, Keyring, Scope};

pub struct Signature {
    pub keyring: Arc<Keyring>,
    pub clock_skew: Duration,
    pub max_ttl: Duration,
    /// The route runs `view_limit`: tokens with `max_views` can be honoured.
    pub enforces_views: bool,
    /// The route runs `password`: tokens with the password flag can be honoured.
    pub enforces_password: bool,
}

impl Signature {
    fn verify(&self, ctx: &mut Ctx<'_>) -> Result<(), Reject> {
        let mut auth = ctx.headers.get_all(http::header::AUTHORIZATION).iter();
        let bearer = auth
            .next()
            .and_then(|v| v.to_str().ok())
            .and_then(token::bearer);
        if bearer.is_some() && auth.next().is_some() {
            // Two Authorization headers: which one counts is ambiguous, so neither does.
            return Err(Reject::Find(token::FindError::Duplicate));
        }
        let found = token::find(ctx.query, bearer)?;
        let Some(tok) = found.token else {
            return Err(Reject::TokenMissing);
        };
        let enc = token::split(tok)?;
        let claims = self.keyring.verify(&enc, &found.rest)?;

        // From here on the claims are authentic; check them against this request.
        let skew = self.clock_skew.as_secs();
        let now = ctx.now;
        if claims.iat > now + skew {
            return Err(Reject::IssuedInFuture);
        }
        if claims.nbf.is_some_and(|nbf| now + skew < nbf) {
            return Err(Reject::NotYetValid);
        }
        if claims.exp.saturating_sub(claims.iat) > self.max_ttl.as_secs() {
            return Err(Reject::TtlTooLong);
        }
        if now > claims.exp.saturating_add(skew) {
            return Err(Reject::Expired);
        }
        if !claims.methods.allows(ctx.method) {
            return Err(Reject::MethodNotAllowed);
        }
        if !ctx.path.is_canonical(ctx.raw_path) {
            return Err(Reject::PathNotCanonical);
        }
        let path_ok = match claims.scope {
            Scope::File => ctx.raw_path == claims.path,
            Scope::Prefix => ctx.raw_path.starts_with(claims.path.as_str()),
        };
        if !path_ok {
            return Err(Reject::PathMismatch);
        }
        if claims.ip.is_some_and(|net| !net.contains(&ctx.client_ip)) {
            return Err(Reject::IpMismatch);
        }
        // A token whose rules this route cannot enforce is refused rather than served
        // without them (fail closed).
        if (claims.max_views.is_some() && !self.enforces_views)
            || (claims.password && !self.enforces_password)
        {
            return Err(Reject::Unenforceable);
        }
        ctx.strip_authorization = found.from_header;
        ctx.forward_query = found.rest;
        ctx.claims = Some(claims);
        Ok(())
    }
}

impl Filter for Signature {
    fn name(&self) -> &'static str {
        "signature"
    }

    fn check<'a>(&'a self, ctx: &'a mut Ctx<'_>) -> Step<'a> {
        self.verify(ctx).into()
    }
}
