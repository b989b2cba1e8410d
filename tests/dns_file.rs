//! `kwait wait-dns` against a DNS server the test runs on a loopback address (port 53), with
//! kwait in a mount namespace of its own where /etc/resolv.conf names that server and a pod's
//! search list (`unshare -m`, as root: the C library reads no other file; without root the
//! tests say SKIPPED, and fail under `KWAIT_REQUIRE_SERVERS=1`). And `kwait wait-file` in a
//! scratch directory.

use std::collections::HashMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::Live;

/// What the test's DNS server knows: A records and SRV records (target, port) by name.
#[derive(Default)]
struct Zone {
    a: HashMap<String, Vec<Ipv4Addr>>,
    srv: HashMap<String, Vec<(String, u16)>>,
}

/// A DNS server on `ip`:53 answering from a [`Zone`] the test changes while kwait waits.
struct Dns {
    ip: Ipv4Addr,
    zone: Arc<Mutex<Zone>>,
}

fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in name.split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

impl Dns {
    /// Starts the server on the next free 127.0.0.x; `None` when port 53 cannot be bound.
    fn start() -> Option<Dns> {
        static NEXT: AtomicU8 = AtomicU8::new(161);
        let ip = Ipv4Addr::new(127, 0, 0, NEXT.fetch_add(1, Ordering::Relaxed));
        let sock = UdpSocket::bind((ip, 53)).ok()?;
        let zone = Arc::new(Mutex::new(Zone::default()));
        let z = zone.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, peer)) = sock.recv_from(&mut buf) {
                let q = &buf[..n];
                let (mut i, mut labels) = (12, Vec::new());
                while i < n && q[i] != 0 {
                    let l = q[i] as usize;
                    labels.push(String::from_utf8_lossy(&q[i + 1..i + 1 + l]).to_lowercase());
                    i += 1 + l;
                }
                let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
                let name = labels.join(".");
                let question = &q[12..i + 5];
                let zone = z.lock().unwrap_or_else(|e| e.into_inner());
                let known = zone.a.contains_key(&name) || zone.srv.contains_key(&name);
                let mut answers: Vec<Vec<u8>> = Vec::new();
                if qtype == 1 {
                    for ip in zone.a.get(&name).into_iter().flatten() {
                        let mut rr = vec![0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4];
                        rr.extend_from_slice(&ip.octets());
                        answers.push(rr);
                    }
                }
                if qtype == 33 {
                    for (target, port) in zone.srv.get(&name).into_iter().flatten() {
                        let mut data = vec![0, 10, 0, 10];
                        data.extend_from_slice(&port.to_be_bytes());
                        data.extend_from_slice(&encode_name(target));
                        let mut rr = vec![0xC0, 12, 0, 33, 0, 1, 0, 0, 0, 30];
                        rr.extend_from_slice(&(data.len() as u16).to_be_bytes());
                        rr.extend_from_slice(&data);
                        answers.push(rr);
                    }
                }
                drop(zone);
                let rcode = if known { 0 } else { 3 };
                let mut out = vec![q[0], q[1], 0x81, 0x80 | rcode, 0, 1, 0, answers.len() as u8];
                out.extend_from_slice(&[0, 0, 0, 0]);
                out.extend_from_slice(question);
                for a in answers {
                    out.extend_from_slice(&a);
                }
                let _ = sock.send_to(&out, peer);
            }
        });
        Some(Dns { ip, zone })
    }

    fn set_a(&self, name: &str, ips: &[[u8; 4]]) {
        let mut z = self.zone.lock().unwrap_or_else(|e| e.into_inner());
        z.a.insert(
            name.into(),
            ips.iter().map(|o| Ipv4Addr::from(*o)).collect(),
        );
    }

    fn set_srv(&self, name: &str, targets: &[(&str, u16)]) {
        let mut z = self.zone.lock().unwrap_or_else(|e| e.into_inner());
        let t = targets.iter().map(|(h, p)| (h.to_string(), *p)).collect();
        z.srv.insert(name.into(), t);
    }
}

/// A DNS server, or `None` (after saying SKIPPED) where kwait cannot be given a resolv.conf
/// of the test's own (not root, no unshare).
fn dns_or_skip() -> Option<Dns> {
    let ns_ok = Command::new("unshare")
        .args(["-m", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let dns = if ns_ok { Dns::start() } else { None };
    if dns.is_none() {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"\n*** SKIPPED: wait-dns tests need root (unshare -m to give kwait its own /etc/resolv.conf, and port 53 on loopback) ***\n",
        );
        assert!(
            std::env::var("KWAIT_REQUIRE_SERVERS").as_deref() != Ok("1"),
            "KWAIT_REQUIRE_SERVERS=1 and the wait-dns tests cannot run here (not root?)"
        );
    }
    dns
}

/// kwait in its own mount namespace where /etc/resolv.conf is a pod's, naming `dns`.
fn kwait_with_dns(dns: &Dns, args: &[&str]) -> Live {
    let dir = common::scratch("dns");
    let conf = dir.join("resolv.conf");
    std::fs::write(
        &conf,
        format!(
            "search crs.svc.cluster.local svc.cluster.local cluster.local\nnameserver {}\noptions ndots:5\n",
            dns.ip
        ),
    )
    .expect("write resolv.conf");
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-m",
        "sh",
        "-c",
        "mount --bind \"$1\" /etc/resolv.conf && shift && exec \"$@\"",
        "sh",
    ])
    .arg(&conf)
    .arg(env!("CARGO_BIN_EXE_kwait"))
    .args(["--interval", "100ms", "--max-interval", "300ms"])
    .args(args)
    .env("HOME", &dir)
    .env("KWAIT_TERMINATION_LOG", "/dev/null")
    .stdin(Stdio::null());
    Live::spawn(cmd)
}

#[test]
fn a_statefulset_peer_name_is_awaited_through_the_search_list_until_it_resolves() {
    let Some(dns) = dns_or_skip() else { return };
    let mut live = kwait_with_dns(&dns, &["wait-dns", "db-0.db", "--timeout", "60s"]);
    live.wait_for("DNS db-0.db: DNS: name not found");
    dns.set_a("db-0.db.crs.svc.cluster.local", &[[10, 1, 2, 3]]);
    let (code, _, out) = live.finish();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("db-0.db resolves to 1 address (10.1.2.3)"),
        "{out}"
    );
}

#[test]
fn min_counts_distinct_addresses_and_type_filters_the_family() {
    let Some(dns) = dns_or_skip() else { return };
    dns.set_a("db.crs.svc.cluster.local", &[[10, 0, 0, 1], [10, 0, 0, 2]]);
    let mut live = kwait_with_dns(&dns, &["wait-dns", "db", "--min", "3", "--timeout", "60s"]);
    live.wait_for("resolves to 2 addresses of 3");
    dns.set_a(
        "db.crs.svc.cluster.local",
        &[[10, 0, 0, 1], [10, 0, 0, 2], [10, 0, 0, 3]],
    );
    let (code, _, out) = live.finish();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("db resolves to 3 addresses (10.0.0.1, 10.0.0.2, 10.0.0.3)"),
        "{out}"
    );
    // An IPv4-only name never has an IPv6 address.
    let live = kwait_with_dns(
        &dns,
        &["wait-dns", "db", "--type", "AAAA", "--timeout", "1s"],
    );
    let (code, _, out) = live.finish();
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains("last seen : resolves to 0 IPv6 addresses of 1"),
        "{out}"
    );
}

#[test]
fn srv_targets_are_asked_of_the_resolv_conf_server_and_counted() {
    let Some(dns) = dns_or_skip() else { return };
    let name = "_pg._tcp.db.crs.svc.cluster.local";
    dns.set_srv(name, &[("db-0.db.crs.svc.cluster.local", 5432)]);
    let mut live = kwait_with_dns(
        &dns,
        &[
            "wait-dns",
            "_pg._tcp.db",
            "--type",
            "SRV",
            "--min",
            "2",
            "--timeout",
            "60s",
        ],
    );
    live.wait_for("has 1 SRV target of 2");
    dns.set_srv(
        name,
        &[
            ("db-0.db.crs.svc.cluster.local", 5432),
            ("db-1.db.crs.svc.cluster.local", 5432),
        ],
    );
    let (code, _, out) = live.finish();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{name} has 2 SRV targets (db-0.db.crs.svc.cluster.local:5432, db-1.db.crs.svc.cluster.local:5432)")),
        "{out}"
    );
    // A name without SRV records, after the whole search list.
    let live = kwait_with_dns(
        &dns,
        &[
            "wait-dns",
            "_x._tcp.none",
            "--type",
            "SRV",
            "--timeout",
            "1s",
        ],
    );
    let (code, _, out) = live.finish();
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("DNS: no SRV records"), "{out}");
    assert!(
        out.contains("_x._tcp.none.cluster.local, _x._tcp.none"),
        "{out}"
    );
}

/// kwait to the end, for the file waits.
fn kwait(args: &[&str]) -> (i32, String) {
    common::net_kwait(args, &[])
}

#[test]
fn a_file_written_later_is_awaited_until_it_exists_grows_and_matches() {
    let dir = common::scratch("wait-file");
    let f = dir.join("shared").join("ready");
    let p = f.to_str().expect("UTF-8");
    let mut live = Live::spawn(common::net_kwait_cmd(&[
        "wait-file",
        p,
        "--nonempty",
        "--contains",
        "(?m)^done$",
        "--timeout",
        "60s",
    ]));
    live.wait_for("does not exist");
    std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
    std::fs::write(&f, "").expect("write");
    live.wait_for("exists, but is empty");
    std::fs::write(&f, "starting\n").expect("write");
    live.wait_for("exists, but does not match /(?m)^done$/");
    std::fs::write(&f, "starting\ndone\n").expect("write");
    let (code, _, out) = live.finish();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{p} matches /(?m)^done$/")), "{out}");
}

#[test]
fn a_fifo_or_a_directory_is_named_and_the_wait_still_ends_at_its_deadline() {
    let dir = common::scratch("wait-fifo");
    let fifo = dir.join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    let (code, out) = kwait(&[
        "wait-file",
        fifo.to_str().expect("UTF-8"),
        "--contains",
        "x",
        "--timeout",
        "1s",
    ]);
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains("last seen : is a FIFO (named pipe), not a file"),
        "{out}"
    );
    let (code, out) = kwait(&["wait-file", dir.to_str().expect("UTF-8"), "--timeout", "1s"]);
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("is a directory, not a file"), "{out}");
}

#[test]
fn an_unreadable_file_is_named_as_a_permission_problem() {
    let dir = common::scratch("wait-unreadable");
    let f = dir.join("secret");
    std::fs::write(&f, "token").expect("write");
    std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o000))
        .expect("chmod");
    let p = f.to_str().expect("UTF-8");
    // Root reads any file: run kwait as nobody then (setpriv), else as ourselves.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_kwait"),
        ]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_kwait"))
    };
    cmd.args(["wait-file", p, "--contains", "token", "--timeout", "1s"])
        .env("HOME", &dir)
        .env("KWAIT_TERMINATION_LOG", "/dev/null")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let r = common::run(cmd, Duration::from_secs(60));
    let out = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, Some(124), "{out}");
    assert!(out.contains("last seen : read: permission denied"), "{out}");
    // Existence alone needs no read permission.
    let (code, out) = kwait(&["wait-file", p, "--timeout", "5s"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{p} exists (5 bytes)")), "{out}");
}

#[test]
fn dry_run_of_dns_and_file_says_what_and_needs_no_rbac() {
    let (code, out) = kwait(&[
        "--dry-run",
        "wait-dns",
        "db",
        "--type",
        "SRV",
        "--min",
        "2",
        "--and",
        "wait-file",
        "/shared/ready",
        "--nonempty",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1. DNS db (2 SRV targets)"), "{out}");
    assert!(out.contains("2. file /shared/ready (non-empty)"), "{out}");
    assert!(out.contains("RBAC needed: none"), "{out}");
}

#[test]
fn the_new_kinds_join_others_with_and_and_log_as_json_lines() {
    let dir = common::scratch("and-json");
    let f = dir.join("ready");
    std::fs::write(&f, "ok").expect("write");
    let pw = dir.join("pw");
    std::fs::write(&pw, "x").expect("write");
    let port = testkit::netserve::free_port().to_string();
    let addr = format!("127.0.0.1:{port}");
    let (code, out) = kwait(&[
        "--log-format",
        "json",
        "--timeout",
        "2s",
        "wait-file",
        f.to_str().expect("UTF-8"),
        "--and",
        "wait-dns",
        "localhost",
        "--type",
        "A",
        "--and",
        "wait-mysql",
        &addr,
        "--user",
        "app",
        "--password-file",
        pw.to_str().expect("UTF-8"),
    ]);
    assert_eq!(code, 124, "{out}");
    let lines: Vec<serde_json::Value> = (out.lines())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let targets = &lines[0]["targets"];
    assert_eq!(targets[0], format!("file {}", f.display()), "{out}");
    assert_eq!(targets[1], "DNS localhost (1 IPv4 address)", "{out}");
    assert_eq!(targets[2], format!("MySQL {addr} (user app)"), "{out}");
    let ready = |i: u64| {
        lines
            .iter()
            .any(|l| l["event"] == "ready" && l["index"] == i)
    };
    assert!(ready(0) && ready(1) && !ready(2), "{out}");
    assert!(out.contains("connection refused"), "{out}");
}
