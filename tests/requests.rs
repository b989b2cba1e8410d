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
    // One GET, one watch, then one safety GET per --max-interval (30 s): 2 more.
    assert!(reqs.len() <= 6, "{reqs:#?}");
    assert_eq!(watches, 1, "{reqs:#?}");
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
/// had just read) poked the waiter into a second, identical GET at start-up.
#[test]
fn a_running_job_is_read_once_then_once_per_max_interval() {
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
    // The first GET, the watch, one safety GET after 27-30 s.
    assert_eq!((gets, watches), (2, 1), "{:#?}", c.api.requests());
}
