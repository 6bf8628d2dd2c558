//! The embedded store: one redb file, written by one thread that groups every operation
//! waiting in its queue into a single write transaction, committed with
//! `Durability::Immediate` (fsync) before any of them is answered.
//!
//! One writer makes "count unless the limit is reached" atomic without locks: operations
//! on the same token are applied one after the other inside the transaction. Grouping makes
//! durability cost one commit per batch rather than one per request: under load, the
//! requests that arrive while a commit is in progress all ride on the next one.
//!
//! redb was chosen for being pure Rust (no C/C++ toolchain, unlike RocksDB), ACID with
//! crash-safe copy-on-write B-trees (a `kill -9` leaves the last committed state), and
//! actively maintained (sled, the other pure-Rust candidate, has been in beta for years).

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use redb::{Database, ReadableTable, TableDefinition};
use tokio::sync::oneshot;
use tracing::error;

use super::{
    CountOutcome, Link, Revocation, Snapshot, Store, StoreError, StoreFuture, TokenRecord,
};
use crate::metrics::Metrics;

const VIEWS: TableDefinition<&str, u64> = TableDefinition::new("views");
/// Key: the revocation as JSON (so equal revocations are stored once); value: when.
const REVOCATIONS: TableDefinition<&str, u64> = TableDefinition::new("revocations");
const TOKENS: TableDefinition<&str, &str> = TableDefinition::new("tokens");
const LINKS: TableDefinition<&str, &str> = TableDefinition::new("links");
/// Unix time of the last counted view, by the same key as `views`.
const LAST_ACCESS: TableDefinition<&str, u64> = TableDefinition::new("last_access");

/// Most operations committed together.
const MAX_BATCH: usize = 4096;

enum Op {
    Count { tid: String, limit: u64 },
    Uncount { tid: String },
    Views { tid: String },
    Revoke { r: Revocation },
    PutTokens { recs: Vec<TokenRecord> },
    GetToken { tid: String },
    Snapshot,
    PutLink { link: Link },
    GetLink { code: String },
    DeleteLink { code: String, at: u64 },
    LastAccess { key: String },
}

enum Outcome {
    Count(CountOutcome),
    Number(u64),
    Unit,
    Token(Option<TokenRecord>),
    Snapshot(Snapshot),
    Link(Option<Link>),
    Flag(bool),
    Time(Option<u64>),
}

type Reply = oneshot::Sender<Result<Outcome, StoreError>>;

pub struct Embedded {
    tx: mpsc::Sender<(Op, Reply)>,
}

fn db<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(e.into())
}

impl Embedded {
    /// Opens (or creates) `dir/tollgate.redb` and starts the writer thread.
    pub fn open(dir: &Path, metrics: Arc<Metrics>) -> Result<Embedded, StoreError> {
        let file = dir.join("tollgate.redb");
        let open_err = |e: redb::Error| StoreError::Open {
            path: file.display().to_string(),
            source: e,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.into()))?;
        let database = Database::create(&file).map_err(|e| open_err(e.into()))?;
        // Create the tables up front so readers never meet a missing one.
        let txn = database.begin_write().map_err(|e| open_err(e.into()))?;
        {
            txn.open_table(VIEWS).map_err(|e| open_err(e.into()))?;
            txn.open_table(REVOCATIONS)
                .map_err(|e| open_err(e.into()))?;
            txn.open_table(TOKENS).map_err(|e| open_err(e.into()))?;
            txn.open_table(LINKS).map_err(|e| open_err(e.into()))?;
            txn.open_table(LAST_ACCESS)
                .map_err(|e| open_err(e.into()))?;
        }
        txn.commit().map_err(|e| open_err(e.into()))?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("tollgate-store".into())
            .spawn(move || writer(database, rx, metrics))
            .map_err(|e| open_err(e.into()))?;
        Ok(Embedded { tx })
    }

    fn call(&self, op: Op) -> StoreFuture<'_, Outcome> {
        let (reply, rx) = oneshot::channel();
        let sent = self.tx.send((op, reply));
        Box::pin(async move {
            sent.map_err(|_| StoreError::Closed)?;
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }
}

fn writer(database: Database, rx: mpsc::Receiver<(Op, Reply)>, metrics: Arc<Metrics>) {
    let mut batch: Vec<(Op, Reply)> = Vec::with_capacity(64);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let result = apply(&database, &batch);
        metrics.store_commit(started.elapsed(), batch.len());
        match result {
            Ok(outcomes) => {
                for ((_, reply), out) in batch.drain(..).zip(outcomes) {
                    let _ = reply.send(Ok(out));
                }
            }
            Err(e) => {
                error!(error = %e, ops = batch.len(), "state commit failed");
                let msg = e.to_string();
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(StoreError::Db(redb::Error::Corrupted(msg.clone()))));
                }
            }
        }
    }
}

/// Applies a batch in one write transaction and commits it; answers are valid only if the
/// commit succeeds.
fn apply(database: &Database, batch: &[(Op, Reply)]) -> Result<Vec<Outcome>, StoreError> {
    let txn = database.begin_write().map_err(db)?;
    let mut out = Vec::with_capacity(batch.len());
    {
        let mut views = txn.open_table(VIEWS).map_err(db)?;
        let mut revs = txn.open_table(REVOCATIONS).map_err(db)?;
        let mut tokens = txn.open_table(TOKENS).map_err(db)?;
        let mut links = txn.open_table(LINKS).map_err(db)?;
        let mut access = txn.open_table(LAST_ACCESS).map_err(db)?;
        let now = crate::clock::now_unix();
        for (op, _) in batch {
            let o = match op {
                Op::Count { tid, limit } => {
                    let n = views
                        .get(tid.as_str())
                        .map_err(db)?
                        .map(|v| v.value())
                        .unwrap_or(0);
                    if n >= *limit {
                        Outcome::Count(CountOutcome::LimitReached(n))
                    } else {
                        views.insert(tid.as_str(), n + 1).map_err(db)?;
                        access.insert(tid.as_str(), now).map_err(db)?;
                        Outcome::Count(CountOutcome::Counted(n + 1))
                    }
                }
                Op::Uncount { tid } => {
                    let n = views
                        .get(tid.as_str())
                        .map_err(db)?
                        .map(|v| v.value())
                        .unwrap_or(0);
                    if n > 0 {
                        views.insert(tid.as_str(), n - 1).map_err(db)?;
                    }
                    Outcome::Unit
                }
                Op::Views { tid } => Outcome::Number(
                    views
                        .get(tid.as_str())
                        .map_err(db)?
                        .map(|v| v.value())
                        .unwrap_or(0),
                ),
                Op::Revoke { r } => {
                    let key = serde_json::to_string(r).map_err(StoreError::Decode)?;
                    let now = crate::clock::now_unix();
                    if revs.get(key.as_str()).map_err(db)?.is_none() {
                        revs.insert(key.as_str(), now).map_err(db)?;
                    }
                    Outcome::Unit
                }
                Op::PutTokens { recs } => {
                    for rec in recs {
                        let v = serde_json::to_string(rec).map_err(StoreError::Decode)?;
                        tokens
                            .insert(rec.token_id.as_str(), v.as_str())
                            .map_err(db)?;
                    }
                    Outcome::Unit
                }
                Op::GetToken { tid } => {
                    let rec = match tokens.get(tid.as_str()).map_err(db)? {
                        None => None,
                        Some(v) => {
                            Some(serde_json::from_str(v.value()).map_err(StoreError::Decode)?)
                        }
                    };
                    Outcome::Token(rec)
                }
                Op::PutLink { link } => {
                    let v = serde_json::to_string(link).map_err(StoreError::Decode)?;
                    links.insert(link.code.as_str(), v.as_str()).map_err(db)?;
                    Outcome::Unit
                }
                Op::GetLink { code } => Outcome::Link(get_link(&links, code)?),
                Op::DeleteLink { code, at } => match get_link(&links, code)? {
                    Some(mut l) if l.deleted_at.is_none() => {
                        l.deleted_at = Some(*at);
                        let v = serde_json::to_string(&l).map_err(StoreError::Decode)?;
                        links.insert(code.as_str(), v.as_str()).map_err(db)?;
                        Outcome::Flag(true)
                    }
                    _ => Outcome::Flag(false),
                },
                Op::LastAccess { key } => {
                    Outcome::Time(access.get(key.as_str()).map_err(db)?.map(|v| v.value()))
                }
                Op::Snapshot => {
                    let mut snap = Snapshot::default();
                    for item in revs.iter().map_err(db)? {
                        let (k, _) = item.map_err(db)?;
                        snap.revocations
                            .push(serde_json::from_str(k.value()).map_err(StoreError::Decode)?);
                    }
                    for item in views.iter().map_err(db)? {
                        let (k, v) = item.map_err(db)?;
                        snap.views.push((k.value().to_owned(), v.value()));
                    }
                    Outcome::Snapshot(snap)
                }
            };
            out.push(o);
        }
    }
    txn.commit().map_err(db)?;
    Ok(out)
}

fn get_link(links: &redb::Table<&str, &str>, code: &str) -> Result<Option<Link>, StoreError> {
    match links.get(code).map_err(db)? {
        None => Ok(None),
        Some(v) => serde_json::from_str(v.value())
            .map(Some)
            .map_err(StoreError::Decode),
    }
}

fn unexpected<T>() -> Result<T, StoreError> {
    Err(StoreError::Closed)
}

impl Store for Embedded {
    fn count_view(&self, tid: &str, limit: u64) -> StoreFuture<'_, CountOutcome> {
        let f = self.call(Op::Count {
            tid: tid.to_owned(),
            limit,
        });
        Box::pin(async move {
            match f.await? {
                Outcome::Count(c) => Ok(c),
                _ => unexpected(),
            }
        })
    }

    fn uncount_view(&self, tid: &str) -> StoreFuture<'_, ()> {
        let f = self.call(Op::Uncount {
            tid: tid.to_owned(),
        });
        Box::pin(async move { f.await.map(|_| ()) })
    }

    fn views(&self, tid: &str) -> StoreFuture<'_, u64> {
        let f = self.call(Op::Views {
            tid: tid.to_owned(),
        });
        Box::pin(async move {
            match f.await? {
                Outcome::Number(n) => Ok(n),
                _ => unexpected(),
            }
        })
    }

    fn revoke(&self, r: Revocation) -> StoreFuture<'_, ()> {
        let f = self.call(Op::Revoke { r });
        Box::pin(async move { f.await.map(|_| ()) })
    }

    fn put_tokens(&self, recs: Vec<TokenRecord>) -> StoreFuture<'_, ()> {
        let f = self.call(Op::PutTokens { recs });
        Box::pin(async move { f.await.map(|_| ()) })
    }

    fn token(&self, tid: &str) -> StoreFuture<'_, Option<TokenRecord>> {
        let f = self.call(Op::GetToken {
            tid: tid.to_owned(),
        });
        Box::pin(async move {
            match f.await? {
                Outcome::Token(t) => Ok(t),
                _ => unexpected(),
            }
        })
    }

    fn put_link(&self, link: Link) -> StoreFuture<'_, ()> {
        let f = self.call(Op::PutLink { link });
        Box::pin(async move { f.await.map(|_| ()) })
    }

    fn link(&self, code: &str) -> StoreFuture<'_, Option<Link>> {
        let f = self.call(Op::GetLink {
            code: code.to_owned(),
        });
        Box::pin(async move {
            match f.await? {
                Outcome::Link(l) => Ok(l),
                _ => unexpected(),
            }
        })
    }

    fn delete_link(&self, code: &str, at: u64) -> StoreFuture<'_, bool> {
        let f = self.call(Op::DeleteLink {
            code: code.to_owned(),
            at,
        });
        Box::pin(async move {
            match f.await? {
                Outcome::Flag(b) => Ok(b),
                _ => unexpected(),
            }
        })
    }

    fn last_access(&self, key: &str) -> StoreFuture<'_, Option<u64>> {
        let f = self.call(Op::LastAccess {
            key: key.to_owned(),
        });
        Box::pin(async move {
            match f.await? {
                Outcome::Time(t) => Ok(t),
                _ => unexpected(),
            }
        })
    }

    fn snapshot(&self) -> StoreFuture<'_, Snapshot> {
        let f = self.call(Op::Snapshot);
        Box::pin(async move {
            match f.await? {
                Outcome::Snapshot(s) => Ok(s),
                _ => unexpected(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_atomically_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let m = Arc::new(Metrics::default());
        {
            let s = Arc::new(Embedded::open(dir.path(), m.clone()).unwrap());
            let mut tasks = Vec::new();
            for _ in 0..200 {
                let s = s.clone();
                tasks.push(tokio::spawn(
                    async move { s.count_view("t", 7).await.unwrap() },
                ));
            }
            let mut counted = 0;
            for t in tasks {
                if matches!(t.await.unwrap(), CountOutcome::Counted(_)) {
                    counted += 1;
                }
            }
            assert_eq!(counted, 7);
            s.revoke(Revocation::Key { key_id: "k".into() })
                .await
                .unwrap();
            s.revoke(Revocation::Key { key_id: "k".into() })
                .await
                .unwrap();
            s.uncount_view("t").await.unwrap();
        }
        // The writer thread ends when its sender is dropped; the file is released with it.
        let s = loop {
            match Embedded::open(dir.path(), m.clone()) {
                Ok(s) => break s,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        };
        assert_eq!(s.views("t").await.unwrap(), 6);
        let snap = s.snapshot().await.unwrap();
        assert_eq!(
            snap.revocations,
            vec![Revocation::Key { key_id: "k".into() }]
        );
        assert_eq!(
            s.count_view("t", 7).await.unwrap(),
            CountOutcome::Counted(7)
        );
        assert_eq!(
            s.count_view("t", 7).await.unwrap(),
            CountOutcome::LimitReached(7)
        );
    }
}
