//! `kwait wait-tcp --send S --expect REGEX`: the built binary against loopback servers that
//! speak (a NATS-like banner, a PING/PONG line protocol, garbage, an endless stream).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;

/// A loopback server that answers each connection with `answer(n, what the client sent
/// within 200 ms)` (`n` counts connections from 0) and then holds it open (or closes it when
/// the answer says so).
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    pub conns: Arc<AtomicUsize>,
}

impl Server {
    fn start(answer: impl Fn(usize, &[u8]) -> (Vec<u8>, bool) + Send + Sync + 'static) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(AtomicUsize::new(0));
        let (st, n) = (stop.clone(), conns.clone());
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let i = n.fetch_add(1, Ordering::Relaxed);
                let (answer, st) = (answer.clone(), st.clone());
                // One thread a connection: a reply the client does not read (all of it) blocks
                // only this connection.
                std::thread::spawn(move || {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(Duration::from_millis(200)))
                        .unwrap();
                    let mut got = vec![0u8; 256];
                    let k = s.read(&mut got).unwrap_or(0);
                    got.truncate(k);
                    let (reply, close) = answer(i, &got);
                    let _ = s.write_all(&reply);
                    while !close && !st.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                });
            }
        });
        Server { port, stop, conns }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn kwait(args: &[&str]) -> (i32, String) {
    common::net_kwait(args, &[])
}

/// NATS sends `INFO {...}` first, without being asked. The first connections get garbage (a
/// server still starting, or another service on the port), then the banner.
#[test]
fn a_banner_that_matches_only_after_garbage_is_awaited() {
    let s = Server::start(|i, _| {
        if i < 2 {
            (b"garbage \x1b[2J\r\n".to_vec(), true)
        } else {
            (
                b"INFO {\"server_id\":\"NX\",\"version\":\"2.10\"}\r\n".to_vec(),
                false,
            )
        }
    });
    let addr = s.addr();
    let (code, out) = kwait(&["wait-tcp", &addr, "--expect", "^INFO ", "--timeout", "30s"]);
    assert_eq!(code, 0, "{out}");
    let garbage = out.find(&format!(
        "TCP {addr} answering '^INFO ': answered \"garbage \\u{{1b}}[2J\", not '^INFO '"
    ));
    let ready = out.find(&format!("TCP {addr} answered as --expect '^INFO ' asks"));
    assert!(
        matches!((garbage, ready), (Some(a), Some(b)) if a < b),
        "{out}"
    );
    assert!(!out.contains('\x1b'), "{out}");
    assert!(s.conns.load(Ordering::Relaxed) >= 3);
}

#[test]
fn send_ping_expect_pong() {
    let s = Server::start(|_, got| match got {
        b"PING\r\n" => (b"PONG\r\n".to_vec(), false),
        _ => (b"-ERR unknown command\r\n".to_vec(), false),
    });
    let addr = s.addr();
    let (code, out) = kwait(&[
        "wait-tcp",
        &addr,
        "--send",
        "PING\\r\\n",
        "--expect",
        "^PONG",
        "--timeout",
        "30s",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("answered as --expect '^PONG' asks"), "{out}");
    // A different text gets the server's error, which is not what --expect wants.
    let (code, out) = kwait(&[
        "wait-tcp",
        &addr,
        "--send",
        "PING\\n",
        "--expect",
        "^PONG",
        "--timeout",
        "2s",
    ]);
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains("answered \"-ERR unknown command\", not '^PONG'"),
        "{out}"
    );
}

/// A server that streams without end and never matches: the answer is read up to 4 KiB, the
/// state line is short, and the run ends at its deadline.
#[test]
fn an_endless_answer_is_read_up_to_4_kib_and_the_wait_ends_at_its_deadline() {
    let s = Server::start(|_, _| (vec![b'A'; 1 << 20], false));
    let addr = s.addr();
    let started = Instant::now();
    let (code, out) = kwait(&["wait-tcp", &addr, "--expect", "^INFO ", "--timeout", "2s"]);
    assert_eq!(code, 124, "{out}");
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "{:?}",
        started.elapsed()
    );
    assert!(out.contains("(4096 bytes, the most read)"), "{out}");
    assert!(out.lines().all(|l| l.len() < 400), "{out}");
}

#[test]
fn a_silent_server_is_no_answer_and_a_closing_one_is_named() {
    let silent = Server::start(|_, _| (Vec::new(), false));
    let (code, out) = kwait(&[
        "--attempt-timeout",
        "500ms",
        "wait-tcp",
        &silent.addr(),
        "--expect",
        "^INFO ",
        "--timeout",
        "2s",
    ]);
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("no answer"), "{out}");
    let closing = Server::start(|_, _| (Vec::new(), true));
    let (code, out) = kwait(&[
        "wait-tcp",
        &closing.addr(),
        "--expect",
        "^INFO ",
        "--timeout",
        "2s",
    ]);
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("connection closed without an answer"), "{out}");
}

#[test]
fn bad_send_and_expect_values_are_exit_2_naming_the_option() {
    for (args, named) in [
        (&["wait-tcp", "nats:4222", "--expect", "("][..], "--expect"),
        (
            &["wait-tcp", "nats:4222", "--send", "PING\\r\\n"][..],
            "--send needs --expect",
        ),
        (
            &["wait-tcp", "nats:4222", "--send", "a\\q", "--expect", "x"][..],
            "--send",
        ),
        (
            &["wait-tcp", "nats:4222", "--send", "a\\x4", "--expect", "x"][..],
            "--send",
        ),
        (
            &["wait-tcp", "nats:4222", "--send", "", "--expect", "x"][..],
            "--send",
        ),
    ] {
        let home = common::scratch("tcp-expect-bad");
        let r = common::run_in(&home, args);
        assert_eq!(r.code, Some(2), "{args:?}: {r:?}");
        assert!(r.stderr.contains(named), "{args:?}: {r:?}");
        assert_eq!(r.stderr.trim().lines().count(), 1, "{args:?}: {r:?}");
    }
    let home = common::scratch("tcp-expect-dry");
    let r = common::run_in(
        &home,
        &["--dry-run", "wait-tcp", "nats:4222", "--expect", "^INFO "],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("would wait for TCP nats:4222 answering '^INFO '"),
        "{r:?}"
    );
}
