//! The `wait-tcp` probe: ready when a TCP connection is accepted.
//!
//! Also home of the name resolution `wait-http` shares ([`resolve`]): the platform's
//! `getaddrinfo` on a blocking thread. In the static musl build that is musl's own resolver,
//! which reads `/etc/hosts` and `/etc/resolv.conf` (search domains, `ndots`) itself and needs no
//! NSS modules, so it works in `FROM scratch` and distroless images.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::plan::TcpTarget;

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

/// The observation for a failed connect to `addr` (shown as `shown`).
pub(crate) fn connect_observation(e: &io::Error, shown: &str) -> Observation {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Observation::new(Class::Unreachable, "connection refused")
            .cause(format!("nothing accepts connections on {shown} (connection refused)"))
            .fix("check that the server is running and listens on that port; for a Service, that it has ready endpoints: kubectl get endpoints NAME"),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            Observation::new(Class::Reset, "connection reset")
                .cause(format!("{shown} reset the connection ({e})"))
                .fix("the server may be starting or overloaded; check its logs")
        }
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            Observation::new(Class::Unreachable, "host unreachable")
                .cause(format!("no route to {shown} ({e})"))
                .fix("check the address, and NetworkPolicies that may block this pod")
        }
        io::ErrorKind::TimedOut => Observation::new(Class::Timeout, "connect timed out")
            .cause(format!("connecting to {shown} timed out ({e})"))
            .fix("a firewall or NetworkPolicy may drop the packets; check the address and port"),
        _ => Observation::new(Class::Other, "connect failed").cause(format!("connecting to {shown} failed: {e}")),
    }
}

/// Waits for `host:port` to accept a TCP connection.
#[derive(Debug)]
pub struct TcpProbe {
    target: TcpTarget,
}

impl TcpProbe {
    /// A probe for the target.
    pub fn new(target: &TcpTarget) -> TcpProbe {
        TcpProbe {
            target: target.clone(),
        }
    }

    async fn check_once(&self) -> Check {
        let shown = self.target.to_string();
        let addrs = match resolve(&self.target.host, self.target.port).await {
            Ok(a) => a,
            Err(e) => return Check::Pending(e.observation()),
        };
        let mut last = None;
        for addr in &addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(stream) => {
                    drop(stream);
                    let via = if addr.ip().to_string() == self.target.host {
                        String::new()
                    } else {
                        format!(" ({addr})")
                    };
                    return Check::Ready(format!("TCP {shown} accepted a connection{via}"));
                }
                Err(e) => last = Some((e, *addr)),
            }
        }
        match last {
            Some((e, addr)) => {
                let at = if addrs.len() > 1 || addr.ip().to_string() != self.target.host {
                    format!("{shown} ({addr})")
                } else {
                    shown
                };
                Check::Pending(connect_observation(&e, &at))
            }
            None => Check::Pending(Observation::new(Class::Dns, "DNS: name not found")),
        }
    }
}

impl Probe for TcpProbe {
    fn describe(&self) -> String {
        format!("TCP {}", self.target)
    }

    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        Box::pin(async move {
            match tokio::time::timeout(attempt_timeout, self.check_once()).await {
                Ok(c) => c,
                Err(_) => Check::Pending(
                    Observation::new(Class::Timeout, "attempt timed out")
                        .cause(format!(
                            "no answer from {} within {} (no connection accepted or refused)",
                            self.target,
                            crate::duration::format(attempt_timeout)
                        ))
                        .fix("a firewall or NetworkPolicy may drop the packets, or DNS is slow; check the address and port"),
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn target(host: &str, port: u16) -> TcpTarget {
        TcpTarget {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn a_listening_port_is_ready_and_a_closed_one_is_refused() {
        rt().block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = l.local_addr().unwrap().port();
            let mut p = TcpProbe::new(&target("127.0.0.1", port));
            assert_eq!(p.describe(), format!("TCP 127.0.0.1:{port}"));
            let c = p.check(Duration::from_secs(5)).await;
            assert_eq!(
                c,
                Check::Ready(format!("TCP 127.0.0.1:{port} accepted a connection"))
            );
            drop(l);
            match p.check(Duration::from_secs(5)).await {
                Check::Pending(o) => {
                    assert_eq!(o.class, Class::Unreachable);
                    assert_eq!(o.state, "connection refused");
                }
                other => panic!("{other:?}"),
            }
        });
    }

    #[test]
    fn invalid_names_fail_dns_at_once() {
        rt().block_on(async {
            let mut p = TcpProbe::new(&target("nothing.invalid", 80));
            match p.check(Duration::from_secs(5)).await {
                Check::Pending(o) => {
                    assert_eq!(o.class, Class::Dns);
                    assert_eq!(o.state, "DNS: name not found");
                    assert!(o.cause.unwrap().contains("nothing.invalid"));
                }
                other => panic!("{other:?}"),
            }
        });
    }

    #[test]
    fn localhost_resolves() {
        rt().block_on(async {
            let a = resolve("localhost", 80).await.unwrap();
            assert!(a.iter().all(|a| a.ip().is_loopback()));
        });
    }

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
