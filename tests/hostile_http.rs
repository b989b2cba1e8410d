//! `kwait wait-http` against servers that try to hurt it (issue 13): bodies that explode a
//! JSONPath query or never end, redirects that would carry credentials elsewhere or downgrade
//! to http, echoed credentials, terminal controls, self-signed certificates, TLS ports that never
//! answer, and files that never end. Each run is under an address-space limit
//! ([`common::memory_limited`]) so that a regression fails the test instead of the machine.

use std::time::Duration;

mod common;

use common::{HOSTILE_AS_LIMIT_MIB, Run, kwait, memory_limited, run, scratch};
use testkit::netserve::{HttpServer, Identity, Reply, TcpServer, TestCa, nested_json};

/// A password long enough to be scrubbed, and unlike any other text in the output.
const PASSWORD: &str = "pw-s3cr3t-value";
/// The header value that `--header-file` holds.
const API_KEY: &str = "key-s3cr3t-value";

/// kwait `args` in the clean environment, with a short interval, under the address-space limit.
fn hostile(name: &str, args: &[&str]) -> (Run, std::path::PathBuf) {
    let home = scratch(name);
    let mut cmd = kwait(&home);
    cmd.args(["--interval", "100ms", "--max-interval", "300ms"])
        .args(args)
        .env_remove("SSL_CERT_DIR")
        .env_remove("SSL_CERT_FILE");
    let r = run(
        memory_limited(cmd, HOSTILE_AS_LIMIT_MIB),
        Duration::from_secs(60),
    );
    (r, home)
}

fn output(r: &Run) -> String {
    format!("{}{}", r.stdout, r.stderr)
}

/// A 1 s `wait-http URL` at `-vvv` in `--log-format` text and then json, as [`hostile`] runs
/// it: each run's exit code, all it printed with its termination log (where a credential must
/// not appear either), and that log alone.
fn at_every_level(name: &str, url: &str) -> Vec<(Option<i32>, String, String)> {
    ["text", "json"]
        .into_iter()
        .map(|format| {
            let args = [
                "-vvv",
                "--log-format",
                format,
                "--timeout",
                "1s",
                "wait-http",
                url,
            ];
            let (r, home) = hostile(name, &args);
            let log = std::fs::read_to_string(home.join("termination-log")).unwrap_or_default();
            (r.code, format!("{}{log}", output(&r)), log)
        })
        .collect()
}

/// `kwait --timeout TIMEOUT wait-http URL FLAGS...` as [`hostile`] runs it; the run and all it
/// printed.
fn wait_http(name: &str, timeout: &str, url: &str, flags: &[&str]) -> (Run, String) {
    let mut args = vec!["--timeout", timeout, "wait-http", url];
    args.extend_from_slice(flags);
    let (r, _) = hostile(name, &args);
    let out = output(&r);
    (r, out)
}

/// `Basic` credentials as reqwest would send them for `user:PASSWORD`.
fn basic(user: &str, password: &str) -> String {
    common::base64(format!("{user}:{password}").as_bytes())
}

#[test]
fn a_json_path_with_nested_descendants_on_a_deep_body_is_refused_in_bounded_memory() {
    // 100 objects deep around 29,000 zeros: 59 KB. `$..*..*` selected about 3 million nodes and
    // their clones took 2.4 GB (an allocation failure under this limit); `..*` once more, 10⁸.
    let s = HttpServer::start(vec![Reply::json(200, &nested_json(100, 29_000))]);
    for path in ["$..*..*", "$..*..*..*", "$..[?@..*]"] {
        let (r, out) = wait_http("jsonpath-bomb", "3s", &s.url("/"), &["--json-path", path]);
        assert_eq!(r.code, Some(124), "{path}: {out}");
        assert!(out.contains("JSONPath result too large"), "{path}: {out}");
        assert!(r.took < Duration::from_millis(4500), "{path}: {:?}", r.took);
    }
    // A harmless query on the same body is still evaluated.
    let (r, out) = wait_http(
        "jsonpath-fine",
        "10s",
        &s.url("/"),
        &["--json-path", "$..a"],
    );
    assert_eq!(r.code, Some(0), "{out}");
}

#[test]
fn a_body_nested_deeper_than_the_parser_limit_is_not_json_and_no_crash() {
    // serde_json stops at 128 levels (its recursion limit is on): 100,000 levels must end as
    // "not JSON", not as a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let s = HttpServer::start(vec![Reply::json(200, &deep)]);
    let (r, out) = wait_http("deep-json", "2s", &s.url("/"), &["--json-path", "$.a"]);
    assert_eq!(r.code, Some(124), "{out}");
    assert!(out.contains("the body is not JSON"), "{out}");
    assert!(out.contains("recursion limit"), "{out}");
}

#[test]
fn an_endless_body_is_read_only_up_to_its_cap() {
    let s = HttpServer::start(vec![Reply::endless(&"y".repeat(16 * 1024))]);
    let (r, out) = wait_http(
        "endless-body",
        "2s",
        &s.url("/"),
        &["--body-contains", "READY"],
    );
    assert_eq!(r.code, Some(124), "{out}");
    assert!(out.contains("first 64 KiB"), "{out}");
    assert!(r.took < Duration::from_millis(3500), "{:?}", r.took);
}

#[test]
fn secret_headers_and_url_credentials_do_not_follow_a_redirect_to_another_origin() {
    // Another host (127.0.0.2) and, separately, another port of the same host: both are other
    // origins. Each records the headers it got.
    let elsewhere = HttpServer::start_at("127.0.0.2", vec![Reply::status(200)]);
    let other_port = HttpServer::start(vec![Reply::status(200)]);
    for target in [&elsewhere, &other_port] {
        let origin = HttpServer::start(vec![
            Reply::redirect(302, "/second?api_key=query-s3cr3t-value"),
            Reply::redirect(302, &target.url("/landing")),
        ]);
        let home = scratch("redirect-headers");
        let header_file = home.join("headers");
        std::fs::write(&header_file, format!("X-Api-Key: {API_KEY}\n")).unwrap();
        let url = origin
            .url("/first")
            .replace("http://", &format!("http://user:{PASSWORD}@"));
        let (r, out) = wait_http(
            "redirect-headers",
            "10s",
            &url,
            &["--header-file", header_file.to_str().unwrap()],
        );
        assert_eq!(r.code, Some(0), "{out}");

        // The origin got the headers on both of its requests (a same-origin redirect keeps them).
        let first = origin.requests();
        assert_eq!(first.len(), 2, "{first:?}");
        for req in &first {
            assert_eq!(req.header("x-api-key"), Some(API_KEY), "{req:?}");
            assert_eq!(
                req.header("authorization"),
                Some(format!("Basic {}", basic("user", PASSWORD)).as_str()),
                "{req:?}"
            );
        }
        // The other origin got none of them, and no Referer with the query.
        let landed = target.requests();
        assert_eq!(landed.len(), 1, "{landed:?}");
        let got = &landed[0];
        assert_eq!(got.path, "/landing");
        assert_eq!(got.header("x-api-key"), None, "{got:?}");
        assert_eq!(got.header("authorization"), None, "{got:?}");
        assert_eq!(got.header("referer"), None, "{got:?}");
        assert!(!format!("{got:?}").contains("s3cr3t"), "{got:?}");
    }
}

#[test]
fn a_redirect_from_https_to_http_is_refused_naming_the_location() {
    let ca = TestCa::new("kwait hostile CA");
    let home = scratch("downgrade");
    let ca_file = home.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let plain = HttpServer::start(vec![Reply::status(200)]);
    let location = plain
        .url("/plain?x=1")
        .replace("http://", "http://u:leaked-pass-word@");
    let tls = HttpServer::start_tls(
        vec![Reply::redirect(301, &location)],
        &ca.issue(&["localhost"]),
    );
    let (r, out) = wait_http(
        "downgrade",
        "1s",
        &tls.url("/"),
        &[
            "--ca-cert",
            ca_file.to_str().unwrap(),
            "--header",
            &format!("X-Api-Key: {API_KEY}"),
        ],
    );
    assert_eq!(r.code, Some(124), "{out}");
    assert!(out.contains("redirect from https to http refused"), "{out}");
    assert!(
        out.contains(&format!("http://u:***@{}/plain?x=1", plain.addr())),
        "{out}"
    );
    assert!(!out.contains("leaked-pass-word"), "{out}");
    assert_eq!(plain.hits(), 0, "the http:// URL was requested");
}

#[test]
fn url_credentials_never_appear_at_vvv_in_json_or_in_the_termination_log() {
    // The server echoes the request's headers (Authorization: Basic base64(user:password)) in
    // its 503 body, which kwait quotes in its state and report.
    let s = HttpServer::start(vec![Reply::echo(503)]);
    let url = s
        .url("/health")
        .replace("http://", &format!("http://user:{PASSWORD}@"));
    let encoded = basic("user", PASSWORD);
    for (code, all, log) in at_every_level("url-credentials", &url) {
        assert_eq!(code, Some(124), "{all}");
        assert!(!log.is_empty(), "no termination log");
        assert!(all.contains("user:***@"), "{all}");
        // The echo was really shown (scrubbed), so the check is not vacuous.
        assert!(all.contains("authorization: Basic ***"), "{all}");
        for secret in [PASSWORD, encoded.as_str(), &encoded[..20]] {
            assert!(!all.contains(secret), "{secret} in: {all}");
        }
    }
    assert_eq!(
        s.requests()[0].header("authorization"),
        Some(format!("Basic {encoded}").as_str())
    );
}

#[test]
fn bidi_and_control_characters_from_the_server_are_escaped() {
    // A body, a found JSON value and a Location header, each with U+202E (right-to-left
    // override) and, where HTTP allows it, ESC and a forged line.
    let s = HttpServer::start(vec![Reply::text(
        503,
        "down\u{202e}\n\u{1b}[2Kkwait: ready after 1s\u{7}",
    )]);
    let (_, out) = wait_http("bidi-body", "1s", &s.url("/"), &[]);
    assert!(
        out.contains("down\\u{202e} \\u{1b}[2Kkwait: ready"),
        "{out}"
    );

    s.set_replies(vec![Reply::json(200, "{\"status\":\"gni\u{202e}trats\"}")]);
    let (_, out2) = wait_http(
        "bidi-json",
        "1s",
        &s.url("/"),
        &["--json-path", "$.status", "--equals", "ready"],
    );
    assert!(out2.contains("gni\\u{202e}trats"), "{out2}");

    s.set_replies(vec![Reply::redirect(302, "/x\u{202e}y")]);
    let (_, out3) = wait_http(
        "bidi-location",
        "1s",
        &s.url("/"),
        &["--no-follow-redirects"],
    );
    assert!(out3.contains("redirects to /x\\u{202e}y"), "{out3}");
    for o in [&out, &out2, &out3] {
        assert!(!o.contains('\u{202e}') && !o.contains('\u{1b}') && !o.contains('\u{7}'));
        assert!(!o.lines().any(|l| l.starts_with("kwait: ready")), "{o}");
    }
}

#[test]
fn a_self_signed_certificate_is_named_with_the_ca_cert_hint() {
    let s = HttpServer::start_tls(
        vec![Reply::status(200)],
        &Identity::self_signed(&["localhost"]),
    );
    let (r, out) = wait_http("self-signed", "1s", &s.url("/"), &[]);
    assert_eq!(r.code, Some(124), "{out}");
    assert!(out.contains("TLS: self-signed certificate"), "{out}");
    assert!(
        out.contains("self-signed certificate; pass its CA with --ca-cert"),
        "{out}"
    );
    assert!(!out.contains("CaUsedAsEndEntity"), "{out}");
}

#[test]
fn a_tls_port_that_never_answers_the_hello_says_the_handshake_did_not_finish() {
    let silent = TcpServer::start_silent();
    let url = format!("https://127.0.0.1:{}/", silent.port());
    let (r, _) = hostile(
        "tls-stall",
        &[
            "--timeout",
            "3s",
            "--attempt-timeout",
            "1s",
            "wait-http",
            &url,
        ],
    );
    let out = output(&r);
    assert_eq!(r.code, Some(124), "{out}");
    assert!(out.contains("TLS handshake did not finish"), "{out}");
    assert!(!out.contains("waiting for the answer"), "{out}");
}

#[test]
fn a_url_longer_than_64_kib_is_a_usage_error() {
    let url = format!("http://127.0.0.1:1/{}", "a".repeat(70_000));
    let (r, out) = wait_http("long-url", "30s", &url, &[]);
    assert_eq!(r.code, Some(2), "{out}");
    assert!(out.contains("URL"), "{out}");
    assert!(out.contains("65534"), "{out}");
    assert!(
        out.len() < 1000,
        "the URL was printed whole: {} bytes",
        out.len()
    );
    assert!(r.took < Duration::from_secs(5), "{:?}", r.took);
}

#[test]
fn dev_zero_as_ca_cert_or_header_file_is_refused_at_its_cap() {
    for option in ["--ca-cert", "--header-file"] {
        let (r, _) = hostile(
            "dev-zero",
            &[
                "--timeout",
                "30s",
                "wait-http",
                "https://localhost:1/",
                option,
                "/dev/zero",
            ],
        );
        let out = output(&r);
        assert_eq!(r.code, Some(2), "{option}: {out}");
        assert!(out.contains(option), "{out}");
        assert!(out.contains("/dev/zero"), "{out}");
        assert!(out.contains("1 MiB"), "{out}");
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(r.took < Duration::from_secs(5), "{option}: {:?}", r.took);
    }
}

#[test]
fn ssl_cert_file_dev_zero_is_refused_at_its_cap() {
    // rustls-native-certs read SSL_CERT_FILE whole: /dev/zero grew until the address-space
    // limit aborted kwait (a 2 s timeout only hid it behind exit 124, after ~200 MiB).
    let home = scratch("ssl-cert-file");
    let mut cmd = kwait(&home);
    cmd.args(["wait-http", "https://127.0.0.1:1/", "--timeout", "30s"])
        .env_remove("SSL_CERT_DIR")
        .env("SSL_CERT_FILE", "/dev/zero");
    let r = run(
        memory_limited(cmd, HOSTILE_AS_LIMIT_MIB),
        Duration::from_secs(60),
    );
    let out = output(&r);
    assert_eq!(r.code, Some(2), "{out}");
    assert!(out.contains("SSL_CERT_FILE"), "{out}");
    assert!(out.contains("/dev/zero"), "{out}");
    assert!(out.contains("4 MiB"), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(r.took < Duration::from_secs(5), "{:?}", r.took);
}

#[test]
fn ssl_cert_dir_with_a_link_to_dev_zero_is_refused() {
    let home = scratch("ssl-cert-dir");
    let dir = home.join("certs");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.pem")).unwrap();
    let mut cmd = kwait(&home);
    cmd.args(["wait-http", "https://127.0.0.1:1/", "--timeout", "30s"])
        .env_remove("SSL_CERT_FILE")
        .env("SSL_CERT_DIR", &dir);
    let r = run(
        memory_limited(cmd, HOSTILE_AS_LIMIT_MIB),
        Duration::from_secs(60),
    );
    let out = output(&r);
    assert_eq!(r.code, Some(2), "{out}");
    assert!(
        out.contains("SSL_CERT_DIR") && out.contains("zero.pem"),
        "{out}"
    );
    assert!(r.took < Duration::from_secs(5), "{:?}", r.took);
}

/// A credential in the query (`?api_key=…`, as health endpoints behind API gateways take it)
/// was printed in the start, state and report lines, and wherever the server echoed it. Its
/// value is shown as `***` and scrubbed from what the server says; the request still carries it.
#[test]
fn a_credential_in_the_query_string_is_never_printed() {
    const KEY: &str = "qk-7d1e93b0c4";
    let s = HttpServer::start(vec![Reply::text(
        503,
        &format!("invalid api_key {KEY} for this tenant"),
    )]);
    let url = format!("{}?api_key={KEY}&region=eu", s.url("/ready"));
    for (code, all, _) in at_every_level("query-credential", &url) {
        assert_eq!(code, Some(124), "{all}");
        assert!(all.contains("/ready?api_key=***&region=eu"), "{all}");
        // The server's text was shown (scrubbed), so the check is not vacuous.
        assert!(all.contains("invalid api_key *** for this tenant"), "{all}");
        assert!(!all.contains(KEY), "{all}");
        assert!(!all.contains(&KEY[..8]), "{all}");
    }
}
