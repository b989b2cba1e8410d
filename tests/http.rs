//! `kwait wait-http`: the built binary against real loopback HTTP and HTTPS servers.

use std::path::PathBuf;

mod common;

use testkit::netserve::{HttpServer, Reply, TestCa, free_port};

/// Runs kwait with a short interval; returns (exit code, stdout + stderr).
fn kwait(args: &[&str]) -> (i32, String) {
    common::net_kwait(args, &[])
}

/// [`kwait`] with extra environment variables.
fn kwait_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    common::net_kwait(args, env)
}

/// A scratch directory for this test.
fn scratch(name: &str) -> PathBuf {
    common::scratch(&format!("http-{name}"))
}

#[test]
fn a_503_then_200_exits_0() {
    let s = HttpServer::start(vec![
        Reply::text(503, "starting"),
        Reply::text(503, "starting"),
        Reply::status(200),
    ]);
    let (code, out) = kwait(&["wait-http", &s.url("/health"), "--timeout", "30s"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("answered 503 Service Unavailable"), "{out}");
    assert!(
        out.contains(&format!("HTTP GET {} answered 200", s.url("/health"))),
        "{out}"
    );
    assert_eq!(s.hits(), 3);
}

#[test]
fn json_path_waits_until_the_value_changes() {
    let s = HttpServer::start(vec![
        Reply::json(200, r#"{"status":"starting"}"#),
        Reply::json(200, r#"{"status":"starting"}"#),
        Reply::json(200, r#"{"status":"starting"}"#),
        Reply::json(200, r#"{"status":"healthy","db":"Not connected"}"#),
    ]);
    let (code, out) = kwait(&[
        "http",
        &s.url("/health/readiness"),
        "--json-path",
        "$.status",
        "--equals",
        "healthy",
        "--timeout",
        "30s",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(r#"answered 200, but $.status is "starting""#),
        "{out}"
    );
    assert!(out.contains(r#"$.status == "healthy""#), "{out}");
    // Ready only after the change: exactly four requests.
    assert_eq!(s.hits(), 4, "{out}");
}

#[test]
fn a_json_mismatch_times_out_with_what_was_found() {
    let s = HttpServer::start(vec![Reply::json(200, r#"{"status":"starting"}"#)]);
    let (code, out) = kwait(&[
        "http",
        &s.url("/"),
        "--json-path",
        "$.status",
        "--equals",
        "healthy",
        "--timeout",
        "1s",
    ]);
    assert_eq!(code, 124, "{out}");
    assert!(
        out.contains(r#"expected $.status to be "healthy", found "starting""#),
        "{out}"
    );
}

#[test]
fn https_with_a_test_ca() {
    let ca = TestCa::new("kwait test CA");
    let dir = scratch("tls");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let s = HttpServer::start_tls(vec![Reply::status(200)], &ca.issue(&["localhost"]));

    let (code, out) = kwait(&[
        "http",
        &s.url("/"),
        "--ca-cert",
        ca_file.to_str().unwrap(),
        "--timeout",
        "10s",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("answered 200"), "{out}");

    let (code, out) = kwait(&["http", &s.url("/"), "--timeout", "1s"]);
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("TLS: "), "{out}");
    assert!(out.contains("--ca-cert"), "{out}");

    let by_ip = format!("https://127.0.0.1:{}/", s.addr().port());
    let (code, out) = kwait(&[
        "http",
        &by_ip,
        "--ca-cert",
        ca_file.to_str().unwrap(),
        "--timeout",
        "1s",
    ]);
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("TLS: certificate name mismatch"), "{out}");

    let (code, out) = kwait(&[
        "http",
        &s.url("/"),
        "--insecure-skip-tls-verify",
        "--timeout",
        "10s",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "kwait: warning: --insecure-skip-tls-verify: the server's certificate is not verified"
        ),
        "{out}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn trust_roots_come_from_the_system_bundle_and_none_is_not_fatal() {
    let ca = TestCa::new("kwait bundle CA");
    let dir = scratch("bundle");
    let bundle = dir.join("bundle.pem");
    std::fs::write(&bundle, ca.pem()).unwrap();
    let s = HttpServer::start_tls(vec![Reply::status(200)], &ca.issue(&["localhost"]));
    // SSL_CERT_FILE stands for the image's CA bundle.
    let (code, out) = kwait_env(
        &["http", &s.url("/"), "--timeout", "10s"],
        &[("SSL_CERT_FILE", bundle.to_str().unwrap())],
    );
    assert_eq!(code, 0, "{out}");
    // No bundle at all (FROM scratch): https says why, http:// still works.
    let none = [("SSL_CERT_FILE", "/nonexistent/ca-certificates.crt")];
    let (code, out) = kwait_env(&["http", &s.url("/"), "--timeout", "1s"], &none);
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("TLS: no trusted CA certificates"), "{out}");
    let plain = HttpServer::start(vec![Reply::status(200)]);
    let (code, out) = kwait_env(&["http", &plain.url("/"), "--timeout", "10s"], &none);
    assert_eq!(code, 0, "{out}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_closed_port_is_refused() {
    let url = format!("http://127.0.0.1:{}/", free_port());
    let (code, out) = kwait(&["http", &url, "--timeout", "1s"]);
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("kwait: timed out after"), "{out}");
    assert!(out.contains("last seen : connection refused"), "{out}");
    assert!(
        out.contains("nothing accepts connections on 127.0.0.1:"),
        "{out}"
    );
}

#[test]
fn an_invalid_host_is_a_dns_failure() {
    let (code, out) = kwait(&[
        "http",
        "http://no-such-service.invalid:8080/",
        "--timeout",
        "1s",
    ]);
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("last seen : DNS: name not found"), "{out}");
    assert!(
        out.contains("no-such-service.invalid does not resolve"),
        "{out}"
    );
}

#[test]
fn a_stalled_server_is_an_attempt_timeout() {
    let s = HttpServer::start(vec![Reply::stall()]);
    let (code, out) = kwait(&[
        "http",
        &s.url("/"),
        "--attempt-timeout",
        "300ms",
        "--timeout",
        "2s",
    ]);
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("last seen : attempt timed out"), "{out}");
    // The last attempt is cut short by the overall deadline; what it did not see is not news:
    // the report keeps the whole attempt's cause and never names a cut-down attempt timeout.
    assert!(
        out.contains("no complete answer from http://127.0.0.1:"),
        "{out}"
    );
    assert!(out.contains("within 300ms"), "{out}");
    assert!(
        !out.contains("no answer within the attempt timeout"),
        "{out}"
    );
}

#[test]
fn a_status_failure_shows_the_status_and_the_body() {
    let s = HttpServer::start(vec![Reply::text(500, "db\tdown\n\u{1b}[31m")]);
    let (code, out) = kwait(&["http", &s.url("/"), "--timeout", "1s"]);
    assert_eq!(code, 124, "{out}");
    assert!(out.contains("answered 500 Internal Server Error"), "{out}");
    assert!(out.contains(r#"body: "db down \u{1b}[31m""#), "{out}");
    assert!(!out.contains('\u{1b}'), "{out}");
}

#[test]
fn a_secret_header_from_a_file_never_appears_in_output() {
    const SECRET: &str = "tok-7f3a9c1e5b";
    let dir = scratch("headers");
    let file = dir.join("headers");
    std::fs::write(
        &file,
        format!("# credentials\nAuthorization: Bearer {SECRET}\nX-Api-Key: {SECRET}\n"),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    // The server echoes the token back in its 401 body: kwait must scrub it there too.
    let s = HttpServer::start(vec![Reply::text(401, &format!("token {SECRET} refused"))]);
    let url = s.url("/private");
    for global in [
        &[][..],
        &["-v"][..],
        &["-vv"][..],
        &["--log-format", "json"][..],
    ] {
        let mut args: Vec<&str> = global.to_vec();
        args.extend(["http", &url, "--header-file", file, "--timeout", "1s"]);
        let (code, out) = kwait(&args);
        assert_eq!(code, 124, "{out}");
        assert!(out.contains("401"), "{out}");
        assert!(!out.contains(SECRET), "{global:?}: {out}");
    }
    let req = &s.requests()[0];
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    assert_eq!(req.header("x-api-key"), Some(SECRET));

    s.set_replies(vec![Reply::status(200)]);
    let (code, out) = kwait(&[
        "-v",
        "http",
        &url,
        "--header-file",
        file,
        "--timeout",
        "10s",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(SECRET), "{out}");
    let (code, out) = kwait(&["--dry-run", "http", &url, "--header-file", file]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(SECRET), "{out}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_invocations_exit_2_with_one_line_naming_the_argument() {
    let dir = scratch("bad");
    let bad_headers = dir.join("bad-headers");
    std::fs::write(&bad_headers, "X-Ok: 1\nBearer tok-sekrit-value\n").unwrap();
    let not_pem = dir.join("not-pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["http", "not a url"], "URL"),
        (vec!["http", "ftp://example.com/"], "URL"),
        (vec!["http", "http://"], "URL"),
        (vec!["http", "http://x/", "--status", "299-200"], "--status"),
        (vec!["http", "http://x/", "--status", "2oo"], "--status"),
        (
            vec!["http", "http://x/", "--body-regex", "(unclosed"],
            "--body-regex",
        ),
        (
            vec!["http", "http://x/", "--json-path", "$..["],
            "--json-path",
        ),
        (
            vec!["http", "http://x/", "--json-path", "status"],
            "--json-path",
        ),
        // Built without a regex engine for JSONPath: refused at once, not at the first answer.
        (
            vec![
                "http",
                "http://x/",
                "--json-path",
                "$[?match(@.status, 'ok')]",
            ],
            "match() and search()",
        ),
        // regex-lite: no Unicode classes; said at once.
        (
            vec!["http", "http://x/", "--body-regex", "\\p{L}+"],
            "Unicode character classes",
        ),
        (
            vec!["http", "http://x/", "--equals", "healthy"],
            "--json-path",
        ),
        (
            vec!["http", "http://x/", "--header", "Bearer tok-sekrit-value"],
            "--header",
        ),
        (
            vec!["http", "http://x/", "--header-file", "/nonexistent/headers"],
            "--header-file",
        ),
        (
            vec![
                "http",
                "http://x/",
                "--header-file",
                bad_headers.to_str().unwrap(),
            ],
            "--header-file",
        ),
        (vec!["http", "http://x/", "--method", "GE T"], "--method"),
        (
            vec!["http", "https://x/", "--ca-cert", not_pem.to_str().unwrap()],
            "--ca-cert",
        ),
        (
            vec!["http", "https://x/", "--ca-cert", "/nonexistent/ca.pem"],
            "--ca-cert",
        ),
        (vec!["tcp", "postgres:99999"], "HOST:PORT"),
        (vec!["tcp", "postgres"], "HOST:PORT"),
    ];
    for (args, arg) in cases {
        let out = common::run_in(&common::scratch("bad-args"), &args);
        let stderr = &out.stderr;
        assert_eq!(out.code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(arg), "{args:?} should name {arg}: {stderr}");
        assert!(!stderr.contains("tok-sekrit"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(dir).ok();
}
