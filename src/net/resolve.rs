//! Name resolution, shared by `wait-tcp`, `wait-http` and the API client: [`resolve`] (the
//! platform's `getaddrinfo` on a blocking thread), its typed failure [`DnsError`], and
//! [`Resolver`], the same lookup plugged into reqwest so that a DNS failure keeps its type down
//! the error chain. In the static musl build `getaddrinfo` is musl's own resolver, which reads
//! `/etc/hosts` and `/etc/resolv.conf` (search domains, `ndots`) itself and needs no NSS
//! modules, so it works in `FROM scratch` and distroless images.

use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;

use crate::check::{Class, Observation};

/// Why a name did not resolve.
#[derive(Debug)]
pub(crate) enum DnsError {
    /// The name has no address (NXDOMAIN or no A/AAAA records).
    NotFound {
        /// The name.
        host: String,
        /// The resolver's words.
        detail: String,
    },
    /// The resolver failed (no DNS server answered, SERVFAIL, ...).
    Failed {
        /// The name.
        host: String,
        /// The resolver's words.
        detail: String,
    },
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::NotFound { host, detail } => {
                write!(f, "DNS name {host} not found ({detail})")
            }
            DnsError::Failed { host, detail } => {
                write!(f, "DNS lookup of {host} failed ({detail})")
            }
        }
    }
}

impl std::error::Error for DnsError {}

impl DnsError {
    /// The observation for a failed lookup.
    pub(crate) fn observation(&self) -> Observation {
        match self {
            DnsError::NotFound { host, detail } => Observation::new(Class::Dns, "DNS: name not found")
                .cause(format!("the name {host} does not resolve to any address ({detail})"))
                .fix(format!(
                    "check the spelling of {host}; for a Service use NAME, NAME.NAMESPACE or NAME.NAMESPACE.svc.cluster.local, and check it exists: kubectl get service -A | grep {}",
                    host.split('.').next().unwrap_or(host)
                )),
            DnsError::Failed { host, detail } => Observation::new(Class::Dns, "DNS: lookup failed")
                .cause(format!("the resolver could not look up {host} ({detail})"))
                .fix("check that the DNS servers in /etc/resolv.conf answer (in a cluster: CoreDNS pods in kube-system)"),
        }
    }
}

/// Resolves `host` (a name or an IP address literal) to socket addresses with `port`.
///
/// Names under `.invalid` fail at once, as RFC 6761 section 6.4 asks of resolver libraries.
pub(crate) async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, DnsError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if lower == "invalid" || lower.ends_with(".invalid") {
        return Err(DnsError::NotFound {
            host: host.to_string(),
            detail: "names under .invalid never resolve, RFC 6761".into(),
        });
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(DnsError::NotFound {
                    host: host.to_string(),
                    detail: "no addresses".into(),
                })
            } else {
                Ok(addrs)
            }
        }
        Err(e) => Err(dns_error(host, &e)),
    }
}

/// Sorts a `getaddrinfo` failure into "not found" and "the lookup failed".
fn dns_error(host: &str, e: &io::Error) -> DnsError {
    let detail = e.to_string();
    let detail = detail
        .strip_prefix("failed to lookup address information: ")
        .unwrap_or(&detail)
        .to_string();
    let lower = detail.to_ascii_lowercase();
    // glibc: "Name or service not known", "No address associated with hostname";
    // musl: "Name does not resolve", "Address not available".
    let not_found = [
        "not known",
        "does not resolve",
        "no address",
        "not available",
        "nodename nor servname",
    ]
    .iter()
    .any(|m| lower.contains(m));
    let host = host.to_string();
    if not_found {
        DnsError::NotFound { host, detail }
    } else {
        DnsError::Failed { host, detail }
    }
}

/// Name resolution for reqwest through [`resolve`], so that DNS failures keep their class.
pub(crate) struct Resolver;

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            match resolve(&host, 0).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(e) => Err(Box::new(e) as Box<dyn StdError + Send + Sync>),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getaddrinfo_messages_are_sorted() {
        let e = io::Error::other("failed to lookup address information: Name or service not known");
        assert!(matches!(dns_error("x", &e), DnsError::NotFound { .. }));
        let e = io::Error::other("failed to lookup address information: Name does not resolve");
        assert!(matches!(dns_error("x", &e), DnsError::NotFound { .. }));
        let e = io::Error::other(
            "failed to lookup address information: Temporary failure in name resolution",
        );
        assert!(matches!(dns_error("x", &e), DnsError::Failed { .. }));
    }
}
