//! Several dependencies in one kwait (`--and`): the built binary against testkit's fake API
//! server and a loopback HTTP server. One deadline, every target awaited at once, the first
//! failure ending the run, and one report on every target that fits the termination message.
//!
//! Timing assertions are loose (a busy 2-core machine) but each is far below what polling
//! would take: a Kubernetes target polls at 30 s once its watch is up, so reacting within a
//! few seconds proves the watch woke it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use testkit::netserve::{HttpServer, Reply};

const LIMIT: Duration = Duration::from_secs(40);

fn cond(kind: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": "True", "reason": reason, "message": message,
           "lastTransitionTime": "2025-05-01T10:00:09Z"})
}

fn job(name: &str) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "Never",
                 "containers": [{"name": "migrate", "image": "app:1"}]}}},
        "status": {"startTime": "2025-05-01T10:00:00Z", "active": 1, "ready": 0, "failed": 0,
                   "terminating": 0},
    })
}

fn complete(api: &ApiServer, ns: &str, name: &str) {
    let done = cond(
        "Complete",
        "CompletionsReached",
        "Reached expected number of succeeded pods",
    );
    let met = cond(
        "SuccessCriteriaMet",
        "CompletionsReached",
        "Reached expected number of succeeded pods",
    );
    api.patch_status(
        "jobs",
        ns,
        name,
        json!({"status": {"active": 0, "succeeded": 1, "terminating": 0,
                          "completionTime": "2025-05-01T10:00:12Z", "conditions": [met, done]}}),
    );
}

fn fail(api: &ApiServer, name: &str) {
    let target = cond(
        "FailureTarget",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    );
    let failed = cond(
        "Failed",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    );
    api.patch_status(
        "jobs",
        NS,
        name,
        json!({"status": {"active": 0, "failed": 3, "terminating": 0, "conditions": [target, failed]}}),
    );
}

/// Waits until `text` (stderr so far is not readable while running, so: until the API server
/// saw `n` watches open), i.e. every Kubernetes target is past its first check.
fn until_watching(api: &ApiServer, n: usize) {
    eventually("watches open", Duration::from_secs(20), || {
        (api.open_watches() >= n).then_some(())
    });
}

fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn three_mixed_targets_ready_at_different_times_end_with_all_3_ready() {
    let c = Cluster::new("and-three");
    c.api.create("jobs", NS, job("migrate"));
    let http = HttpServer::start(vec![Reply::status(503)]);
    let url = http.url("/ready");
    let k = spawn(c.kwait(&[
        "--timeout",
        "30s",
        "--interval",
        "100ms",
        "wait-secret",
        "app-token",
        "--key",
        "API_KEY",
        "--and",
        "wait-job",
        "migrate",
        "--and",
        "wait-http",
        &url,
    ]));
    until_watching(&c.api, 2);
    c.api
        .create("secrets", NS, secret("app-token", &[("API_KEY", "k")]));
    sleep_ms(700);
    complete(&c.api, NS, "migrate");
    sleep_ms(700);
    http.set_replies(vec![Reply::status(200)]);
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let err = &r.stderr;
    assert!(
        err.starts_with(&format!(
            "kwait: waiting for 3 targets at once, timeout 30s: Secret crs/app-token (keys: API_KEY); Job crs/migrate; HTTP GET {url}"
        )),
        "{err}"
    );
    let ready = lines_with(err, "kwait: ready after ");
    assert_eq!(ready.len(), 3, "{err}");
    // In the order they became ready, each naming its target.
    assert!(ready[0].contains("Secret crs/app-token"), "{err}");
    assert!(ready[1].contains("Job crs/migrate complete"), "{err}");
    assert!(ready[2].contains(&url), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("kwait: all 3 ready after "), "{err}");
}

#[test]
fn a_failed_job_ends_the_run_at_once_naming_its_reason_and_the_secrets_last_state() {
    let c = Cluster::new("and-fail");
    c.api.create("jobs", NS, job("migrate"));
    let term = c.dir.join("termination-log");
    let cmd = c.kwait(&[
        "--timeout",
        "60s",
        "--termination-log",
        term.to_str().unwrap_or_default(),
        "wait-secret",
        "app-token",
        "--and",
        "wait-job",
        "migrate",
    ]);
    let k = spawn(cmd);
    until_watching(&c.api, 2);
    sleep_ms(300);
    let failed_at = Instant::now();
    fail(&c.api, "migrate");
    let r = k.finish(LIMIT);
    let reacted = r.ended - failed_at;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    // The watch wakes the Job's waiter; the rest is cancelled at once (polling would take 30 s).
    assert!(
        reacted < Duration::from_secs(3),
        "{reacted:?}\n{}",
        r.stderr
    );
    let err = &r.stderr;
    assert!(
        err.contains("kwait: failed after ") && err.contains("1 of 2 targets failed for good"),
        "{err}"
    );
    assert!(err.contains("- Job crs/migrate (failed)\n"), "{err}");
    assert!(err.contains("BackoffLimitExceeded"), "{err}");
    assert!(
        err.contains("- Secret crs/app-token (no longer awaited)\n  last seen : not found"),
        "{err}"
    );
    let log = std::fs::read_to_string(&term).unwrap_or_default();
    assert!(
        log.contains("BackoffLimitExceeded") && log.contains("Secret crs/app-token"),
        "{log}"
    );
}

#[test]
fn the_deadline_reports_both_targets_not_ready_with_cause_and_fix_and_the_ready_one_with_its_time()
{
    let c = Cluster::with(
        "and-deadline",
        Allow::rules(vec![
            Rule::new(&["get", "watch"], "secrets").names(&["here"]),
            Rule::new(&["get", "watch"], "jobs").names(&["migrate"]),
        ]),
    );
    c.api.create("secrets", NS, secret("here", &[("K", "v")]));
    c.api.create("jobs", NS, job("migrate"));
    let r = run(
        c.kwait(&[
            "--timeout",
            "3s",
            "wait-secret",
            "here",
            "--and",
            "wait-secret",
            "forbidden-one",
            "--and",
            "wait-job",
            "migrate",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let err = &r.stderr;
    let report = &err[err.find("kwait: timed out after ").unwrap_or(0)..];
    assert!(
        report.starts_with("kwait: timed out after 3")
            && report.contains("waiting for 2 of 3 targets\n"),
        "{report}"
    );
    // Not ready first, each with its state, cause and fix; the ready one last, with its time.
    let forbidden = report
        .find("- Secret crs/forbidden-one\n  last seen : forbidden")
        .unwrap_or(usize::MAX);
    let job = report
        .find("- Job crs/migrate\n  last seen : running")
        .unwrap_or(usize::MAX);
    let ready = report
        .find("- Secret crs/here: ready after ")
        .unwrap_or(usize::MAX);
    assert!(
        forbidden < ready && job < ready && ready < usize::MAX,
        "{report}"
    );
    let forbidden_part = &report[forbidden..job.max(forbidden)];
    assert!(forbidden_part.contains("  cause     : "), "{report}");
    assert!(
        forbidden_part.contains("  fix       : ") && forbidden_part.contains("kubectl create role kwait-forbidden-one-2887c7d3 --verb=get,watch --resource=secrets --resource-name=forbidden-one -n crs"),
        "{report}"
    );
}

#[test]
fn twenty_targets_fit_the_termination_message() {
    let c = Cluster::new("and-twenty");
    let term = c.dir.join("termination-log");
    let mut args: Vec<String> = vec![
        "--timeout".into(),
        "2s".into(),
        "--termination-log".into(),
        term.display().to_string(),
    ];
    for i in 0..20 {
        if i > 0 {
            args.push("--and".into());
        }
        args.extend([
            "wait-secret".into(),
            format!("a-secret-with-a-rather-long-name-{i:02}"),
            "--key".into(),
            "API_KEY".into(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(c.kwait(&args), LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let log = std::fs::read_to_string(&term).unwrap_or_default();
    assert!(log.len() < 4096, "{} bytes:\n{log}", log.len());
    assert!(
        log.starts_with("kwait: timed out after 2") && log.contains("waiting for 20 of 20 targets"),
        "{log}"
    );
    // Every target is named, if only on one line; nothing is cut mid-line.
    for i in 0..20 {
        assert!(
            log.contains(&format!("a-secret-with-a-rather-long-name-{i:02}")),
            "{i}: {log}"
        );
    }
    let report = &r.stderr[r.stderr.find("kwait: timed out").unwrap_or(0)..];
    assert_eq!(report.trim_end(), log.trim_end());
    // The start line names the first few and counts the rest.
    assert!(r.stderr.starts_with("kwait: waiting for 20 targets at once, timeout 2s: Secret crs/a-secret-with-a-rather-long-name-00 (keys: API_KEY); "), "{}", r.stderr);
    assert!(
        r.stderr
            .lines()
            .next()
            .unwrap_or_default()
            .ends_with("; and 16 more"),
        "{}",
        r.stderr
    );
}

#[test]
fn sigterm_names_every_target_still_awaited() {
    let c = Cluster::new("and-sigterm");
    c.api.create("secrets", NS, secret("here", &[("K", "v")]));
    let k = spawn(c.kwait(&[
        "--timeout",
        "60s",
        "wait-secret",
        "here",
        "--and",
        "wait-secret",
        "missing",
        "--and",
        "wait-job",
        "migrate",
    ]));
    until_watching(&c.api, 3);
    sleep_ms(300);
    let sent = Instant::now();
    let ok = Command::new("kill")
        .args(["-TERM", &k.pid().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok);
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(143), "{}", r.stderr);
    assert!(
        r.ended - sent < Duration::from_secs(2),
        "{:?}",
        r.ended - sent
    );
    let err = &r.stderr;
    assert!(
        err.contains("kwait: interrupted by SIGTERM after ")
            && err.contains("while waiting for 2 of 3 targets"),
        "{err}"
    );
    assert!(
        err.contains("- Secret crs/missing\n  last seen : not found"),
        "{err}"
    );
    assert!(
        err.contains("- Job crs/migrate\n  last seen : not found"),
        "{err}"
    );
    assert!(err.contains("- Secret crs/here: ready after "), "{err}");
}

#[test]
fn a_namespace_inside_a_segment_is_for_that_target_alone() {
    let c = Cluster::new("and-namespace");
    c.api.create("secrets", NS, secret("app", &[("K", "v")]));
    c.api
        .create("secrets", "other", secret("app", &[("K", "v")]));
    c.api.create("jobs", "batch-ns", job("migrate"));
    complete(&c.api, "batch-ns", "migrate");
    let r = run(
        c.kwait(&[
            "--timeout",
            "10s",
            "wait-secret",
            "app",
            "--and",
            "wait-secret",
            "app",
            "-n",
            "other",
            "--and",
            "wait-job",
            "migrate",
            "--namespace",
            "batch-ns",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("Secret crs/app"), "{}", r.stderr);
    assert!(r.stderr.contains("Secret other/app"), "{}", r.stderr);
    assert!(
        r.stderr.contains("Job batch-ns/migrate complete"),
        "{}",
        r.stderr
    );
    let gets: Vec<String> = c
        .api
        .requests()
        .into_iter()
        .filter(|q| q.verb == "get")
        .map(|q| q.namespace.unwrap_or_default())
        .collect();
    for ns in [NS, "other", "batch-ns"] {
        assert!(gets.iter().any(|g| g == ns), "{ns}: {gets:?}");
    }
    // --dry-run says the same, and grants each namespace its own Role.
    let r = run(
        c.kwait(&[
            "--dry-run=rbac",
            "wait-secret",
            "app",
            "--and",
            "wait-secret",
            "app",
            "-n",
            "other",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let docs: Vec<&str> = r.stdout.split("---\n").collect();
    assert_eq!(docs.len(), 2, "{}", r.stdout);
    assert!(
        docs[0].contains("  namespace: crs\n") && docs[1].contains("  namespace: other\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_misplaced_and_is_one_line_and_exit_2() {
    let home = scratch("and-usage");
    for (args, says) in [
        (
            &["--and", "wait-secret", "a"][..],
            "nothing before the first --and",
        ),
        (
            &["wait-secret", "a", "--and"][..],
            "nothing after the last --and",
        ),
        (
            &["wait-secret", "a", "--and", "--and", "wait-job", "b"][..],
            "two --and in a row",
        ),
        (
            &[
                "wait-secret",
                "a",
                "--and",
                "wait-job",
                "b",
                "--timeout",
                "1s",
            ][..],
            "--timeout applies to the whole run",
        ),
        (
            &["wait-secret", "a", "--and", "wait-nothing"][..],
            "wait-nothing",
        ),
        (
            &["wait-secret", "a", "--and", "wait-job", "b", "-n", "Bad_NS"][..],
            "--namespace",
        ),
    ] {
        let r = run_in(&home, args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn dry_run_lists_every_target_and_one_role_with_merged_rules() {
    let home = scratch("and-dry-run");
    let r = run_in(
        &home,
        &[
            "--dry-run",
            "-n",
            "crs",
            "wait-secret",
            "a",
            "--and",
            "wait-secret",
            "b",
            "--and",
            "wait-job",
            "migrate",
            "--and",
            "wait-http",
            "http://x/health",
            "--header-file",
            "/run/secrets/absent-here",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "kwait: would wait for 4 targets at once, timeout 5m0s:\n\
         kwait:   1. Secret crs/a\n\
         kwait:   2. Secret crs/b\n\
         kwait:   3. Job crs/migrate\n\
         kwait:   4. HTTP GET http://x/health (status 200-299)\n\
         kwait: RBAC needed: get, watch on secrets named a, b in namespace crs\n\
         kwait: RBAC needed: get, watch on jobs.batch named migrate in namespace crs\n\
         kwait: RBAC needed: list on pods in namespace crs (optional)\n\
         kwait: RBAC needed: list on events in namespace crs (optional)\n\
         kwait: RBAC for Events on kwait's pod (optional; --no-events drops it): create, patch on events.events.k8s.io in namespace crs\n\
         kwait: note: Events go to the pod's own namespace, not known here (POD_NAMESPACE is unset): the run's namespace is assumed\n\
         kwait: note: --header-file /run/secrets/absent-here does not exist here; the container must have it when it runs\n"
    );
    let r = run_in(
        &home,
        &[
            "--dry-run=rbac",
            "-n",
            "crs",
            "wait-secret",
            "a",
            "--and",
            "wait-tcp",
            "db:5432",
            "--and",
            "wait-secret",
            "b",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout.matches("kind: Role\n").count(), 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("  resources: [\"secrets\"]\n  resourceNames: [\"a\", \"b\"]\n  verbs: [\"get\", \"watch\"]\n"),
        "{}",
        r.stdout
    );
}

/// N targets in one run cost no more requests than the same N waits run one by one.
#[test]
fn n_targets_cost_no_more_requests_than_n_separate_runs() {
    let waits: [&[&str]; 3] = [
        &["wait-secret", "s1"],
        &["wait-secret", "s2", "--key", "K"],
        &["wait-job", "migrate"],
    ];
    let measure = |c: &Cluster, args: &[&str]| {
        let r = run(c.kwait(args), LIMIT);
        assert_eq!(r.code, Some(124), "{}", r.stderr);
    };
    let separate = Cluster::new("and-cost-separate");
    for w in waits {
        let mut args = vec!["--timeout", "4s"];
        args.extend_from_slice(w);
        measure(&separate, &args);
    }
    let together = Cluster::new("and-cost-together");
    let mut args = vec!["--timeout", "4s"];
    for (i, w) in waits.iter().enumerate() {
        if i > 0 {
            args.push("--and");
        }
        args.extend_from_slice(w);
    }
    measure(&together, &args);
    let (s, t) = (separate.api.requests().len(), together.api.requests().len());
    println!("3 waits: {s} requests run one by one, {t} in one run");
    assert!(t <= s, "{t} > {s}:\n{:#?}", together.api.requests());
    // Per target: its first GET, its watch, and the GET that confirms its state before the
    // deadline (an open watch that saw nothing is no answer).
    assert_eq!(
        (together.api.count("get"), together.api.count("watch")),
        (6, 3),
        "{:#?}",
        together.api.requests()
    );
}

#[test]
fn json_lines_carry_each_targets_description_and_index() {
    let c = Cluster::new("and-json");
    c.api.create("secrets", NS, secret("a", &[("K", "v")]));
    let r = run(
        c.kwait(&[
            "--timeout",
            "2s",
            "--log-format",
            "json",
            "wait-secret",
            "a",
            "--and",
            "wait-secret",
            "b",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let lines: Vec<Value> = r
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let start = &lines[0];
    assert_eq!(start["event"], "start", "{start}");
    assert_eq!(
        start["targets"],
        json!(["Secret crs/a", "Secret crs/b"]),
        "{start}"
    );
    let ready = lines
        .iter()
        .find(|l| l["event"] == "ready")
        .expect("a ready line");
    assert_eq!(
        (&ready["target"], &ready["index"]),
        (&json!("Secret crs/a"), &json!(0)),
        "{ready}"
    );
    let state = lines
        .iter()
        .find(|l| l["event"] == "state")
        .expect("a state line");
    assert_eq!(
        (&state["target"], &state["index"]),
        (&json!("Secret crs/b"), &json!(1)),
        "{state}"
    );
    let last = lines.last().expect("a last line");
    assert_eq!(last["event"], "timeout", "{last}");
    let targets = last["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 2, "{last}");
    assert_eq!(
        (&targets[0]["ending"], &targets[1]["ending"]),
        (&json!("ready"), &json!("timeout")),
        "{last}"
    );
    assert_eq!(targets[1]["class"], "not_found", "{last}");
}
