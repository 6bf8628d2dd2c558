//! `revocation`: refuses (410) a grant revoked by id, by signing key, or by path prefix and
//! issue time. Reads the in-memory cache only; the cache holds every revocation the store
//! does. Every chain that judges grants has it (see [`super::Chain::new`]).

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
        match &ctx.grant {
            // Config validation puts `signature` first, which refuses a request without a
            // grant; passing here would fail open, so refuse too.
            None => Step::Reject(Reject::TokenMissing),
            Some(g) if self.state.is_revoked(g, ctx.target) => Step::Reject(Reject::Revoked),
            Some(_) => Step::Pass,
        }
    }
}
