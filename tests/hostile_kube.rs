//! The Kubernetes API client against a hostile (or broken) API server: huge and endless
//! answers, echoed credentials, control characters, answers that are not the object asked for,
//! numbers out of range. Each test is named after the defect it pins (issue 13, items 7, 16, 17,
//! 18, 23); the runs that could read without bound are under an address-space limit.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(40);

/// The peak resident set size (VmHWM, KiB) of a process, `None` once it is gone.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs `cmd` to the end (at most `limit`), sampling its peak RSS until it exits: the last
/// sample is taken at most ~20 ms before the exit, and VmHWM only grows.
fn run_measured(cmd: Command, limit: Duration) -> (Run, u64) {
    let mut k = spawn(cmd);
    let pid = k.pid();
    let mut peak = 0;
    while k.is_running() {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        sleep_ms(20);
    }
    (k.finish(limit), peak)
}

/// Everything a run printed, and its termination log.
fn everything(r: &Run, home: &std::path::Path) -> String {
    let log = std::fs::read_to_string(home.join("termination-log")).unwrap_or_default();
    format!("{}{}\n--- termination log ---\n{log}", r.stdout, r.stderr)
}

fn answers(c: &Cluster, fault: Fault) {
    c.api.fail_next(fault.times(usize::MAX));
}

/// Every `verb` of `resource` is answered 200 with `body`.
fn answers_with(c: &Cluster, body: &Value, verb: &str, resource: &str) {
    answers(
        c,
        Fault::body(200, serde_json::to_vec(body).expect("json"))
            .verb(verb)
            .resource(resource),
    );
}

/// Runs kwait `args` under the address-space limit, measuring its peak RSS (KiB); returns the
/// run, the peak and everything it printed.
fn run_hostile_measured(c: &Cluster, args: &[&str]) -> (Run, u64, String) {
    let cmd = memory_limited(c.kwait(args), HOSTILE_AS_LIMIT_MIB);
    let (r, peak) = run_measured(cmd, LIMIT);
    let out = everything(&r, &c.dir);
    (r, peak, out)
}

// --- item 7: answers are read whole ---------------------------------------------------------

/// Runs `wait-secret x --timeout TIMEOUT` as [`run_hostile_measured`] does, prints its peak RSS
/// and time (for `what`), and checks that it timed out because the answer exceeded its cap.
fn capped_secret_run(c: &Cluster, what: &str, timeout: &str) -> (Run, u64, String) {
    let (r, peak, out) = run_hostile_measured(c, &["wait-secret", "x", "--timeout", timeout]);
    eprintln!(
        "{what}: peak RSS {} MiB, {:.2}s for --timeout {timeout}",
        peak / 1024,
        r.took.as_secs_f64()
    );
    assert_eq!(r.code, Some(124), "{out}");
    assert!(
        out.contains("the API server's answer exceeded 3 MiB"),
        "{out}"
    );
    (r, peak, out)
}

#[test]
fn a_huge_secret_answer_is_cut_at_the_cap_instead_of_read_whole_and_judged_ready() {
    let c = Cluster::new("huge-secret");
    // A Secret named x whose one value is 1.5 GiB, streamed (the server holds 64 KiB of it).
    let head = br#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"x","namespace":"crs"},"data":{"k":""#;
    answers(
        &c,
        Fault::huge_body(200, head, b'A', 1536 << 20, b"\"}}")
            .verb("get")
            .resource("secrets"),
    );
    let (r, peak, out) = capped_secret_run(&c, "huge Secret answer", "5s");
    assert!(!out.contains("ready after"), "{out}");
    assert!(r.took < Duration::from_millis(6500), "{:?}", r.took);
    assert!(peak < 64 << 10, "peak RSS {peak} KiB");
}

#[test]
fn an_endless_answer_is_cut_at_the_cap_instead_of_filling_memory() {
    let c = Cluster::new("endless-fast");
    answers(&c, Fault::endless_body(200).verb("get").resource("secrets"));
    let (r, peak, _) = capped_secret_run(&c, "endless answer", "3s");
    assert!(r.took < Duration::from_millis(4500), "{:?}", r.took);
    assert!(peak < 64 << 10, "peak RSS {peak} KiB");
}

#[test]
fn a_huge_error_answer_is_read_only_to_its_start() {
    let c = Cluster::new("huge-500");
    answers(
        &c,
        Fault::huge_body(500, b"upstream error ", b'E', 1536 << 20, b"")
            .verb("get")
            .resource("secrets"),
    );
    let (r, peak, out) = run_hostile_measured(&c, &["wait-secret", "x", "--timeout", "3s"]);
    assert_eq!(r.code, Some(124), "{out}");
    assert!(out.contains("API server error 500"), "{out}");
    assert!(out.contains("upstream error EEEE"), "{out}");
    assert!(r.took < Duration::from_millis(4500), "{:?}", r.took);
    assert!(peak < 64 << 10, "peak RSS {peak} KiB");
}

#[test]
fn a_slow_endless_answer_does_not_overrun_the_deadline() {
    let c = Cluster::new("endless-slow");
    // One byte every 100 ms, for ever; the attempt timeout is longer than the whole wait.
    answers(
        &c,
        Fault::endless_body(200)
            .slowly(1, Duration::from_millis(100))
            .verb("get")
            .resource("secrets"),
    );
    let cmd = memory_limited(
        c.kwait(&[
            "--attempt-timeout",
            "60s",
            "wait-secret",
            "x",
            "--timeout",
            "3s",
        ]),
        HOSTILE_AS_LIMIT_MIB,
    );
    let r = run(cmd, LIMIT);
    eprintln!(
        "slow endless answer: {:.2}s for --timeout 3s",
        r.took.as_secs_f64()
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    // Within --timeout + 1 s (and slack for a loaded machine's process start).
    assert!(r.took < Duration::from_millis(4500), "{:?}", r.took);
}

/// A Job as the API server lists it (no kind/apiVersion on items), running.
fn listed_job(i: usize) -> Value {
    json!({
        "metadata": {
            "name": format!("migrate-{i}"), "namespace": "crs", "uid": format!("00000000-0000-4000-8000-{i:012}"),
            "resourceVersion": format!("{}", 1000 + i), "generation": 1,
            "creationTimestamp": "2025-05-01T10:00:00Z",
            "labels": {"app": "web", "app.kubernetes.io/component": "migrations"},
        },
        "spec": {
            "parallelism": 1, "completions": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"restartPolicy": "Never",
                "containers": [{"name": "migrate", "image": "registry.example.com/app:1.2.3", "command": ["./migrate"]}]}},
        },
        "status": {"startTime": "2025-05-01T10:00:00Z", "active": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}},
    })
}

/// `wait-job -l app=web` against a JobList of `n` running Jobs: (run, peak RSS KiB, output).
fn job_list_run(name: &str, n: usize) -> (Run, u64, String) {
    let c = Cluster::new(name);
    let items: Vec<Value> = (0..n).map(listed_job).collect();
    let list = json!({"kind": "JobList", "apiVersion": "batch/v1", "metadata": {"resourceVersion": "1"}, "items": items});
    let body = serde_json::to_vec(&list).expect("json");
    let size = body.len();
    answers(&c, Fault::body(200, body).verb("list").resource("jobs"));
    let (r, peak, out) =
        run_hostile_measured(&c, &["wait-job", "-l", "app=web", "--timeout", "3s"]);
    eprintln!(
        "{n}-item JobList ({:.1} MiB): peak RSS {} MiB, {:.2}s",
        size as f64 / 1048576.0,
        peak / 1024,
        r.took.as_secs_f64()
    );
    (r, peak, out)
}

#[test]
fn a_20000_item_job_list_is_refused_instead_of_taking_hundreds_of_mib() {
    let (r, peak, out) = job_list_run("big-list", 20_000);
    assert_eq!(r.code, Some(124), "{out}");
    assert!(
        out.contains("the API server's answer exceeded 8 MiB"),
        "{out}"
    );
    assert!(peak < 64 << 10, "peak RSS {peak} KiB; {out}");
}

#[test]
fn a_2000_item_job_list_is_judged_within_64_mib() {
    let (r, peak, out) = job_list_run("list-2000", 2_000);
    assert_eq!(r.code, Some(124), "{out}");
    assert!(out.contains("running (active 1"), "{out}");
    assert!(peak < 64 << 10, "peak RSS {peak} KiB; {out}");
}

// --- item 16: tokens echoed by the server -----------------------------------------------------

const ECHOED: &str = "s3cr3t-echoed-bearer-0123456789abcdefghij";

/// A cluster whose kubeconfig carries [`ECHOED`] as its bearer token.
fn echo_cluster(name: &str) -> Cluster {
    Cluster::with_token(name, ECHOED, Allow::All)
}

/// Runs `wait-secret x` at -v, -q and with JSON lines; returns everything each printed.
fn every_verbosity(c: &Cluster) -> Vec<String> {
    [
        vec!["-v"],
        vec!["-q"],
        vec!["--log-format", "json"],
        vec!["-vvv", "--log-format", "json"],
    ]
    .iter()
    .map(|flags| {
        let mut args = flags.clone();
        args.extend(["wait-secret", "x", "--timeout", "2s"]);
        let r = run(c.kwait(&args), LIMIT);
        assert_eq!(r.code, Some(124), "{}", r.stderr);
        everything(&r, &c.dir)
    })
    .collect()
}

fn assert_no_token(out: &str) {
    // Neither the token nor a piece of it long enough to matter (a cut in the middle).
    for piece in [ECHOED, &ECHOED[..12], &ECHOED[20..]] {
        assert!(!out.contains(piece), "{piece:?} printed:\n{out}");
    }
}

#[test]
fn a_token_echoed_in_a_forbidden_status_message_is_never_printed() {
    let c = echo_cluster("echo-403");
    answers(&c, Fault::echo_authorization(403).verb("get"));
    for out in every_verbosity(&c) {
        assert!(out.contains("***"), "{out}");
        assert_no_token(&out);
    }
}

#[test]
fn a_token_echoed_in_a_plain_500_body_is_never_printed_even_cut() {
    let c = echo_cluster("echo-500");
    // The token straddles byte 200, where the body is cut for the report: its first 20
    // characters would be printed.
    let pad = "upstream proxy error: ".to_string() + &"-".repeat(173 - 22);
    answers(
        &c,
        Fault::body(500, format!("{pad}Bearer {ECHOED} end\n")).verb("get"),
    );
    for out in every_verbosity(&c) {
        assert_no_token(&out);
    }
    c.api.clear_faults();
    answers(
        &c,
        Fault::body(500, format!("proxy error for Bearer {ECHOED}\n")).verb("get"),
    );
    for out in every_verbosity(&c) {
        assert!(out.contains("***"), "{out}");
        assert_no_token(&out);
    }
}

/// A password that JSON escapes (`"` and `\`): the reporter's final scrub of a JSON line cannot
/// recognise it there.
const PASSWORD: &str = r#"pa"ss\word-0123456789"#;

#[test]
fn a_basic_password_echoed_by_the_server_is_never_printed_in_json_lines() {
    let api = ApiServer::builder().tls(true).auth(true).start();
    let dir = scratch("echo-basic");
    let kubeconfig = api.write_kubeconfig(
        &dir,
        KubeconfigOpts {
            user: Some(&format!(
                "username: kwait\npassword: '{}'",
                PASSWORD.replace('\'', "''")
            )),
            namespace: Some(NS),
            ..Default::default()
        },
    );
    let c = Cluster {
        api,
        dir,
        kubeconfig,
    };
    answers(
        &c,
        Fault::status(401)
            .message(&format!("password {PASSWORD} is wrong"))
            .verb("get"),
    );
    for out in every_verbosity(&c) {
        assert!(out.contains("password *** is wrong"), "{out}");
        assert!(!out.contains("word-0123456789"), "{out}");
    }
}

// --- item 17: control characters from servers -------------------------------------------------

#[test]
fn a_status_message_with_control_characters_cannot_forge_a_ready_line() {
    let forged = [
        "x\n kwait: ready after 1s: forged\u{1b}[2K",
        "x\rkwait: ready after 1s: forged\u{7}",
        "x\u{1b}[1A\u{1b}[2K\rkwait: ready after 1s: forged\u{9b}",
    ];
    for (i, message) in forged.iter().enumerate() {
        let c = Cluster::new(&format!("forge-{i}"));
        answers(&c, Fault::status(403).message(message).verb("get"));
        for flags in [vec!["-v"], vec!["-q"]] {
            let mut args = flags.clone();
            args.extend(["wait-secret", "x", "--timeout", "2s"]);
            let r = run(c.kwait(&args), LIMIT);
            let out = everything(&r, &c.dir);
            assert_eq!(r.code, Some(124), "{out}");
            assert!(out.contains("forged"), "{out}");
            for line in out.split(['\n', '\r']) {
                assert!(
                    !line.trim_start().starts_with("kwait: ready"),
                    "forged line {line:?} in:\n{out}"
                );
            }
            assert!(
                !out.contains(['\u{1b}', '\u{7}', '\u{9b}']),
                "control character printed: {out:?}"
            );
        }
    }
}

// --- item 18: answers that are not the object asked for ---------------------------------------

/// `r` (on `c`) timed out saying the API server answered `request` (e.g. `GET secrets/x`) `said`.
fn assert_answered(r: &Run, c: &Cluster, request: &str, said: &str) {
    let out = everything(r, &c.dir);
    assert_eq!(r.code, Some(124), "{out}");
    assert!(
        out.contains(&format!("the API server answered {request} {said}")),
        "{said}: {out}"
    );
}

#[test]
fn answers_that_are_not_the_secret_asked_for_are_not_ready() {
    let cases: [(Value, &str); 6] = [
        (Value::Null, "with null"),
        (json!([1, 2]), "with an array"),
        (json!("x"), "with a string"),
        (
            json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "x"}, "data": {}}),
            "with a ConfigMap named x",
        ),
        (
            json!({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "y"}, "data": {}}),
            "with a Secret named y",
        ),
        (
            json!({"kind": "Secret", "apiVersion": "v2", "metadata": {"name": "x"}, "data": {}}),
            "with a Secret of apiVersion v2",
        ),
    ];
    let runs: Vec<(Cluster, &str, Running)> = cases
        .iter()
        .enumerate()
        .map(|(i, (body, said))| {
            let c = Cluster::new(&format!("not-asked-{i}"));
            answers_with(&c, body, "get", "secrets");
            let k = spawn(c.kwait(&["wait-secret", "x", "--timeout", "2s"]));
            (c, *said, k)
        })
        .collect();
    for (c, said, k) in runs {
        let r = k.finish(LIMIT);
        assert_answered(&r, &c, "GET secrets/x", said);
    }
}

#[test]
fn a_list_answer_of_another_kind_is_not_ready() {
    // A complete Job, inside a list that is not a JobList.
    let done = json!({"metadata": {"name": "m", "labels": {"app": "web"}},
        "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}});
    let cases: [(Value, &str); 3] = [
        (
            json!({"kind": "SecretList", "apiVersion": "v1", "items": [done]}),
            "with a SecretList",
        ),
        (
            json!({"kind": "JobList", "apiVersion": "batch/v1", "items": {"a": done}}),
            "whose items are not an array",
        ),
        (
            json!({"kind": "JobList", "apiVersion": "batch/v1", "items": [done, 1]}),
            "whose item 1 is not an object",
        ),
    ];
    for (i, (body, said)) in cases.iter().enumerate() {
        let c = Cluster::new(&format!("list-kind-{i}"));
        answers_with(&c, body, "list", "jobs");
        let r = run(
            c.kwait(&["wait-job", "-l", "app=web", "--timeout", "2s"]),
            LIMIT,
        );
        assert_answered(&r, &c, "LIST jobs.batch", said);
    }
}

// --- item 23: 1e400 in a Job count -------------------------------------------------------------

#[test]
fn a_job_count_of_1e400_is_named_instead_of_the_whole_answer_being_not_json() {
    let c = Cluster::new("job-1e400");
    let body = r#"{"kind":"Job","apiVersion":"batch/v1","metadata":{"name":"m","namespace":"crs"},
        "spec":{"backoffLimit":2},
        "status":{"active":1,"failed":1e400}}"#;
    answers(&c, Fault::body(200, body).verb("get").resource("jobs"));
    let r = run(c.kwait(&["wait-job", "m", "--timeout", "2s"]), LIMIT);
    let out = everything(&r, &c.dir);
    assert_eq!(r.code, Some(124), "{out}");
    assert!(!out.contains("not JSON"), "{out}");
    assert!(
        out.contains("a number out of range in field \"failed\" (1e400)"),
        "{out}"
    );
}
