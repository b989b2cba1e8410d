//! `kwait wait-mysql`: the built binary against a real MariaDB server (Debian's
//! `mariadb-server`), started by each test in a scratch directory on a free loopback port.
//! Without the server each test says SKIPPED on stderr, and fails when
//! `KWAIT_REQUIRE_SERVERS=1` (CI).
//!
//! MariaDB has no caching_sha2_password and MySQL 8 is not in Debian: that method is tested
//! against captured exchanges in src/probe/mysql/wire.rs.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;

use common::Live;
use common::mysql::{Maria, available};

const PASSWORD: &str = "kwait-mysql-test-pw";

/// Runs kwait (a network wait) to the end: (exit code, stdout + stderr).
fn kwait(args: &[&str]) -> (i32, String) {
    common::net_kwait(args, &[])
}

/// kwait running, its output read as it comes.
fn live(args: &[&str]) -> Live {
    Live::spawn(common::net_kwait_cmd(args))
}

/// `wait-mysql ADDR --user app --password-file PW` and `extra`.
fn app<'a>(addr: &'a str, pw: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "wait-mysql",
        addr,
        "--user",
        "app",
        "--password-file",
        s(pw),
    ];
    v.extend_from_slice(extra);
    v
}

/// A file holding `text`.
fn file(name: &str, text: &str) -> PathBuf {
    let f = common::scratch("mysql-files").join(name);
    std::fs::write(&f, text).expect("write file");
    f
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A server with user `app` (password [`PASSWORD`]) allowed on database `shop`, which does
/// not exist yet; started.
fn with_app_user(extra: &[&str]) -> Maria {
    let mut m = Maria::init(extra);
    m.start();
    m.wait_ready();
    m.sql(&format!(
        "CREATE USER 'app'@'%' IDENTIFIED BY '{PASSWORD}'; GRANT ALL ON shop.* TO 'app'@'%';"
    ));
    m
}

#[test]
fn mariadb_started_after_kwait_is_awaited_until_the_user_logs_in() {
    if !available() {
        return;
    }
    let mut m = with_app_user(&[]);
    m.sql("CREATE DATABASE shop");
    m.stop();
    let pw = file("pw", &format!("{PASSWORD}\n"));
    let addr = m.addr();
    let mut live = live(&app(
        &addr,
        &pw,
        &["--database", "shop", "--timeout", "90s"],
    ));
    live.wait_for(&format!(
        "MySQL {addr} (user app, database shop): connection refused"
    ));
    m.start();
    let server_ready = m.wait_ready();
    let (code, ended, out) = live.finish();
    assert_eq!(code, 0, "{out}\n{}", m.log());
    assert!(out.contains(&format!("MySQL {addr} (10.11.")), "{out}");
    assert!(
        out.contains("logged app in to database shop and answered COM_PING"),
        "{out}"
    );
    assert!(!out.contains(PASSWORD), "{out}");
    // kwait retries every 0.3 s at most here; the server's own client saw it ready at
    // `server_ready`. The bound is generous for a loaded machine; the figure is printed.
    let after = ended.saturating_duration_since(server_ready);
    eprintln!("kwait ready {after:?} after the server's own client");
    assert!(after < Duration::from_secs(10), "{after:?}\n{out}");
}

#[test]
fn a_wrong_password_times_out_naming_the_failed_login() {
    if !available() {
        return;
    }
    let m = with_app_user(&[]);
    let pw = file("pw", "not-the-password");
    let (code, out) = kwait(&app(&m.addr(), &pw, &["--timeout", "2s"]));
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains("last seen : up, login failed (1045 access denied)"),
        "{out}"
    );
    assert!(
        out.contains("Access denied for user 'app'@'127.0.0.1'"),
        "{out}"
    );
    assert!(!out.contains("not-the-password"), "{out}");
}

#[test]
fn a_database_created_later_is_awaited_and_named_until_then() {
    if !available() {
        return;
    }
    let m = with_app_user(&[]);
    let pw = file("pw", PASSWORD);
    let mut live = live(&app(
        &m.addr(),
        &pw,
        &["--database", "shop", "--timeout", "60s"],
    ));
    live.wait_for("up, database shop does not exist (1049)");
    m.sql("CREATE DATABASE shop");
    let (code, _, out) = live.finish();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("logged app in to database shop"), "{out}");
}

#[test]
fn tls_with_a_generated_ca_is_verified_with_ca_cert() {
    if !available() {
        return;
    }
    let ca = testkit::netserve::TestCa::new("kwait mysql test CA");
    let id = ca.issue(&["127.0.0.1", "localhost"]);
    let tls_dir = common::scratch("mysql-tls");
    let (cert, key) = (tls_dir.join("server.crt"), tls_dir.join("server.key"));
    std::fs::write(&cert, &id.cert_pem).expect("write cert");
    std::fs::write(&key, &id.key_pem).expect("write key");
    let m = with_app_user(&[
        &format!("--ssl-cert={}", cert.display()),
        &format!("--ssl-key={}", key.display()),
    ]);
    let pw = file("pw", PASSWORD);
    let ca_file = file("ca.pem", &ca.pem());
    let addr = m.addr();
    let (code, out) = kwait(&app(
        &addr,
        &pw,
        &["--tls", "--ca-cert", s(&ca_file), "--timeout", "20s"],
    ));
    assert_eq!(code, 0, "{out}\n{}", m.log());
    assert!(
        out.contains(&format!("waiting for MySQL {addr} (user app, TLS)")),
        "{out}"
    );
    // The server's certificate is not trusted without --ca-cert.
    let (code, out) = kwait(&app(&addr, &pw, &["--tls", "--timeout", "1s"]));
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains("TLS: certificate signed by an unknown authority")
            || out.contains("TLS: no trusted CA certificates"),
        "{out}"
    );
    // An account that requires TLS logs in only with --tls.
    m.sql("ALTER USER 'app'@'%' REQUIRE SSL");
    let (code, out) = kwait(&app(&addr, &pw, &["--timeout", "1s"]));
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("login failed (1045"), "{out}");
    let (code, out) = kwait(&app(
        &addr,
        &pw,
        &["--tls", "--insecure-skip-tls-verify", "--timeout", "20s"],
    ));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn dry_run_shows_the_default_port_and_needs_no_rbac() {
    let (code, out) = kwait(&[
        "--dry-run",
        "wait-mysql",
        "db",
        "--user",
        "app",
        "--password-file",
        "/var/run/secrets/mysql/password",
        "--database",
        "shop",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("would wait for MySQL db:3306 (user app, database shop)"),
        "{out}"
    );
    assert!(out.contains("RBAC needed: none"), "{out}");
    assert!(
        out.contains("--password-file /var/run/secrets/mysql/password does not exist here"),
        "{out}"
    );
}
