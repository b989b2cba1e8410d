//! Validated settings for the network waits (`wait-http`, `wait-tcp`).

use super::PlanError;
use crate::cli::{HttpArgs, TcpArgs};

/// `wait-http`, validated.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    /// The URL as given.
    pub url: String,
}

/// What the body must show.
#[derive(Debug, Clone)]
pub enum BodyMatch {
    /// `--body-contains`.
    Contains(String),
}

/// `wait-tcp`, validated.
#[derive(Debug, Clone)]
pub struct TcpTarget {
    /// The host name or address.
    pub host: String,
    /// The port.
    pub port: u16,
}

pub(super) fn http_target(args: HttpArgs) -> Result<HttpTarget, PlanError> {
    Ok(HttpTarget { url: args.url })
}

pub(super) fn tcp_target(args: TcpArgs) -> Result<TcpTarget, PlanError> {
    let (host, port) = args
        .address
        .rsplit_once(':')
        .ok_or_else(|| PlanError::invalid("HOST:PORT", &args.address, "expected HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| PlanError::invalid("HOST:PORT", &args.address, "the port must be 1-65535"))?;
    Ok(TcpTarget { host: host.to_string(), port })
}
