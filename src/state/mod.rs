//! Durable state: view counts, revocations, and the records the control API keeps.
//!
//! Two layers. A [`Store`] is the durable truth (the embedded redb file today; Redis can
//! implement the same trait). [`State`] wraps it with an in-memory cache that the hot path
//! reads without I/O or a global lock: revoked token ids in a `DashSet`, revoked keys and
//! prefixes in `ArcSwap`ped snapshots, and the ids of tokens known to be used up. A request
//! for a token with no view limit never touches the store.
//!
//! Writes go to the store first and reach the cache only once durable, so the cache never
//! claims more than the disk holds; a revocation is in both before the API answers.

pub mod embedded;

use std::collections::HashSet;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use dashmap::{DashMap, DashSet};
use serde::{Deserialize, Serialize};

use crate::config::StateConfig;
use crate::metrics::Metrics;
use crate::token::Claims;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Revocation {
    /// One token, by id.
    Token { token_id: String },
    /// Every token signed with this key, whenever issued: the key is compromised.
    Key { key_id: String },
    /// Every token for a path under `prefix` issued before `issued_before` (unix seconds).
    Prefix { prefix: String, issued_before: u64 },
}

/// What the control API remembers of a token it minted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub token_id: String,
    pub path: String,
    pub key_id: String,
    pub issued_at: u64,
    pub expires_at: u64,
    pub max_views: Option<u64>,
    /// The API key that minted it.
    pub minted_by: String,
    /// argon2id PHC string, when the token needs a password.
    #[serde(default)]
    pub password_hash: Option<String>,
}

/// A short link: `/s/{code}` on the data plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub code: String,
    /// An absolute http(s) URL (answered with 302) or a path under a route (served).
    pub target: String,
    pub expires_at: Option<u64>,
    pub max_views: Option<u64>,
    pub password_hash: Option<String>,
    pub created_at: u64,
    pub created_by: String,
    pub deleted_at: Option<u64>,
}

impl Link {
    pub fn is_external(&self) -> bool {
        !self.target.starts_with('/')
    }

    /// The key its views are counted under (token ids never contain `:`).
    pub fn view_key(code: &str) -> String {
        format!("link:{code}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountOutcome {
    /// Counted; the total after counting.
    Counted(u64),
    /// Not counted: the limit was already reached.
    LimitReached(u64),
}

/// Everything the cache is rebuilt from at start-up.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub revocations: Vec<Revocation>,
    /// Token ids with their counted views.
    pub views: Vec<(String, u64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the state store at `{path}`: {source}")]
    Open {
        path: String,
        #[source]
        source: redb::Error,
    },
    #[error("the state store failed: {0}")]
    Db(#[source] redb::Error),
    #[error("a state record could not be decoded: {0}")]
    Decode(#[source] serde_json::Error),
    #[error("the state store is not running")]
    Closed,
    #[error("state backend `{0}` is not implemented in this version")]
    Unsupported(&'static str),
}

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The durable side. Every method that writes returns only once the write is durable.
pub trait Store: Send + Sync + 'static {
    /// Counts one view of `tid` unless `limit` views are already counted, atomically with
    /// respect to every other call for the same `tid`.
    fn count_view(&self, tid: &str, limit: u64) -> StoreFuture<'_, CountOutcome>;
    /// Gives back one view counted for a request that ended up sending no bytes.
    fn uncount_view(&self, tid: &str) -> StoreFuture<'_, ()>;
    fn views(&self, tid: &str) -> StoreFuture<'_, u64>;
    fn revoke(&self, r: Revocation) -> StoreFuture<'_, ()>;
    fn put_tokens(&self, recs: Vec<TokenRecord>) -> StoreFuture<'_, ()>;
    fn token(&self, tid: &str) -> StoreFuture<'_, Option<TokenRecord>>;
    fn snapshot(&self) -> StoreFuture<'_, Snapshot>;
    fn put_link(&self, link: Link) -> StoreFuture<'_, ()>;
    fn link(&self, code: &str) -> StoreFuture<'_, Option<Link>>;
    /// Marks a link deleted; `false` if there was no such live link.
    fn delete_link(&self, code: &str, at: u64) -> StoreFuture<'_, bool>;
    /// Unix time of the last counted view of a token or link key.
    fn last_access(&self, key: &str) -> StoreFuture<'_, Option<u64>>;
}

/// The store plus the hot-path cache.
pub struct State {
    store: Arc<dyn Store>,
    revoked_tokens: DashSet<String>,
    revoked_keys: ArcSwap<HashSet<String>>,
    revoked_prefixes: ArcSwap<Vec<(String, u64)>>,
    /// Tokens known to have used all their views: refused without a store round trip.
    used_up: DashSet<String>,
    /// The last counted view per token: client address and when. A `Range` request from the
    /// same address within the route's grace period continues that view.
    last_view: DashMap<String, (IpAddr, Instant)>,
    /// Password hashes by token id, once read from the store.
    password_hashes: DashMap<String, Option<Arc<str>>>,
    /// Links by code, once read; deletions update it before the API answers.
    links: DashMap<String, Arc<Link>>,
    pub guesses: crate::limits::GuessLimits,
    pub verifier: crate::password::Verifier,
    metrics: Arc<Metrics>,
}

/// The last counted view of a token: from which address, and when.
pub type LastView = (IpAddr, Instant);

/// Entries of `last_view` older than this are dropped; no route's grace may exceed it.
pub const MAX_VIEW_GRACE: Duration = Duration::from_secs(24 * 3600);

impl State {
    pub async fn open(cfg: &StateConfig, metrics: Arc<Metrics>) -> Result<Arc<State>, StoreError> {
        let store: Arc<dyn Store> = match cfg {
            StateConfig::Embedded { path } => {
                Arc::new(embedded::Embedded::open(path, metrics.clone())?)
            }
            StateConfig::Redis { .. } => return Err(StoreError::Unsupported("redis")),
        };
        Self::with_store(store, metrics).await
    }

    pub async fn with_store(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<State>, StoreError> {
        let snap = store.snapshot().await?;
        let state = State {
            store,
            revoked_tokens: DashSet::new(),
            revoked_keys: ArcSwap::from_pointee(HashSet::new()),
            revoked_prefixes: ArcSwap::from_pointee(Vec::new()),
            used_up: DashSet::new(),
            last_view: DashMap::new(),
            password_hashes: DashMap::new(),
            links: DashMap::new(),
            guesses: crate::limits::GuessLimits::default(),
            // At most two argon2 verifications at once: one core stays for the data plane.
            verifier: crate::password::Verifier::new(2),
            metrics,
        };
        for r in snap.revocations {
            state.remember(r);
        }
        // Used-up tokens are learnt lazily (a store call tells), so start-up needs only the
        // revocations; the views are in the store.
        let _ = snap.views;
        let state = Arc::new(state);
        let weak = Arc::downgrade(&state);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(s) = weak.upgrade() else { return };
                s.last_view
                    .retain(|_, (_, at)| at.elapsed() < MAX_VIEW_GRACE);
                s.guesses.prune();
            }
        });
        Ok(state)
    }

    fn remember(&self, r: Revocation) {
        match r {
            Revocation::Token { token_id } => {
                self.revoked_tokens.insert(token_id);
            }
            Revocation::Key { key_id } => {
                self.revoked_keys.rcu(|old| {
                    let mut s = HashSet::clone(old);
                    s.insert(key_id.clone());
                    s
                });
            }
            Revocation::Prefix {
                prefix,
                issued_before,
            } => {
                self.revoked_prefixes.rcu(|old| {
                    let mut v = Vec::clone(old);
                    v.push((prefix.clone(), issued_before));
                    v
                });
            }
        }
    }

    /// Memory only: is this (verified) token revoked for a request to `decoded_path`?
    /// A prefix revocation is judged on the request's path, so a prefix token stays good for
    /// the paths outside the revoked subtree.
    pub fn is_revoked(&self, c: &Claims, decoded_path: &str) -> bool {
        if self.revoked_tokens.contains(&c.tid) {
            return true;
        }
        let keys = self.revoked_keys.load();
        if !keys.is_empty() && keys.contains(&c.kid) {
            return true;
        }
        let prefixes = self.revoked_prefixes.load();
        prefixes
            .iter()
            .any(|(p, before)| c.iat < *before && decoded_path.starts_with(p.as_str()))
    }

    pub fn is_key_revoked(&self, kid: &str) -> bool {
        self.revoked_keys.load().contains(kid)
    }

    /// Durable first, then in the cache: when this returns, requests are refused.
    pub async fn revoke(&self, r: Revocation) -> Result<(), StoreError> {
        self.store.revoke(r.clone()).await?;
        self.remember(r);
        self.metrics
            .revocations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Memory only: known to be used up?
    pub fn is_used_up(&self, tid: &str) -> bool {
        self.used_up.contains(tid)
    }

    /// True when a `Range` request from `ip` continues the last counted view of `tid`.
    pub fn continues_view(&self, tid: &str, ip: IpAddr, grace: Duration) -> bool {
        self.last_view
            .get(tid)
            .is_some_and(|v| v.0 == ip && v.1.elapsed() <= grace)
    }

    /// Counts a view durably (see [`Store::count_view`]) and remembers it for grace. Also
    /// returns the grace record it replaced, for [`State::uncount_view`] to put back.
    pub async fn count_view(
        &self,
        tid: &str,
        limit: u64,
        ip: IpAddr,
    ) -> Result<(CountOutcome, Option<LastView>), StoreError> {
        let out = self.store.count_view(tid, limit).await?;
        let mut prev = None;
        match out {
            CountOutcome::Counted(n) => {
                self.metrics
                    .views_counted
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                prev = self.last_view.insert(tid.to_owned(), (ip, Instant::now()));
                if n >= limit {
                    self.used_up.insert(tid.to_owned());
                }
            }
            CountOutcome::LimitReached(_) => {
                self.used_up.insert(tid.to_owned());
            }
        }
        Ok((out, prev))
    }

    /// Gives back a view counted by [`State::count_view`], restoring the grace record that
    /// counting replaced (so a 304 does not take over the grace of the view before it).
    pub async fn uncount_view(&self, tid: &str, prev: Option<LastView>) -> Result<(), StoreError> {
        self.store.uncount_view(tid).await?;
        self.used_up.remove(tid);
        match prev {
            Some(p) => {
                self.last_view.insert(tid.to_owned(), p);
            }
            None => {
                self.last_view.remove(tid);
            }
        }
        Ok(())
    }

    pub async fn views(&self, tid: &str) -> Result<u64, StoreError> {
        self.store.views(tid).await
    }

    pub async fn put_tokens(&self, recs: Vec<TokenRecord>) -> Result<(), StoreError> {
        self.store.put_tokens(recs).await
    }

    pub async fn token(&self, tid: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.store.token(tid).await
    }

    /// The password hash of a token minted with one (cached after the first read).
    pub async fn password_hash(&self, tid: &str) -> Result<Option<Arc<str>>, StoreError> {
        if let Some(h) = self.password_hashes.get(tid) {
            return Ok(h.clone());
        }
        let h: Option<Arc<str>> = self
            .store
            .token(tid)
            .await?
            .and_then(|r| r.password_hash)
            .map(Arc::from);
        self.password_hashes.insert(tid.to_owned(), h.clone());
        Ok(h)
    }

    pub async fn put_link(&self, link: Link) -> Result<(), StoreError> {
        self.store.put_link(link.clone()).await?;
        self.links.insert(link.code.clone(), Arc::new(link));
        Ok(())
    }

    /// A link, live or deleted, from the cache or the store.
    pub async fn link(&self, code: &str) -> Result<Option<Arc<Link>>, StoreError> {
        if let Some(l) = self.links.get(code) {
            return Ok(Some(l.clone()));
        }
        let Some(link) = self.store.link(code).await? else {
            return Ok(None);
        };
        let link = Arc::new(link);
        self.links.insert(code.to_owned(), link.clone());
        Ok(Some(link))
    }

    /// Durable first, then the cache: once this returns, `/s/{code}` answers 410.
    pub async fn delete_link(&self, code: &str) -> Result<bool, StoreError> {
        let now = crate::proxy::now_unix();
        let deleted = self.store.delete_link(code, now).await?;
        if deleted && let Some(l) = self.store.link(code).await? {
            self.links.insert(code.to_owned(), Arc::new(l));
        }
        Ok(deleted)
    }

    pub async fn last_access(&self, key: &str) -> Result<Option<u64>, StoreError> {
        self.store.last_access(key).await
    }
}
