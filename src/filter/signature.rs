//! `signature`: the request carries a credential, and its grant holds for exactly this
//! request: validity window, lifetime, method, path or prefix, client address, and rules
//! the route can enforce.
//!
//! The credential itself was read and verified before the chain (a token's MAC by the
//! keyring, in constant time; a short code by its record, see `proxy::credential`); this
//! filter judges what it grants. A route without `signature` serves without a credential.

use std::time::Duration;

use super::{Ctx, Filter, Reject, Step};
use crate::grant::{Binding, Grant};

pub struct Signature {
    pub clock_skew: Duration,
    pub max_ttl: Duration,
    /// The route runs `view_limit`: grants with `max_views` can be honoured.
    pub enforces_views: bool,
    /// The route runs `password`: grants with a password can be honoured.
    pub enforces_password: bool,
}

impl Signature {
    fn judge(&self, g: &Grant, ctx: &Ctx<'_>) -> Result<(), Reject> {
        let skew = self.clock_skew.as_secs();
        let now = ctx.now;
        if g.issued_at > now + skew {
            return Err(Reject::IssuedInFuture);
        }
        if g.not_before.is_some_and(|nbf| now + skew < nbf) {
            return Err(Reject::NotYetValid);
        }
        if let Some(exp) = g.expires_at {
            if g.is_token() {
                // A token may come from another machine's clock: allow for the skew.
                if exp.saturating_sub(g.issued_at) > self.max_ttl.as_secs() {
                    return Err(Reject::TtlTooLong);
                }
                if now > exp.saturating_add(skew) {
                    return Err(Reject::Expired);
                }
            } else if now >= exp {
                // A link's expiry was set and is judged on this clock.
                return Err(Reject::Expired);
            }
        }
        if !g.methods.allows(ctx.method) {
            return Err(Reject::MethodNotAllowed);
        }
        let path_ok = match &g.binding {
            Binding::File(p) => ctx.raw_path == p,
            Binding::Prefix(p) => ctx.raw_path.starts_with(p.as_str()),
            Binding::Link => true,
        };
        if !matches!(g.binding, Binding::Link) && !ctx.path.is_canonical(ctx.raw_path) {
            return Err(Reject::PathNotCanonical);
        }
        if !path_ok {
            return Err(Reject::PathMismatch);
        }
        if g.ip.is_some_and(|net| !net.contains(&ctx.client_ip)) {
            return Err(Reject::IpMismatch);
        }
        // A grant whose rules this route cannot enforce is refused rather than served
        // without them (fail closed).
        if (g.max_views.is_some() && !self.enforces_views)
            || (g.has_password() && !self.enforces_password)
        {
            return Err(Reject::Unenforceable);
        }
        Ok(())
    }
}

impl Filter for Signature {
    fn name(&self) -> &'static str {
        "signature"
    }

    fn check<'a>(&'a self, ctx: &'a mut Ctx<'_>) -> Step<'a> {
        match &ctx.grant {
            None => Step::Reject(Reject::TokenMissing),
            Some(g) => self.judge(g, ctx).into(),
        }
    }
}
