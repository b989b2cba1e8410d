//! `wait-secret` end to end: the built binary against testkit's fake API server.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(40);

/// Polling pushed out of a 30 s wait: only the watch can wake the waiter in time.
const WATCH_ONLY: &[&str] = &["--interval", "20s", "--max-interval", "30s"];

/// Spawns `kwait ARGS --timeout 30s POLLING...` on `c`.
fn spawn_30s(c: &Cluster, args: &[&str], polling: &[&str]) -> Running {
    let mut all = args.to_vec();
    all.extend(["--timeout", "30s"]);
    all.extend_from_slice(polling);
    spawn(c.kwait(&all))
}

#[test]
fn secret_created_after_two_seconds_is_ready() {
    let c = Cluster::new("created-later");
    // Polling alone would not see it before 20 s: only the watch can wake the waiter in time.
    let k = spawn_30s(&c, &["wait-secret", "litellm-api-user"], WATCH_ONLY);
    sleep_ms(2000);
    c.api.create(
        "secrets",
        NS,
        secret("litellm-api-user", &[("API_KEY", "k")]),
    );
    let created = Instant::now();
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        lines[0],
        "kwait: waiting for Secret crs/litellm-api-user, timeout 30s"
    );
    assert_eq!(lines[1], "kwait: Secret crs/litellm-api-user: not found");
    assert!(
        lines[2].starts_with("kwait: ready after ")
            && lines[2].ends_with(": Secret crs/litellm-api-user exists"),
        "{}",
        r.stderr
    );
    assert_eq!(lines.len(), 3, "{}", r.stderr);
    // The watch wakes the waiter: no need to wait for a 30 s safety re-check.
    assert!(
        r.ended - created < Duration::from_secs(10),
        "{:?}",
        r.ended - created
    );
}

#[test]
fn secret_without_the_key_is_ready_only_after_the_key_is_added() {
    let c = Cluster::new("key-later");
    c.api
        .create("secrets", NS, secret("litellm-api-user", &[("OTHER", "x")]));
    let k = spawn_30s(
        &c,
        &["secret", "litellm-api-user", "--key", "API_KEY"],
        WATCH_ONLY,
    );
    sleep_ms(2000);
    let patched = Instant::now();
    c.api.patch(
        "secrets",
        NS,
        "litellm-api-user",
        json!({"data": {"API_KEY": base64(b"sk-1234")}}),
    );
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.ended > patched);
    // The watch woke the waiter (polling alone: 20 s).
    assert!(
        r.ended - patched < Duration::from_secs(10),
        "{:?}",
        r.ended - patched
    );
    assert!(
        r.stderr.contains(
            "kwait: Secret crs/litellm-api-user (keys: API_KEY): found, but key API_KEY missing\n"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(": Secret crs/litellm-api-user has key API_KEY"),
        "{}",
        r.stderr
    );
}

#[test]
fn secret_never_created_times_out_with_the_report() {
    let c = Cluster::new("never");
    let r = run(
        c.kwait(&[
            "wait-secret",
            "never-created",
            "--key",
            "A",
            "--timeout",
            "3s",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let report = r
        .stderr
        .split("kwait: timed out after ")
        .nth(1)
        .expect(&r.stderr);
    assert!(
        report.starts_with("3s waiting for Secret crs/never-created (keys: A)\n"),
        "{report}"
    );
    assert!(
        report.contains("\n  last seen : not found (since "),
        "{report}"
    );
    assert!(
        report.contains("\n  cause     : Secret crs/never-created does not exist yet"),
        "{report}"
    );
    assert!(report.contains("\n  fix       : "), "{report}");
    // The same report is the termination message.
    let log = std::fs::read_to_string(c.dir.join("termination-log")).unwrap();
    assert!(
        log.starts_with("kwait: timed out after 3s waiting for Secret crs/never-created"),
        "{log}"
    );
}

#[test]
fn forbidden_for_three_seconds_then_allowed_is_ready_and_the_role_commands_were_printed() {
    let c = Cluster::with("forbidden", Allow::rules(vec![]));
    c.api.create(
        "secrets",
        NS,
        secret("litellm-api-user", &[("API_KEY", "k")]),
    );
    let k = spawn_30s(
        &c,
        &["wait-secret", "litellm-api-user"],
        &["--max-interval", "2s"],
    );
    sleep_ms(3000);
    c.api.set_allow(
        TOKEN,
        Allow::rules(vec![
            Rule::new(&["get", "watch"], "secrets").names(&["litellm-api-user"]),
        ]),
    );
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "kwait: Secret crs/litellm-api-user: forbidden: secrets \"litellm-api-user\" is forbidden: User \"system:serviceaccount:crs:default\" cannot get resource \"secrets\""
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            "  fix       : grant get and watch on this Secret to that service account, e.g.\n              kubectl create role kwait-litellm-api-user-e10164d3 --verb=get,watch --resource=secrets --resource-name=litellm-api-user -n crs\n              kubectl create rolebinding kwait-litellm-api-user-e10164d3 --role=kwait-litellm-api-user-e10164d3 --serviceaccount=crs:default -n crs\n"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("ready after"), "{}", r.stderr);
}

/// Each fault is transient: the wait must end with exit 0 once the Secret appears.
fn survives(name: &str, inject: impl FnOnce(&ApiServer)) -> Run {
    let c = Cluster::new(name);
    let k = spawn_30s(&c, &["wait-secret", "s"], &["--max-interval", "2s"]);
    sleep_ms(500);
    inject(&c.api);
    sleep_ms(1500);
    c.api.create("secrets", NS, secret("s", &[("k", "v")]));
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{name}: {}", r.stderr);
    r
}

#[test]
fn five_server_errors_are_retried() {
    let r = survives("500x5", |api| api.fail_next(Fault::status(500).times(5)));
    assert!(r.stderr.contains("API server error 500"), "{}", r.stderr);
}

/// A 429 whose `Retry-After` is u64::MAX seconds used to overflow the waiter's clock
/// arithmetic (a panic, exit 101). It is capped at an hour, so the deadline ends the wait.
#[test]
fn an_endless_retry_after_from_the_api_server_times_out_not_a_panic() {
    let c = Cluster::new("429-endless");
    c.api.fail_next(
        Fault::status(429)
            .times(1)
            .retry_after(u64::MAX)
            .verb("get"),
    );
    let r = spawn(c.kwait(&["wait-secret", "s", "--timeout", "3s"])).finish(LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(
        r.stderr.contains("throttled by the API server (429)"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn throttling_with_retry_after_is_retried() {
    let c = Cluster::new("429");
    c.api
        .fail_next(Fault::status(429).times(1).retry_after(2).verb("get"));
    let k = spawn_30s(&c, &["wait-secret", "s"], &["--max-interval", "2s"]);
    sleep_ms(300);
    c.api.create("secrets", NS, secret("s", &[("k", "v")]));
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains("throttled by the API server (429)"),
        "{}",
        r.stderr
    );
    // Retry-After: 2 was honoured: the second GET came no sooner than 2 s after the first.
    let gets: Vec<_> = c
        .api
        .requests()
        .into_iter()
        .filter(|q| q.verb == "get")
        .collect();
    assert!(gets.len() >= 2);
    assert!(
        gets[1]
            .time
            .duration_since(gets[0].time)
            .unwrap_or_default()
            >= Duration::from_millis(1900),
        "{gets:?}"
    );
}

#[test]
fn a_dropped_connection_is_retried() {
    survives("drop", |api| api.drop_connections(2));
}

#[test]
fn a_closed_watch_is_reopened() {
    let c = Cluster::new("closed-watch");
    let k = spawn(c.kwait(&["wait-secret", "s", "--timeout", "30s"]));
    eventually("the watch is open", LIMIT, || {
        (c.api.open_watches() > 0).then_some(())
    });
    c.api.close_watches();
    // Created once the watch is back, not in a race with its reopening.
    eventually("the watch is reopened", LIMIT, || {
        (c.api.count("watch") >= 2 && c.api.open_watches() > 0).then_some(())
    });
    c.api.create("secrets", NS, secret("s", &[("k", "v")]));
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        c.api.count("watch") >= 2,
        "watch was not reopened: {:?}",
        c.api.requests()
    );
}

#[test]
fn a_410_on_the_watch_restarts_it() {
    let c = Cluster::new("gone-watch");
    c.api.gone_next_watches(1);
    let k = spawn(c.kwait(&["wait-secret", "s", "--timeout", "30s"]));
    eventually("the watch is restarted after its 410", LIMIT, || {
        (c.api.count("watch") >= 2 && c.api.open_watches() > 0).then_some(())
    });
    c.api.create("secrets", NS, secret("s", &[("k", "v")]));
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(c.api.count("watch") >= 2, "{:?}", c.api.requests());
}

#[test]
fn a_server_restart_mid_wait_is_survived() {
    let c = Cluster::new("restart");
    let k = spawn_30s(&c, &["wait-secret", "s"], &["--max-interval", "2s"]);
    eventually("kwait watches the Secret", LIMIT, || {
        (c.api.open_watches() > 0).then_some(())
    });
    // A restart drops every connection, the watch's too (stop alone leaves an open stream
    // running, and kwait, rightly, trusts a live watch and does not poll).
    // The outage outlasts --max-interval (2 s) by a margin, so kwait's next check certainly
    // falls inside it: with a 2 s outage a check delayed to the top of its jitter by a loaded
    // machine could land after the restart and see the Secret without ever seeing the outage.
    c.api.stop();
    c.api.close_watches();
    sleep_ms(4000);
    c.api.restart();
    c.api.create("secrets", NS, secret("s", &[("k", "v")]));
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("API server unreachable"), "{}", r.stderr);
}

#[test]
fn sigterm_ends_the_wait_with_143_in_under_a_second() {
    let c = Cluster::new("sigterm");
    let k = spawn(c.kwait(&["wait-secret", "s", "--timeout", "60s"]));
    // Once the first check is done (its state is in the report), however slow the start was.
    eventually("the first check and the watch", LIMIT, || {
        (c.api.open_watches() > 0).then_some(())
    });
    let sent = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &k.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(143), "{}", r.stderr);
    assert!(
        r.ended - sent < Duration::from_secs(1),
        "{:?}",
        r.ended - sent
    );
    assert!(
        r.stderr.contains("kwait: interrupted by SIGTERM after ")
            && r.stderr
                .contains("while waiting for Secret crs/s; last seen: not found"),
        "{}",
        r.stderr
    );
}

#[test]
fn sigint_ends_the_wait_with_130() {
    let c = Cluster::new("sigint");
    let k = spawn(c.kwait(&["wait-secret", "s", "--timeout", "60s"]));
    sleep_ms(1000);
    std::process::Command::new("kill")
        .args(["-INT", &k.pid().to_string()])
        .status()
        .unwrap();
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(130), "{}", r.stderr);
    assert!(r.stderr.contains("interrupted by SIGINT"), "{}", r.stderr);
}

const VALUE: &str = "zq-DISTINCTIVE-s3cr3t-VALUE-7781";

#[test]
fn the_secret_value_never_appears_in_any_output() {
    let c = Cluster::new("no-leak");
    c.api.create(
        "secrets",
        NS,
        secret("s", &[("OTHER", VALUE), ("EMPTY", "")]),
    );
    let encoded = base64(VALUE.as_bytes());
    for flags in [
        &[][..],
        &["-v"],
        &["-vvv"],
        &["--log-format", "json"],
        &["--log-format", "json", "-v"],
    ] {
        // Pending (wrong keys) then timing out, so every kind of line and the report are printed.
        let mut args = vec![
            "wait-secret",
            "s",
            "--key",
            "API_KEY",
            "--key",
            "EMPTY",
            "--timeout",
            "2s",
        ];
        args.extend_from_slice(flags);
        let r = run(c.kwait(&args), LIMIT);
        assert_eq!(r.code, Some(124), "{flags:?}: {}", r.stderr);
        for out in [&r.stdout, &r.stderr] {
            assert!(
                !out.contains(VALUE) && !out.contains(&encoded),
                "{flags:?} leaked: {out}"
            );
        }
        assert!(
            r.stderr.contains("key API_KEY missing; key EMPTY empty"),
            "{flags:?}: {}",
            r.stderr
        );
        let log = std::fs::read_to_string(c.dir.join("termination-log")).unwrap();
        assert!(!log.contains(VALUE) && !log.contains(&encoded));
        // Then ready, with the value present under the awaited key.
        let mut args = vec!["wait-secret", "s", "--key", "OTHER", "--timeout", "5s"];
        args.extend_from_slice(flags);
        let r = run(c.kwait(&args), LIMIT);
        assert_eq!(r.code, Some(0), "{flags:?}: {}", r.stderr);
        assert!(
            !r.stderr.contains(VALUE) && !r.stderr.contains(&encoded),
            "{flags:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn json_log_format_prints_one_object_per_line() {
    let c = Cluster::new("json");
    let r = run(
        c.kwait(&[
            "--log-format",
            "json",
            "wait-secret",
            "s",
            "--timeout",
            "2s",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let events: Vec<serde_json::Value> = r
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["start", "state", "timeout"], "{}", r.stderr);
    assert_eq!(events[1]["class"], "not_found");
    assert_eq!(events[2]["state"], "not found");
    assert_eq!(events[2]["target"], "Secret crs/s");
    assert!(
        events[2]["message"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 2s waiting for Secret crs/s")
    );
}

#[test]
fn the_namespace_comes_from_the_kubeconfig_context_unless_given() {
    let c = Cluster::new("ns");
    c.api.create("secrets", "other", secret("s", &[("k", "v")]));
    let r = run(c.kwait(&["wait-secret", "s", "--timeout", "1s"]), LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(r.stderr.contains("Secret crs/s"), "{}", r.stderr);
    let r = run(
        c.kwait(&["-n", "other", "wait-secret", "s", "--timeout", "5s"]),
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    // Environment fallbacks work like the flags.
    let mut cmd = c.kwait(&["wait-secret", "s"]);
    cmd.env("KWAIT_NAMESPACE", "other")
        .env("KWAIT_TIMEOUT", "5s");
    let r = run(cmd, LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains("Secret other/s, timeout 5s"),
        "{}",
        r.stderr
    );
}

#[test]
fn wrong_token_is_unauthorized_with_its_own_cause() {
    let c = Cluster::new("unauthorized");
    c.api.remove_token(TOKEN);
    let r = run(c.kwait(&["wait-secret", "s", "--timeout", "2s"]), LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(
        r.stderr.contains("Secret crs/s: unauthorized (401)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("refused kwait's credentials"),
        "{}",
        r.stderr
    );
}

#[test]
fn unreachable_api_server_has_its_own_cause() {
    let c = Cluster::new("unreachable");
    let kc = c.api.write_kubeconfig(
        &c.dir,
        KubeconfigOpts {
            token: Some(TOKEN),
            namespace: Some(NS),
            server: Some("https://127.0.0.1:1"),
            ..Default::default()
        },
    );
    let mut cmd = kwait(&c.dir);
    cmd.arg("--kubeconfig")
        .arg(kc)
        .args(["wait-secret", "s", "--timeout", "2s"]);
    let r = run(cmd, LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(r.stderr.contains("API server unreachable"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cannot connect to the API server at https://127.0.0.1:1"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_wrong_ca_is_a_tls_failure() {
    let c = Cluster::new("tls");
    let other = ApiServer::builder().tls(true).auth(true).start();
    // A kubeconfig with the other server's CA, pointing at this server.
    let kc = other.write_kubeconfig(
        &c.dir,
        KubeconfigOpts {
            token: Some(TOKEN),
            namespace: Some(NS),
            server: Some(&c.api.url()),
            ..Default::default()
        },
    );
    let mut cmd = kwait(&c.dir);
    cmd.arg("--kubeconfig")
        .arg(kc)
        .args(["wait-secret", "s", "--timeout", "2s"]);
    let r = run(cmd, LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(
        r.stderr.contains("TLS with the API server failed"),
        "{}",
        r.stderr
    );
}

/// `wait-secret s --timeout 10s` (polling pushed out of the wait) against a server whose watch
/// opens and then sends nothing, as a frozen API server's; with `freeze`, every request from
/// 2 s on hangs too. Returns the run and the report.
fn wait_with_a_silent_watch(name: &str, freeze: bool) -> (Run, String) {
    let c = Cluster::new(name);
    c.api.set_watch_fault(Some(testkit::WatchFault::Silent));
    let started = Instant::now();
    let mut args = vec!["wait-secret", "s", "--timeout", "10s"];
    args.extend_from_slice(WATCH_ONLY);
    let k = spawn(c.kwait(&args));
    eventually("kwait watches the Secret", LIMIT, || {
        (c.api.open_watches() > 0).then_some(())
    });
    if freeze {
        sleep_ms(2000u64.saturating_sub(started.elapsed().as_millis() as u64));
        c.api.delay(Duration::from_secs(60));
    }
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    // The last check's time is reserved inside --timeout: the run ends by its deadline (plus
    // a generous margin for a loaded machine, never the 60 s a hung request would take).
    assert!(
        r.ended - started < Duration::from_secs(14),
        "{:?}",
        r.ended - started
    );
    let report = r
        .stderr
        .split("kwait: timed out after ")
        .nth(1)
        .unwrap_or_else(|| panic!("no report in:\n{}", r.stderr))
        .to_string();
    (r, report)
}

// Regression (issue 22): with the API server frozen for the last 8 s of a 10 s wait, the report
// said "not found (since the start; 1 check, and a watch that saw no change since)" and blamed
// the Secret's creator: the watch saw nothing because nothing could arrive.
#[test]
fn a_frozen_api_server_is_named_in_the_report_with_when_it_last_answered() {
    let (_, report) = wait_with_a_silent_watch("frozen", true);
    assert!(
        report.contains("\n  last seen : not found (since the start; 2 checks; the API server's last answer came "),
        "{report}"
    );
    assert!(
        report.contains(" after the start, and it has been silent since)\n"),
        "{report}"
    );
    assert!(!report.contains("a watch that saw no change"), "{report}");
    assert!(
        report.contains("\n  cause     : the API server went silent: kwait last heard from it "),
        "{report}"
    );
    assert!(!report.contains("does not exist yet"), "{report}");
    assert!(
        report.contains("kubectl get --raw='/readyz?verbose'"),
        "{report}"
    );
}

/// The control case of the test above: the same silent watch, the API server answering.
#[test]
fn an_answering_api_server_leaves_the_report_about_the_secret() {
    let (_, report) = wait_with_a_silent_watch("answering", false);
    assert!(
        report.contains(
            "\n  last seen : not found (since the start; 2 checks, and a watch that saw no change since)\n"
        ),
        "{report}"
    );
    assert!(
        report.contains("\n  cause     : Secret crs/s does not exist yet"),
        "{report}"
    );
    assert!(!report.contains("silent"), "{report}");
}
