//! SRV records, asked of the name servers in `/etc/resolv.conf` over UDP: the system resolver
//! (`getaddrinfo`) answers addresses only. The search list and `ndots` are applied as musl and
//! glibc apply them (a name with fewer dots than `ndots` tries the search domains first); every
//! answer is checked against our query (id, question) and read into a fixed buffer, and the
//! whole lookup is bounded by the attempt's deadline.

use std::net::{IpAddr, SocketAddr};

use tokio::net::UdpSocket;
use tokio::time::Instant;

/// resolv.conf is a few lines; more is not one.
const RESOLV_CAP: u64 = 64 * 1024;
/// The largest answer read: a UDP answer without EDNS is at most 512 bytes; a larger one from a
/// server that sends it anyway is cut here (and its records beyond the cut not counted).
const ANSWER_CAP: usize = 4096;
/// The record type SRV (RFC 2782) and the class IN.
const SRV: u16 = 33;
const IN: u16 = 1;
/// How many name servers are asked, as the C libraries do (MAXNS).
const MAX_SERVERS: usize = 3;

/// What `/etc/resolv.conf` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines (127.0.0.1 when there is none, as in the C libraries).
    pub servers: Vec<IpAddr>,
    /// The last `search` (or `domain`) line's domains.
    pub search: Vec<String>,
    /// `options ndots:N` (1 when not given; at most 15).
    pub ndots: usize,
}

/// Why an SRV lookup found nothing.
#[derive(Debug, thiserror::Error)]
pub enum SrvError {
    /// `/etc/resolv.conf` could not be read.
    #[error(transparent)]
    Conf(#[from] crate::net::file::FileError),
    /// No candidate name has SRV records (NXDOMAIN or no data for each).
    #[error("no SRV records for {tried}")]
    NotFound {
        /// The names asked, joined.
        tried: String,
    },
    /// No name server answered usefully (timeouts, SERVFAIL, REFUSED, malformed answers).
    #[error("{0}")]
    Failed(String),
}

/// One SRV record's target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SrvTarget {
    /// The target host (no trailing dot).
    pub host: String,
    /// The port.
    pub port: u16,
}

/// What a lookup found: the name that had records, its targets, and whether the answer was
/// truncated (TC: kwait does not repeat it over TCP, so more targets may exist).
#[derive(Debug)]
pub struct SrvAnswer {
    /// The name that answered.
    pub name: String,
    /// Distinct targets, sorted; `.` (RFC 2782: "no service here") left out.
    pub targets: Vec<SrvTarget>,
    /// The answer had the TC bit.
    pub truncated: bool,
}

/// Parses resolv.conf's text.
pub fn parse_resolv_conf(text: &str) -> ResolvConf {
    let mut conf = ResolvConf {
        servers: Vec::new(),
        search: Vec::new(),
        ndots: 1,
    };
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                // A link-local IPv6 server may carry %scope: the address alone is used.
                let addr = words.next().and_then(|w| w.split('%').next());
                if let Some(ip) = addr.and_then(|a| a.parse().ok())
                    && conf.servers.len() < MAX_SERVERS
                {
                    conf.servers.push(ip);
                }
            }
            Some("search" | "domain") => {
                conf.search = words
                    .map(|w| w.trim_end_matches('.').to_string())
                    .filter(|w| !w.is_empty())
                    .collect();
            }
            Some("options") => {
                for w in words {
                    if let Some(n) = w.strip_prefix("ndots:").and_then(|n| n.parse().ok()) {
                        conf.ndots = usize::min(n, 15);
                    }
                }
            }
            _ => {}
        }
    }
    if conf.servers.is_empty() {
        conf.servers.push(IpAddr::from([127, 0, 0, 1]));
    }
    conf
}

/// The names asked for `name`, in order: an absolute name (trailing dot) alone; else the search
/// domains first when it has fewer than `ndots` dots, the name as given last (and the other way
/// round when it has enough dots).
pub fn candidates(name: &str, conf: &ResolvConf) -> Vec<String> {
    if let Some(abs) = name.strip_suffix('.') {
        return vec![abs.to_string()];
    }
    let searched = conf.search.iter().map(|d| format!("{name}.{d}"));
    if name.matches('.').count() >= conf.ndots {
        std::iter::once(name.to_string()).chain(searched).collect()
    } else {
        searched.chain(std::iter::once(name.to_string())).collect()
    }
}

/// The query for `name`'s SRV records with id `id`, recursion desired.
pub fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&SRV.to_be_bytes());
    q.extend_from_slice(&IN.to_be_bytes());
    q
}

/// What one answer said.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// NOERROR: the SRV targets in the answer section (maybe none: NODATA), and TC.
    Records(Vec<SrvTarget>, bool),
    /// NXDOMAIN.
    NoName,
    /// Another RCODE (SERVFAIL 2, REFUSED 5, ...).
    Rcode(u8),
}

/// Why an answer was not taken.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// Not an answer to our query (another id or question): ignored, the wait goes on.
    #[error("not an answer to this query")]
    NotOurs,
    /// Cut short or inconsistent.
    #[error("malformed answer")]
    Malformed,
}

/// Reads a name at `at` (compression pointers followed, at most 64 of them): the name and the
/// offset just past it where it began.
fn read_name(msg: &[u8], mut at: usize) -> Result<(String, usize), AnswerError> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(at).ok_or(AnswerError::Malformed)? as usize;
        match len {
            0 => {
                return Ok((labels.join("."), end.unwrap_or(at + 1)));
            }
            l if l & 0xC0 == 0xC0 => {
                let lo = *msg.get(at + 1).ok_or(AnswerError::Malformed)? as usize;
                end.get_or_insert(at + 2);
                jumps += 1;
                if jumps > 64 {
                    return Err(AnswerError::Malformed);
                }
                at = ((l & 0x3F) << 8) | lo;
            }
            l if l <= 63 => {
                let label = msg.get(at + 1..at + 1 + l).ok_or(AnswerError::Malformed)?;
                labels.push(String::from_utf8_lossy(label).into_owned());
                if labels.len() > 128 {
                    return Err(AnswerError::Malformed);
                }
                at += 1 + l;
            }
            _ => return Err(AnswerError::Malformed),
        }
    }
}

fn u16_at(msg: &[u8], at: usize) -> Result<u16, AnswerError> {
    let b = msg.get(at..at + 2).ok_or(AnswerError::Malformed)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

/// Judges `msg` as the answer to [`query`]`(id, name)`.
pub fn parse_answer(msg: &[u8], id: u16, name: &str) -> Result<Parsed, AnswerError> {
    if msg.len() < 12 || u16_at(msg, 0)? != id || msg[2] & 0x80 == 0 {
        return Err(AnswerError::NotOurs);
    }
    let truncated = msg[2] & 0x02 != 0;
    let rcode = msg[3] & 0x0F;
    let (qd, an) = (u16_at(msg, 4)?, u16_at(msg, 6)?);
    if qd != 1 {
        return Err(AnswerError::NotOurs);
    }
    let (qname, mut at) = read_name(msg, 12)?;
    if !qname.eq_ignore_ascii_case(name) || u16_at(msg, at)? != SRV || u16_at(msg, at + 2)? != IN {
        return Err(AnswerError::NotOurs);
    }
    at += 4;
    match rcode {
        0 => {}
        3 => return Ok(Parsed::NoName),
        r => return Ok(Parsed::Rcode(r)),
    }
    let mut targets = Vec::new();
    for _ in 0..an {
        let (_, next) = match read_name(msg, at) {
            Ok(n) => n,
            // A record cut by the end of a truncated answer: the ones before it count.
            Err(_) if truncated => break,
            Err(e) => return Err(e),
        };
        let (Ok(kind), Ok(len)) = (u16_at(msg, next), u16_at(msg, next + 8)) else {
            if truncated {
                break;
            }
            return Err(AnswerError::Malformed);
        };
        let data = next + 10;
        let len = len as usize;
        if msg.len() < data + len {
            if truncated {
                break;
            }
            return Err(AnswerError::Malformed);
        }
        if kind == SRV {
            if len < 7 {
                return Err(AnswerError::Malformed);
            }
            let port = u16_at(msg, data + 4)?;
            let (host, _) = read_name(msg, data + 6)?;
            if !host.is_empty() {
                targets.push(SrvTarget { host, port });
            }
        }
        at = data + len;
    }
    targets.sort();
    targets.dedup();
    Ok(Parsed::Records(targets, truncated))
}

/// Looks `name` up as SRV through the resolv.conf at `conf_path`, until `deadline`.
pub async fn lookup(
    name: &str,
    conf_path: &std::path::Path,
    deadline: Instant,
) -> Result<SrvAnswer, SrvError> {
    let text = crate::net::file::read_capped(conf_path, RESOLV_CAP, "resolv.conf")?;
    let conf = parse_resolv_conf(&String::from_utf8_lossy(&text));
    let names = candidates(name, &conf);
    let mut failures: Vec<String> = Vec::new();
    let asks = names.len() * conf.servers.len();
    for (ci, candidate) in names.iter().enumerate() {
        let mut answered = false;
        for (si, server) in conf.servers.iter().enumerate() {
            // Each question still to ask gets an equal share of the time left.
            let left = deadline.saturating_duration_since(Instant::now());
            let share = left / (asks - ci * conf.servers.len() - si).max(1) as u32;
            match ask(*server, candidate, Instant::now() + share).await {
                Ok(Parsed::Records(targets, truncated)) if !targets.is_empty() => {
                    return Ok(SrvAnswer {
                        name: candidate.clone(),
                        targets,
                        truncated,
                    });
                }
                Ok(Parsed::Records(..) | Parsed::NoName) => {
                    answered = true;
                    break;
                }
                Ok(Parsed::Rcode(r)) => failures.push(format!("{server}: {}", rcode_name(r))),
                Err(e) => failures.push(format!("{server}: {e}")),
            }
        }
        if !answered {
            failures.dedup();
            return Err(SrvError::Failed(format!(
                "no name server answered for {candidate} ({})",
                failures.join("; ")
            )));
        }
    }
    Err(SrvError::NotFound {
        tried: names.join(", "),
    })
}

fn rcode_name(r: u8) -> String {
    match r {
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        r => format!("RCODE {r}"),
    }
}

/// One question to one server, until `until`; answers that are not ours are skipped.
async fn ask(server: IpAddr, name: &str, until: Instant) -> Result<Parsed, String> {
    let mut id = [0u8; 2];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
        .map_err(|_| "no random numbers for the query id".to_string())?;
    let id = u16::from_be_bytes(id);
    let local: SocketAddr = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let sock = UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
    sock.connect((server, 53))
        .await
        .map_err(|e| e.to_string())?;
    let q = query(id, name);
    sock.send(&q).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; ANSWER_CAP];
    loop {
        let n = match tokio::time::timeout_at(until, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => n,
            // ICMP port unreachable: nothing listens there.
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no answer in time".into()),
        };
        match parse_answer(&buf[..n], id, name) {
            Ok(p) => return Ok(p),
            Err(AnswerError::NotOurs) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_is_read_as_the_c_libraries_read_it() {
        let c = parse_resolv_conf(
            "# kube-dns\nsearch crs.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\nnameserver fe80::1%eth0 ; x\noptions ndots:5 timeout:2\n",
        );
        assert_eq!(
            c.servers,
            vec![
                "10.96.0.10".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
        assert_eq!(c.search.len(), 3);
        assert_eq!(c.ndots, 5);
        let empty = parse_resolv_conf("");
        assert_eq!(empty.servers, vec![IpAddr::from([127, 0, 0, 1])]);
        assert_eq!(empty.ndots, 1);
        // A pod: `_pg._tcp.db` has 2 dots < 5, so the search list comes first.
        assert_eq!(
            candidates("_pg._tcp.db", &c),
            [
                "_pg._tcp.db.crs.svc.cluster.local",
                "_pg._tcp.db.svc.cluster.local",
                "_pg._tcp.db.cluster.local",
                "_pg._tcp.db"
            ]
        );
        assert_eq!(candidates("a.b.c.", &c), ["a.b.c"]);
        let one = parse_resolv_conf("search x\n");
        assert_eq!(candidates("a.b", &one), ["a.b", "a.b.x"]);
    }

    /// An answer as a server builds it: the question, then `records` (target, port) with the
    /// owner compressed to the question's name.
    fn answer(id: u16, name: &str, rcode: u8, records: &[(&str, u16)]) -> Vec<u8> {
        let mut m = query(id, name);
        m[2] = 0x81;
        m[3] = 0x80 | rcode;
        m[7] = records.len() as u8;
        for (host, port) in records {
            m.extend_from_slice(&[0xC0, 12]);
            m.extend_from_slice(&SRV.to_be_bytes());
            m.extend_from_slice(&IN.to_be_bytes());
            m.extend_from_slice(&30u32.to_be_bytes());
            let mut data = vec![0, 10, 0, 5];
            data.extend_from_slice(&port.to_be_bytes());
            if host.is_empty() {
                data.push(0);
            } else {
                for l in host.split('.') {
                    data.push(l.len() as u8);
                    data.extend_from_slice(l.as_bytes());
                }
                data.push(0);
            }
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(&data);
        }
        m
    }

    #[test]
    fn answers_are_checked_against_the_query_and_their_targets_counted() {
        let n = "_pg._tcp.db.crs.svc.cluster.local";
        let a = answer(
            7,
            n,
            0,
            &[
                ("db-1.db", 5432),
                ("db-0.db", 5432),
                ("db-0.db", 5432),
                ("", 0),
            ],
        );
        let Ok(Parsed::Records(t, false)) = parse_answer(&a, 7, n) else {
            panic!()
        };
        assert_eq!(
            t.iter().map(|t| t.host.as_str()).collect::<Vec<_>>(),
            ["db-0.db", "db-1.db"]
        );
        // Another id, or another question: not ours.
        assert_eq!(parse_answer(&a, 8, n), Err(AnswerError::NotOurs));
        assert_eq!(parse_answer(&a, 7, "other"), Err(AnswerError::NotOurs));
        assert_eq!(
            parse_answer(&answer(7, n, 3, &[]), 7, n),
            Ok(Parsed::NoName)
        );
        assert_eq!(
            parse_answer(&answer(7, n, 2, &[]), 7, n),
            Ok(Parsed::Rcode(2))
        );
        // Cut short, or a compression loop: malformed, not a hang or a panic.
        assert_eq!(
            parse_answer(&a[..a.len() - 3], 7, n),
            Err(AnswerError::Malformed)
        );
        let mut looped = answer(7, n, 0, &[("x", 1)]);
        let at = looped.len() - 3;
        looped[at] = 0xC0;
        looped[at + 1] = at as u8;
        assert!(parse_answer(&looped, 7, n).is_err());
        // A truncated answer keeps the records before the cut.
        let mut tc = answer(7, n, 0, &[("db-0.db", 1), ("db-1.db", 1)]);
        tc[2] |= 0x02;
        tc.truncate(tc.len() - 4);
        assert_eq!(
            parse_answer(&tc, 7, n),
            Ok(Parsed::Records(
                vec![SrvTarget {
                    host: "db-0.db".into(),
                    port: 1
                }],
                true
            ))
        );
    }
}
