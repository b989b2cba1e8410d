//! `kwait wait-rabbitmq` against a real RabbitMQ (Debian's rabbitmq-server, 3.10), started by
//! the test on free loopback ports (see `common::rabbitmq`). The node takes seconds to boot,
//! so one test walks through every case on one node. Without RabbitMQ the test says SKIPPED
//! loudly (and fails under `KWAIT_REQUIRE_SERVERS=1`, as in CI).

use std::time::Duration;

mod common;

use common::rabbitmq::{Rabbit, available};
use testkit::netserve::free_port;

/// kwait with `args` (its default 1 s period unless `args` say otherwise).
fn kwait(args: &[&str]) -> common::Running {
    let home = common::scratch("rabbitmq-home");
    let mut cmd = common::kwait(&home);
    cmd.args(args)
        .env("KWAIT_TERMINATION_LOG", home.join("termination-log"));
    common::spawn(cmd)
}

fn done(r: common::Running) -> (i32, String) {
    let r = r.finish(Duration::from_secs(150));
    (r.code.unwrap_or(-1), format!("{}{}", r.stdout, r.stderr))
}

const PASSWORD: &str = "r4bbit-s3cr3t-pw";

/// In order, on one node: not listening yet → ready about a second (one period) after the node
/// said it had booted; a wrong password → exit 124 naming the failed login (403); a vhost
/// created later, then permitted later → "not found", then "may not open", then ready; the TLS
/// listener with a CA made here (amqps://); and without a password, the AMQP handshake alone.
#[test]
fn rabbitmq_from_boot_to_login_vhost_and_tls() {
    if !available() {
        return;
    }
    let dir = common::scratch("rabbitmq");
    let file = |name: &str, text: &str| {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        f.to_str().unwrap().to_string()
    };
    let ca = testkit::netserve::TestCa::new("kwait rabbitmq CA");
    let id = ca.issue(&["localhost"]);
    let (ca_file, cert, key) = (
        file("ca.pem", &ca.pem()),
        file("cert.pem", &id.cert_pem),
        file("key.pem", &id.key_pem),
    );
    let pw = file("password", &format!("{PASSWORD}\n"));
    let (port, tls_port) = (free_port(), free_port());
    let addr = format!("127.0.0.1:{port}");
    let conf = format!(
        "listeners.tcp.default = 127.0.0.1:{port}\n\
         listeners.ssl.default = 127.0.0.1:{tls_port}\n\
         ssl_options.cacertfile = {ca_file}\n\
         ssl_options.certfile = {cert}\n\
         ssl_options.keyfile = {key}\n\
         ssl_options.verify = verify_none\n\
         ssl_options.fail_if_no_peer_cert = false\n\
         default_user = app\n\
         default_pass = {PASSWORD}\n\
         loopback_users = none\n"
    );

    // Not listening yet.
    let url = format!("amqp://app@{addr}");
    let k = kwait(&[
        "wait-rabbitmq",
        &url,
        "--password-file",
        &pw,
        "--timeout",
        "140s",
    ]);
    common::sleep_ms(1000);
    let rabbit = Rabbit::start(&dir, &conf);
    let booted = rabbit.ready_at();
    let r = k.finish(Duration::from_secs(150));
    let out = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, Some(0), "{out}\n{}", rabbit.log());
    let refused = out.find(&format!(
        "RabbitMQ {addr} (user app, vhost /): connection refused"
    ));
    let ready = out.find(": user app opened vhost /");
    assert!(
        matches!((refused, ready), (Some(a), Some(b)) if a < b),
        "{out}"
    );
    let late = r.ended.saturating_duration_since(booted);
    eprintln!("wait-rabbitmq: ready {late:?} after RabbitMQ logged 'Server startup complete'");
    assert!(late < Duration::from_secs(5), "{late:?}\n{out}");
    assert!(!out.contains("s3cr3t"), "{out}");

    // A wrong password.
    let bad = file("wrong", "wrong-s3cr3t-guess");
    for format in ["text", "json"] {
        let (code, out) = done(kwait(&[
            "--interval",
            "200ms",
            "wait-rabbitmq",
            &url,
            "--password-file",
            &bad,
            "--timeout",
            "2s",
            "-vvv",
            "--log-format",
            format,
        ]));
        assert_eq!(code, 124, "{out}");
        assert!(out.contains("up, login failed"), "{out}");
        assert!(out.contains("403 ACCESS_REFUSED"), "{out}");
        assert!(out.contains("rabbitmqctl authenticate_user app"), "{out}");
        assert!(!out.contains("s3cr3t"), "{out}");
    }

    // A vhost created later, and permitted later still (a '/' in its name, URL-encoded).
    let k = kwait(&[
        "--interval",
        "200ms",
        "wait-rabbitmq",
        &format!("{url}/late%2Fvhost"),
        "--password-file",
        &pw,
        "--timeout",
        "60s",
    ]);
    common::sleep_ms(1000);
    rabbit.ctl(&["add_vhost", "late/vhost"]);
    common::sleep_ms(1000);
    rabbit.ctl(&[
        "set_permissions",
        "-p",
        "late/vhost",
        "app",
        ".*",
        ".*",
        ".*",
    ]);
    let (code, out) = done(k);
    assert_eq!(code, 0, "{out}");
    let missing = out.find("up, vhost late/vhost not found");
    let refused = out.find("up, user app may not open vhost late/vhost");
    let ready = out.find(": user app opened vhost late/vhost");
    assert!(
        matches!((missing, refused, ready), (Some(a), Some(b), Some(c)) if a < b && b < c),
        "{out}"
    );

    // TLS: amqps:// with the CA; without it, the unknown authority is named.
    let tls_url = format!("amqps://app@localhost:{tls_port}");
    let (code, out) = done(kwait(&[
        "wait-rabbitmq",
        &tls_url,
        "--password-file",
        &pw,
        "--ca-cert",
        &ca_file,
        "--timeout",
        "30s",
    ]));
    assert_eq!(code, 0, "{out}\n{}", rabbit.log());
    assert!(
        out.contains(&format!(
            "RabbitMQ localhost:{tls_port} (TLS, user app, vhost /)"
        )),
        "{out}"
    );
    let (code, out) = done(kwait(&[
        "wait-rabbitmq",
        &tls_url,
        "--password-file",
        &pw,
        "--timeout",
        "1s",
    ]));
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains("TLS: certificate signed by an unknown authority")
            || out.contains("TLS: no trusted CA certificates"),
        "{out}"
    );

    // Without a password: the broker's answer to the protocol header is enough.
    let (code, out) = done(kwait(&["wait-rabbitmq", &addr, "--timeout", "30s"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("accepts AMQP 0-9-1 connections"), "{out}");
    assert!(out.contains("(RabbitMQ 3."), "{out}");
}

#[test]
fn dry_run_shows_the_port_and_vhost_needs_no_rbac_and_bad_arguments_are_exit_2() {
    let home = common::scratch("rabbitmq-dry");
    let r = common::run_in(
        &home,
        &[
            "--dry-run",
            "wait-rabbitmq",
            "amqps://app@rabbitmq.mq/prod%2Feu",
            "--password-file",
            "/etc/rabbitmq/password",
        ],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("would wait for RabbitMQ rabbitmq.mq:5671 (TLS, user app, vhost prod/eu)"),
        "{r:?}"
    );
    assert!(r.stdout.contains("RBAC needed: none"), "{r:?}");
    let r = common::run_in(&home, &["--dry-run", "wait-rabbitmq", "rabbitmq"]);
    assert!(
        r.stdout.contains("would wait for RabbitMQ rabbitmq:5672"),
        "{r:?}"
    );
    for (args, named) in [
        (&["wait-rabbitmq", "rabbitmq:0"][..], "ADDRESS"),
        (
            &["wait-rabbitmq", "amqp://a:pw@rabbitmq"][..],
            "--password-file",
        ),
        (&["wait-rabbitmq", "amqp://a@rabbitmq/"][..], "empty vhost"),
        (
            &["wait-rabbitmq", "rabbitmq", "--vhost", "prod"][..],
            "--password-file",
        ),
        (
            &[
                "wait-rabbitmq",
                "rabbitmq",
                "--user",
                "a",
                "--password-file",
                "/dev/zero",
            ][..],
            "--password-file",
        ),
        (
            &[
                "wait-rabbitmq",
                "amqp://rabbitmq",
                "--insecure-skip-tls-verify",
            ][..],
            "--insecure-skip-tls-verify needs --tls",
        ),
    ] {
        let r = common::run_in(&home, args);
        assert_eq!(r.code, Some(2), "{args:?}: {r:?}");
        assert!(r.stderr.contains(named), "{args:?}: {r:?}");
        assert_eq!(r.stderr.trim().lines().count(), 1, "{args:?}: {r:?}");
    }
}
