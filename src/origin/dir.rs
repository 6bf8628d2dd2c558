//! `dir`: files under a local directory, streamed in fixed-size chunks.
//!
//! Confinement: the path is re-checked segment by segment, joined under the root, and the
//! result resolved with `realpath`; anything that resolves outside the (already resolved)
//! root, through `..` or a symlink, is refused. Directories are never listed.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED,
};
use http::{HeaderValue, Method, Response, StatusCode};

use super::range::{RangeAnswer, Validators, parse_range};
use super::{ExistsFuture, Origin, OriginError, OriginFuture, OriginRequest};
use crate::body::Body;

/// Read size per chunk. 256 KiB keeps the blocking-pool round trips per GiB low while the
/// memory per download stays small (a couple of chunks in flight).
pub const CHUNK: usize = 256 * 1024;

/// Files up to this size are read whole in the same blocking-pool hop that opens them, so a
/// small file costs one hop instead of two.
pub const SMALL: u64 = 64 * 1024;

pub struct DirOrigin {
    /// Canonical (symlinks resolved) at config time.
    root: Arc<PathBuf>,
}

struct Opened {
    file: File,
    /// The whole content, for files of at most [`SMALL`] bytes.
    small: Option<bytes::Bytes>,
    len: u64,
    modified: std::time::SystemTime,
    path: PathBuf,
}

impl DirOrigin {
    pub fn new(root: PathBuf) -> DirOrigin {
        DirOrigin {
            root: Arc::new(root),
        }
    }

    fn open(root: &Path, rel: &str, read_small: bool) -> Result<Opened, OriginError> {
        crate::path::check_segments(rel).map_err(|_| OriginError::OutsideRoot)?;
        let rel = rel.trim_start_matches('/');
        if rel.is_empty() || rel.ends_with('/') {
            return Err(OriginError::NotFound);
        }
        let joined = root.join(rel);
        let real = std::fs::canonicalize(&joined).map_err(not_found_or_io)?;
        if !real.starts_with(root) {
            return Err(OriginError::OutsideRoot);
        }
        let file = File::open(&real).map_err(not_found_or_io)?;
        let meta = file.metadata().map_err(OriginError::Io)?;
        if !meta.is_file() {
            return Err(OriginError::NotFound);
        }
        let small = if read_small && meta.len() <= SMALL {
            use std::io::Read;
            let mut buf = Vec::with_capacity(meta.len() as usize);
            (&file)
                .take(SMALL)
                .read_to_end(&mut buf)
                .map_err(OriginError::Io)?;
            if buf.len() as u64 != meta.len() {
                // Changed while we looked: stream it like any other file.
                None
            } else {
                Some(bytes::Bytes::from(buf))
            }
        } else {
            None
        };
        Ok(Opened {
            file,
            small,
            len: meta.len(),
            modified: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
            path: real,
        })
    }
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
            let root = self.root.clone();
            let path = req.path;
            let opened = tokio::task::spawn_blocking(move || DirOrigin::open(&root, &path, !head))
                .await
                .map_err(|e| OriginError::Io(std::io::Error::other(e)))??;

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
            let mime = mime_guess::from_path(&opened.path).first_or_octet_stream();
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
                Body::file(tokio::fs::File::from_std(file), count, CHUNK)
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
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        std::fs::write(tmp.path().join("secret.txt"), "s").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret.txt"), root.join("link")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), root.join("up")).unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        assert!(DirOrigin::open(&root, "/a.txt", true).is_ok());
        for bad in [
            "/link",
            "/up/secret.txt",
            "/../secret.txt",
            "/a.txt/..",
            "/x\\y",
        ] {
            assert!(
                matches!(
                    DirOrigin::open(&root, bad, true),
                    Err(OriginError::OutsideRoot)
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            DirOrigin::open(&root, "/missing", true),
            Err(OriginError::NotFound)
        ));
        assert!(matches!(
            DirOrigin::open(&root, "/", true),
            Err(OriginError::NotFound)
        ));
    }
}
