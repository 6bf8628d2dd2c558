//! `dir`: files under a local directory, streamed in fixed-size chunks.
//!
//! Confinement: the path is re-checked segment by segment, then opened with
//! `openat2(RESOLVE_BENEATH)` relative to the root, opened once: the kernel refuses any
//! resolution that leaves the root (`..`, a symlink pointing out, an absolute symlink), in
//! one syscall and with no window between checking a path and opening it. Where the kernel
//! has no `openat2` (before 5.6, or a seccomp filter), and for the absolute symlinks it
//! refuses, the path is resolved with `realpath` and refused unless it stays inside the
//! (already resolved) root. Directories are never listed.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED,
};
use http::{HeaderValue, Method, Response, StatusCode};

use super::range::{RangeAnswer, Validators, parse_range};
use super::{ExistsFuture, Origin, OriginError, OriginFuture, OriginRequest};
use crate::body::Body;

/// Read size per chunk: 4096 reads per GiB, each short enough (tens of microseconds from the
/// page cache) not to hold up the other connections of the worker that reads it, while the
/// memory per download stays small (a couple of chunks in flight).
pub const CHUNK: usize = 256 * 1024;

/// Files up to this size are read whole right after they are opened, before the response
/// head is built: one read, and one hop when the origin uses the blocking pool.
pub const SMALL: u64 = 64 * 1024;

pub struct DirOrigin {
    root: Arc<Root>,
    /// Open and read on tokio's blocking pool rather than on the serving worker.
    blocking_pool: bool,
    /// Unix second of the last "slow open" warning, so that a stalling disk logs once a
    /// minute, not once a request.
    warned_at: AtomicU64,
}

/// An open (plus read, for a small file) slower than this on the serving worker held up
/// every other connection of that worker: worth a warning that names the remedy.
const SLOW_OPEN: Duration = Duration::from_millis(20);

struct Root {
    /// Canonical (symlinks resolved) at config time.
    path: PathBuf,
    /// The root opened once (`O_PATH`), for `openat2`; `None` where the kernel refuses it.
    /// Like `path`, fixed when the config is loaded: a root directory replaced on disk is
    /// picked up by a reload (SIGHUP), which builds a new origin.
    fd: Option<OwnedFd>,
}

struct Opened {
    file: File,
    /// The whole content, for files of at most [`SMALL`] bytes.
    small: Option<bytes::Bytes>,
    len: u64,
    modified: std::time::SystemTime,
}

impl DirOrigin {
    pub fn new(root: PathBuf, blocking_pool: bool) -> DirOrigin {
        let fd = open_root(&root);
        DirOrigin {
            root: Arc::new(Root { path: root, fd }),
            blocking_pool,
            warned_at: AtomicU64::new(0),
        }
    }

    /// Opens (and reads, if small) where the config says; larger files are then streamed
    /// from the same place. On the serving worker by default: an open that hits the page
    /// cache takes a few microseconds, while the hop to the blocking pool and back costs two
    /// thread wake-ups, which measured 2.4x the CPU per 1 KiB request, and cost a 1 GiB
    /// download a third of its speed (docs/performance.md). nginx makes the same choice
    /// (`aio off`).
    async fn open_here_or_in_pool(
        &self,
        path: String,
        read_small: bool,
    ) -> Result<Opened, OriginError> {
        if self.blocking_pool {
            let root = self.root.clone();
            return tokio::task::spawn_blocking(move || DirOrigin::open(&root, &path, read_small))
                .await
                .map_err(|e| OriginError::Io(std::io::Error::other(e)))?;
        }
        let started = Instant::now();
        let opened = DirOrigin::open(&self.root, &path, read_small);
        let took = started.elapsed();
        if took > SLOW_OPEN {
            let now = crate::clock::now_unix();
            let last = self.warned_at.load(Ordering::Relaxed);
            if now >= last + 60
                && self
                    .warned_at
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                tracing::warn!(
                    root = %self.root.path.display(),
                    ms = took.as_millis() as u64,
                    "slow open on a dir origin held up its worker; set blocking_pool = true on this origin if its storage stalls"
                );
            }
        }
        opened
    }

    fn open(root: &Root, rel: &str, read_small: bool) -> Result<Opened, OriginError> {
        crate::path::check_segments(rel).map_err(|_| OriginError::OutsideRoot)?;
        let rel = rel.trim_start_matches('/');
        if rel.is_empty() || rel.ends_with('/') {
            return Err(OriginError::NotFound);
        }
        let file = match root.fd.as_ref().and_then(|fd| open_beneath(fd, rel)) {
            Some(opened) => opened?,
            None => open_resolved(&root.path, rel)?,
        };
        let meta = file.metadata().map_err(OriginError::Io)?;
        if !meta.is_file() {
            return Err(OriginError::NotFound);
        }
        let small = if read_small && meta.len() <= SMALL {
            use std::io::Read;
            let mut buf = vec![0; meta.len() as usize];
            match (&file).read_exact(&mut buf) {
                Ok(()) => Some(bytes::Bytes::from(buf)),
                // Shrunk while we looked: stream it like any other file (and end short).
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => None,
                Err(e) => return Err(OriginError::Io(e)),
            }
        } else {
            None
        };
        Ok(Opened {
            file,
            small,
            len: meta.len(),
            modified: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
        })
    }
}

/// `NONBLOCK`: opening a FIFO (or a device) placed under the root must not wait for a
/// writer and hold up the worker; it is then refused as not a regular file. Reads of
/// regular files ignore the flag.
const OPEN_FLAGS: rustix::fs::OFlags = rustix::fs::OFlags::RDONLY
    .union(rustix::fs::OFlags::CLOEXEC)
    .union(rustix::fs::OFlags::NOCTTY)
    .union(rustix::fs::OFlags::NONBLOCK);

fn beneath() -> rustix::fs::ResolveFlags {
    rustix::fs::ResolveFlags::BENEATH | rustix::fs::ResolveFlags::NO_MAGICLINKS
}

/// Opens the root for `openat2`, and checks once that the kernel (and any seccomp filter)
/// allows `openat2`, so that a refusal is not paid again on every request.
fn open_root(root: &Path) -> Option<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    rustix::fs::openat2(
        &fd,
        ".",
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        beneath(),
    )
    .ok()?;
    Some(fd)
}

/// `openat2(RESOLVE_BENEATH)`: `None` when the kernel refused to resolve the path beneath
/// the root (`EXDEV`): an escape, or an absolute symlink, which [`open_resolved`] judges.
fn open_beneath(fd: &OwnedFd, rel: &str) -> Option<Result<File, OriginError>> {
    use rustix::io::Errno;
    // EAGAIN: a rename elsewhere on the system raced the lookup; the kernel asks to retry.
    for _ in 0..4 {
        match rustix::fs::openat2(fd, rel, OPEN_FLAGS, rustix::fs::Mode::empty(), beneath()) {
            Ok(f) => return Some(Ok(File::from(f))),
            Err(Errno::AGAIN) => continue,
            Err(Errno::XDEV) => return None,
            Err(e) => return Some(Err(not_found_or_io(e.into()))),
        }
    }
    None
}

/// The portable way: resolve every symlink with `realpath`, refuse what lands outside the
/// root, then open what was resolved.
fn open_resolved(root: &Path, rel: &str) -> Result<File, OriginError> {
    let real = std::fs::canonicalize(root.join(rel)).map_err(not_found_or_io)?;
    if !real.starts_with(root) {
        return Err(OriginError::OutsideRoot);
    }
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(OPEN_FLAGS.bits() as i32)
        .open(&real)
        .map_err(not_found_or_io)
}

fn not_found_or_io(e: std::io::Error) -> OriginError {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound | NotADirectory | PermissionDenied | InvalidFilename => OriginError::NotFound,
        _ => OriginError::Io(e),
    }
}

fn header(v: &str) -> HeaderValue {
    // Every value built here is ASCII (hex digits, HTTP dates, MIME types).
    HeaderValue::from_str(v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

impl Origin for DirOrigin {
    /// Headers never leave the process: nothing to clean or add.
    fn sends_headers(&self) -> bool {
        false
    }

    fn exists(&self, path: &str) -> ExistsFuture<'_> {
        let root = self.root.clone();
        let path = path.to_owned();
        Box::pin(async move {
            let r = tokio::task::spawn_blocking(move || DirOrigin::open(&root, &path, false))
                .await
                .map_err(|e| OriginError::Io(std::io::Error::other(e)))?;
            match r {
                Ok(_) => Ok(true),
                Err(OriginError::NotFound | OriginError::OutsideRoot) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn serve(&self, req: OriginRequest) -> OriginFuture<'_> {
        Box::pin(async move {
            let head = match req.method {
                Method::GET => false,
                Method::HEAD => true,
                _ => return Err(OriginError::MethodNotAllowed),
            };
            // By the name asked for: a symlink under the root is served as what it is called.
            let mime = mime_guess::from_path(&req.path).first_or_octet_stream();
            let opened = self.open_here_or_in_pool(req.path, !head).await?;

            let v = Validators::new(opened.len, opened.modified);
            let mut resp = Response::builder()
                .header(ETAG, header(&v.etag))
                .header(LAST_MODIFIED, header(&httpdate::fmt_http_date(v.modified)))
                .header(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            if v.not_modified(&req.headers) {
                return resp
                    .status(StatusCode::NOT_MODIFIED)
                    .body(Body::empty())
                    .map_err(|e| OriginError::Io(std::io::Error::other(e)));
            }
            resp = resp.header(CONTENT_TYPE, header(mime.essence_str()));

            let answer = match v.range(&req.headers) {
                Some(r) if !head => parse_range(r, opened.len),
                _ => RangeAnswer::Full,
            };
            let (status, start, count) = match answer {
                RangeAnswer::Full => (StatusCode::OK, 0, opened.len),
                RangeAnswer::Part { start, end } => {
                    resp = resp.header(
                        CONTENT_RANGE,
                        header(&format!("bytes {start}-{end}/{}", opened.len)),
                    );
                    (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
                }
                RangeAnswer::Unsatisfiable => {
                    return Err(OriginError::RangeNotSatisfiable { len: opened.len });
                }
            };
            resp = resp
                .status(status)
                .header(CONTENT_LENGTH, HeaderValue::from(count));
            let body = if head || count == 0 {
                Body::empty()
            } else if let Some(data) = opened.small {
                Body::full(data.slice(start as usize..(start + count) as usize))
            } else {
                let mut file = opened.file;
                if start > 0 {
                    file.seek(SeekFrom::Start(start)).map_err(OriginError::Io)?;
                }
                if self.blocking_pool {
                    Body::file(tokio::fs::File::from_std(file), count, CHUNK)
                } else {
                    Body::file_here(file, count, CHUNK)
                }
            };
            resp.body(body)
                .map_err(|e| OriginError::Io(std::io::Error::other(e)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confinement() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        std::fs::write(tmp.path().join("secret.txt"), "s").unwrap();
        let link = |target: &Path, name: &str| std::os::unix::fs::symlink(target, root.join(name));
        link(&tmp.path().join("secret.txt"), "link").unwrap();
        link(tmp.path(), "up").unwrap();
        link(Path::new("../secret.txt"), "rel-out").unwrap();
        link(Path::new("sub/../a.txt"), "rel-in").unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        link(&root.join("a.txt"), "abs-in").unwrap();
        // Opening a FIFO without O_NONBLOCK would wait for a writer, forever.
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("fifo"))
            .status()
            .unwrap();
        assert!(fifo.success());

        let beneath = DirOrigin::new(root.clone(), false);
        // This kernel has openat2: the fast path is the one under test, not the fallback.
        assert!(beneath.root.fd.is_some());
        let resolved = DirOrigin {
            root: Arc::new(Root {
                path: root.clone(),
                fd: None,
            }),
            blocking_pool: false,
            warned_at: AtomicU64::new(0),
        };
        for o in [&beneath, &resolved] {
            for good in ["/a.txt", "/rel-in", "/abs-in"] {
                let f =
                    DirOrigin::open(&o.root, good, true).unwrap_or_else(|e| panic!("{good}: {e}"));
                assert_eq!(f.small.as_deref(), Some(&b"a"[..]), "{good}");
            }
            for bad in [
                "/link",
                "/up/secret.txt",
                "/rel-out",
                "/../secret.txt",
                "/a.txt/..",
                "/x\\y",
            ] {
                assert!(
                    matches!(
                        DirOrigin::open(&o.root, bad, true),
                        Err(OriginError::OutsideRoot)
                    ),
                    "{bad}"
                );
            }
            for absent in ["/missing", "/", "/sub", "/sub/", "/a.txt/x", "/fifo"] {
                assert!(
                    matches!(
                        DirOrigin::open(&o.root, absent, true),
                        Err(OriginError::NotFound)
                    ),
                    "{absent}"
                );
            }
        }
    }
}
