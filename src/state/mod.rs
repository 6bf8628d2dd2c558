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
use crate::grant::Grant;
use crate::metrics::Metrics;

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

    /// Where links are served on the data plane: `/s/{code}`.
    pub const PREFIX: &'static str = "/s/";

    /// Short codes are 16 base64url characters (96 random bits).
    pub const CODE_LEN: usize = 16;

    pub fn valid_code(code: &str) -> bool {
        code.len() == Self::CODE_LEN
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    /// A code in a log line: enough to tell links apart, too little to use one.
    pub fn redacted(code: &str) -> String {
        format!("{}…", code.get(..4).unwrap_or(""))
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
    #[error("the state store has too many writes waiting")]
    Busy,
    /// The batch this operation rode on was not committed (the writer logged the cause).
    #[error("the state commit failed: {0}")]
    CommitFailed(String),
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
    /// View keys known to have used all their views, with when they may be forgotten (their
    /// grant's expiry): refused without a store round trip.
    used_up: DashMap<String, u64>,
    /// The last counted view per view key, for continuations.
    views: DashMap<String, ViewRecord>,
    /// Password hashes by token id, once read from the store.
    password_hashes: DashMap<String, Option<Arc<str>>>,
    /// Links by code, once read, and codes recently found unknown.
    links: DashMap<String, CachedLink>,
    pub guesses: crate::limits::GuessBudget,
    pub verifier: crate::password::Verifier,
    /// Bumped by every view given back. An answer of the store that a give-back may have
    /// overtaken (a "used up" computed before it) is not cached: the store is asked again.
    refunds: std::sync::atomic::AtomicU64,
    metrics: Arc<Metrics>,
}

/// The last counted view of a token or link, which its continuations continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewRecord {
    pub ip: IpAddr,
    /// The decoded request path the view was for.
    pub path: Box<str>,
    pub at: Instant,
    /// The size of the file the view served, once an answer said it.
    pub size: Option<u64>,
    /// Bytes carried by this view's continuations so far: never more than `size`.
    pub continued: u64,
    /// Unix time after which the record is useless (the grant has expired).
    pub forget_after: u64,
}

#[derive(Debug, Clone)]
enum CachedLink {
    Known(Arc<Link>),
    /// No such code, as of this instant.
    Unknown(Instant),
}

/// How long an unknown short code is answered from memory.
const UNKNOWN_LINK_TTL: Duration = Duration::from_secs(10);

/// Entries each hot-path table may hold. Past it, new entries are not cached: every table
/// is a cache of the store (or, for continuation records, a favour to the client), so
/// leaving an entry out costs a store round trip or a counted view, never a wrong answer.
pub const MAX_CACHED: usize = 1_000_000;
/// Entries the link and password-hash caches may hold.
pub const MAX_CACHED_RECORDS: usize = 100_000;

/// Continuation records older than this are dropped; no route's grace may exceed it.
pub const MAX_VIEW_GRACE: Duration = crate::config::MAX_VIEW_GRACE;

/// Inserts unless the table is full (an existing key is always updated).
fn insert_bounded<V>(map: &DashMap<String, V>, cap: usize, key: &str, value: V) {
    if map.len() < cap || map.contains_key(key) {
        map.insert(key.to_owned(), value);
    }
}

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
            used_up: DashMap::new(),
            views: DashMap::new(),
            password_hashes: DashMap::new(),
            links: DashMap::new(),
            guesses: crate::limits::GuessBudget::default(),
            // At most two argon2 computations at once: one core stays for the data plane.
            verifier: crate::password::Verifier::new(2),
            refunds: std::sync::atomic::AtomicU64::new(0),
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
                s.prune(crate::clock::now_unix());
            }
        });
        Ok(state)
    }

    /// Drops what can no longer matter: marks and records of expired grants, continuation
    /// records past every grace, unknown-code entries past their time, spent guess budgets.
    pub fn prune(&self, now: u64) {
        self.used_up.retain(|_, forget_after| *forget_after >= now);
        self.views
            .retain(|_, v| v.forget_after >= now && v.at.elapsed() < MAX_VIEW_GRACE);
        self.links.retain(|_, l| match l {
            CachedLink::Known(_) => true,
            CachedLink::Unknown(at) => at.elapsed() < UNKNOWN_LINK_TTL,
        });
        self.guesses.prune();
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

    /// Memory only: is this grant revoked for a request that serves `decoded_path`? A
    /// prefix revocation is judged on the path served, so a prefix token stays good for the
    /// paths outside the revoked subtree, and a link is judged on its target.
    pub fn is_revoked(&self, g: &Grant, decoded_path: &str) -> bool {
        if self.revoked_tokens.contains(&g.id) {
            return true;
        }
        if let Some(kid) = &g.key_id {
            let keys = self.revoked_keys.load();
            if !keys.is_empty() && keys.contains(kid) {
                return true;
            }
        }
        let prefixes = self.revoked_prefixes.load();
        prefixes.iter().any(|(p, before)| {
            g.issued_at < *before && crate::path::under(decoded_path, p.as_str())
        })
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
    pub fn is_used_up(&self, key: &str) -> bool {
        self.used_up.contains_key(key)
    }

    /// True when the last counted view of `key` was for `path` from `ip` within `grace`,
    /// and, when the request wants `bytes`, its continuations have not yet carried a whole
    /// copy of the file.
    pub fn may_continue(
        &self,
        key: &str,
        ip: IpAddr,
        path: &str,
        grace: Duration,
        bytes: bool,
    ) -> bool {
        self.views.get(key).is_some_and(|v| {
            v.ip == ip
                && &*v.path == path
                && v.at.elapsed() <= grace
                && (!bytes || v.size.is_none_or(|size| v.continued < size))
        })
    }

    /// Takes `len` bytes of a file of `total` bytes from the continuation budget of the last
    /// view of `key`, atomically; `false` (nothing taken) when this answer is not a
    /// continuation of that view: another client, path or file, past the grace, or more than
    /// one whole copy in all.
    pub fn take_continuation(
        &self,
        key: &str,
        ip: IpAddr,
        path: &str,
        grace: Duration,
        len: u64,
        total: u64,
    ) -> bool {
        let Some(mut v) = self.views.get_mut(key) else {
            return false;
        };
        if v.ip != ip || &*v.path != path || v.at.elapsed() > grace {
            return false;
        }
        let size = *v.size.get_or_insert(total);
        if size != total || v.continued.saturating_add(len) > size {
            return false;
        }
        v.continued += len;
        true
    }

    /// Counts a view durably (see [`Store::count_view`]). Its continuation record is
    /// started only once its answer is known to carry bytes ([`State::start_view`]), so a
    /// view given back leaves nothing that a continuation could use.
    pub async fn count_view(
        &self,
        key: &str,
        limit: u64,
        forget_after: u64,
    ) -> Result<CountOutcome, StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        let epoch = self.refunds.load(SeqCst);
        let out = self.store.count_view(key, limit).await?;
        let used_up = match out {
            CountOutcome::Counted(n) => {
                self.metrics
                    .views_counted
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                n >= limit
            }
            CountOutcome::LimitReached(_) => true,
        };
        if used_up && self.refunds.load(SeqCst) == epoch {
            insert_bounded(&self.used_up, MAX_CACHED, key, forget_after);
        }
        Ok(out)
    }

    /// Starts the continuation record of a counted view whose answer carries bytes: the
    /// view's client, path, file size, and the bytes of the copy it already carries when
    /// it is itself a range (`sent`). Replaces the record of the view before.
    pub fn start_view(
        &self,
        key: &str,
        ip: IpAddr,
        path: &str,
        size: Option<u64>,
        sent: u64,
        forget_after: u64,
    ) {
        let record = ViewRecord {
            ip,
            path: path.into(),
            at: Instant::now(),
            size,
            continued: sent,
            forget_after,
        };
        insert_bounded(&self.views, MAX_CACHED, key, record);
    }

    /// Gives back a view counted by [`State::count_view`] whose answer sent no bytes. No
    /// continuation record was made for it.
    pub async fn uncount_view(&self, key: &str) -> Result<(), StoreError> {
        self.refunds
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.store.uncount_view(key).await?;
        self.used_up.remove(key);
        Ok(())
    }

    pub async fn views(&self, key: &str) -> Result<u64, StoreError> {
        self.store.views(key).await
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
        insert_bounded(&self.password_hashes, MAX_CACHED_RECORDS, tid, h.clone());
        Ok(h)
    }

    pub async fn put_link(&self, link: Link) -> Result<(), StoreError> {
        self.store.put_link(link.clone()).await?;
        self.links
            .insert(link.code.clone(), CachedLink::Known(Arc::new(link)));
        Ok(())
    }

    /// A link, live or deleted, from the cache or the store. A read never overwrites what
    /// the cache already holds: a delete that raced with it wrote the newer record.
    pub async fn link(&self, code: &str) -> Result<Option<Arc<Link>>, StoreError> {
        if let Some(l) = self.links.get(code) {
            match &*l {
                CachedLink::Known(l) => return Ok(Some(l.clone())),
                CachedLink::Unknown(at) if at.elapsed() < UNKNOWN_LINK_TTL => return Ok(None),
                CachedLink::Unknown(_) => {}
            }
        }
        let found = self.store.link(code).await?.map(Arc::new);
        if self.links.len() >= MAX_CACHED_RECORDS {
            return Ok(found);
        }
        let entry = self.links.entry(code.to_owned());
        let cached = match (entry, &found) {
            (dashmap::Entry::Occupied(mut e), Some(l)) => {
                // Only an expired unknown-code entry is replaced by what the store said.
                if matches!(e.get(), CachedLink::Unknown(_)) {
                    e.insert(CachedLink::Known(l.clone()));
                }
                e.get().clone()
            }
            (dashmap::Entry::Occupied(e), None) => e.get().clone(),
            (dashmap::Entry::Vacant(e), Some(l)) => {
                e.insert(CachedLink::Known(l.clone()));
                return Ok(found);
            }
            (dashmap::Entry::Vacant(e), None) => {
                e.insert(CachedLink::Unknown(Instant::now()));
                return Ok(None);
            }
        };
        Ok(match cached {
            CachedLink::Known(l) => Some(l),
            CachedLink::Unknown(_) => found,
        })
    }

    /// Durable first, then the cache: once this returns, `/s/{code}` answers 410.
    pub async fn delete_link(&self, code: &str) -> Result<bool, StoreError> {
        let now = crate::clock::now_unix();
        let deleted = self.store.delete_link(code, now).await?;
        if deleted && let Some(l) = self.store.link(code).await? {
            self.links
                .insert(code.to_owned(), CachedLink::Known(Arc::new(l)));
        }
        Ok(deleted)
    }

    pub async fn last_access(&self, key: &str) -> Result<Option<u64>, StoreError> {
        self.store.last_access(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// The embedded store, with `link` reads that can be held back to race a delete.
    struct SlowReads {
        inner: embedded::Embedded,
        hold: AtomicBool,
        released: tokio::sync::Notify,
        reading: tokio::sync::Notify,
    }

    impl Store for SlowReads {
        fn count_view(&self, tid: &str, limit: u64) -> StoreFuture<'_, CountOutcome> {
            self.inner.count_view(tid, limit)
        }
        fn uncount_view(&self, tid: &str) -> StoreFuture<'_, ()> {
            self.inner.uncount_view(tid)
        }
        fn views(&self, tid: &str) -> StoreFuture<'_, u64> {
            self.inner.views(tid)
        }
        fn revoke(&self, r: Revocation) -> StoreFuture<'_, ()> {
            self.inner.revoke(r)
        }
        fn put_tokens(&self, recs: Vec<TokenRecord>) -> StoreFuture<'_, ()> {
            self.inner.put_tokens(recs)
        }
        fn token(&self, tid: &str) -> StoreFuture<'_, Option<TokenRecord>> {
            self.inner.token(tid)
        }
        fn snapshot(&self) -> StoreFuture<'_, Snapshot> {
            self.inner.snapshot()
        }
        fn put_link(&self, link: Link) -> StoreFuture<'_, ()> {
            self.inner.put_link(link)
        }
        fn link(&self, code: &str) -> StoreFuture<'_, Option<Link>> {
            let read = self.inner.link(code);
            Box::pin(async move {
                // Read the record now (before the delete), answer only once released.
                let found = read.await;
                if self.hold.swap(false, Ordering::SeqCst) {
                    self.reading.notify_one();
                    self.released.notified().await;
                }
                found
            })
        }
        fn delete_link(&self, code: &str, at: u64) -> StoreFuture<'_, bool> {
            self.inner.delete_link(code, at)
        }
        fn last_access(&self, key: &str) -> StoreFuture<'_, Option<u64>> {
            self.inner.last_access(key)
        }
    }

    fn link(code: &str) -> Link {
        Link {
            code: code.into(),
            target: "/files/a.pdf".into(),
            expires_at: None,
            max_views: None,
            password_hash: None,
            created_at: 1,
            created_by: "t".into(),
            deleted_at: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_that_raced_a_delete_cannot_bring_the_link_back() {
        let dir = tempfile::tempdir().unwrap();
        let m = Arc::new(Metrics::default());
        let store = Arc::new(SlowReads {
            inner: embedded::Embedded::open(dir.path(), m.clone()).unwrap(),
            hold: AtomicBool::new(false),
            released: tokio::sync::Notify::new(),
            reading: tokio::sync::Notify::new(),
        });
        store.put_link(link("AAAAAAAAAAAAAAAA")).await.unwrap();
        // A fresh State: the link is not cached yet, so the next read goes to the store.
        let state = State::with_store(store.clone(), m).await.unwrap();
        store.hold.store(true, Ordering::SeqCst);
        let reader = {
            let state = state.clone();
            tokio::spawn(async move { state.link("AAAAAAAAAAAAAAAA").await })
        };
        // The read has its (live) record in hand; the delete goes through meanwhile.
        store.reading.notified().await;
        assert!(state.delete_link("AAAAAAAAAAAAAAAA").await.unwrap());
        store.released.notify_one();
        let _ = reader.await.unwrap().unwrap();
        let cached = state.link("AAAAAAAAAAAAAAAA").await.unwrap().unwrap();
        assert!(cached.deleted_at.is_some(), "the stale read won");
    }

    #[tokio::test]
    async fn unknown_codes_are_cached_and_caches_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(
            &StateConfig::Embedded {
                path: dir.path().to_owned(),
            },
            Arc::new(Metrics::default()),
        )
        .await
        .unwrap();
        assert!(state.link("BBBBBBBBBBBBBBBB").await.unwrap().is_none());
        assert!(matches!(
            state.links.get("BBBBBBBBBBBBBBBB").as_deref(),
            Some(CachedLink::Unknown(_))
        ));
        // Creating the link replaces the miss at once.
        state.put_link(link("BBBBBBBBBBBBBBBB")).await.unwrap();
        assert!(state.link("BBBBBBBBBBBBBBBB").await.unwrap().is_some());
        // A full table takes no new keys but still updates the ones it has.
        let map: DashMap<String, u64> = DashMap::new();
        insert_bounded(&map, 2, "a", 1);
        insert_bounded(&map, 2, "b", 1);
        insert_bounded(&map, 2, "c", 1);
        insert_bounded(&map, 2, "a", 2);
        assert_eq!(map.len(), 2);
        assert_eq!(*map.get("a").unwrap(), 2);
        // Used-up marks and continuation records go once their grant has expired.
        state.used_up.insert("t".into(), 100);
        state.prune(101);
        assert!(!state.is_used_up("t"));
    }
}
