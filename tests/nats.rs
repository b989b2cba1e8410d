//! `kwait wait-nats` against a real nats-server (Debian's package, 2.9), started by the test on
//! a free loopback port. Without nats-server the tests say SKIPPED loudly (and fail under
//! `KWAIT_REQUIRE_SERVERS=1`, as in CI).

use std::time::{Duration, Instant};

mod common;

use common::nats::{Nats, available};
use testkit::netserve::free_port;

/// kwait with `args` (its default 1 s period unless `args` say otherwise).
fn kwait(args: &[&str]) -> common::Running {
    let home = common::scratch("nats-home");
    let mut cmd = common::kwait(&home);
    cmd.args(args)
        .env("KWAIT_TERMINATION_LOG", home.join("termination-log"));
    common::spawn(cmd)
}

fn done(r: common::Running) -> (i32, String) {
    let r = r.finish(Duration::from_secs(90));
    (r.code.unwrap_or(-1), format!("{}{}", r.stdout, r.stderr))
}

const PASSWORD: &str = "n4ts \"s3cr3t\" \\pw";

fn users() -> String {
    format!(
        "authorization {{ users = [ {{ user: app, password: {} }} ] }}",
        serde_json::to_string(PASSWORD).unwrap()
    )
}

/// Not listening yet, then up with a user: kwait sees "connection refused", then is ready
/// about a second (its steady 1 s period) after the server said it was ready; the password is
/// never printed.
#[test]
fn a_nats_that_starts_late_is_awaited_from_refused_to_pong_within_a_period() {
    if !available() {
        return;
    }
    let dir = common::scratch("nats-late");
    let pw = dir.join("password");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("nats://app@{addr}");
    let k = kwait(&[
        "wait-nats",
        &url,
        "--password-file",
        pw.to_str().unwrap(),
        "--timeout",
        "60s",
        "-v",
    ]);
    common::sleep_ms(1500);
    let nats = Nats::start(port, &dir, &users());
    let ready = nats.ready_at();
    let r = k.finish(Duration::from_secs(90));
    let out = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, Some(0), "{out}\n{}", nats.log());
    let refused = out.find(&format!("NATS {addr} (user app): connection refused"));
    let pong = out.find(&format!("NATS {addr} (nats-server 2."));
    assert!(
        matches!((refused, pong), (Some(a), Some(b)) if a < b),
        "{out}"
    );
    assert!(out.contains("answered PONG"), "{out}");
    assert!(!out.contains("s3cr3t"), "{out}");
    let late = r.ended.saturating_duration_since(ready);
    eprintln!("wait-nats: ready {late:?} after nats-server said it was ready");
    // One period (1 s to 1.05 s) and a check, with room for a loaded machine.
    assert!(late < Duration::from_secs(5), "{late:?}\n{out}");
}

/// A wrong password: exit 124 at the deadline, the report naming the failed login and its fix;
/// no login at all against a server that needs one is named as such.
#[test]
fn a_wrong_password_times_out_naming_the_failed_login() {
    if !available() {
        return;
    }
    let dir = common::scratch("nats-wrong");
    let port = free_port();
    let nats = Nats::start(port, &dir, &users());
    nats.ready_at();
    let addr = format!("127.0.0.1:{port}");
    let bad = dir.join("wrong");
    std::fs::write(&bad, "wrong-s3cr3t-guess").unwrap();
    for format in ["text", "json"] {
        let (code, out) = done(kwait(&[
            "--interval",
            "200ms",
            "wait-nats",
            &addr,
            "--user",
            "app",
            "--password-file",
            bad.to_str().unwrap(),
            "--timeout",
            "2s",
            "-vvv",
            "--log-format",
            format,
        ]));
        assert_eq!(code, 124, "{out}");
        assert!(out.contains("up, login failed"), "{out}");
        assert!(out.contains("Authorization Violation"), "{out}");
        assert!(
            out.contains("check --user and the password in --password-file"),
            "{out}"
        );
        assert!(!out.contains("s3cr3t"), "{out}");
        if format == "json" {
            let target = format!("\"target\":\"NATS {addr} (user app)\"");
            assert!(out.contains(&target), "{out}");
            assert!(out.contains("\"class\":\"unauthorized\""), "{out}");
        }
    }
    let (code, out) = done(kwait(&["wait-nats", &addr, "--timeout", "1s"]));
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("up, login needed"), "{out}");
    assert!(out.contains("--token-file"), "{out}");
}

/// A token instead of a user: `auth_token` in CONNECT.
#[test]
fn a_token_logs_in_alone() {
    if !available() {
        return;
    }
    let dir = common::scratch("nats-token");
    let port = free_port();
    let nats = Nats::start(port, &dir, "authorization { token: \"t0ken-s3cr3t\" }");
    nats.ready_at();
    let tok = dir.join("token");
    std::fs::write(&tok, "t0ken-s3cr3t\n").unwrap();
    let addr = format!("127.0.0.1:{port}");
    let (code, out) = done(kwait(&[
        "wait-nats",
        &addr,
        "--token-file",
        tok.to_str().unwrap(),
        "--timeout",
        "20s",
    ]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("NATS {addr} (token)")), "{out}");
    assert!(!out.contains("s3cr3t"), "{out}");
}

/// A server with a tls block (2.9: plaintext INFO saying tls_required, then the handshake):
/// ready with --tls and the CA made here; without --tls the report says the server requires
/// TLS; with --tls but not the CA, the certificate's authority is named.
#[test]
fn tls_after_the_plaintext_info_with_the_ca_is_ready_and_without_tls_is_named() {
    if !available() {
        return;
    }
    let dir = common::scratch("nats-tls");
    let ca = testkit::netserve::TestCa::new("kwait nats CA");
    let id = ca.issue(&["localhost"]);
    let file = |name: &str, text: &str| {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        f.to_str().unwrap().to_string()
    };
    let (ca_file, cert, key) = (
        file("ca.pem", &ca.pem()),
        file("cert.pem", &id.cert_pem),
        file("key.pem", &id.key_pem),
    );
    let pw = file("password", PASSWORD);
    let port = free_port();
    let nats = Nats::start(
        port,
        &dir,
        &format!(
            "{}\ntls {{ cert_file: {cert:?}, key_file: {key:?} }}",
            users()
        ),
    );
    nats.ready_at();
    let addr = format!("localhost:{port}");
    let started = Instant::now();
    let (code, out) = done(kwait(&[
        "wait-nats",
        &addr,
        "--user",
        "app",
        "--password-file",
        &pw,
        "--tls",
        "--ca-cert",
        &ca_file,
        "--timeout",
        "30s",
    ]));
    assert_eq!(code, 0, "{out}\n{}", nats.log());
    assert!(
        out.contains(&format!("NATS {addr} (TLS, user app)")),
        "{out}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let (code, out) = done(kwait(&[
        "wait-nats",
        &addr,
        "--user",
        "app",
        "--password-file",
        &pw,
        "--timeout",
        "1s",
    ]));
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("up, TLS required"), "{out}");
    assert!(out.contains("add --tls"), "{out}");
    let (code, out) = done(kwait(&[
        "wait-nats",
        &addr,
        "--user",
        "app",
        "--password-file",
        &pw,
        "--tls",
        "--timeout",
        "1s",
    ]));
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains("TLS: certificate signed by an unknown authority")
            || out.contains("TLS: no trusted CA certificates"),
        "{out}"
    );
    assert!(!out.contains("s3cr3t"), "{out}");
}

#[test]
fn dry_run_shows_the_port_and_needs_no_rbac_and_bad_arguments_are_exit_2() {
    let home = common::scratch("nats-dry");
    let r = common::run_in(
        &home,
        &[
            "--dry-run",
            "wait-nats",
            "nats://default@nats",
            "--password-file",
            "/etc/nats/password",
        ],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("would wait for NATS nats:4222 (user default)"),
        "{r:?}"
    );
    assert!(r.stdout.contains("RBAC needed: none"), "{r:?}");
    // Joined with --and, each keeps its own line.
    let r = common::run_in(
        &home,
        &[
            "--dry-run",
            "wait-nats",
            "nats",
            "--and",
            "wait-rabbitmq",
            "amqps://rabbitmq",
        ],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("1. NATS nats:4222\n"), "{r:?}");
    assert!(
        r.stdout.contains("2. RabbitMQ rabbitmq:5671 (TLS)\n"),
        "{r:?}"
    );
    assert!(r.stdout.contains("RBAC needed: none"), "{r:?}");
    for (args, named) in [
        (&["wait-nats", "nats:0"][..], "ADDRESS"),
        (&["wait-nats", "nats://a:pw@nats"][..], "--password-file"),
        (
            &["wait-nats", "nats", "--user", "app"][..],
            "--password-file",
        ),
        (
            &[
                "wait-nats",
                "nats",
                "--user",
                "a",
                "--password-file",
                "/nonexistent/pw",
            ][..],
            "--password-file",
        ),
        (
            &["wait-nats", "nats", "--token-file", "/dev/zero"][..],
            "--token-file",
        ),
        (
            &["wait-nats", "nats", "--ca-cert", "/etc/hostname"][..],
            "--ca-cert needs --tls",
        ),
    ] {
        let r = common::run_in(&home, args);
        assert_eq!(r.code, Some(2), "{args:?}: {r:?}");
        assert!(r.stderr.contains(named), "{args:?}: {r:?}");
        assert_eq!(r.stderr.trim().lines().count(), 1, "{args:?}: {r:?}");
    }
}
