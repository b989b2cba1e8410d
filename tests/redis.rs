//! `kwait wait-redis` against a real redis-server (Debian's package), started by the test on a
//! free loopback port. Without redis-server the tests say SKIPPED loudly (and fail under
//! `KWAIT_REQUIRE_SERVERS=1`, as in CI).

use std::time::{Duration, Instant};

mod common;

use common::redis::{Redis, available, make_rdb};
use testkit::netserve::free_port;

/// kwait with a short interval; waits at most 90 s for it.
fn kwait(args: &[&str]) -> common::Running {
    let home = common::scratch("redis-home");
    let mut cmd = common::kwait(&home);
    cmd.args(["--interval", "100ms", "--max-interval", "300ms"])
        .args(args)
        .env("KWAIT_TERMINATION_LOG", home.join("termination-log"));
    common::spawn(cmd)
}

fn done(r: common::Running) -> (i32, String) {
    let r = r.finish(Duration::from_secs(90));
    (r.code.unwrap_or(-1), format!("{}{}", r.stdout, r.stderr))
}

#[test]
fn a_redis_that_starts_late_is_awaited_from_refused_to_pong() {
    if !available() {
        return;
    }
    let dir = common::scratch("redis-late");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let k = kwait(&["wait-redis", &addr, "--timeout", "60s"]);
    common::sleep_ms(1000);
    let _redis = Redis::start(port, &dir, &[]);
    let (code, out) = done(k);
    assert_eq!(code, 0, "{out}");
    let refused = out.find(&format!("Redis {addr}: connection refused"));
    let ready = out.find(&format!("Redis {addr} answered PONG"));
    assert!(
        matches!((refused, ready), (Some(a), Some(b)) if a < b),
        "{out}"
    );
}

/// An open port is not a ready Redis: while it loads its RDB it answers -LOADING, and kwait
/// waits through it. The RDB is real (DEBUG POPULATE + SAVE); Redis's own test knob
/// `key-load-delay` (µs per key) makes loading 20,000 keys take seconds on any machine, and
/// `loading-process-events-interval-bytes` lets it answer while it loads.
#[test]
fn a_redis_loading_its_dataset_is_not_ready_until_it_has_loaded() {
    if !available() {
        return;
    }
    let dir = common::scratch("redis-loading");
    make_rdb(&dir, 20_000);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let k = kwait(&[
        "wait-redis",
        &addr,
        "--timeout",
        "80s",
        "--log-format",
        "json",
    ]);
    let redis = Redis::started(
        port,
        &dir,
        &[
            "--key-load-delay",
            "100",
            "--loading-process-events-interval-bytes",
            "1024",
        ],
    );
    let (code, out) = done(k);
    assert_eq!(code, 0, "{out}\n{}", redis.log());
    let loading = out.find("not ready: LOADING Redis is loading the dataset in memory");
    let ready = out.find(&format!("Redis {addr} answered PONG"));
    assert!(
        matches!((loading, ready), (Some(a), Some(b)) if a < b),
        "{out}"
    );
    // The server really loaded the RDB before it answered PONG.
    assert!(
        redis.log().contains("keys loaded: 20000"),
        "{}",
        redis.log()
    );
    assert_eq!(redis.cli(None, &["DBSIZE"]), "20000");
}

const PASSWORD: &str = "Zq8 \"s3cr3t\" *2\\x";

#[test]
fn requirepass_without_password_file_is_pending_with_the_fix_and_times_out() {
    if !available() {
        return;
    }
    let dir = common::scratch("redis-noauth");
    let port = free_port();
    let _redis = Redis::started(port, &dir, &["--requirepass", PASSWORD]);
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let (code, out) = done(kwait(&["wait-redis", &addr, "--timeout", "2s"]));
    assert_eq!(code, 124, "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(out.contains("up, authentication needed"), "{out}");
    assert!(out.contains("NOAUTH Authentication required."), "{out}");
    assert!(
        out.contains("fix       : pass --password-file FILE"),
        "{out}"
    );
}

/// With the password file: ready; and the password is nowhere in what kwait prints, at -vvv, in
/// text and JSON, nor in the termination log; a wrong one is "authentication failed".
#[test]
fn requirepass_with_password_file_is_ready_and_the_password_is_never_printed() {
    if !available() {
        return;
    }
    let dir = common::scratch("redis-auth");
    let port = free_port();
    let _redis = Redis::started(port, &dir, &["--requirepass", PASSWORD]);
    let addr = format!("127.0.0.1:{port}");
    let good = dir.join("password");
    std::fs::write(&good, format!("{PASSWORD}\n")).unwrap();
    for format in ["text", "json"] {
        let (code, out) = done(kwait(&[
            "wait-redis",
            &addr,
            "--password-file",
            good.to_str().unwrap(),
            "--timeout",
            "30s",
            "-vvv",
            "--log-format",
            format,
        ]));
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("answered PONG"), "{out}");
        assert!(!out.contains("s3cr3t"), "{out}");
    }
    let bad = dir.join("wrong");
    let wrong = "wrong-s3cr3t-guess";
    std::fs::write(&bad, wrong).unwrap();
    for format in ["text", "json"] {
        let home = common::scratch("redis-auth-home");
        let log = home.join("termination-log");
        let mut cmd = common::kwait(&home);
        cmd.args([
            "--interval",
            "100ms",
            "wait-redis",
            &addr,
            "--password-file",
        ])
        .arg(&bad)
        .args(["--timeout", "2s", "-vvv", "--log-format", format])
        .env("KWAIT_TERMINATION_LOG", &log);
        let r = common::run(cmd, Duration::from_secs(30));
        let out = format!("{}{}", r.stdout, r.stderr);
        assert_eq!(r.code, Some(124), "{out}");
        assert!(out.contains("up, authentication failed"), "{out}");
        assert!(out.contains("WRONGPASS"), "{out}");
        let termination = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            termination.contains("authentication failed"),
            "{termination}"
        );
        for text in [&out, &termination] {
            assert!(!text.contains("s3cr3t"), "{text}");
        }
    }
}

/// An ACL user: `--user` sends `AUTH user password`; a user without +ping is told so.
#[test]
fn an_acl_user_is_awaited_with_user_and_a_user_without_ping_is_named() {
    if !available() {
        return;
    }
    let dir = common::scratch("redis-acl");
    let port = free_port();
    let _redis = Redis::started(
        port,
        &dir,
        &[
            "--requirepass",
            "default-pw-123",
            "--user",
            "app",
            "on",
            ">app-pw-456",
            "~*",
            "+ping",
            "--user",
            "noping",
            "on",
            ">noping-pw-789",
            "~*",
            "-@all",
        ],
    );
    let addr = format!("127.0.0.1:{port}");
    let pw = |name: &str, text: &str| {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        f.to_str().unwrap().to_string()
    };
    let app = pw("app", "app-pw-456");
    let (code, out) = done(kwait(&[
        "wait-redis",
        &addr,
        "--user",
        "app",
        "--password-file",
        &app,
        "--timeout",
        "30s",
    ]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("Redis {addr} (user app)")), "{out}");
    // The app user's password is not the default user's.
    let (code, out) = done(kwait(&[
        "wait-redis",
        &addr,
        "--password-file",
        &app,
        "--timeout",
        "1s",
    ]));
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("up, authentication failed"), "{out}");
    let noping = pw("noping", "noping-pw-789");
    let (code, out) = done(kwait(&[
        "wait-redis",
        &addr,
        "--user",
        "noping",
        "--password-file",
        &noping,
        "--timeout",
        "1s",
    ]));
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains("up, but user noping may not run PING"),
        "{out}"
    );
    assert!(out.contains("NOPERM"), "{out}");
    for secret in ["app-pw-456", "noping-pw-789"] {
        assert!(!out.contains(secret), "{out}");
    }
}

#[test]
fn dry_run_needs_no_rbac_and_bad_arguments_are_exit_2() {
    let home = common::scratch("redis-dry");
    let r = common::run_in(&home, &["--dry-run", "wait-redis", "redis.cache"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.contains("would wait for Redis redis.cache:6379"),
        "{r:?}"
    );
    assert!(r.stdout.contains("RBAC needed: none"), "{r:?}");
    for (args, named) in [
        (&["wait-redis", "redis:0"][..], "HOST[:PORT]"),
        (&["wait-redis", "redis", "--user", "app"][..], "--user"),
        (
            &["wait-redis", "redis", "--password-file", "/nonexistent/pw"][..],
            "--password-file",
        ),
        (
            &["wait-redis", "redis", "--password-file", "/dev/zero"][..],
            "--password-file",
        ),
        (
            &["wait-redis", "redis", "--ca-cert", "/etc/hostname"][..],
            "--ca-cert needs --tls",
        ),
        (
            &["wait-redis", "redis", "--insecure-skip-tls-verify"][..],
            "--insecure-skip-tls-verify needs --tls",
        ),
        (
            &[
                "wait-redis",
                "redis",
                "--tls",
                "--ca-cert",
                "/etc/hostname",
                "--insecure-skip-tls-verify",
            ][..],
            "--ca-cert and --insecure-skip-tls-verify cannot be used together",
        ),
    ] {
        let r = common::run_in(&home, args);
        assert_eq!(r.code, Some(2), "{args:?}: {r:?}");
        assert!(r.stderr.contains(named), "{args:?}: {r:?}");
        assert_eq!(r.stderr.trim().lines().count(), 1, "{args:?}: {r:?}");
    }
}

/// `--tls` against redis-server's TLS port with a CA made in the test: trusted with
/// `--ca-cert`, refused without it, accepted with `--insecure-skip-tls-verify` (and a warning,
/// and the description says so, as wait-postgres's does); a plain connection to the TLS port is
/// told to add `--tls`. A refused certificate reads as it does for wait-http and wait-postgres
/// (one classifier): an unknown authority, a name the certificate was not issued for.
#[test]
fn tls_with_the_ca_is_ready_and_without_it_the_cause_is_tls() {
    if !available() {
        return;
    }
    let dir = common::scratch("redis-tls");
    let ca = testkit::netserve::TestCa::new("kwait redis CA");
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
    let port = free_port();
    let redis = Redis::start(
        port,
        &dir,
        &[
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca_file,
            "--tls-auth-clients",
            "no",
        ],
    );
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "{}", redis.log());
        common::sleep_ms(20);
    }
    let addr = format!("localhost:{port}");
    let (code, out) = done(kwait(&[
        "wait-redis",
        &addr,
        "--tls",
        "--ca-cert",
        &ca_file,
        "--timeout",
        "30s",
    ]));
    assert_eq!(code, 0, "{out}\n{}", redis.log());
    assert!(out.contains(&format!("Redis {addr} (TLS)")), "{out}");
    let (code, out) = done(kwait(&[
        "wait-redis",
        &addr,
        "--tls",
        "--insecure-skip-tls-verify",
        "--timeout",
        "30s",
    ]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("--insecure-skip-tls-verify: the server's certificate is not verified"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Redis {addr} (TLS, certificate not verified)")),
        "{out}"
    );
    let (code, out) = done(kwait(&["wait-redis", &addr, "--tls", "--timeout", "1s"]));
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains("TLS: certificate signed by an unknown authority")
            || out.contains("TLS: no trusted CA certificates"),
        "{out}"
    );
    assert!(out.contains("--ca-cert"), "{out}");
    // The certificate names localhost only.
    let by_ip = format!("127.0.0.1:{port}");
    let (code, out) = done(kwait(&[
        "wait-redis",
        &by_ip,
        "--tls",
        "--ca-cert",
        &ca_file,
        "--timeout",
        "1s",
    ]));
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("TLS: certificate name mismatch"), "{out}");
    assert!(
        out.contains("add 127.0.0.1 to its subject alternative names"),
        "{out}"
    );
    let (code, out) = done(kwait(&["wait-redis", &addr, "--timeout", "1s"]));
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("add --tls"), "{out}");
}
