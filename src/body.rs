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
    /// A body from the origin, with a limit on silence between frames.
    Upstream {
        inner: Incoming,
        idle: Duration,
        /// Armed only when the origin first makes us wait: most small bodies arrive with
        /// their head and never need a timer.
        timer: Option<Pin<Box<Sleep>>>,
    },
    /// The client's request body on its way to an origin.
    Request(Incoming),
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

    pub fn upstream(inner: Incoming, idle: Duration) -> Body {
        Body::of(Kind::Upstream {
            inner,
            idle,
            timer: None,
        })
    }

    pub fn request(inner: Incoming) -> Body {
        Body::of(Kind::Request(inner))
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
            Kind::File { remaining, .. } => *remaining == 0,
            Kind::Upstream { inner, .. } | Kind::Request(inner) => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::File { remaining, .. } => SizeHint::with_exact(*remaining),
            Kind::Upstream { inner, .. } | Kind::Request(inner) => inner.size_hint(),
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
                None if *remaining > 0 => Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file shrank while it was being sent",
                )
                .into()))),
                None => Poll::Ready(None),
            },
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
            Kind::Request(inner) => Pin::new(inner)
                .poll_frame(cx)
                .map(|o| o.map(|r| r.map_err(Into::into))),
        }
    }
}

use std::future::Future as _;
