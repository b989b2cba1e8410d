//! One file per dependency kind, each implementing [`Probe`].
//!
//! A probe only *looks*: one check, one judgement. The waiter (`waiter.rs`) owns the deadline, the
//! backoff, the wake-ups and the history. A check answers one of three things (as in wait4x's
//! checkers): [`Check::Ready`], [`Check::Pending`] ("answered, but not ready", or a transient error
//! that may clear before the deadline), or [`Check::Failed`] (a terminal state: exit 1 at once).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub mod api;
pub mod behind;
pub mod certificate;
pub mod deleted;
pub mod dns;
pub mod file;
pub mod http;
pub mod job;
pub mod kstatus;
pub mod mysql;
pub mod nats;
pub mod postgres;
pub mod rabbitmq;
pub mod ready;
pub mod redis;
pub mod secret;
pub mod service;
pub mod tcp;

/// A boxed future, so that probes of different kinds fit behind one `dyn Probe`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub use crate::check::{Check, Class, Observation};

/// How the protocol probes describe their target: `KIND HOST:PORT`, with the TLS note and the
/// login in parentheses when there are any (`NATS nats:4222 (TLS, user app)`).
pub(crate) fn described(
    kind: &str,
    addr: &crate::plan::TcpTarget,
    tls: &crate::plan::TlsChoice,
    login: Option<String>,
) -> String {
    let notes: Vec<String> = (tls.note().map(String::from).into_iter())
        .chain(login)
        .collect();
    if notes.is_empty() {
        format!("{kind} {addr}")
    } else {
        format!("{kind} {addr} ({})", notes.join(", "))
    }
}

/// A connection a protocol probe talks over, plain TCP or TLS, as one trait object: one copy
/// of the exchange's code for both (`wait-nats`, `wait-rabbitmq`).
pub(crate) trait Stream:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// One dependency kind. Implementations live one per file in this module.
pub trait Probe: Send {
    /// What is being waited for, for the start, ready and report lines, e.g.
    /// `Secret crs/litellm-api-user (keys: API_KEY)`.
    fn describe(&self) -> String;

    /// One check. It must not sleep or retry: the waiter does that. The waiter bounds it by
    /// `--attempt-timeout`; a probe may also bound its own I/O with [`Probe::check`]'s
    /// `attempt_timeout` argument (HTTP clients do).
    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check>;

    /// Work done once before the wait begins, e.g. finding a type through discovery. `Err` is a
    /// usage error that waiting cannot mend (an ambiguous type name: exit 2, the message one
    /// line); anything transient is left to the checks, which retry it.
    fn prepare(&mut self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    /// Extra `(label, text)` lines for the final report after a timeout or failure, found by
    /// reading more than the check does (the failed Job's pod, the latest CertificateRequest).
    /// Best effort: errors become a line saying what could not be read.
    fn explain(&mut self) -> BoxFuture<'_, Vec<(String, String)>> {
        Box::pin(async { Vec::new() })
    }
}

/// A single-threaded runtime with I/O and time, for the probes' unit tests.
#[cfg(test)]
pub(crate) fn test_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
