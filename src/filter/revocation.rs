//! `revocation`: refuses (410) a token revoked by id, by key, or by path prefix and issue
//! time. Reads the in-memory cache only; the cache holds every revocation the store does.
//! Needs `signature` earlier in the chain.

use std::sync::Arc;

use super::{Ctx, Filter, Reject, Step};
use crate::state::State;

pub struct Revocation {
    pub state: Arc<State>,
}

impl Filter for Revocation {
    fn name(&self) -> &'static str {
        "revocation"
    }

    fn check<'a>(&'a self, ctx: &'a mut Ctx<'_>) -> Step<'a> {
        match &ctx.claims {
            // Config validation puts `signature` first; without claims there is nothing to
            // judge, and passing would fail open, so refuse.
            None => Step::Reject(Reject::TokenMissing),
            Some(c) if self.state.is_revoked(c, &ctx.path.decoded) => Step::Reject(Reject::Revoked),
            Some(_) => Step::Pass,
        }
    }
}
