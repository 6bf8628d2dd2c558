//! Deadlines on every phase of a connection, so that no connection holds a slot for free.
//!
//! ```text
//! accept ──TLS handshake──first complete request head      within header_read_timeout
//!        ──nothing in flight (keep-alive, HTTP/2 idle)      closed after idle_timeout
//!        ──a response in flight, none of its body taken     closed after send_timeout
//! ```
//!
//! hyper's own timers cover only part of this (its HTTP/1 header timer starts with the first
//! byte, and nothing watches an HTTP/2 connection with no streams or a client that reads
//! nothing), so each connection gets a [`Watch`]: a small shared record that the service and
//! the response bodies update, and a watchdog future raced against the connection. When the
//! watchdog fires, the connection future is dropped, which closes the socket and frees
//! everything the connection held (its slot, file handles, upstream connections).
//!
//! Progress on a response is measured where it matters: a body frame taken by hyper to be
//! sent. A client that reads nothing (HTTP/1 socket full, or an HTTP/2 window kept at zero)
//! stops hyper from taking frames, whatever PINGs or window updates it sends.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::Instant;

/// The deadlines of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub header_read: Duration,
    pub idle: Duration,
    pub send: Duration,
}

/// Why a connection was closed by its watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// No complete request head within `header_read_timeout` of the accept.
    FirstHead,
    /// Nothing in flight for `idle_timeout`.
    Idle,
    /// A response in flight made no progress for `send_timeout`.
    Send,
}

impl Expired {
    pub fn as_str(self) -> &'static str {
        match self {
            Expired::FirstHead => "header_read_timeout",
            Expired::Idle => "idle_timeout",
            Expired::Send => "send_timeout",
        }
    }
}

/// What one connection's service and bodies tell its watchdog.
pub struct Watch {
    started: Instant,
    /// Milliseconds since `started` of the last sign of life that counts: a request head,
    /// a body frame taken, a response finished.
    last: AtomicU64,
    in_flight: AtomicUsize,
    heads: AtomicU64,
}

impl Watch {
    pub fn new() -> Arc<Watch> {
        Arc::new(Watch {
            started: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            heads: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn touch(&self) {
        self.last.store(self.now_ms(), Ordering::Relaxed);
    }

    /// A complete request head arrived: a response is now in flight until the returned
    /// guard (carried by the response body) is dropped.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.heads.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(self.clone())
    }

    /// A handle for the request bodies of this connection (see [`Progress`]).
    pub fn progress(self: &Arc<Self>) -> Progress {
        Progress(self.clone())
    }

    /// The deadline now in force, and which one it is.
    fn deadline(&self, d: &Deadlines) -> (Instant, Expired) {
        let last = self.started + Duration::from_millis(self.last.load(Ordering::Relaxed));
        if self.heads.load(Ordering::Relaxed) == 0 {
            (self.started + d.header_read, Expired::FirstHead)
        } else if self.in_flight.load(Ordering::Relaxed) == 0 {
            (last + d.idle, Expired::Idle)
        } else {
            (last + d.send, Expired::Send)
        }
    }

    /// Resolves once the deadline in force passes with nothing to push it back.
    pub async fn expired(&self, d: Deadlines) -> Expired {
        loop {
            let (at, why) = self.deadline(&d);
            if Instant::now() >= at {
                return why;
            }
            tokio::time::sleep_until(at).await;
        }
    }
}

/// Tells a connection's watchdog that a request in flight is moving: given to the
/// request body on its way to an origin, so that a slow but steady upload is not taken for
/// a client that reads nothing.
#[derive(Clone)]
pub struct Progress(Arc<Watch>);

impl Progress {
    pub fn touch(&self) {
        self.0.touch();
    }
}

/// One response in flight on a watched connection.
pub struct InFlight(Arc<Watch>);

impl InFlight {
    fn progress(&self) {
        self.0.touch();
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The largest piece of a body handed to hyper at once. hyper takes the next frame only
/// once the last is written out, so a frame is also the unit progress is seen in: at 64 KiB,
/// a client reading at 1 KiB/s still shows progress within a 60 s `send_timeout`, where a
/// whole 256 KiB file chunk would take 4 minutes. Slicing shares the bytes (no copy).
pub const MAX_FRAME: usize = 64 * 1024;

/// A response body that tells its connection's watchdog when a frame is taken, and that
/// the response is over when dropped.
pub struct Watched<B> {
    inner: B,
    in_flight: InFlight,
    /// What is left of a data frame larger than [`MAX_FRAME`].
    rest: Option<Bytes>,
}

impl<B> Watched<B> {
    pub fn new(inner: B, in_flight: InFlight) -> Watched<B> {
        Watched {
            inner,
            in_flight,
            rest: None,
        }
    }
}

/// The first `MAX_FRAME` bytes of `data` as a frame; the rest stays in `rest`.
fn slice(mut data: Bytes, rest: &mut Option<Bytes>) -> Frame<Bytes> {
    if data.len() > MAX_FRAME {
        let head = data.split_to(MAX_FRAME);
        *rest = Some(data);
        Frame::data(head)
    } else {
        Frame::data(data)
    }
}

impl<B> HttpBody for Watched<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        if let Some(rest) = this.rest.take() {
            this.in_flight.progress();
            return Poll::Ready(Some(Ok(slice(rest, &mut this.rest))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.in_flight.progress();
                let frame = match frame.into_data() {
                    Ok(data) => slice(data, &mut this.rest),
                    Err(frame) => frame,
                };
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let extra = self.rest.as_ref().map_or(0, |r| r.len() as u64);
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + extra);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + extra);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Deadlines = Deadlines {
        header_read: Duration::from_secs(10),
        idle: Duration::from_secs(60),
        send: Duration::from_secs(30),
    };

    #[tokio::test]
    async fn large_frames_go_out_in_slices_with_the_same_bytes() {
        use http_body_util::BodyExt;
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let w = Watch::new();
        let mut body = Watched::new(
            http_body_util::Full::new(Bytes::from(data.clone())),
            w.request(),
        );
        assert_eq!(body.size_hint().exact(), Some(200_000));
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        while let Some(f) = body.frame().await {
            let d = f.unwrap().into_data().unwrap();
            sizes.push(d.len());
            got.extend_from_slice(&d);
        }
        assert_eq!(
            sizes,
            [MAX_FRAME, MAX_FRAME, MAX_FRAME, 200_000 - 3 * MAX_FRAME]
        );
        assert_eq!(got, data);
        assert!(body.is_end_stream());
    }

    #[tokio::test(start_paused = true)]
    async fn each_phase_has_its_deadline() {
        let w = Watch::new();
        // Silent from the start: the first-head deadline.
        assert_eq!(w.expired(D).await, Expired::FirstHead);
        assert_eq!(w.started.elapsed(), D.header_read);

        let w = Watch::new();
        let req = w.request();
        tokio::time::advance(Duration::from_secs(29)).await;
        req.progress();
        let t = Instant::now();
        assert_eq!(w.expired(D).await, Expired::Send);
        assert_eq!(t.elapsed(), D.send);
        drop(req);
        let t = Instant::now();
        assert_eq!(w.expired(D).await, Expired::Idle);
        assert_eq!(t.elapsed(), D.idle);
    }
}
