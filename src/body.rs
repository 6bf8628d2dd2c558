//! The one body type that flows through the gateway, in both directions.
//!
//! An enum rather than a boxed trait object: no allocation per response, and each source
//! keeps its own exact size hint (so hyper can send `Content-Length` and HTTP/2 can end the
//! stream with the last data frame).

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::io::Take;
use tokio::time::Sleep;
use tokio_util::io::ReaderStream;

use crate::metrics::InFlight;
use crate::server::guard::Progress;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub struct Body {
    kind: Kind,
    /// Held while the body is alive, so that the in-flight gauge falls when the last byte is
    /// sent or the client goes away, not when the head is written.
    _in_flight: Option<InFlight>,
}

enum Kind {
    Empty,
    Full(Option<Bytes>),
    File {
        stream: ReaderStream<Take<tokio::fs::File>>,
        remaining: u64,
    },
    /// A file read on the serving worker, one chunk per poll, straight into the buffer that
    /// is sent: no blocking-pool hop and no copy out of `tokio::fs::File`'s own buffer.
    FileHere {
        file: std::fs::File,
        remaining: u64,
        chunk: usize,
        /// Bytes handed to hyper so far: chunks grow with it (see [`ramp`]).
        sent: u64,
    },
    /// A body from the origin, with a limit on silence between frames.
    Upstream {
        inner: Incoming,
        idle: Duration,
        /// Armed only when the origin first makes us wait: most small bodies arrive with
        /// their head and never need a timer.
        timer: Option<Pin<Box<Sleep>>>,
    },
    /// The client's request body on its way to an origin; each frame read is progress for
    /// the connection's `send_timeout`.
    Request(Incoming, Option<Progress>),
}

/// The smallest chunk a file body starts with.
const FIRST_CHUNK: usize = 16 * 1024;

/// The next chunk's size once `sent` bytes went out: a quarter of what was sent, from
/// [`FIRST_CHUNK`] up to `max`. A client that reads nothing stalls within its socket
/// buffers, early, and then holds one small chunk rather than a full one (soak: 1000 slow
/// readers held 285 KiB each with 256 KiB chunks); a download that keeps up reaches full
/// chunks after `4 * max` bytes, so large files pay a handful of extra reads.
fn ramp(sent: u64, max: usize) -> usize {
    ((sent / 4) as usize).clamp(FIRST_CHUNK.min(max), max)
}

#[derive(Debug, thiserror::Error)]
#[error("the origin sent nothing for {0:?}")]
pub struct IdleTimeout(pub Duration);

impl Body {
    fn of(kind: Kind) -> Body {
        Body {
            kind,
            _in_flight: None,
        }
    }

    pub fn empty() -> Body {
        Body::of(Kind::Empty)
    }

    pub fn full(b: impl Into<Bytes>) -> Body {
        Body::of(Kind::Full(Some(b.into())))
    }

    /// Streams `len` bytes of an already positioned file in chunks of `chunk` bytes.
    pub fn file(file: tokio::fs::File, len: u64, chunk: usize) -> Body {
        use tokio::io::AsyncReadExt;
        Body::of(Kind::File {
            stream: ReaderStream::with_capacity(file.take(len), chunk),
            remaining: len,
        })
    }

    /// Streams `len` bytes of an already positioned file in chunks of `chunk` bytes, read on
    /// the polling worker (see `origin::dir` for when that is the right place).
    pub fn file_here(file: std::fs::File, len: u64, chunk: usize) -> Body {
        Body::of(Kind::FileHere {
            file,
            remaining: len,
            chunk,
            sent: 0,
        })
    }

    pub fn upstream(inner: Incoming, idle: Duration) -> Body {
        Body::of(Kind::Upstream {
            inner,
            idle,
            timer: None,
        })
    }

    pub fn request(inner: Incoming, progress: Option<Progress>) -> Body {
        Body::of(Kind::Request(inner, progress))
    }

    pub fn track(mut self, guard: InFlight) -> Body {
        self._in_flight = Some(guard);
        self
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Self::poll_kind(&mut this.kind, cx);
        if let (Some(g), Poll::Ready(Some(Ok(f)))) = (&this._in_flight, &polled)
            && let Some(d) = f.data_ref()
        {
            g.sent(d.len());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(b) => b.is_none(),
            Kind::File { remaining, .. } | Kind::FileHere { remaining, .. } => *remaining == 0,
            Kind::Upstream { inner, .. } | Kind::Request(inner, _) => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::File { remaining, .. } | Kind::FileHere { remaining, .. } => {
                SizeHint::with_exact(*remaining)
            }
            Kind::Upstream { inner, .. } | Kind::Request(inner, _) => inner.size_hint(),
        }
    }
}

impl Body {
    fn poll_kind(
        kind: &mut Kind,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::File { stream, remaining } => match ready!(Pin::new(stream).poll_next(cx)) {
                Some(Ok(b)) => {
                    *remaining = remaining.saturating_sub(b.len() as u64);
                    Poll::Ready(Some(Ok(Frame::data(b))))
                }
                Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
                None if *remaining > 0 => Poll::Ready(Some(Err(shrank().into()))),
                None => Poll::Ready(None),
            },
            Kind::FileHere {
                file,
                remaining,
                chunk,
                sent,
            } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = (ramp(*sent, *chunk) as u64).min(*remaining) as usize;
                let mut buf = Vec::with_capacity(want);
                loop {
                    match rustix::io::read(&*file, rustix::buffer::spare_capacity(&mut buf)) {
                        Err(rustix::io::Errno::INTR) => continue,
                        Err(e) => return Poll::Ready(Some(Err(std::io::Error::from(e).into()))),
                        Ok(0) => return Poll::Ready(Some(Err(shrank().into()))),
                        Ok(n) => {
                            *remaining -= n as u64;
                            *sent += n as u64;
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))));
                        }
                    }
                }
            }
            Kind::Upstream { inner, idle, timer } => match Pin::new(inner).poll_frame(cx) {
                Poll::Ready(r) => {
                    if let Some(t) = timer.as_mut() {
                        t.as_mut().reset(tokio::time::Instant::now() + *idle);
                    }
                    Poll::Ready(r.map(|f| f.map_err(Into::into)))
                }
                Poll::Pending => {
                    let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(*idle)));
                    ready!(t.as_mut().poll(cx));
                    Poll::Ready(Some(Err(IdleTimeout(*idle).into())))
                }
            },
            Kind::Request(inner, progress) => {
                let frame = ready!(Pin::new(inner).poll_frame(cx));
                if let (Some(Ok(_)), Some(p)) = (&frame, progress.as_ref()) {
                    p.touch();
                }
                Poll::Ready(frame.map(|r| r.map_err(Into::into)))
            }
        }
    }
}

fn shrank() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the file shrank while it was being sent",
    )
}

use std::future::Future as _;

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn chunks_ramp_up_from_small_to_full() {
        const MAX: usize = 256 * 1024;
        assert_eq!(ramp(0, MAX), FIRST_CHUNK);
        assert_eq!(ramp(128 * 1024, MAX), 32 * 1024);
        assert_eq!(ramp(4 * MAX as u64, MAX), MAX);
        assert_eq!(ramp(u64::MAX, MAX), MAX);
        // A chunk size under the first chunk is used as it is.
        assert_eq!(ramp(0, 64), 64);
    }

    #[tokio::test]
    async fn file_here_streams_in_chunks_and_reports_a_shrunk_file() {
        use std::io::{Seek, Write};
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(&[7u8; 100]).unwrap();
        tmp.rewind().unwrap();
        // Announced 100 bytes: two chunks of 64 and 36, then the end.
        let mut b = Body::file_here(tmp.try_clone().unwrap(), 100, 64);
        assert_eq!(b.size_hint().exact(), Some(100));
        let mut sizes = vec![];
        while let Some(f) = b.frame().await {
            sizes.push(f.unwrap().into_data().unwrap().len());
        }
        assert_eq!(sizes, [64, 36]);
        assert!(b.is_end_stream());
        // Announced more than the file holds (it shrank after the head was sent): an error,
        // never a silently short body.
        tmp.rewind().unwrap();
        let mut b = Body::file_here(tmp, 150, 64);
        let mut got = 0;
        let err = loop {
            match b.frame().await {
                Some(Ok(fr)) => got += fr.into_data().unwrap().len(),
                Some(Err(e)) => break e,
                None => panic!("ended without an error after {got} bytes"),
            }
        };
        assert_eq!(got, 100);
        assert!(err.to_string().contains("shrank"), "{err}");
    }
}
