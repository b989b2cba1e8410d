//! The `wait-tcp` probe: ready when a TCP connection is accepted. Names are resolved by
//! [`crate::net::resolve`], which `wait-http` and the API client share.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::net::resolve::resolve;
use crate::plan::{TcpTarget, TcpWait};

mod expect;

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

/// RFC 8305 section 5: how long one connection attempt has before the next address is tried
/// beside it (the recommended "Connection Attempt Delay").
pub(crate) const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The addresses in the order RFC 8305 section 4 tries them: the resolver's order, with the
/// address families interleaved (the first address's family first), so that a family that
/// drops packets costs one [`ATTEMPT_DELAY`], not one per address.
fn interleave(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return Vec::new();
    };
    let (mut same, mut other): (Vec<SocketAddr>, Vec<SocketAddr>) =
        addrs.iter().partition(|a| a.is_ipv4() == first.is_ipv4());
    same.reverse();
    other.reverse();
    let mut out = Vec::with_capacity(addrs.len());
    while let Some(a) = same.pop() {
        out.push(a);
        if let Some(b) = other.pop() {
            out.push(b);
        }
    }
    out.extend(other.into_iter().rev());
    out
}

/// How the connection attempts of one check ended, when none connected.
#[derive(Debug)]
pub(crate) struct Attempts {
    /// The attempts that failed, in the order they were started.
    pub failed: Vec<(SocketAddr, io::Error)>,
    /// The attempts still unanswered when the deadline came (none when every one failed).
    pub pending: Vec<SocketAddr>,
}

impl Attempts {
    /// The failure that says most about the server: a refusal (something answered) before a
    /// reset, a reset before "host unreachable", that before a timeout, and "network
    /// unreachable" (typically a family the pod has no route for) last; the earlier attempt
    /// on a tie.
    pub fn most_informative(&self) -> Option<&(SocketAddr, io::Error)> {
        let rank = |e: &io::Error| match e.kind() {
            io::ErrorKind::ConnectionRefused => 0,
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => 1,
            io::ErrorKind::HostUnreachable => 2,
            io::ErrorKind::TimedOut => 3,
            io::ErrorKind::NetworkUnreachable | io::ErrorKind::AddrNotAvailable => 5,
            _ => 4,
        };
        self.failed.iter().min_by_key(|(_, e)| rank(e))
    }
}

/// Connects to the first of `addrs` that accepts, Happy Eyeballs style (RFC 8305): the
/// addresses are tried in [`interleave`]d order, the next one `delay` after the previous
/// attempt started (at once when it failed), the attempts run side by side, the first to
/// connect wins and the others are dropped (their sockets closed). Gives up at `deadline`.
pub(crate) async fn connect_racing(
    addrs: &[SocketAddr],
    delay: Duration,
    deadline: tokio::time::Instant,
) -> Result<(tokio::net::TcpStream, SocketAddr), Attempts> {
    let order = interleave(addrs);
    let mut started = 0;
    let mut running: tokio::task::JoinSet<(SocketAddr, io::Result<tokio::net::TcpStream>)> =
        tokio::task::JoinSet::new();
    let mut in_flight: Vec<SocketAddr> = Vec::new();
    let mut failed = Vec::new();
    let mut next_start = tokio::time::Instant::now();
    loop {
        let now = tokio::time::Instant::now();
        if let Some(addr) = order.get(started).copied()
            && (running.is_empty() || now >= next_start)
        {
            started += 1;
            in_flight.push(addr);
            running.spawn(async move { (addr, tokio::net::TcpStream::connect(addr).await) });
            next_start = now + delay;
            continue;
        }
        if running.is_empty() {
            return Err(Attempts {
                failed,
                pending: Vec::new(),
            });
        }
        let more = started < order.len();
        tokio::select! {
            joined = running.join_next() => match joined {
                Some(Ok((addr, Ok(stream)))) => return Ok((stream, addr)),
                Some(Ok((addr, Err(e)))) => {
                    in_flight.retain(|a| *a != addr);
                    failed.push((addr, e));
                    // RFC 8305 section 5: a failed attempt starts the next one at once.
                    next_start = tokio::time::Instant::now();
                }
                // A connect task cannot panic or be cancelled here; if one did, its address
                // stays among the unanswered.
                Some(Err(_)) | None => {}
            },
            _ = tokio::time::sleep_until(next_start), if more => {}
            _ = tokio::time::sleep_until(deadline) => {
                return Err(Attempts { failed, pending: in_flight });
            }
        }
    }
}

/// Resolves `addr` and connects to it as `wait-tcp` does (every address, Happy Eyeballs), all
/// within `attempt_timeout`: the stream and the address that answered, or the pending
/// observation (DNS, refused, timed out...). Shared by the protocol probes (`wait-redis`).
pub(crate) async fn dial(
    addr: &TcpTarget,
    attempt_timeout: Duration,
    deadline: tokio::time::Instant,
) -> Result<(tokio::net::TcpStream, SocketAddr), Observation> {
    let resolved = tokio::time::timeout_at(deadline, resolve(&addr.host, addr.port)).await;
    let addrs = match resolved {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return Err(e.observation()),
        Err(_) => {
            return Err(timed_out(
                addr,
                attempt_timeout,
                "the name did not resolve in time",
            ));
        }
    };
    connect_to(addr, &addrs, attempt_timeout, deadline).await
}

/// [`dial`], with Nagle off (a protocol probe writes small requests and waits for their
/// answers) and the peer as its lines show it: `HOST:PORT`, with the address that answered
/// when the host is a name (`nats:4222 (10.96.4.2:4222)`).
pub(crate) async fn dial_named(
    addr: &TcpTarget,
    attempt_timeout: Duration,
    deadline: tokio::time::Instant,
) -> Result<(tokio::net::TcpStream, String), Observation> {
    let (tcp, ip) = dial(addr, attempt_timeout, deadline).await?;
    let _ = tcp.set_nodelay(true);
    let shown = if ip.ip().to_string() == addr.host {
        addr.to_string()
    } else {
        format!("{addr} ({ip})")
    };
    Ok((tcp, shown))
}

/// An I/O error in the middle of a protocol exchange with `shown` (`wait-nats`,
/// `wait-rabbitmq`): a reset is the server's doing (starting, overloaded), anything else is
/// said as it is.
pub(crate) fn exchange_failed(e: &io::Error, shown: &str) -> Observation {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Observation::new(Class::Reset, "connection reset")
            .cause(format!("{shown} reset the connection ({e})"))
            .fix("the server may be starting or overloaded; check its logs"),
        _ => Observation::new(Class::Other, "connection failed").cause(format!(
            "talking to {shown} failed: {}",
            crate::net::text::printable(&e.to_string(), 200)
        )),
    }
}

/// One connection race to `addrs` (what `target`'s host resolved to).
async fn connect_to(
    target: &TcpTarget,
    addrs: &[SocketAddr],
    attempt_timeout: Duration,
    deadline: tokio::time::Instant,
) -> Result<(tokio::net::TcpStream, SocketAddr), Observation> {
    let shown = target.to_string();
    let named = |addr: &SocketAddr| {
        if addrs.len() > 1 || addr.ip().to_string() != target.host {
            format!("{shown} ({addr})")
        } else {
            shown.clone()
        }
    };
    match connect_racing(addrs, ATTEMPT_DELAY, deadline).await {
        Ok(won) => Ok(won),
        Err(attempts) if attempts.pending.is_empty() => match attempts.most_informative() {
            Some((addr, e)) => Err(connect_observation(e, &named(addr))),
            None => Err(Observation::new(Class::Dns, "DNS: name not found")),
        },
        Err(attempts) => {
            let mut note = String::from("no connection accepted or refused");
            if addrs.len() > 1 {
                let silent: Vec<String> = attempts.pending.iter().map(|a| a.to_string()).collect();
                note.push_str(&format!("; no answer from {}", silent.join(", ")));
            }
            if let Some((addr, e)) = attempts.most_informative() {
                note.push_str(&format!("; {addr}: {e}"));
            }
            Err(timed_out(target, attempt_timeout, &note))
        }
    }
}

/// The attempt's time ran out; `note` says what was (not) seen.
pub(crate) fn timed_out(target: &TcpTarget, attempt_timeout: Duration, note: &str) -> Observation {
    Observation::new(Class::Timeout, "attempt timed out")
        .cause(format!(
            "no answer from {target} within {} ({note})",
            crate::duration::format(attempt_timeout)
        ))
        .fix("a firewall or NetworkPolicy may drop the packets, or DNS is slow; check the address and port")
}

/// Waits for `host:port` to accept a TCP connection (and, with `--expect`, to answer as
/// expected: see [`expect`]).
#[derive(Debug)]
pub struct TcpProbe {
    target: TcpTarget,
    send: Option<Vec<u8>>,
    expect: Option<regex_lite::Regex>,
}

impl TcpProbe {
    /// A probe for the address alone: ready when a connection is accepted.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn new(target: &TcpTarget) -> TcpProbe {
        TcpProbe {
            target: target.clone(),
            send: None,
            expect: None,
        }
    }

    /// A probe for `wait-tcp` with its `--send`/`--expect`.
    pub fn for_wait(wait: &TcpWait) -> TcpProbe {
        TcpProbe {
            target: wait.addr.clone(),
            send: wait.send.clone(),
            expect: wait.expect.clone(),
        }
    }

    async fn check_once(&self, attempt_timeout: Duration) -> Check {
        let deadline = tokio::time::Instant::now() + attempt_timeout;
        let resolved =
            tokio::time::timeout_at(deadline, resolve(&self.target.host, self.target.port)).await;
        let addrs = match resolved {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return Check::Pending(e.observation()),
            Err(_) => {
                return self.timed_out(attempt_timeout, "the name did not resolve in time");
            }
        };
        self.connect(&addrs, attempt_timeout, deadline).await
    }

    /// The judgement of one connection race to `addrs` (what `host` resolved to), and of the
    /// first answer where `--expect` asks for one.
    async fn connect(
        &self,
        addrs: &[SocketAddr],
        attempt_timeout: Duration,
        deadline: tokio::time::Instant,
    ) -> Check {
        let shown = self.target.to_string();
        match connect_to(&self.target, addrs, attempt_timeout, deadline).await {
            Ok((stream, addr)) => {
                let via = if addr.ip().to_string() == self.target.host {
                    String::new()
                } else {
                    format!(" ({addr})")
                };
                match &self.expect {
                    None => {
                        drop(stream);
                        Check::Ready(format!("TCP {shown} accepted a connection{via}"))
                    }
                    Some(re) => {
                        expect::judge(
                            stream,
                            &shown,
                            &via,
                            self.send.as_deref(),
                            re,
                            attempt_timeout,
                            deadline,
                        )
                        .await
                    }
                }
            }
            Err(o) => Check::Pending(o),
        }
    }

    /// The attempt's time ran out; `note` says what was (not) seen.
    fn timed_out(&self, attempt_timeout: Duration, note: &str) -> Check {
        Check::Pending(timed_out(&self.target, attempt_timeout, note))
    }
}

impl Probe for TcpProbe {
    fn describe(&self) -> String {
        match &self.expect {
            None => format!("TCP {}", self.target),
            Some(re) => format!(
                "TCP {} answering {}",
                self.target,
                crate::net::text::printable(&format!("'{}'", re.as_str()), 60)
            ),
        }
    }

    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        Box::pin(self.check_once(attempt_timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::probe::test_runtime as rt;

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

    /// A loopback address that never answers a SYN: a listener with a backlog of 0 whose one
    /// queue slot is taken by a connection nobody accepts. Linux drops further SYNs while the
    /// accept queue is full, so a connect to it stalls (loopback only: no packet leaves the
    /// machine). Keep the returned sockets alive for as long as the blackhole is needed.
    async fn blackhole() -> (
        SocketAddr,
        Vec<tokio::net::TcpStream>,
        tokio::net::TcpListener,
    ) {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let l = sock.listen(0).unwrap();
        let addr = l.local_addr().unwrap();
        let mut held = Vec::new();
        // Fill the queue: connects complete until it is full, then one stalls.
        loop {
            match tokio::time::timeout(
                Duration::from_millis(500),
                tokio::net::TcpStream::connect(addr),
            )
            .await
            {
                Ok(s) => held.push(s.unwrap()),
                Err(_) => break,
            }
            assert!(held.len() < 64, "the accept queue never filled");
        }
        (addr, held, l)
    }

    #[test]
    fn a_blackholed_first_address_does_not_hide_the_second() {
        rt().block_on(async {
            let (dead, _held, _l) = blackhole().await;
            // Proof that the blackhole stalls a connect.
            assert!(
                tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(dead))
                    .await
                    .is_err()
            );
            let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let good = live.local_addr().unwrap();
            let started = tokio::time::Instant::now();
            let deadline = started + Duration::from_secs(10);
            let (_s, winner) = connect_racing(&[dead, good], ATTEMPT_DELAY, deadline)
                .await
                .unwrap();
            assert_eq!(winner, good);
            // The second attempt starts 250 ms after the first; well before the 10 s timeout.
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{:?}",
                started.elapsed()
            );
            // Through the probe: ready, naming the address that answered.
            let p = TcpProbe::new(&target("db.example", 5432));
            let c = p
                .connect(&[dead, good], Duration::from_secs(10), deadline)
                .await;
            assert_eq!(
                c,
                Check::Ready(format!(
                    "TCP db.example:5432 accepted a connection ({good})"
                ))
            );
        });
    }

    #[test]
    fn a_failed_attempt_starts_the_next_at_once_and_all_failing_reports_the_refusal() {
        rt().block_on(async {
            let closed = |port| SocketAddr::from(([127, 0, 0, 1], port));
            let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let (pa, pb) = (
                a.local_addr().unwrap().port(),
                b.local_addr().unwrap().port(),
            );
            drop((a, b));
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            // With a 1 h delay, only "start the next one when the previous failed" can reach
            // the second address in time.
            let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let good = live.local_addr().unwrap();
            let (_s, winner) =
                connect_racing(&[closed(pa), good], Duration::from_secs(3600), deadline)
                    .await
                    .unwrap();
            assert_eq!(winner, good);
            let Err(all) = connect_racing(&[closed(pa), closed(pb)], ATTEMPT_DELAY, deadline).await
            else {
                panic!("connected to a closed port")
            };
            assert!(all.pending.is_empty());
            assert_eq!(all.failed.len(), 2);
            let (addr, e) = all.most_informative().unwrap();
            assert_eq!(
                (*addr, e.kind()),
                (closed(pa), io::ErrorKind::ConnectionRefused)
            );
        });
    }

    #[test]
    fn every_address_silent_times_out_naming_the_silent_ones_and_the_refusal() {
        rt().block_on(async {
            let (dead, _held, _l) = blackhole().await;
            let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let refused = a.local_addr().unwrap();
            drop(a);
            let p = TcpProbe::new(&target("db.example", 5432));
            let budget = Duration::from_millis(800);
            let deadline = tokio::time::Instant::now() + budget;
            let c = p.connect(&[dead, refused], budget, deadline).await;
            let Check::Pending(o) = c else {
                panic!("{c:?}")
            };
            assert_eq!(
                (o.class, o.state.as_str()),
                (Class::Timeout, "attempt timed out")
            );
            let cause = o.cause.unwrap_or_default();
            assert!(cause.contains(&format!("no answer from {dead}")), "{cause}");
            assert!(cause.contains(&format!("{refused}: ")), "{cause}");
        });
    }

    #[test]
    fn families_are_interleaved_first_family_first() {
        let v4 = |n: u8| SocketAddr::from(([10, 0, 0, n], 80));
        let v6 = |n: u16| SocketAddr::from(([0xfd00, 0, 0, 0, 0, 0, 0, n], 80));
        assert_eq!(
            interleave(&[v6(1), v6(2), v6(3), v4(1), v4(2)]),
            vec![v6(1), v4(1), v6(2), v4(2), v6(3)]
        );
        assert_eq!(
            interleave(&[v4(1), v6(1), v6(2), v6(3)]),
            vec![v4(1), v6(1), v6(2), v6(3)]
        );
        assert_eq!(interleave(&[]), Vec::<SocketAddr>::new());
    }
}
