//! `kwait wait-postgres`: the built binary against real PostgreSQL servers (Debian's
//! `postgresql` package), started in temporary directories on loopback ports and stopped at
//! the end of each test. Without the server binaries each test says SKIPPED on stderr, and fails
//! when `KWAIT_REQUIRE_SERVERS=1` (CI).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::pg::{Pg, Setup, bin_dir};

/// kwait for a network wait: short interval, clean environment (no SSL_CERT_*), no
/// termination log; `args` after the global options.
fn kwait_cmd(args: &[&str]) -> Command {
    let home = common::scratch("pg-home");
    let mut cmd = common::kwait(&home);
    cmd.args(["--interval", "100ms", "--max-interval", "300ms"])
        .args(args)
        .env_remove("SSL_CERT_DIR")
        .env_remove("SSL_CERT_FILE")
        .env("KWAIT_TERMINATION_LOG", "/dev/null");
    cmd
}

/// Runs kwait to the end: (exit code, stdout + stderr).
fn kwait(args: &[&str]) -> (i32, String) {
    let r = common::run(kwait_cmd(args), Duration::from_secs(90));
    (r.code.unwrap_or(-1), format!("{}{}", r.stdout, r.stderr))
}

/// A kwait whose output is read as it comes, so that a test can act when kwait has seen a
/// state (instead of sleeping and hoping a loaded machine kept up).
struct Live {
    child: std::process::Child,
    out: std::sync::Arc<std::sync::Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Live {
    fn spawn(args: &[&str]) -> Live {
        let mut child = kwait_cmd(args).spawn().expect("spawn kwait");
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut readers = Vec::new();
        let pipes: Vec<Box<dyn std::io::Read + Send>> = vec![
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for pipe in pipes {
            let out = out.clone();
            readers.push(std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                    o.push_str(&line);
                    o.push('\n');
                }
            }));
        }
        Live {
            child,
            out,
            readers,
        }
    }

    fn text(&self) -> String {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until kwait has printed `what` (and is still running).
    fn wait_for(&mut self, what: &str) {
        common::eventually(
            &format!("kwait prints {what:?}"),
            Duration::from_secs(60),
            || {
                assert!(
                    self.child.try_wait().expect("try_wait").is_none(),
                    "kwait ended before printing {what:?}: {}",
                    self.text()
                );
                self.text().contains(what).then_some(())
            },
        );
    }

    /// Waits for the exit (at most 90 s): (exit code, everything printed).
    fn finish(mut self) -> (i32, String) {
        let started = Instant::now();
        let code = loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                break st.code().unwrap_or(-1);
            }
            if started.elapsed() > Duration::from_secs(90) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("kwait still running after 90 s: {}", self.text());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        (code, self.text())
    }
}

/// A file holding `text` (a password, a CA).
fn file(name: &str, text: &str) -> PathBuf {
    let dir = common::scratch("pg-files");
    let f = dir.join(name);
    std::fs::write(&f, text).expect("write file");
    f
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `a` occurs in `out`, and before `b`.
fn before(out: &str, a: &str, b: &str) -> bool {
    matches!((out.find(a), out.find(b)), (Some(x), Some(y)) if x < y)
}

#[test]
fn postgres_started_after_kwait_is_awaited_until_it_accepts_connections() {
    let Some(bin) = bin_dir() else { return };
    let pg = Pg::init(&bin, &Setup::default());
    let addr = pg.addr();
    let mut live = Live::spawn(&["wait-postgres", &addr, "--timeout", "60s"]);
    // Nothing listens yet: kwait says so and keeps waiting.
    live.wait_for(&format!("PostgreSQL {addr}: connection refused"));
    let started = Instant::now();
    pg.start();
    let (code, out) = live.finish();
    let ended = Instant::now();
    assert_eq!(code, 0, "{out}\n{}", pg.log());
    assert!(before(&out, "connection refused", "ready after"), "{out}");
    assert!(
        out.contains(&format!(
            "PostgreSQL {addr} accepts connections (asks for SASL (SCRAM-SHA-256))"
        )),
        "{out}"
    );
    // It noticed the server soon after it started (retries every 0.3 s at most here; the
    // bound is generous for a loaded machine).
    assert!(
        ended.duration_since(started) < Duration::from_secs(30),
        "{out}"
    );
}

#[test]
fn a_standby_answering_57p03_is_not_ready_until_promoted() {
    let Some(bin) = bin_dir() else { return };
    let setup = Setup {
        standby: true,
        settings: vec!["hot_standby=off".into()],
        ..Setup::default()
    };
    let pg = Pg::init(&bin, &setup);
    pg.start_no_wait();
    // pg_isready itself says "rejecting connections" (exit 1) once the standby is up.
    common::eventually(
        "the standby rejects connections",
        Duration::from_secs(60),
        || (pg.isready() == 1).then_some(()),
    );
    let addr = pg.addr();
    // While it stays a standby: pending with the server's message, exit 124 at the deadline.
    let (code, out) = kwait(&["wait-postgres", &addr, "--timeout", "2s"]);
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains("last seen : not ready: the database system is not accepting connections"),
        "{out}"
    );
    assert!(out.contains("SQLSTATE 57P03"), "{out}");
    assert!(out.contains("Hot standby mode is disabled."), "{out}");
    // wait-tcp calls it ready: the port is open.
    let (code, out) = kwait(&["wait-tcp", &addr, "--timeout", "5s"]);
    assert_eq!(code, 0, "{out}");

    let mut live = Live::spawn(&["postgres", &addr, "--timeout", "60s"]);
    live.wait_for("not ready: the database system is not accepting connections");
    pg.promote();
    let (code, out) = live.finish();
    assert_eq!(code, 0, "{out}\n{}", pg.log());
    assert!(
        before(
            &out,
            "not ready: the database system is not accepting connections",
            "ready after"
        ),
        "{out}"
    );
}

#[test]
fn a_wrong_password_stays_pending_and_times_out_with_the_fix_line() {
    let Some(bin) = bin_dir() else { return };
    let pg = Pg::init(&bin, &Setup::default());
    pg.start();
    let addr = pg.addr();
    let wrong = file("wrong", "kwait-wrong-password-7\n");
    let started = Instant::now();
    let (code, out) = kwait(&[
        "wait-postgres",
        &addr,
        "--password-file",
        s(&wrong),
        "--timeout",
        "2s",
        "-vv",
    ]);
    assert_eq!(code, 124, "{out}");
    assert!(started.elapsed() < Duration::from_secs(30), "{out}");
    assert!(
        out.contains("last seen : authentication failed for user postgres"),
        "{out}"
    );
    assert!(
        out.contains(
            "fix       : check that --password-file holds the current password of user postgres"
        ),
        "{out}"
    );
    assert!(!out.contains("kwait-wrong-password-7"), "{out}");
    assert!(!out.contains("pg-test-password-1"), "{out}");
    // The right one logs in.
    let right = file("right", "pg-test-password-1\n");
    let (code, out) = kwait(&[
        "wait-postgres",
        &addr,
        "--password-file",
        s(&right),
        "--timeout",
        "30s",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "PostgreSQL {addr}: user postgres logged in to database postgres and SELECT 1 answered"
        )),
        "{out}"
    );
    assert!(!out.contains("pg-test-password-1"), "{out}");
    // Without a password the same server is up (as pg_isready says): authentication asked.
    let (code, out) = kwait(&[
        "wait-postgres",
        &addr,
        "--user",
        "nobody-here",
        "--timeout",
        "30s",
    ]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_database_created_later_is_ready_only_then() {
    let Some(bin) = bin_dir() else { return };
    let pg = Pg::init(&bin, &Setup::default());
    pg.start();
    let addr = pg.addr();
    let pw = file("pw", "pg-test-password-1");
    let mut live = Live::spawn(&[
        "wait-postgres",
        &addr,
        "--password-file",
        s(&pw),
        "--database",
        "appdb",
        "--timeout",
        "60s",
    ]);
    live.wait_for("database appdb does not exist");
    pg.psql("CREATE DATABASE appdb");
    let (code, out) = live.finish();
    assert_eq!(code, 0, "{out}");
    assert!(
        before(&out, "database appdb does not exist", "ready after"),
        "{out}"
    );
    assert!(
        out.contains("user postgres logged in to database appdb and SELECT 1 answered"),
        "{out}"
    );
}

#[test]
fn an_md5_user_logs_in_and_a_clear_text_password_is_sent_only_over_tls() {
    let Some(bin) = bin_dir() else { return };
    let pg = Pg::init(&bin, &Setup::default());
    pg.start();
    pg.psql("SET password_encryption = 'md5'; CREATE ROLE m LOGIN PASSWORD 'md5-user-pw-1'");
    pg.psql("CREATE ROLE c LOGIN PASSWORD 'clear-user-pw-1'");
    pg.hba_first("host all m 127.0.0.1/32 md5\nhost all c 127.0.0.1/32 password");
    let addr = pg.addr();
    let pw = file("pw", "md5-user-pw-1");
    let (code, out) = kwait(&[
        "wait-postgres",
        &addr,
        "--user",
        "m",
        "--database",
        "postgres",
        "--password-file",
        s(&pw),
        "--timeout",
        "30s",
    ]);
    assert_eq!(code, 0, "{out}\n{}", pg.log());
    assert!(
        out.contains("user m logged in to database postgres"),
        "{out}"
    );
    // pg_hba "password" without TLS: kwait does not send it.
    let pw = file("pw", "clear-user-pw-1");
    let (code, out) = kwait(&[
        "wait-postgres",
        &addr,
        "--user",
        "c",
        "--database",
        "postgres",
        "--password-file",
        s(&pw),
        "--timeout",
        "1s",
    ]);
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains("up, but asks for the password in clear text without TLS"),
        "{out}"
    );
    // The server never saw it: no failed password attempt is logged for c.
    assert!(
        !pg.log()
            .contains("password authentication failed for user \"c\""),
        "{}",
        pg.log()
    );
}

#[test]
fn tls_with_a_generated_ca_is_verified_with_ca_cert() {
    let Some(bin) = bin_dir() else { return };
    let ca = testkit::netserve::TestCa::new("kwait pg test CA");
    let id = ca.issue(&["127.0.0.1", "localhost"]);
    let setup = Setup {
        settings: vec![
            "ssl=on".into(),
            "ssl_cert_file=server.crt".into(),
            "ssl_key_file=server.key".into(),
            "log_connections=on".into(),
        ],
        ..Setup::default()
    };
    let pg = Pg::init(&bin, &setup);
    // Relative paths are taken from the data directory.
    let data = pg.dir().join("data");
    for (name, pem) in [("server.crt", &id.cert_pem), ("server.key", &id.key_pem)] {
        let f = data.join(name);
        std::fs::write(&f, pem).expect("write TLS file");
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
        pg.own(&f);
    }
    pg.start();
    let addr = pg.addr();
    let ca_file = file("ca.pem", &ca.pem());
    let pw = file("pw", "pg-test-password-1");
    let (code, out) = kwait(&[
        "wait-postgres",
        &addr,
        "--tls",
        "--ca-cert",
        s(&ca_file),
        "--password-file",
        s(&pw),
        "--timeout",
        "30s",
    ]);
    assert_eq!(code, 0, "{out}\n{}", pg.log());
    assert!(
        out.contains(&format!(
            "waiting for PostgreSQL {addr} (user postgres, database postgres, SELECT 1, TLS)"
        )),
        "{out}"
    );
    assert!(out.contains("SELECT 1 answered"), "{out}");
    // The session really was TLS, in the server's own words.
    assert!(
        pg.log().contains("application_name=kwait SSL enabled"),
        "{}",
        pg.log()
    );
    // Without the CA: the certificate is not trusted, a pending state naming the cure.
    let (code, out) = kwait(&["wait-postgres", &addr, "--tls", "--timeout", "1s"]);
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains("TLS: certificate signed by an unknown authority")
            || out.contains("TLS: no trusted CA certificates"),
        "{out}"
    );
    assert!(out.contains("--ca-cert"), "{out}");
    // --insecure-skip-tls-verify accepts it and says so in the description.
    let (code, out) = kwait(&[
        "wait-postgres",
        &addr,
        "--tls",
        "--insecure-skip-tls-verify",
        "--timeout",
        "30s",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("TLS, certificate not verified"), "{out}");
}

#[test]
fn tls_asked_of_a_server_without_ssl_is_a_pending_state() {
    let Some(bin) = bin_dir() else { return };
    let pg = Pg::init(&bin, &Setup::default());
    pg.start();
    let (code, out) = kwait(&["wait-postgres", &pg.addr(), "--tls", "--timeout", "1s"]);
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains("last seen : TLS: not offered by the server"),
        "{out}"
    );
}

/// A loopback server that is not PostgreSQL: every connection gets `answer(stream)` on its
/// own thread. Lives as long as the test process.
fn fake_server(answer: fn(std::net::TcpStream)) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || answer(c));
        }
    });
    addr
}

/// Reads the startup message (whatever comes first) so that the answer follows it.
fn read_startup(c: &mut std::net::TcpStream) {
    use std::io::Read;
    let mut buf = [0u8; 1024];
    let _ = c.read(&mut buf);
}

#[test]
fn a_server_announcing_a_2_gib_message_is_refused_in_bounded_memory() {
    // 'E' with a length of 2^31 - 1, then zeros for as long as anyone reads: a probe that
    // trusted the length would allocate 2 GiB (killed under the limit) or read for ever.
    let addr = fake_server(|mut c| {
        use std::io::Write;
        read_startup(&mut c);
        let _ = c.write_all(b"E\x7f\xff\xff\xff");
        let zeros = [0u8; 65536];
        while c.write_all(&zeros).is_ok() {}
    });
    let home = common::scratch("pg-hostile");
    let mut cmd = common::kwait(&home);
    cmd.args([
        "--interval",
        "100ms",
        "--max-interval",
        "300ms",
        "wait-postgres",
        &addr,
        "--timeout",
        "2s",
    ])
    .env("KWAIT_TERMINATION_LOG", "/dev/null");
    let r = common::run(
        common::memory_limited(cmd, common::HOSTILE_AS_LIMIT_MIB),
        Duration::from_secs(30),
    );
    let out = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, Some(124), "{out}");
    assert!(out.contains("last seen : not a PostgreSQL answer"), "{out}");
    assert!(out.contains("more than the 65536 kwait reads"), "{out}");
    assert!(r.took < Duration::from_millis(3500), "{:?}: {out}", r.took);
}

#[test]
fn a_server_that_sends_notices_for_ever_is_bounded_by_the_timeout() {
    // Endless NoticeResponses after the startup message, each carrying terminal escapes:
    // the attempt ends at the deadline, and nothing of them reaches the terminal unescaped.
    let addr = fake_server(|mut c| {
        use std::io::Write;
        read_startup(&mut c);
        let body = b"SNOTICE\0C00000\0M\x1b[2Kkwait: ready\x07\0\0";
        let mut m = vec![b'N'];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        while c.write_all(&m).is_ok() {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let started = Instant::now();
    let (code, out) = kwait(&[
        "wait-postgres",
        &addr,
        "--timeout",
        "2s",
        "--attempt-timeout",
        "1s",
    ]);
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains("but the answer to the startup message did not come"),
        "{out}"
    );
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(started.elapsed() < Duration::from_millis(3500), "{out}");
}

#[test]
fn dry_run_needs_no_rbac_and_never_shows_the_password() {
    let pw = file("pw", "dry-run-pw-secret-9");
    let (code, out) = kwait(&[
        "--dry-run",
        "wait-postgres",
        "db.crs.svc",
        "--user",
        "app",
        "--password-file",
        s(&pw),
        "--tls",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "would wait for PostgreSQL db.crs.svc:5432 (user app, database app, SELECT 1, TLS)"
        ),
        "{out}"
    );
    assert!(
        out.contains("RBAC needed: none (not a Kubernetes object)"),
        "{out}"
    );
    assert!(!out.contains("dry-run-pw-secret-9"), "{out}");
    // Bad usage: one line naming the argument, exit 2.
    for (args, says) in [
        (vec!["wait-postgres", "db:0"], "HOST[:PORT]"),
        (
            vec!["wait-postgres", "db", "--ca-cert", "/x"],
            "--ca-cert needs --tls",
        ),
        (
            vec!["wait-postgres", "db", "--insecure-skip-tls-verify"],
            "--insecure-skip-tls-verify needs --tls",
        ),
        (
            vec![
                "wait-postgres",
                "db",
                "--tls",
                "--ca-cert",
                "/x",
                "--insecure-skip-tls-verify",
            ],
            "--ca-cert and --insecure-skip-tls-verify cannot be used together",
        ),
        (
            vec!["wait-postgres", "db", "--password-file", "/dev/zero"],
            "--password-file",
        ),
        (vec!["wait-postgres", "db", "--user", ""], "--user"),
    ] {
        let (code, out) = kwait(&args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains(says), "{args:?}: {out}");
        assert_eq!(out.trim().lines().count(), 1, "{args:?}: {out}");
    }
}
