//! tollgate: a gateway that serves files through signed, expiring, countable links.
//!
//! A data-plane request goes through these phases, each in its own module:
//!
//! ```text
//!  accept (server) ─ TLS, HTTP/1.1 or HTTP/2, limits
//!     │
//!  path::normalize ─ one meaning per path; dot-segments, encoded slashes, NUL refused
//!     │
//!  route (runtime) ─ longest prefix, on the live config snapshot (ArcSwap)
//!     │
//!  filter::Chain::admit ─ every filter's check, then every filter's commit
//!     │                   (signature: token, keyring, expiry, scope, IP, parameters)
//!  origin::Origin::serve ─ dir | http, streamed, Range and conditionals
//!     │
//!  proxy::respond ─ the one place a refusal becomes status + code + body
//! ```

pub mod admin;
pub mod body;
pub mod cli;
pub mod clock;
pub mod config;
pub mod filter;
pub mod grant;
pub mod limits;
pub mod metrics;
pub mod origin;
pub mod password;
pub mod path;
pub mod proxy;
pub mod runtime;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod token;
