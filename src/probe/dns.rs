//! The `wait-dns` probe: ready when a name resolves to at least `--min` distinct addresses (A,
//! AAAA or either, through the resolver every other wait uses: [`crate::net::resolve`], so
//! `/etc/hosts`, the search list and `ndots` apply as they will for the app) or SRV targets
//! ([`srv`]: asked of the resolv.conf name servers, the same search list and `ndots`).
//!
//! For a StatefulSet's peers behind a headless Service: `db-0.db.crs.svc` resolves once the pod
//! is ready (or published unready), and `db.crs.svc --min 3` once three pods are.

pub mod srv;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::net::resolve::resolve;
use crate::net::text::printable;
use crate::plan::{DnsTarget, DnsType};

/// Where the name servers, the search list and `ndots` are read for SRV lookups.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// How many of the records found a line lists.
const LISTED: usize = 5;

/// Waits for a DNS name.
#[derive(Debug)]
pub struct DnsProbe {
    target: DnsTarget,
}

/// What `target` waits for, e.g. `DNS db.crs.svc (3 IPv4 addresses (A))`.
pub fn describe(target: &DnsTarget) -> String {
    let name = printable(&target.name, 253);
    match (target.kind, target.min) {
        (DnsType::Any, 1) => format!("DNS {name}"),
        (kind, n) => format!("DNS {name} ({})", count(n, kind)),
    }
}

/// `n` records of `kind`: `1 address`, `3 SRV targets`.
fn count(n: usize, kind: DnsType) -> String {
    let noun = match kind {
        DnsType::Any => "address",
        DnsType::A => "IPv4 address",
        DnsType::Aaaa => "IPv6 address",
        DnsType::Srv => "SRV target",
    };
    match (n, noun.ends_with("ss")) {
        (1, _) => format!("1 {noun}"),
        (n, true) => format!("{n} {noun}es"),
        (n, false) => format!("{n} {noun}s"),
    }
}

/// The first [`LISTED`] of `items`, and how many more.
fn listed(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > LISTED {
        s.push_str(&format!(" and {} more", items.len() - LISTED));
    }
    s
}

impl DnsProbe {
    /// The probe (nothing is asked until the first check).
    pub fn new(target: &DnsTarget) -> DnsProbe {
        DnsProbe {
            target: target.clone(),
        }
    }

    async fn addresses(&self, deadline: tokio::time::Instant, within: Duration) -> Check {
        let t = &self.target;
        let name = printable(&t.name, 253);
        let found = match tokio::time::timeout_at(deadline, resolve(&t.name, 0)).await {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return Check::Pending(e.observation()),
            Err(_) => return Check::Pending(slow(&name, within)),
        };
        let ips: BTreeSet<IpAddr> = (found.iter().map(|a| a.ip()))
            .filter(|ip| match t.kind {
                DnsType::A => ip.is_ipv4(),
                DnsType::Aaaa => ip.is_ipv6(),
                _ => true,
            })
            .collect();
        let shown: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
        if ips.len() >= t.min {
            return Check::Ready(format!(
                "{name} resolves to {} ({})",
                count(ips.len(), t.kind),
                listed(&shown)
            ));
        }
        let all: Vec<String> = found.iter().map(|a| a.ip().to_string()).collect();
        let o = Observation::new(
            Class::NotReady,
            format!("resolves to {} of {}", count(ips.len(), t.kind), t.min),
        );
        Check::Pending(if ips.is_empty() {
            o.cause(format!(
                "{name} resolves, but to no {} ({})",
                t.kind.noun(),
                listed(&all)
            ))
            .fix("check --type: the name has addresses of the other family")
        } else {
            o.cause(format!("{name} resolves to {}", listed(&shown)))
                .fix("a headless Service lists its ready pods only: check that enough of them are ready (kubectl get endpointslices -l kubernetes.io/service-name=NAME)")
        })
    }

    async fn srv(&self, deadline: tokio::time::Instant, within: Duration) -> Check {
        let t = &self.target;
        let name = printable(&t.name, 253);
        let found = tokio::time::timeout_at(
            deadline,
            srv::lookup(&t.name, Path::new(RESOLV_CONF), deadline),
        )
        .await;
        let answer = match found {
            Ok(Ok(a)) => a,
            Ok(Err(srv::SrvError::NotFound { tried })) => {
                return Check::Pending(
                    Observation::new(Class::Dns, "DNS: no SRV records")
                        .cause(format!("no SRV records for {} (asked: {})", name, printable(&tried, 400)))
                        .fix("an SRV name reads _PORTNAME._PROTOCOL.SERVICE.NAMESPACE.svc.cluster.local: the Service must name that port (ports[].name) and, for a headless Service, have ready pods"),
                );
            }
            Ok(Err(srv::SrvError::Conf(e))) => {
                return Check::Pending(
                    Observation::new(Class::Dns, "DNS: lookup failed")
                        .cause(format!("cannot read the name servers: {e}"))
                        .fix("the container needs /etc/resolv.conf (every pod has one)"),
                );
            }
            Ok(Err(srv::SrvError::Failed(why))) => {
                return Check::Pending(
                    Observation::new(Class::Dns, "DNS: lookup failed")
                        .cause(format!("the SRV lookup of {name} failed: {}", printable(&why, 400)))
                        .fix("check that the DNS servers in /etc/resolv.conf answer (in a cluster: CoreDNS pods in kube-system)"),
                );
            }
            Err(_) => return Check::Pending(slow(&name, within)),
        };
        let shown: Vec<String> = (answer.targets.iter())
            .map(|s| format!("{}:{}", printable(&s.host, 253), s.port))
            .collect();
        let asked = printable(&answer.name, 253);
        if answer.targets.len() >= t.min {
            return Check::Ready(format!(
                "{asked} has {} ({})",
                count(shown.len(), DnsType::Srv),
                listed(&shown)
            ));
        }
        let mut o = Observation::new(
            Class::NotReady,
            format!("has {} of {}", count(shown.len(), DnsType::Srv), t.min),
        )
        .cause(format!("{asked} has {}", listed(&shown)));
        if answer.truncated {
            o = o.fix("the answer was truncated (kwait does not repeat it over TCP): lower --min, or count addresses without --type SRV");
        }
        Check::Pending(o.fix(
            "a headless Service lists its ready pods only: check that enough of them are ready",
        ))
    }
}

/// The attempt's time ran out before the resolver answered.
fn slow(name: &str, within: Duration) -> Observation {
    Observation::new(Class::Timeout, "attempt timed out")
        .cause(format!(
            "the resolver did not answer for {name} within {}",
            crate::duration::format(within)
        ))
        .fix("check that the DNS servers in /etc/resolv.conf answer (in a cluster: CoreDNS pods in kube-system)")
}

impl Probe for DnsProbe {
    fn describe(&self) -> String {
        describe(&self.target)
    }

    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + attempt_timeout;
            if self.target.kind == DnsType::Srv {
                self.srv(deadline, attempt_timeout).await
            } else {
                self.addresses(deadline, attempt_timeout).await
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, kind: DnsType, min: usize) -> DnsTarget {
        DnsTarget {
            name: name.into(),
            kind,
            min,
        }
    }

    #[test]
    fn descriptions_and_counts_read_as_english() {
        assert_eq!(describe(&target("db", DnsType::Any, 1)), "DNS db");
        assert_eq!(
            describe(&target("db", DnsType::A, 1)),
            "DNS db (1 IPv4 address)"
        );
        assert_eq!(
            describe(&target("db", DnsType::Any, 3)),
            "DNS db (3 addresses)"
        );
        assert_eq!(
            describe(&target("db", DnsType::Srv, 2)),
            "DNS db (2 SRV targets)"
        );
        assert_eq!(
            describe(&target("db", DnsType::Aaaa, 2)),
            "DNS db (2 IPv6 addresses)"
        );
        assert_eq!(count(1, DnsType::Any), "1 address");
        assert_eq!(count(2, DnsType::A), "2 IPv4 addresses");
        assert_eq!(count(0, DnsType::Srv), "0 SRV targets");
    }

    #[test]
    fn localhost_resolves_and_an_unmet_minimum_is_pending_with_the_count() {
        crate::probe::test_runtime().block_on(async {
            let mut p = DnsProbe::new(&target("localhost", DnsType::A, 1));
            let c = p.check(Duration::from_secs(5)).await;
            assert!(matches!(&c, Check::Ready(s) if s.starts_with("localhost resolves to 1 IPv4 address (127.0.0.1")), "{c:?}");
            let mut p = DnsProbe::new(&target("localhost", DnsType::A, 5));
            let c = p.check(Duration::from_secs(5)).await;
            let Check::Pending(o) = c else { panic!("{c:?}") };
            assert_eq!(o.state, "resolves to 1 IPv4 address of 5");
        });
    }
}
