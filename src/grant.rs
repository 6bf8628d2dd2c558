//! A grant: what one credential allows, whatever kind of credential it came from.
//!
//! A token (in the query or as `Authorization: Bearer`) and a short link (`/s/{code}`) are
//! two spellings of the same thing: an id, maybe a signing key, a path binding, methods, a
//! validity window, limits and maybe a password. The proxy turns the request's credential
//! into one [`Grant`] and one filter chain judges it, so a rule written once (expiry,
//! revocation, views, passwords, rate limits) holds for every kind of credential.

use std::sync::Arc;

use ipnet::IpNet;

use crate::state::Link;
use crate::token::{Claims, Methods, Scope};

/// What request paths a grant is good for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// Exactly this path, in its canonical (percent-encoded) spelling.
    File(String),
    /// Every path under this canonical prefix (it ends with `/`).
    Prefix(String),
    /// A short link: the request names the link, the link names its target.
    Link,
}

/// How a grant's password is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordRule {
    None,
    /// A token minted with the password flag: its hash is in the state store, under the
    /// token id (the API stored it when it minted the token).
    Stored,
    /// A link's own argon2id hash.
    Hash(Arc<str>),
}

/// Where a short link sends its visitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The file at this decoded gateway path, served through its route.
    Path(String),
    /// An absolute http(s) URL, answered with a 302.
    External(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token id, or `l{code}` for a link: what revocation by id, password cookies and
    /// guess budgets are keyed by.
    pub id: String,
    /// The signing key, for tokens.
    pub key_id: Option<String>,
    pub binding: Binding,
    pub methods: Methods,
    pub issued_at: u64,
    pub expires_at: Option<u64>,
    pub not_before: Option<u64>,
    pub ip: Option<IpNet>,
    /// The most views this grant serves.
    pub max_views: Option<u64>,
    /// Views are counted even without a limit (links report their views).
    pub always_count: bool,
    pub password: PasswordRule,
    /// The key views and continuations are counted under, when it is not `id` itself
    /// (see [`Grant::view_key`]).
    view_key: Option<String>,
    pub download_name: Option<String>,
    /// A link's target; `None` for tokens.
    pub target: Option<Target>,
}

impl Grant {
    /// The grant of a verified token.
    pub fn from_claims(c: Claims) -> Grant {
        Grant {
            view_key: None,
            id: c.tid,
            key_id: Some(c.kid),
            binding: match c.scope {
                Scope::File => Binding::File(c.path),
                Scope::Prefix => Binding::Prefix(c.path),
            },
            methods: c.methods,
            issued_at: c.iat,
            expires_at: Some(c.exp),
            not_before: c.nbf,
            ip: c.ip,
            max_views: c.max_views,
            always_count: false,
            password: if c.password {
                PasswordRule::Stored
            } else {
                PasswordRule::None
            },
            download_name: c.download_name,
            target: None,
        }
    }

    /// The grant of a live short link.
    pub fn from_link(l: &Link) -> Grant {
        Grant {
            id: format!("l{}", l.code),
            key_id: None,
            binding: Binding::Link,
            methods: Methods::GET_HEAD,
            issued_at: l.created_at,
            expires_at: l.expires_at,
            not_before: None,
            ip: None,
            max_views: l.max_views,
            always_count: true,
            password: match &l.password_hash {
                Some(h) => PasswordRule::Hash(Arc::from(h.as_str())),
                None => PasswordRule::None,
            },
            view_key: Some(Link::view_key(&l.code)),
            download_name: None,
            target: Some(if l.is_external() {
                Target::External(l.target.clone())
            } else {
                Target::Path(l.target.clone())
            }),
        }
    }

    /// The key views and continuations are counted under: a token's id, a link's
    /// `link:{code}`.
    pub fn view_key(&self) -> &str {
        self.view_key.as_deref().unwrap_or(&self.id)
    }

    /// A token, not a link: bound by the route's `max_ttl`.
    pub fn is_token(&self) -> bool {
        self.key_id.is_some()
    }

    /// Answered with a redirect rather than bytes.
    pub fn is_redirect(&self) -> bool {
        matches!(self.target, Some(Target::External(_)))
    }

    /// Views are counted for this grant.
    pub fn counts_views(&self) -> bool {
        self.max_views.is_some() || self.always_count
    }

    /// The view limit, or no limit at all for a link that only reports its views.
    pub fn view_limit(&self) -> u64 {
        self.max_views.unwrap_or(u64::MAX)
    }

    pub fn has_password(&self) -> bool {
        self.password != PasswordRule::None
    }

    /// When the grant's state (used-up marks, continuation records) may be forgotten.
    pub fn forget_after(&self) -> u64 {
        self.expires_at.unwrap_or(u64::MAX)
    }
}
