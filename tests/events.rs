//! Events on kwait's own Pod (issue 24): with the downward API's POD_NAME, POD_NAMESPACE and
//! POD_UID, kwait records events.k8s.io/v1 Events regarding the Pod, so that `kubectl describe
//! pod` says why it waits while it waits; bounded, and never at the wait's expense.
//!
//! Each test reads what a real API server would store (`events.events.k8s.io` in the pod's
//! namespace) and the requests made, so they port to a real server as they are.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const POD: &str = "web-7d4b9c-x2x9q";
const UID: &str = "0b0e8a52-5c4e-4b7e-9d0e-3f1f4b8f2a11";

/// A fake API server that serves events.k8s.io/v1 (as every real one does), [`TOKEN`] allowed
/// what `allow` says.
fn cluster(name: &str, allow: Allow) -> Cluster {
    let c = Cluster::with(name, allow);
    c.api.register_resource(
        testkit::ResourceDef::new("events.k8s.io", "v1", "Event", "events").with_status(false),
    );
    c
}

/// `kwait ARGS` as the init container of pod [`POD`] in [`NS`] runs it.
fn in_pod(c: &Cluster, args: &[&str]) -> std::process::Command {
    let mut cmd = c.kwait(args);
    cmd.env("POD_NAME", POD)
        .env("POD_NAMESPACE", NS)
        .env("POD_UID", UID);
    cmd
}

/// The Events stored in [`NS`] (events.k8s.io/v1).
fn events(api: &ApiServer) -> Vec<Value> {
    api.list("events.events.k8s.io", NS)
}

fn s<'a>(e: &'a Value, path: &str) -> &'a str {
    e.pointer(path).and_then(Value::as_str).unwrap_or_default()
}

/// The first Event whose reason is `reason` and whose note contains `text`.
fn find(api: &ApiServer, reason: &str, text: &str) -> Option<Value> {
    events(api)
        .into_iter()
        .find(|e| s(e, "/reason") == reason && s(e, "/note").contains(text))
}

#[test]
fn a_missing_secret_records_a_waiting_event_regarding_the_pod_within_2s() {
    let c = cluster("events-waiting", Allow::All);
    let started = Instant::now();
    let k = spawn(in_pod(&c, &["--timeout", "20s", "wait-secret", "db-creds"]));
    let e = eventually(
        "a Waiting Event naming the Secret and its state",
        Duration::from_secs(2),
        || find(&c.api, "Waiting", "Secret crs/db-creds: not found"),
    );
    let within = started.elapsed();
    c.api.create("secrets", NS, secret("db-creds", &[]));
    let r = k.finish(Duration::from_secs(20));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(within <= Duration::from_secs(2), "{within:?}");
    assert_eq!(s(&e, "/apiVersion"), "events.k8s.io/v1");
    assert_eq!(s(&e, "/type"), "Normal");
    assert_eq!(s(&e, "/action"), "Waiting");
    assert_eq!(s(&e, "/reportingController"), "kwait");
    assert_eq!(s(&e, "/reportingInstance"), POD);
    assert_eq!(s(&e, "/regarding/kind"), "Pod");
    assert_eq!(s(&e, "/regarding/name"), POD);
    assert_eq!(s(&e, "/regarding/namespace"), NS);
    assert_eq!(s(&e, "/regarding/uid"), UID);
    assert!(
        s(&e, "/metadata/name").starts_with(&format!("{POD}.")),
        "{e}"
    );
    assert!(s(&e, "/eventTime").ends_with('Z'), "{e}");
    // The start and the end too; the progress lines are unchanged.
    assert!(find(&c.api, "Waiting", "waiting for Secret crs/db-creds").is_some());
    let ready = find(&c.api, "Ready", "ready after").expect("a Ready Event");
    assert_eq!(s(&ready, "/type"), "Normal");
    assert!(
        r.stderr.contains("kwait: Secret crs/db-creds: not found\n"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("Events"), "{}", r.stderr);
}

#[test]
fn a_forbidden_secret_records_a_warning_with_the_kubectl_fix_within_2s() {
    // kwait may record Events, not read the Secret.
    let events_only = Rule::new(&["create", "patch"], "events")
        .group("events.k8s.io")
        .namespace(NS);
    let c = cluster("events-forbidden", Allow::rules(vec![events_only]));
    let k = spawn(in_pod(&c, &["--timeout", "3s", "wait-secret", "db-creds"]));
    let e = eventually(
        "a Forbidden warning with the fix",
        Duration::from_secs(2),
        || find(&c.api, "Forbidden", "kubectl create role"),
    );
    assert_eq!(s(&e, "/type"), "Warning");
    assert!(
        s(&e, "/note").contains("Secret crs/db-creds: forbidden"),
        "{e}"
    );
    assert!(s(&e, "/note").contains("kubectl create rolebinding"), "{e}");
    assert!(s(&e, "/note").len() <= 1024, "{e}");
    let r = k.finish(Duration::from_secs(20));
    assert_eq!(r.code, Some(124), "{}", r.stderr);
}

#[test]
fn a_timeout_records_timed_out_with_the_report_cause() {
    let c = cluster("events-timeout", Allow::All);
    let r = run(
        in_pod(&c, &["--timeout", "2s", "wait-secret", "db-creds"]),
        Duration::from_secs(20),
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let e = find(&c.api, "TimedOut", "timed out after").expect("a TimedOut Event");
    assert_eq!(s(&e, "/type"), "Warning");
    let note = s(&e, "/note");
    assert!(note.contains("waiting for Secret crs/db-creds"), "{note}");
    assert!(note.contains("last seen: not found"), "{note}");
    assert!(note.contains("cause: "), "{note}");
    assert!(!note.contains('\n'), "{note}");
}

#[test]
fn an_8s_wait_with_many_state_changes_records_at_most_20_events() {
    let c = cluster("events-many", Allow::All);
    let keys: Vec<String> = (0..40).map(|i| format!("k{i:02}")).collect();
    let names = ["a", "b", "c"];
    let mut args = vec![
        "--timeout",
        "8s",
        "--interval",
        "100ms",
        "--max-interval",
        "200ms",
    ];
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            args.push("--and");
        }
        args.extend(["wait-secret", name]);
        for k in &keys {
            args.extend(["--key", k.as_str()]);
        }
    }
    let all_but = |i: usize| -> Vec<(&str, &str)> {
        (keys.iter().enumerate())
            .filter(|(j, _)| *j != i % keys.len())
            .map(|(_, k)| (k.as_str(), "v"))
            .collect()
    };
    for name in names {
        c.api.create("secrets", NS, secret(name, &all_but(0)));
    }
    let k = spawn(in_pod(&c, &args));
    // Each Secret: another key missing every 200 ms.
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < Duration::from_millis(7000) {
        i += 1;
        for name in names {
            c.api.apply("secrets", NS, secret(name, &all_but(i)));
        }
        sleep_ms(200);
    }
    let r = k.finish(Duration::from_secs(30));
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let changes = r.stderr.matches(": found, but key").count();
    assert!(
        changes > 20,
        "only {changes} changes of state:\n{}",
        r.stderr
    );
    let all = events(&c.api);
    assert!(all.len() <= 20, "{} Events", all.len());
    assert!(c.api.count_for("create", "events") <= 20);
    // The last one was kept for the ending.
    assert!(
        find(&c.api, "TimedOut", "timed out after").is_some(),
        "{all:?}"
    );
}

#[test]
fn a_state_seen_again_updates_its_event_series_instead_of_a_new_event() {
    let c = cluster("events-series", Allow::All);
    let k = spawn(in_pod(
        &c,
        &["--timeout", "20s", "wait-secret", "app", "--key", "k"],
    ));
    eventually("not found", Duration::from_secs(10), || {
        find(&c.api, "Waiting", "Secret crs/app (keys: k): not found")
    });
    // not found → key missing → not found again.
    c.api.create("secrets", NS, secret("app", &[]));
    eventually("key k missing", Duration::from_secs(10), || {
        find(
            &c.api,
            "Waiting",
            "Secret crs/app (keys: k): found, but key k missing",
        )
    });
    c.api.delete("secrets", NS, "app");
    sleep_ms(500);
    c.api.create("secrets", NS, secret("app", &[("k", "v")]));
    let r = k.finish(Duration::from_secs(20));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let not_found: Vec<Value> = events(&c.api)
        .into_iter()
        .filter(|e| s(e, "/note") == "Secret crs/app (keys: k): not found")
        .collect();
    assert_eq!(not_found.len(), 1, "{not_found:?}");
    let series = &not_found[0]["series"];
    assert_eq!(series["count"], 2, "{not_found:?}");
    assert!(series["lastObservedTime"].is_string(), "{not_found:?}");
    assert!(c.api.count_for("patch", "events") >= 1);
}

#[test]
fn no_events_flag_and_env_record_none() {
    for (args, env) in [
        (
            &["--no-events", "--timeout", "1s", "wait-secret", "x"][..],
            None,
        ),
        (&["--timeout", "1s", "wait-secret", "x"][..], Some("1")),
    ] {
        let c = cluster("events-off", Allow::All);
        let mut cmd = in_pod(&c, args);
        if let Some(v) = env {
            cmd.env("KWAIT_NO_EVENTS", v);
        }
        let r = run(cmd, Duration::from_secs(20));
        assert_eq!(r.code, Some(124), "{}", r.stderr);
        assert_eq!(events(&c.api).len(), 0);
        assert_eq!(c.api.count_for("create", "events"), 0);
    }
}

#[test]
fn without_the_pod_variables_none_are_sent_and_v_says_so_once() {
    let c = cluster("events-nopod", Allow::All);
    let r = run(
        c.kwait(&["-v", "--timeout", "1s", "wait-secret", "x"]),
        Duration::from_secs(20),
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert_eq!(c.api.count_for("create", "events"), 0);
    assert_eq!(
        r.stderr.matches("no Events recorded: POD_NAME").count(),
        1,
        "{}",
        r.stderr
    );
    let quiet = run(
        c.kwait(&["--timeout", "1s", "wait-secret", "x"]),
        Duration::from_secs(20),
    );
    assert!(!quiet.stderr.contains("Events"), "{}", quiet.stderr);
}

/// The rules of the Role(s) `--dry-run=rbac` prints, as testkit rules in [`NS`].
fn printed_rules(dir: &std::path::Path, args: &[&str]) -> Vec<Rule> {
    let mut cmd = kwait(dir);
    cmd.env("POD_NAMESPACE", NS)
        .args(["-n", NS, "--dry-run=rbac"])
        .args(args);
    let r = run(cmd, Duration::from_secs(20));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let list = |v: &str| -> Vec<String> {
        let v = v.trim().trim_start_matches('[').trim_end_matches(']');
        v.split(',')
            .map(|x| x.trim().trim_matches('"').to_string())
            .collect()
    };
    let mut rules = Vec::new();
    let mut group = Vec::new();
    let mut resources = Vec::new();
    let mut names: Option<Vec<String>> = None;
    for line in r.stdout.lines() {
        let line = line.trim_start_matches("- ").trim();
        if let Some(v) = line.strip_prefix("apiGroups: ") {
            group = list(v);
        } else if let Some(v) = line.strip_prefix("resources: ") {
            resources = list(v);
        } else if let Some(v) = line.strip_prefix("resourceNames: ") {
            names = Some(list(v));
        } else if let Some(v) = line.strip_prefix("verbs: ") {
            let verbs = list(v);
            let verbs: Vec<&str> = verbs.iter().map(String::as_str).collect();
            let mut rule = Rule::new(&verbs, &resources[0])
                .group(&group[0])
                .namespace(NS);
            if let Some(n) = names.take() {
                let n: Vec<&str> = n.iter().map(String::as_str).collect();
                rule = rule.names(&n);
            }
            rules.push(rule);
        }
    }
    rules
}

#[test]
fn the_printed_role_suffices_for_the_events_without_a_403() {
    let args = ["wait-secret", "db-creds", "--key", "k"];
    let rules = printed_rules(&scratch("events-rbac-dry"), &args);
    assert!(
        rules
            .iter()
            .any(|r| r.group.as_deref() == Some("events.k8s.io")),
        "{rules:?}"
    );
    let c = cluster("events-rbac", Allow::rules(rules));
    let mut all = vec!["-n", NS, "--timeout", "20s"];
    all.extend(args);
    let k = spawn(in_pod(&c, &all));
    eventually("the Waiting Event", Duration::from_secs(10), || {
        find(
            &c.api,
            "Waiting",
            "Secret crs/db-creds (keys: k): not found",
        )
    });
    c.api
        .create("secrets", NS, secret("db-creds", &[("k", "v")]));
    let r = k.finish(Duration::from_secs(20));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(find(&c.api, "Ready", "ready after").is_some());
    let refused: Vec<String> = (c.api.requests().into_iter())
        .filter(|q| q.status == 403)
        .map(|q| format!("{} {}", q.verb, q.path))
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    // --no-events drops the rule.
    let mut cmd = kwait(&c.dir);
    cmd.args(["--no-events", "-n", NS, "--dry-run=rbac"])
        .args(args);
    let r = run(cmd, Duration::from_secs(20));
    assert!(!r.stdout.contains("events.k8s.io"), "{}", r.stdout);
}

/// The events API failing (500s) or hanging: the wait ends as it would, when it would (plus at
/// most the end's flush), with one warning line.
#[test]
fn a_failing_or_hanging_events_api_changes_neither_the_exit_code_nor_the_timing() {
    for hang in [false, true] {
        let c = cluster(if hang { "events-hang" } else { "events-500" }, Allow::All);
        if hang {
            c.api
                .delay_matching(Duration::from_secs(60), None, Some("events"));
        } else {
            c.api
                .fail_next(Fault::status(500).times(10_000).resource("events"));
        }
        // Ready: the Secret appears after 1 s; kwait sees it at once and exits within the
        // flush budget (1 s) after that.
        let k = spawn(in_pod(&c, &["--timeout", "20s", "wait-secret", "db-creds"]));
        eventually("kwait to watch", Duration::from_secs(10), || {
            (c.api.count("watch") >= 1).then_some(())
        });
        sleep_ms(1000);
        let created = Instant::now();
        c.api.create("secrets", NS, secret("db-creds", &[]));
        let r = k.finish(Duration::from_secs(30));
        assert_eq!(r.code, Some(0), "hang={hang}: {}", r.stderr);
        let after = r.ended - created;
        assert!(
            after < Duration::from_secs(3),
            "hang={hang}: {after:?}\n{}",
            r.stderr
        );
        assert_eq!(
            r.stderr.matches("cannot record Events on pod").count(),
            1,
            "hang={hang}: {}",
            r.stderr
        );
        // Timeout: exit 124 at the deadline, plus at most the flush and the usual slack.
        let r = run(
            in_pod(&c, &["--timeout", "2s", "wait-secret", "missing"]),
            Duration::from_secs(30),
        );
        assert_eq!(r.code, Some(124), "hang={hang}: {}", r.stderr);
        assert!(r.took < Duration::from_secs(5), "hang={hang}: {:?}", r.took);
        assert_eq!(events(&c.api).len(), 0);
    }
}

/// SIGTERM: the exit stays within a second, events or not (no flush after a signal).
#[test]
fn sigterm_exits_within_a_second_while_the_events_api_hangs() {
    let c = cluster("events-sigterm", Allow::All);
    c.api
        .delay_matching(Duration::from_secs(60), None, Some("events"));
    let k = spawn(in_pod(&c, &["--timeout", "30s", "wait-secret", "db-creds"]));
    eventually("kwait to watch", Duration::from_secs(10), || {
        (c.api.count("watch") >= 1).then_some(())
    });
    let sent = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &k.pid().to_string()])
        .status();
    let r = k.finish(Duration::from_secs(10));
    assert_eq!(r.code, Some(143), "{}", r.stderr);
    assert!(
        r.ended - sent < Duration::from_secs(1),
        "{:?}",
        r.ended - sent
    );
}
