//! What went wrong with a request that got no HTTP answer, read from the types in its error
//! chain (never from its message): the one classifier the API client and `wait-http` share.
//! Each caller turns a [`Failure`] into its own words (a class and message for the API client,
//! an observation with a cause and a fix for `wait-http`).

use std::io;

use super::resolve::DnsError;
use super::text::causes;

/// A request's failure, by the first telling type in its error chain.
#[derive(Debug)]
pub(crate) enum Failure<'a> {
    /// Our resolver found no address for the name, or could not look it up.
    Dns(&'a DnsError),
    /// The TLS handshake failed (certificate refused, not TLS, alert, ...).
    Tls(&'a rustls::Error),
    /// The connection ended before an answer: end of stream, broken pipe, or hyper's
    /// "connection closed before message completed".
    Closed,
    /// Any other I/O error, from connecting (refused, unreachable, reset, ...).
    Io(&'a io::Error),
    /// A timeout (reqwest's own, or the system's); `connecting` when no connection was up yet.
    Timeout {
        /// The connection was not up yet.
        connecting: bool,
    },
    /// The client could not build the request (e.g. a URL it cannot send).
    Builder,
    /// The peer answered with something that is not HTTP.
    NotHttp,
    /// None of the above.
    Other,
}

/// Sorts `e` by the types in its source chain.
pub(crate) fn failure(e: &reqwest::Error) -> Failure<'_> {
    let errors = causes(e);
    for err in &errors {
        if let Some(d) = err.downcast_ref::<DnsError>() {
            return Failure::Dns(d);
        }
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Failure::Tls(t);
        }
    }
    for err in &errors {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::Other | io::ErrorKind::TimedOut | io::ErrorKind::InvalidData => {}
                io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => return Failure::Closed,
                _ => return Failure::Io(io),
            }
        }
    }
    if e.is_timeout() {
        return Failure::Timeout {
            connecting: e.is_connect(),
        };
    }
    if e.is_builder() {
        return Failure::Builder;
    }
    for err in &errors {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() {
                return Failure::Closed;
            }
            if h.is_parse() || h.is_parse_status() {
                return Failure::NotHttp;
            }
        }
    }
    Failure::Other
}
