//! The embedded store: one redb file, written by one thread that groups every operation
//! waiting in its queue into a single write transaction, committed with
//! `Durability::Immediate` (fsync) before any of them is answered. Reads do not queue
//! behind the writer: each runs in a read transaction of its own on the blocking pool (redb
//! readers see the last commit and never wait for a writer). The writer's queue is
//! bounded: past [`QUEUE`] waiting writes, a write fails at once with `Busy` (503 to the
//! client) rather than letting memory and latency grow without end.
//!
//! One writer makes "count unless the limit is reached" atomic without locks: operations
//! on the same token are applied one after the other inside the transaction. Grouping makes
//! durability cost one commit per batch rather than one per request: under load, the
//! requests that arrive while a commit is in progress all ride on the next one.
//!
//! redb was chosen for being pure Rust (no C/C++ toolchain, unlike RocksDB), ACID with
//! crash-safe copy-on-write B-trees (a `kill -9` leaves the last committed state), and
//! actively maintained (sled, the other pure-Rust candidate, has been in beta for years).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;
use tracing::{error, info};

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
/// Most writes waiting for the writer.
pub const QUEUE: usize = 16_384;
/// How often the writer tries to reopen a database closed after an I/O error.
const REOPEN_EVERY: Duration = Duration::from_millis(500);

enum Op {
    Count { tid: String, limit: u64 },
    Uncount { tid: String },
    Revoke { r: Revocation },
    PutTokens { recs: Vec<TokenRecord> },
    PutLink { link: Link },
    DeleteLink { code: String, at: u64 },
}

enum Outcome {
    Count(CountOutcome),
    Unit,
    Flag(bool),
}

type Reply = oneshot::Sender<Result<Outcome, StoreError>>;

/// The open database, shared by the writer and the readers. `None` while the writer
/// reopens it after an I/O error.
///
/// Why it can be swapped: once any write fails (ENOSPC on a full disk, EIO), redb fails
/// every later operation, reads included, with `PreviousIo` until the database is closed
/// and opened again. With a fixed handle the store stayed down after the disk had room
/// again, until the process was restarted (tests/faults.rs, disk full). The last commit
/// that succeeded is intact on disk (redb commits by switching its header), so reopening
/// loses nothing durable.
type Slot = Arc<RwLock<Option<Arc<Database>>>>;

pub struct Embedded {
    db: Slot,
    tx: mpsc::SyncSender<(Op, Reply)>,
}

fn db<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(e.into())
}

/// Opens (or creates) the database file, with every table created up front so readers
/// never meet a missing one.
fn create(file: &Path) -> Result<Database, redb::Error> {
    let database = Database::create(file)?;
    let txn = database.begin_write()?;
    {
        txn.open_table(VIEWS)?;
        txn.open_table(REVOCATIONS)?;
        txn.open_table(TOKENS)?;
        txn.open_table(LINKS)?;
        txn.open_table(LAST_ACCESS)?;
    }
    txn.commit()?;
    Ok(database)
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
        let database = create(&file).map_err(open_err)?;
        let db: Slot = Arc::new(RwLock::new(Some(Arc::new(database))));
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let writer_db = db.clone();
        let writer_file = file.clone();
        std::thread::Builder::new()
            .name("tollgate-store".into())
            .spawn(move || writer(writer_file, &writer_db, rx, metrics))
            .map_err(|e| open_err(e.into()))?;
        Ok(Embedded { db, tx })
    }

    fn call(&self, op: Op) -> StoreFuture<'_, Outcome> {
        let (reply, rx) = oneshot::channel();
        let sent = self.tx.try_send((op, reply));
        Box::pin(async move {
            match sent {
                Ok(()) => {}
                Err(mpsc::TrySendError::Full(_)) => return Err(StoreError::Busy),
                Err(mpsc::TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
            }
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }

    /// Runs `f` in a read transaction on the blocking pool.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let database = current(&self.db);
        Box::pin(async move {
            let database = database.ok_or(StoreError::Db(redb::Error::PreviousIo))?;
            tokio::task::spawn_blocking(move || f(&database.begin_read().map_err(db)?))
                .await
                .map_err(|_| StoreError::Closed)?
        })
    }
}

fn current(slot: &Slot) -> Option<Arc<Database>> {
    slot.read().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Errors after which redb answers `PreviousIo` to everything until reopened.
fn needs_reopen(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Db(redb::Error::Io(_) | redb::Error::PreviousIo)
    )
}

fn writer(file: PathBuf, slot: &Slot, rx: mpsc::Receiver<(Op, Reply)>, metrics: Arc<Metrics>) {
    let mut batch: Vec<(Op, Reply)> = Vec::with_capacity(64);
    let mut next_reopen = Instant::now();
    loop {
        // Closed after an I/O error: reopen, at most every REOPEN_EVERY, whether or not
        // writes come in (reads need it too). Until then every operation fails (503).
        if current(slot).is_none() && Instant::now() >= next_reopen {
            next_reopen = Instant::now() + REOPEN_EVERY;
            match create(&file) {
                Ok(d) => {
                    info!("state store reopened after an I/O error");
                    *slot.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(d));
                }
                Err(e) => error!(error = %e, "state store still failing; cannot reopen"),
            }
        }
        let first = if current(slot).is_some() {
            rx.recv().map_err(|_| ())
        } else {
            match rx.recv_timeout(REOPEN_EVERY) {
                Ok(op) => Ok(op),
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => Err(()),
            }
        };
        let Ok(first) = first else { return };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let result = match current(slot) {
            Some(database) => apply(&database, &batch),
            None => Err(StoreError::Db(redb::Error::PreviousIo)),
        };
        metrics.store_commit(started.elapsed(), batch.len());
        if let Err(e) = &result
            && needs_reopen(e)
        {
            // Drop this handle. A read may still hold the old one for a moment: the reopen
            // above then fails (`DatabaseAlreadyOpen`) and is tried again later.
            slot.write().unwrap_or_else(PoisonError::into_inner).take();
        }
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
                    let _ = reply.send(Err(StoreError::CommitFailed(msg.clone())));
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
                Op::PutLink { link } => {
                    let v = serde_json::to_string(link).map_err(StoreError::Decode)?;
                    links.insert(link.code.as_str(), v.as_str()).map_err(db)?;
                    Outcome::Unit
                }
                Op::DeleteLink { code, at } => match get_link(&links, code)? {
                    Some(mut l) if l.deleted_at.is_none() => {
                        l.deleted_at = Some(*at);
                        let v = serde_json::to_string(&l).map_err(StoreError::Decode)?;
                        links.insert(code.as_str(), v.as_str()).map_err(db)?;
                        Outcome::Flag(true)
                    }
                    _ => Outcome::Flag(false),
                },
            };
            out.push(o);
        }
    }
    txn.commit().map_err(db)?;
    Ok(out)
}

fn get_link(
    links: &impl ReadableTable<&'static str, &'static str>,
    code: &str,
) -> Result<Option<Link>, StoreError> {
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
        let tid = tid.to_owned();
        self.read(move |txn| {
            let views = txn.open_table(VIEWS).map_err(db)?;
            Ok(views
                .get(tid.as_str())
                .map_err(db)?
                .map(|v| v.value())
                .unwrap_or(0))
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
        let tid = tid.to_owned();
        self.read(move |txn| {
            let tokens = txn.open_table(TOKENS).map_err(db)?;
            match tokens.get(tid.as_str()).map_err(db)? {
                None => Ok(None),
                Some(v) => serde_json::from_str(v.value())
                    .map(Some)
                    .map_err(StoreError::Decode),
            }
        })
    }

    fn put_link(&self, link: Link) -> StoreFuture<'_, ()> {
        let f = self.call(Op::PutLink { link });
        Box::pin(async move { f.await.map(|_| ()) })
    }

    fn link(&self, code: &str) -> StoreFuture<'_, Option<Link>> {
        let code = code.to_owned();
        self.read(move |txn| get_link(&txn.open_table(LINKS).map_err(db)?, &code))
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
        let key = key.to_owned();
        self.read(move |txn| {
            let access = txn.open_table(LAST_ACCESS).map_err(db)?;
            Ok(access.get(key.as_str()).map_err(db)?.map(|v| v.value()))
        })
    }

    fn snapshot(&self) -> StoreFuture<'_, Snapshot> {
        self.read(|txn| {
            let revs = txn.open_table(REVOCATIONS).map_err(db)?;
            let views = txn.open_table(VIEWS).map_err(db)?;
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
            Ok(snap)
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
