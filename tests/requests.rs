//! What a wait costs the API server: requests counted by testkit over a 60 s wait on a Secret
//! that never appears. The figures are printed (run with `--nocapture`) and bounded loosely;
//! the benchmark reports them side by side with other tools.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_minute_waiting_with_the_watch_allowed_costs_a_handful_of_requests() {
    let c = Cluster::with(
        "cost-watch",
        Allow::rules(vec![
            Rule::new(&["get", "watch"], "secrets").names(&["missing"]),
        ]),
    );
    let r = run(
        c.kwait(&["wait-secret", "missing", "--timeout", "60s"]),
        Duration::from_secs(90),
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let reqs = c.api.requests();
    let (gets, watches) = (c.api.count("get"), c.api.count("watch"));
    println!(
        "60 s, watch allowed: {} requests ({gets} GET, {watches} WATCH)",
        reqs.len()
    );
    // One GET and one watch; while the watch is alive (bookmarks every second), nothing more
    // until the GET that confirms the state just before the deadline (an open watch's silence
    // is no answer: a frozen API server sends nothing either).
    assert_eq!((gets, watches), (2, 1), "{reqs:#?}");
    // Heartbeats, not a line per check.
    assert_eq!(r.stderr.matches("still waiting").count(), 1, "{}", r.stderr);
}

#[test]
fn a_minute_waiting_with_the_watch_forbidden_backs_off_to_the_max_interval() {
    let c = Cluster::with(
        "cost-poll",
        Allow::rules(vec![Rule::new(&["get"], "secrets").names(&["missing"])]),
    );
    let r = run(
        c.kwait(&["wait-secret", "missing", "--timeout", "60s"]),
        Duration::from_secs(90),
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let gets: Vec<_> = c
        .api
        .requests()
        .into_iter()
        .filter(|q| q.verb == "get")
        .collect();
    let watches = c.api.count("watch");
    println!(
        "60 s, watch forbidden: {} GET, {watches} refused WATCH",
        gets.len()
    );
    // 1 s doubling to 30 s with jitter above the 1 s floor: about 6-10 GETs, never one a second.
    assert!(gets.len() >= 3 && gets.len() <= 14, "{}", gets.len());
    let gaps: Vec<Duration> = gets
        .windows(2)
        .map(|w| w[1].time.duration_since(w[0].time).unwrap_or_default())
        .collect();
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_millis(900)),
        "{gaps:?}"
    );
    assert!(
        gaps.iter().any(|g| *g >= Duration::from_secs(4)),
        "{gaps:?}"
    );
    // A refused watch is retried once per --max-interval (30 s): the GETs carry the wait.
    assert!(watches <= 3, "{watches}");
}

/// Regression: the watch's initial ADDED event for a Job that exists (and that the first GET
/// had just read) poked the waiter into a second, identical GET at start-up; and a safety GET
/// followed every --max-interval although the watch was alive.
#[test]
fn a_running_job_is_read_once_while_its_watch_is_alive() {
    let c = Cluster::new("cost-job");
    c.api.create(
        "jobs",
        NS,
        serde_json::json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
            "spec": {"template": {"spec": {"containers": []}}}, "status": {"active": 1}}),
    );
    let r = run(
        c.kwait(&["wait-job", "migrate", "--timeout", "35s"]),
        Duration::from_secs(60),
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let (gets, watches) = (c.api.count("get"), c.api.count("watch"));
    println!("35 s on a running Job: {gets} GET, {watches} WATCH");
    // The first GET and the watch: no safety GET after 27-30 s while bookmarks arrive; only
    // the GET that confirms the state before the deadline (3.5 s before it).
    assert_eq!((gets, watches), (2, 1), "{:#?}", c.api.requests());
}

/// Regression (issue 13, item 12): a 120 s wait on a missing Secret cost 6 requests on a real
/// API server (GET, WATCH, 4 safety GETs every --max-interval) although the watch was alive.
/// Scaled down: --max-interval 2s (the safety GET came every 1.8-2 s) and a 3 s idle timeout
/// that the server's bookmarks (every 500 ms) keep from expiring. 12 s cost 6-7 requests; it
/// costs the GET and the watch, nothing more until the watch is renewed (290 s), but for the
/// one GET that confirms the state before the deadline.
#[test]
fn a_wait_whose_watch_is_proven_alive_costs_one_get_and_one_watch() {
    let c = Cluster::with(
        "cost-alive",
        Allow::rules(vec![
            Rule::new(&["get", "watch"], "secrets").names(&["missing"]),
        ]),
    );
    c.api.set_bookmark_interval(Duration::from_millis(500));
    let mut cmd = c.kwait(&[
        "wait-secret",
        "missing",
        "--timeout",
        "12s",
        "--max-interval",
        "2s",
    ]);
    cmd.env("KWAIT_TEST_WATCH_IDLE", "3s");
    let r = run(cmd, Duration::from_secs(60));
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let reqs = c.api.requests();
    let (gets, watches) = (c.api.count("get"), c.api.count("watch"));
    println!(
        "12 s, watch alive (bookmarks every 500 ms): {} requests ({gets} GET, {watches} WATCH)",
        reqs.len()
    );
    assert_eq!((gets, watches), (2, 1), "{reqs:#?}");
}
