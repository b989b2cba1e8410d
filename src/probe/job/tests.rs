use std::cmp::Ordering;

use super::pods::*;
use super::tracker::*;
use super::verdict::*;
use super::*;
use crate::probe::Observation;
use serde_json::json;

/// A Job as the API returns it, with `status`.
fn job(name: &str, created: &str, status: Value) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "crs",
            "uid": "5b8c1f7e-1e63-4a52-a3a0-0c6f1d0c2a11",
            "creationTimestamp": created,
            "labels": {"app.kubernetes.io/component": "migrations"},
        },
        "spec": {
            "backoffLimit": 2,
            "completions": 1,
            "parallelism": 1,
            "suspend": false,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": "app:1"}]}},
        },
        "status": status,
    })
}

fn cond(kind: &str, reason: &str, message: &str) -> Value {
    json!({
        "type": kind, "status": "True", "reason": reason, "message": message,
        "lastProbeTime": "2025-05-01T10:00:09Z", "lastTransitionTime": "2025-05-01T10:00:09Z",
    })
}

/// Status of a Job that succeeded on Kubernetes 1.31+.
fn complete_131(failed: u64) -> Value {
    json!({
        "startTime": "2025-05-01T10:00:00Z", "completionTime": "2025-05-01T10:00:09Z",
        "succeeded": 1, "failed": failed, "terminating": 0, "ready": 0,
        "uncountedTerminatedPods": {},
        "conditions": [
            cond("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
            cond("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
        ],
    })
}

fn failed_131(reason: &str, message: &str) -> Value {
    json!({
        "startTime": "2025-05-01T10:00:00Z",
        "failed": 3, "terminating": 0, "ready": 0, "uncountedTerminatedPods": {},
        "conditions": [cond("FailureTarget", reason, message), cond("Failed", reason, message)],
    })
}

fn pending_state(c: &Check) -> &str {
    match c {
        Check::Pending(o) => &o.state,
        other => panic!("not pending: {other:?}"),
    }
}

fn failed_obs(c: &Check) -> &Observation {
    match c {
        Check::Failed(o) => o,
        other => panic!("not failed: {other:?}"),
    }
}

#[test]
fn complete_is_ready() {
    let j = job("migrate", "2025-05-01T10:00:00Z", complete_131(0));
    assert_eq!(
        judge(&j, "crs", "migrate"),
        Check::Ready("Job crs/migrate complete (succeeded 1, failed 0)".into())
    );
}

#[test]
fn failed_then_succeeded_is_ready() {
    // Two pods failed, the third succeeded: the failed count alone means nothing.
    let j = job("migrate", "2025-05-01T10:00:00Z", complete_131(2));
    assert_eq!(
        judge(&j, "crs", "migrate"),
        Check::Ready("Job crs/migrate complete (succeeded 1, failed 2)".into())
    );
}

#[test]
fn each_failure_reason_fails_at_once_with_reason_message_and_counts() {
    let cases = [
        (
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
            "more often than spec.backoffLimit (2)",
        ),
        (
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
            "spec.activeDeadlineSeconds",
        ),
        (
            "PodFailurePolicy",
            "Container migrate for pod crs/migrate-x7k2p failed with exit code 42 matching FailJob rule at index 0",
            "FailJob rule of spec.podFailurePolicy",
        ),
        (
            "MaxFailedIndexesExceeded",
            "Job has exceeded the specified maximal number of failed indexes",
            "spec.maxFailedIndexes",
        ),
        (
            "FailedIndexes",
            "Job has failed indexes",
            "spec.backoffLimitPerIndex",
        ),
    ];
    for (reason, message, why) in cases {
        let j = job(
            "migrate",
            "2025-05-01T10:00:00Z",
            failed_131(reason, message),
        );
        let c = judge(&j, "crs", "migrate");
        let o = failed_obs(&c);
        assert_eq!(o.class, Class::NotReady);
        assert_eq!(
            o.state,
            format!("failed: {reason}: {message} (failed 3, succeeded 0)")
        );
        let cause = o.cause.as_deref().unwrap_or_default();
        assert!(cause.contains(why), "{reason}: {cause}");
        assert!(!cause.contains("FailureTarget"), "{cause}");
        assert_eq!(o.fix[0], "see why: kubectl logs job/migrate -n crs");
        assert_eq!(o.fix[1], "kubectl describe job migrate -n crs");
    }
}

#[test]
fn failure_target_alone_fails_at_once() {
    let status = json!({
        "startTime": "2025-05-01T10:00:00Z", "active": 0, "failed": 1, "terminating": 1,
        "conditions": [cond("FailureTarget", "PodFailurePolicy", "Container migrate for pod crs/migrate-abc failed with exit code 42 matching FailJob rule at index 0")],
    });
    let j = job("migrate", "2025-05-01T10:00:00Z", status);
    let c = judge(&j, "crs", "migrate");
    let o = failed_obs(&c);
    assert!(
        o.state
            .starts_with("failed: PodFailurePolicy: Container migrate for pod crs/migrate-abc failed with exit code 42"),
        "{}",
        o.state
    );
    assert!(o.state.ends_with("(failed 1, succeeded 0)"), "{}", o.state);
    assert!(
        o.cause
            .as_deref()
            .unwrap_or_default()
            .contains("FailureTarget")
    );
}

#[test]
fn old_style_conditions_without_success_criteria_or_failure_target() {
    let done = json!({
        "startTime": "2021-05-01T10:00:00Z", "completionTime": "2021-05-01T10:00:09Z", "succeeded": 1,
        "conditions": [cond("Complete", "", "")],
    });
    assert_eq!(
        judge(&job("m", "2021-05-01T10:00:00Z", done), "crs", "m"),
        Check::Ready("Job crs/m complete (succeeded 1, failed 0)".into())
    );
    let failed = json!({
        "startTime": "2021-05-01T10:00:00Z", "failed": 7,
        "conditions": [cond("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")],
    });
    let c = judge(&job("m", "2021-05-01T10:00:00Z", failed), "crs", "m");
    assert_eq!(
        failed_obs(&c).state,
        "failed: BackoffLimitExceeded: Job has reached the specified backoff limit (failed 7, succeeded 0)"
    );
    // A Failed condition without reason or message still says something.
    let bare = json!({"failed": 1, "conditions": [{"type": "Failed", "status": "True"}]});
    let c = judge(&job("m", "", bare), "crs", "m");
    assert_eq!(
        failed_obs(&c).state,
        "failed: Failed (failed 1, succeeded 0)"
    );
}

#[test]
fn false_conditions_are_ignored() {
    let status = json!({
        "active": 1, "startTime": "2025-05-01T10:00:00Z",
        "conditions": [{"type": "Failed", "status": "False"}, {"type": "Complete", "status": "False"}, {"type": "Suspended", "status": "False", "reason": "JobResumed"}],
    });
    assert_eq!(
        pending_state(&judge(&job("m", "", status), "crs", "m")),
        "running (active 1, succeeded 0, failed 0)"
    );
}

#[test]
fn running_shows_the_counts() {
    let status = json!({"startTime": "2025-05-01T10:00:00Z", "active": 1, "failed": 1, "ready": 1, "terminating": 0});
    let c = judge(&job("m", "", status), "crs", "m");
    assert_eq!(
        pending_state(&c),
        "running (active 1, succeeded 0, failed 1)"
    );
    let Check::Pending(o) = &c else { panic!() };
    assert!(
        o.cause
            .as_deref()
            .unwrap_or_default()
            .contains("retries up to spec.backoffLimit (2)")
    );
}

#[test]
fn success_criteria_met_without_complete_is_not_ready_yet() {
    let status = json!({
        "startTime": "2025-05-01T10:00:00Z", "active": 0, "succeeded": 1, "terminating": 1,
        "conditions": [cond("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods")],
    });
    assert_eq!(
        pending_state(&judge(&job("m", "", status), "crs", "m")),
        "succeeded, pods still terminating (active 0, succeeded 1, failed 0)"
    );
}

#[test]
fn suspended_is_pending() {
    let mut j = job(
        "m",
        "",
        json!({"conditions": [cond("Suspended", "JobSuspended", "Job suspended")]}),
    );
    assert_eq!(pending_state(&judge(&j, "crs", "m")), "suspended");
    // Created suspended (Kueue): spec.suspend and no status yet.
    j["spec"]["suspend"] = json!(true);
    j["status"] = json!({});
    assert_eq!(pending_state(&judge(&j, "crs", "m")), "suspended");
}

#[test]
fn no_status_yet_is_pending() {
    let mut j = job("m", "2025-05-01T10:00:00Z", json!({}));
    assert_eq!(
        pending_state(&judge(&j, "crs", "m")),
        "created, not started yet (no status)"
    );
    j.as_object_mut().map(|o| o.remove("status"));
    assert_eq!(
        pending_state(&judge(&j, "crs", "m")),
        "created, not started yet (no status)"
    );
}

#[test]
fn long_multi_line_messages_are_cut_to_one_line() {
    let msg = format!("line one\nline two {}", "x".repeat(1000));
    let j = job("m", "", failed_131("PodFailurePolicy", &msg));
    let o = failed_obs(&judge(&j, "crs", "m")).clone();
    assert!(!o.state.contains('\n'));
    assert!(o.state.len() < 400, "{}", o.state.len());
    assert!(
        o.state
            .starts_with("failed: PodFailurePolicy: line one line two xxx")
    );
}

fn by_name(policy: IfMissing) -> Tracker {
    Tracker::new("crs", JobSelect::Name("migrate".into()), false, policy)
}

fn running() -> Value {
    json!({"startTime": "2025-05-01T10:00:00Z", "active": 1})
}

#[test]
fn never_found_is_not_found_with_the_ttl_hint() {
    let mut t = by_name(IfMissing::Wait);
    let c = t.observe(&[]);
    let Check::Pending(o) = &c else {
        panic!("{c:?}")
    };
    assert_eq!((o.class, o.state.as_str()), (Class::NotFound, "not found"));
    let cause = o.cause.as_deref().unwrap_or_default();
    assert!(cause.contains("ttlSecondsAfterFinished"), "{cause}");
    assert_eq!(o.fix[0], "check: kubectl get job migrate -n crs -o yaml");
    assert!(
        o.fix
            .iter()
            .any(|f| f.contains("CronJob") && f.contains("HelmRelease"))
    );
    assert!(o.fix.iter().any(|f| f.contains("--if-missing succeed")));
    assert_eq!(t.describe(), "Job crs/migrate");
}

#[test]
fn seen_then_deleted_says_ttl_and_keeps_waiting() {
    let mut t = by_name(IfMissing::Wait);
    let j = job("migrate", "2025-05-01T10:00:00Z", running());
    assert_eq!(
        pending_state(&t.observe(std::slice::from_ref(&j))),
        "running (active 1, succeeded 0, failed 0)"
    );
    let c = t.observe(&[]);
    let Check::Pending(o) = &c else {
        panic!("{c:?}")
    };
    assert_eq!(o.class, Class::Gone);
    assert_eq!(
        o.state,
        "deleted after it was seen (ttlSecondsAfterFinished?); waiting in case it is re-created"
    );
    assert!(
        o.cause
            .as_deref()
            .unwrap_or_default()
            .contains("last seen migrate: running (active 1")
    );
    // Re-created and completed: ready.
    let again = job("migrate", "2025-05-01T10:05:00Z", complete_131(0));
    assert!(matches!(t.observe(&[again]), Check::Ready(_)));
}

#[test]
fn if_missing_succeed_treats_a_missing_job_as_done() {
    let mut t = by_name(IfMissing::Succeed);
    assert_eq!(
        t.observe(&[]),
        Check::Ready("Job crs/migrate not found; treated as done (--if-missing succeed)".into())
    );
    let mut t = by_name(IfMissing::Succeed);
    t.observe(&[job("migrate", "2025-05-01T10:00:00Z", running())]);
    assert_eq!(
        t.observe(&[]),
        Check::Ready(
            "Job crs/migrate deleted after it was seen (ttlSecondsAfterFinished?); treated as done (--if-missing succeed)"
                .into()
        )
    );
    assert_eq!(t.describe(), "Job crs/migrate (--if-missing succeed)");
}

#[test]
fn if_missing_fail_fails_a_missing_job() {
    let mut t = by_name(IfMissing::Fail);
    let c = t.observe(&[]);
    let o = failed_obs(&c);
    assert_eq!(
        (o.class, o.state.as_str()),
        (Class::NotFound, "not found (--if-missing fail)")
    );
    let mut t = by_name(IfMissing::Fail);
    t.observe(&[job("migrate", "2025-05-01T10:00:00Z", running())]);
    let c = t.observe(&[]);
    let o = failed_obs(&c);
    assert_eq!(o.class, Class::Gone);
    assert_eq!(o.state, format!("{DELETED} (--if-missing fail)"));
}

fn by_selector(all: bool, policy: IfMissing) -> Tracker {
    Tracker::new(
        "crs",
        JobSelect::Selector("app.kubernetes.io/component=migrations".into()),
        all,
        policy,
    )
}

#[test]
fn selector_picks_the_newest_by_creation_time_and_says_which() {
    let mut t = by_selector(false, IfMissing::Wait);
    let jobs = [
        job(
            "migrate-r9",
            "2025-05-01T10:00:00Z",
            failed_131("BackoffLimitExceeded", "old"),
        ),
        job("migrate-r11", "2025-05-03T10:00:00Z", running()),
        job("migrate-r10", "2025-05-02T10:00:00Z", complete_131(0)),
    ];
    assert_eq!(
        pending_state(&t.observe(&jobs)),
        "migrate-r11 (newest of 3) running (active 1, succeeded 0, failed 0)"
    );
    let mut jobs = jobs.to_vec();
    jobs[1]["status"] = complete_131(1);
    assert_eq!(
        t.observe(&jobs),
        Check::Ready(
            "Job crs/migrate-r11 complete (succeeded 1, failed 1), the newest of 3 matching app.kubernetes.io/component=migrations"
                .into()
        )
    );
    assert_eq!(
        t.describe(),
        "the newest Job in crs matching app.kubernetes.io/component=migrations"
    );
}

#[test]
fn selector_ties_on_creation_time_are_broken_by_name_with_numbers_as_numbers() {
    let mut t = by_selector(false, IfMissing::Wait);
    let jobs = [
        job("migrate-r9", "2025-05-01T10:00:00Z", running()),
        job("migrate-r10", "2025-05-01T10:00:00Z", json!({})),
    ];
    assert!(pending_state(&t.observe(&jobs)).starts_with("migrate-r10 (newest of 2) created"));
    assert_eq!(natural("a-010", "a-9"), Ordering::Greater);
    assert_eq!(natural("a-1", "a-1"), Ordering::Equal);
    assert_eq!(natural("a", "a-1"), Ordering::Less);
}

#[test]
fn selector_with_no_match_is_pending_not_an_error() {
    let mut t = by_selector(false, IfMissing::Wait);
    let c = t.observe(&[]);
    let Check::Pending(o) = &c else {
        panic!("{c:?}")
    };
    assert_eq!(o.class, Class::NotFound);
    assert_eq!(
        o.state,
        "no Job matches app.kubernetes.io/component=migrations yet"
    );
    assert!(
        o.fix[0].contains(
            "kubectl get jobs -l 'app.kubernetes.io/component=migrations' -n crs -o yaml"
        )
    );
}

#[test]
fn selector_failed_newest_names_the_job() {
    let mut t = by_selector(false, IfMissing::Wait);
    let jobs = [
        job("migrate-r1", "2025-05-01T10:00:00Z", complete_131(0)),
        job(
            "migrate-r2",
            "2025-05-02T10:00:00Z",
            failed_131(
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ),
        ),
    ];
    let c = t.observe(&jobs);
    assert_eq!(
        failed_obs(&c).state,
        "migrate-r2 (newest of 2) failed: DeadlineExceeded: Job was active longer than specified deadline (failed 3, succeeded 0)"
    );
    assert_eq!(t.culprit.as_deref(), Some("migrate-r2"));
}

#[test]
fn selector_newest_deleted_with_only_older_ones_left_is_the_ttl_state() {
    let mut t = by_selector(false, IfMissing::Wait);
    let old = job("migrate-r1", "2025-05-01T10:00:00Z", complete_131(0));
    let new = job("migrate-r2", "2025-05-02T10:00:00Z", running());
    t.observe(&[old.clone(), new]);
    // r2 gone: the older, complete r1 must not count instead.
    let c = t.observe(std::slice::from_ref(&old));
    let Check::Pending(o) = &c else {
        panic!("{c:?}")
    };
    assert_eq!(o.class, Class::Gone);
    assert_eq!(
        o.state,
        "migrate-r2 deleted after it was seen (ttlSecondsAfterFinished?); waiting for a newer matching Job"
    );
    // Nothing left at all: the same.
    assert_eq!(pending_state(&t.observe(&[])), o.state);
    // A newer Job arrives: it counts.
    let r3 = job("migrate-r3", "2025-05-03T10:00:00Z", complete_131(0));
    assert!(
        matches!(t.observe(&[old, r3]), Check::Ready(d) if d.starts_with("Job crs/migrate-r3 complete"))
    );
}

#[test]
fn all_requires_every_job_and_fails_on_any() {
    let mut t = by_selector(true, IfMissing::Wait);
    let mut jobs = vec![
        job("seed-a", "2025-05-01T10:00:00Z", complete_131(0)),
        job("seed-b", "2025-05-01T10:00:01Z", running()),
        job(
            "seed-c",
            "2025-05-01T10:00:02Z",
            json!({"conditions": [cond("Suspended", "JobSuspended", "")]}),
        ),
    ];
    assert_eq!(
        pending_state(&t.observe(&jobs)),
        "1 of 3 complete; waiting for seed-c suspended, seed-b running (active 1, succeeded 0, failed 0)"
    );
    jobs[1]["status"] = complete_131(0);
    jobs[2]["status"] = complete_131(0);
    assert!(
        matches!(t.observe(&jobs), Check::Ready(d) if d.starts_with("all 3 Jobs in crs matching app.kubernetes.io/component=migrations complete: "))
    );
    jobs[1]["status"] = failed_131(
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    );
    let c = t.observe(&jobs);
    assert!(
        failed_obs(&c)
            .state
            .starts_with("seed-b failed: BackoffLimitExceeded")
    );
    assert_eq!(
        t.describe(),
        "every Job in crs matching app.kubernetes.io/component=migrations"
    );
}

#[test]
fn all_with_a_job_deleted_before_it_completed() {
    let jobs = [
        job("seed-a", "2025-05-01T10:00:00Z", complete_131(0)),
        job("seed-b", "2025-05-01T10:00:01Z", running()),
    ];
    let mut t = by_selector(true, IfMissing::Wait);
    t.observe(&jobs);
    let c = t.observe(&jobs[..1]);
    let Check::Pending(o) = &c else {
        panic!("{c:?}")
    };
    assert_eq!(o.class, Class::Gone);
    assert_eq!(
        o.state,
        format!("1 of 2 complete; waiting for seed-b {DELETED}")
    );
    // A Job seen complete and then deleted is fine.
    let mut t = by_selector(true, IfMissing::Wait);
    let mut both = jobs.to_vec();
    t.observe(&both);
    assert_eq!(
        pending_state(&t.observe(&both[1..])),
        "0 of 1 complete; waiting for seed-b running (active 1, succeeded 0, failed 0)"
    );
    both[1]["status"] = complete_131(0);
    assert!(matches!(t.observe(&both[1..]), Check::Ready(d) if d.ends_with("complete: seed-b")));
    let mut t = by_selector(true, IfMissing::Succeed);
    t.observe(&jobs);
    assert!(
        matches!(t.observe(&jobs[..1]), Check::Ready(d) if d.contains("seed-b deleted after it was seen"))
    );
}

fn pod(name: &str, created: &str, status: Value) -> Value {
    json!({"metadata": {"name": name, "creationTimestamp": created, "labels": {"batch.kubernetes.io/job-name": "migrate"}}, "status": status})
}

fn terminated(code: i64, reason: &str, message: &str, at: &str) -> Value {
    json!({"exitCode": code, "reason": reason, "message": message, "startedAt": "2025-05-01T10:00:01Z", "finishedAt": at})
}

#[test]
fn the_last_failed_pod_is_described() {
    let pods = [
        pod(
            "migrate-a1",
            "2025-05-01T10:00:00Z",
            json!({"phase": "Failed", "containerStatuses": [
                {"name": "migrate", "state": {"terminated": terminated(3, "Error", "relation \"users\" does not exist\n", "2025-05-01T10:00:05Z")}}
            ]}),
        ),
        pod(
            "migrate-x7k2p",
            "2025-05-01T10:00:06Z",
            json!({"phase": "Failed", "containerStatuses": [
                {"name": "migrate", "state": {"terminated": terminated(3, "Error", "relation \"users\" does not exist", "2025-05-01T10:00:12Z")}}
            ]}),
        ),
        pod(
            "migrate-ok",
            "2025-05-01T10:00:13Z",
            json!({"phase": "Succeeded", "containerStatuses": [
                {"name": "migrate", "state": {"terminated": terminated(0, "Completed", "", "2025-05-01T10:00:20Z")}}
            ]}),
        ),
    ];
    assert_eq!(
        failed_pod(&pods).as_deref(),
        Some("migrate-x7k2p container migrate exited 3 (Error): relation \"users\" does not exist")
    );
}

#[test]
fn failed_pod_from_a_restarted_container_an_init_container_or_an_eviction() {
    let restarted = pod(
        "m-1",
        "2025-05-01T10:00:00Z",
        json!({"phase": "Running", "containerStatuses": [
            {"name": "migrate", "state": {"running": {}}, "lastState": {"terminated": terminated(137, "OOMKilled", "", "2025-05-01T10:00:05Z")}}
        ]}),
    );
    assert_eq!(
        failed_pod(std::slice::from_ref(&restarted)).as_deref(),
        Some("m-1 container migrate exited 137 (OOMKilled)")
    );
    let init = pod(
        "m-2",
        "2025-05-01T10:00:00Z",
        json!({"phase": "Failed", "initContainerStatuses": [
            {"name": "wait-db", "state": {"terminated": terminated(1, "Error", "db down", "2025-05-01T10:00:09Z")}}
        ]}),
    );
    assert_eq!(
        failed_pod(&[restarted.clone(), init]).as_deref(),
        Some("m-2 container wait-db exited 1 (Error): db down")
    );
    let evicted = pod(
        "m-3",
        "2025-05-01T10:00:30Z",
        json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}),
    );
    assert_eq!(
        failed_pod(&[evicted]).as_deref(),
        Some("m-3 failed (Evicted): The node was low on resource: memory.")
    );
    assert_eq!(failed_pod(&[]), None);
}

#[test]
fn culprit_is_a_failed_job_or_one_whose_pods_failed() {
    let mut t = by_name(IfMissing::Wait);
    t.observe(&[job("migrate", "2025-05-01T10:00:00Z", running())]);
    assert_eq!(t.culprit, None);
    t.observe(&[job(
        "migrate",
        "2025-05-01T10:00:00Z",
        json!({"active": 1, "failed": 1}),
    )]);
    assert_eq!(t.culprit.as_deref(), Some("migrate"));
}

fn waiting_pod(name: &str, created: &str, reason: &str, message: &str) -> Value {
    json!({"metadata": {"name": name, "creationTimestamp": created}, "status": {"phase": "Pending", "containerStatuses": [
        {"name": "migrate", "ready": false, "state": {"waiting": {"reason": reason, "message": message}}}
    ]}})
}

fn stuck_state(t: &mut Tracker, jobs: &[Value], pods: Result<Vec<Value>, ApiError>) -> Check {
    t.observe(jobs);
    let q = t.look_due(Instant::now()).expect("a look is due");
    t.looked(q, &pods, None, Instant::now());
    t.observe(jobs)
}

#[test]
fn image_pull_back_off_and_crash_loops_are_named_in_the_state() {
    let j = job(
        "migrate",
        "2025-05-01T10:00:00Z",
        json!({"startTime": "2025-05-01T10:00:00Z", "active": 1, "ready": 0}),
    );
    for (reason, message, fix) in [
        (
            "ImagePullBackOff",
            "Back-off pulling image \"app:nope\"",
            "imagePullSecrets",
        ),
        ("ErrImagePull", "rpc error: not found", "imagePullSecrets"),
        (
            "CrashLoopBackOff",
            "back-off 5m0s restarting failed container",
            "--previous",
        ),
        (
            "CreateContainerConfigError",
            "secret \"db\" not found",
            "Secret or ConfigMap",
        ),
    ] {
        let mut t = by_name(IfMissing::Wait);
        let pods = vec![
            waiting_pod(
                "migrate-old",
                "2025-05-01T09:00:00Z",
                "ImagePullBackOff",
                "old",
            ),
            waiting_pod("migrate-x7k2p", "2025-05-01T10:00:01Z", reason, message),
        ];
        let c = stuck_state(&mut t, std::slice::from_ref(&j), Ok(pods));
        let Check::Pending(o) = &c else {
            panic!("{c:?}")
        };
        assert_eq!(
            o.state,
            format!(
                "running (active 1, succeeded 0, failed 0); pod migrate-x7k2p {reason}: {message}"
            )
        );
        let cause = o.cause.as_deref().unwrap_or_default();
        assert!(
            cause.contains(&format!(
                "migrate-x7k2p container migrate {reason}: {message}"
            )),
            "{cause}"
        );
        assert!(o.fix[0].contains(fix), "{:?}", o.fix);
        assert_eq!(
            t.pods_line().as_deref(),
            Some(format!("migrate-x7k2p container migrate {reason}: {message}").as_str())
        );
    }
}

#[test]
fn an_unschedulable_pod_is_named_with_the_scheduler_message() {
    let j = job(
        "migrate",
        "",
        json!({"startTime": "2025-05-01T10:00:00Z", "active": 1, "ready": 0}),
    );
    let pod = json!({"metadata": {"name": "migrate-q"}, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/3 nodes are available: 3 Insufficient cpu.\u{1b}[2J"}
    ]}});
    let mut t = by_name(IfMissing::Wait);
    let c = stuck_state(&mut t, std::slice::from_ref(&j), Ok(vec![pod]));
    assert_eq!(
        pending_state(&c),
        "running (active 1, succeeded 0, failed 0); pod migrate-q Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.\\u{1b}[2J"
    );
}

#[test]
fn a_started_job_without_any_pod_says_failed_create() {
    let j = job(
        "migrate",
        "",
        json!({"startTime": "2025-05-01T10:00:00Z", "active": 0, "ready": 0}),
    );
    let mut t = by_name(IfMissing::Wait);
    let c = stuck_state(&mut t, std::slice::from_ref(&j), Ok(vec![]));
    let Check::Pending(o) = &c else {
        panic!("{c:?}")
    };
    assert_eq!(
        o.state,
        "running (active 0, succeeded 0, failed 0); no pod created (FailedCreate?)"
    );
    assert!(o.fix[0].contains("reason=FailedCreate"), "{:?}", o.fix);
    assert!(t.pods_line().unwrap_or_default().contains("ResourceQuota"));
    // The pod is created: the counts change, and the finding no longer applies.
    let j = job(
        "migrate",
        "",
        json!({"startTime": "2025-05-01T10:00:00Z", "active": 1, "ready": 1}),
    );
    assert_eq!(
        pending_state(&t.observe(std::slice::from_ref(&j))),
        "running (active 1, succeeded 0, failed 0)"
    );
}

fn failed_create(name: &str, uid: &str, at: &str, message: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "crs", "creationTimestamp": at},
        "involvedObject": {"kind": "Job", "name": "migrate", "namespace": "crs", "uid": uid},
        "reason": "FailedCreate", "type": "Warning", "lastTimestamp": at,
        "message": message,
    })
}

#[test]
fn the_newest_failed_create_event_names_why_a_started_job_has_no_pod() {
    let j = job(
        "migrate",
        "",
        json!({"startTime": "2025-05-01T10:00:00Z", "active": 0, "ready": 0}),
    );
    let uid = "5b8c1f7e-1e63-4a52-a3a0-0c6f1d0c2a11";
    let mut t = by_name(IfMissing::Wait);
    stuck_state(&mut t, std::slice::from_ref(&j), Ok(vec![]));
    assert_eq!(t.events_due().as_deref(), Some("migrate"));
    let quota = "Error creating: pods \"migrate-x\" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=4, limited: cpu=4";
    let mut newest = failed_create("e2", uid, "2025-05-01T10:05:00Z", quota);
    // eventTime (events.k8s.io/v1 writers) with a fraction, and no lastTimestamp.
    newest["eventTime"] = json!("2025-05-01T10:05:00.250000Z");
    newest["lastTimestamp"] = Value::Null;
    let events = vec![
        failed_create("e1", uid, "2025-05-01T10:00:00Z", "older \u{1b}[31m"),
        newest,
        // A Job of the same name before this one: not about it.
        failed_create("e0", "other-uid", "2025-05-01T11:00:00Z", "old Job"),
    ];
    t.events_read(&Ok(events));
    assert_eq!(t.events_due(), None, "one read per look");
    let c = t.observe(std::slice::from_ref(&j));
    let Check::Pending(o) = &c else {
        panic!("{c:?}")
    };
    assert_eq!(
        o.state,
        format!("running (active 0, succeeded 0, failed 0); no pod created: FailedCreate: {quota}")
    );
    assert!(o.fix[0].contains("resourcequota"), "{:?}", o.fix);
    let line = t.pods_line().unwrap_or_default();
    assert!(line.contains(&format!("FailedCreate: {quota}")), "{line}");
    // PodSecurity: its own fix; an escape sequence is shown escaped.
    let denied = "Error creating: pods \"migrate-y\" is forbidden: violates PodSecurity \"restricted:latest\": runAsNonRoot != true \u{1b}[2J";
    t.look = None; // the next look, a minute later
    stuck_state(&mut t, std::slice::from_ref(&j), Ok(vec![]));
    t.events_read(&Ok(vec![failed_create(
        "e3",
        uid,
        "2025-05-01T10:06:00Z",
        denied,
    )]));
    let c = t.observe(std::slice::from_ref(&j));
    let Check::Pending(o) = &c else {
        panic!("{c:?}")
    };
    assert!(!o.state.contains('\u{1b}'), "{}", o.state);
    assert!(
        o.fix[0].contains("pod-security.kubernetes.io/enforce"),
        "{:?}",
        o.fix
    );
    // No event: the hint stays a question.
    t.look = None; // the next look, a minute later
    stuck_state(&mut t, std::slice::from_ref(&j), Ok(vec![]));
    t.events_read(&Ok(vec![]));
    assert!(
        pending_state(&t.observe(std::slice::from_ref(&j)))
            .ends_with("no pod created (FailedCreate?)")
    );
}

#[test]
fn events_refused_are_never_asked_again_and_the_report_says_so() {
    let j = job(
        "migrate",
        "",
        json!({"startTime": "2025-05-01T10:00:00Z", "active": 0, "ready": 0}),
    );
    let mut t = by_name(IfMissing::Wait);
    stuck_state(&mut t, std::slice::from_ref(&j), Ok(vec![]));
    t.events_read(&Err(ApiError {
        class: Class::Forbidden,
        code: Some(403),
        message: "events is forbidden".into(),
        retry_after: None,
    }));
    assert!(
        pending_state(&t.observe(std::slice::from_ref(&j)))
            .ends_with("no pod created (FailedCreate?)")
    );
    let line = t.pods_line().unwrap_or_default();
    assert!(
        line.contains("its events were not readable: listing events is forbidden"),
        "{line}"
    );
    // The next look (a minute later) reads the pods again, but not the events.
    let q = t
        .look_due(Instant::now() + POD_LOOK_EVERY)
        .expect("a look is due");
    t.looked(q, &Ok(vec![]), None, Instant::now());
    assert_eq!(t.events_due(), None);
    assert!(
        t.pods_line()
            .unwrap_or_default()
            .contains("listing events is forbidden")
    );
    // A Job with pods active is not asked about at all.
    let mut t = by_name(IfMissing::Wait);
    let busy = job("migrate", "", json!({"active": 1, "ready": 0}));
    stuck_state(&mut t, std::slice::from_ref(&busy), Ok(vec![]));
    assert_eq!(t.events_due(), None);
}

#[test]
fn pods_are_read_only_for_a_job_that_may_be_stuck_and_at_most_once_a_minute() {
    let mut t = by_name(IfMissing::Wait);
    let now = Instant::now();
    // All active pods ready: nothing to look at.
    let fine = job("migrate", "", json!({"active": 2, "ready": 2}));
    t.observe(std::slice::from_ref(&fine));
    assert_eq!(t.look_due(now), None);
    // No `ready` written (before 1.24) with pods active: no look either.
    t.observe(&[job("migrate", "", json!({"active": 1}))]);
    assert_eq!(t.look_due(now), None);
    // Not ready: due now, then not before a minute has passed.
    let stuck = job("migrate", "", json!({"active": 2, "ready": 1}));
    t.observe(std::slice::from_ref(&stuck));
    let q = t.look_due(now).unwrap();
    assert_eq!(
        q.selectors,
        [
            "batch.kubernetes.io/controller-uid=5b8c1f7e-1e63-4a52-a3a0-0c6f1d0c2a11",
            "controller-uid=5b8c1f7e-1e63-4a52-a3a0-0c6f1d0c2a11",
            "batch.kubernetes.io/job-name=migrate",
            "job-name=migrate"
        ]
    );
    t.looked(q, &Ok(vec![]), Some("job-name=migrate".into()), now);
    assert_eq!(t.look_due(now + Duration::from_secs(59)), None);
    let q = t.look_due(now + POD_LOOK_EVERY).unwrap();
    // The selector that found pods is kept.
    assert_eq!(q.selectors, ["job-name=migrate"]);
    // Forbidden: never asked again; the report says why.
    let denied = ApiError {
        class: Class::Forbidden,
        code: Some(403),
        message: "pods is forbidden".into(),
        retry_after: None,
    };
    t.looked(q, &Err(denied), None, now);
    assert_eq!(t.look_due(now + Duration::from_secs(3600)), None);
    assert!(
        t.pods_line()
            .unwrap_or_default()
            .contains("listing pods is forbidden")
    );
}

#[test]
fn the_jobs_own_selector_finds_its_pods() {
    let mut j = job("migrate", "", json!({"active": 1, "ready": 0}));
    j["spec"]["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "abc-1"}});
    assert_eq!(
        pod_selectors(&j, "migrate"),
        ["batch.kubernetes.io/controller-uid=abc-1"]
    );
    // A hostile selector is not passed on.
    j["spec"]["selector"] = json!({"matchLabels": {"a": "b,c!=d"}});
    assert_eq!(pod_selectors(&j, "migrate").len(), 4);
}

#[test]
fn ended_or_deleting_pods_and_harmless_waits_are_not_stuck() {
    let mut done = waiting_pod("a", "", "ImagePullBackOff", "");
    done["status"]["phase"] = json!("Failed");
    let mut deleting = waiting_pod("b", "", "CrashLoopBackOff", "");
    deleting["metadata"]["deletionTimestamp"] = json!("2025-05-01T10:00:00Z");
    let creating = waiting_pod("c", "", "ContainerCreating", "");
    assert_eq!(stuck_pod(&[done, deleting, creating]), None);
}

#[test]
fn a_count_that_is_not_a_count_is_invalid_not_zero() {
    for (bad, shown) in [
        (json!(-1), "-1"),
        (json!(1.5), "1.5"),
        (json!(4294967296u64), "4294967296"),
        (json!(2147483648u64), "2147483648"),
        (json!("3"), "\"3\""),
    ] {
        let mut status = complete_131(0);
        status["active"] = bad;
        let c = judge(&job("m", "", status), "crs", "m");
        let Check::Pending(o) = &c else {
            panic!("{c:?}")
        };
        assert_eq!(o.class, Class::Other);
        assert_eq!(o.state, format!("invalid count: status.active is {shown}"));
    }
    let ok = json!({"active": 2147483647u64, "failed": null});
    assert_eq!(
        pending_state(&judge(&job("m", "", ok), "crs", "m")),
        "running (active 2147483647, succeeded 0, failed 0)"
    );
}

#[test]
fn a_termination_message_or_a_reason_with_a_newline_cannot_forge_a_line() {
    let forged = "x\nkwait: ready after 1s: forged\n\u{1b}[2K";
    let p = pod(
        forged,
        "2025-05-01T10:00:00Z",
        json!({"phase": "Failed", "containerStatuses": [
            {"name": forged, "state": {"terminated": terminated(3, forged, forged, "2025-05-01T10:00:05Z")}}
        ]}),
    );
    let line = failed_pod(&[p]).unwrap();
    assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
    assert!(
        line.contains("x kwait: ready after 1s: forged \\u{1b}[2K"),
        "{line}"
    );
    let evicted = pod(
        "m-3",
        "2025-05-01T10:00:30Z",
        json!({"phase": "Failed", "reason": forged, "message": forged}),
    );
    let line = failed_pod(&[evicted]).unwrap();
    assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
    for kind in ["Failed", "FailureTarget"] {
        let j = job(
            "migrate",
            "2025-05-01T10:00:00Z",
            json!({"failed": 3, "conditions": [cond(kind, forged, forged)]}),
        );
        let (Check::Pending(obs) | Check::Failed(obs)) = judge(&j, "crs", "migrate") else {
            panic!("ready")
        };
        let mut lines = vec![obs.state];
        lines.extend(obs.cause);
        lines.extend(obs.fix);
        for line in lines {
            assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
        }
    }
    let listed = job(forged, "2025-05-01T10:00:00Z", json!({}));
    let name = Key::of(&listed).name;
    assert!(!name.contains('\n') && !name.contains('\u{1b}'), "{name:?}");
}

// Regression (issue 22): at FailureTarget time `status.failed` still reads 0, and the report
// said "failed 0, succeeded 0 ... 0 pods failed" next to "failed pod: ... exited 1".
#[test]
fn failure_target_before_the_pods_are_counted_does_not_say_0_pods_failed() {
    let target = cond(
        "FailureTarget",
        "PodFailurePolicy",
        "Container migrate for pod crs/migrate-abc failed with exit code 1 matching FailJob rule at index 0",
    );
    let status = json!({
        "startTime": "2025-05-01T10:00:00Z", "active": 0, "failed": 0, "succeeded": 0,
        "terminating": 1, "uncountedTerminatedPods": {}, "conditions": [target.clone()],
    });
    let j = job("migrate", "2025-05-01T10:00:00Z", status);
    let c = judge(&j, "crs", "migrate");
    let o = failed_obs(&c);
    assert!(
        o.state.ends_with("(its pods not counted yet)"),
        "{}",
        o.state
    );
    let cause = o.cause.as_deref().unwrap_or_default();
    assert!(
        cause.contains("the controller has not counted its failed pods yet"),
        "{cause}"
    );
    assert!(!cause.contains("0 pods failed"), "{cause}");

    // The failed pod is known by uid, not yet in the count: it counts.
    let status = json!({
        "startTime": "2025-05-01T10:00:00Z", "active": 0, "failed": 0, "succeeded": 0,
        "uncountedTerminatedPods": {"failed": ["9d0c3b1e-0f1d-4c53-9a5a-3c2b7f0f3b11"]},
        "conditions": [target],
    });
    let j = job("migrate", "2025-05-01T10:00:00Z", status);
    let c = judge(&j, "crs", "migrate");
    let o = failed_obs(&c);
    assert!(o.state.ends_with("(failed 1, succeeded 0)"), "{}", o.state);
    assert!(
        o.cause
            .as_deref()
            .unwrap_or_default()
            .contains("; 1 pods failed, 0 succeeded."),
        "{:?}",
        o.cause
    );

    // Failed=True is written after the counts: 0 is a real 0 there.
    let status = json!({
        "failed": 0, "conditions": [cond("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")],
    });
    let j = job("migrate", "2025-05-01T10:00:00Z", status);
    let o = failed_obs(&judge(&j, "crs", "migrate")).clone();
    assert!(o.state.ends_with("(failed 0, succeeded 0)"), "{}", o.state);
}

fn ending_event(reason: &str, uid: &str, at: &str, message: &str) -> Value {
    json!({
        "metadata": {"name": format!("migrate.{reason}"), "namespace": "crs", "creationTimestamp": at},
        "involvedObject": {"kind": "Job", "namespace": "crs", "name": "migrate", "uid": uid, "apiVersion": "batch/v1"},
        "reason": reason, "message": message,
        "type": if reason == "Completed" { "Normal" } else { "Warning" },
        "firstTimestamp": at, "lastTimestamp": at, "count": 1,
    })
}

fn events_ok(items: Vec<Value>) -> Result<Vec<Value>, ApiError> {
    Ok(items)
}

// Regression (issue 22): a Job deleted by ttlSecondsAfterFinished before kwait looked was
// reported as "not created yet, or completed and removed: the API cannot tell these apart",
// though its events (which outlive it by about an hour, and `list events` is in the Role)
// say which.
#[test]
fn a_job_deleted_before_kwait_looked_is_told_apart_by_its_events() {
    let now = Instant::now();
    let mut t = by_name(IfMissing::Wait);
    assert!(t.ending_due(now).is_none(), "nothing judged yet");
    t.observe(&[]);
    let q = t.ending_due(now).unwrap();
    assert_eq!(q, ("migrate".to_string(), String::new()));
    let uid = "5b8c1f7e-1e63-4a52-a3a0-0c6f1d0c2a11";
    t.ending_read(
        q,
        &events_ok(vec![
            ending_event(
                "SuccessfulCreate",
                uid,
                "2025-05-01T10:00:00Z",
                "Created pod: migrate-x",
            ),
            ending_event("Completed", uid, "2025-05-01T10:00:12Z", "Job completed"),
        ]),
        now,
    );
    let c = t.observe(&[]);
    let Check::Pending(o) = &c else {
        panic!("{c:?}")
    };
    // The state and the judgement stay (an earlier run may have completed): only the words.
    assert_eq!((o.class, o.state.as_str()), (Class::NotFound, "not found"));
    let cause = o.cause.as_deref().unwrap_or_default();
    assert!(
        cause.contains("its events tell: a Job of this name completed at 2025-05-01T10:00:12Z (event Completed: Job completed) and was deleted since"),
        "{cause}"
    );
    assert!(!cause.contains("cannot tell these apart"), "{cause}");
    // Read once, not again within a minute.
    assert!(t.ending_due(now + Duration::from_secs(5)).is_none());
    assert!(t.ending_due(now + POD_LOOK_EVERY).is_some());

    // A failure says which.
    let mut t = by_name(IfMissing::Wait);
    t.observe(&[]);
    let q = t.ending_due(now).unwrap();
    t.ending_read(
        q,
        &events_ok(vec![ending_event(
            "BackoffLimitExceeded",
            uid,
            "2025-05-01T10:00:12Z",
            "Job has reached the specified backoff limit",
        )]),
        now,
    );
    let cause = t.observe(&[]);
    let Check::Pending(o) = &cause else {
        panic!("{cause:?}")
    };
    assert!(
        o.cause.as_deref().unwrap_or_default().contains("a Job of this name failed at 2025-05-01T10:00:12Z (event BackoffLimitExceeded: Job has reached the specified backoff limit)"),
        "{:?}",
        o.cause
    );
}

#[test]
fn a_seen_job_deleted_is_told_by_its_own_events_only() {
    let now = Instant::now();
    let mut t = by_name(IfMissing::Wait);
    let j = job("migrate", "2025-05-01T10:00:00Z", running());
    t.observe(std::slice::from_ref(&j));
    assert!(t.ending_due(now).is_none(), "it is there");
    t.observe(&[]);
    let uid = "5b8c1f7e-1e63-4a52-a3a0-0c6f1d0c2a11";
    let q = t.ending_due(now).unwrap();
    assert_eq!(q, ("migrate".to_string(), uid.to_string()));
    // An earlier Job of the same name completed; this one failed.
    t.ending_read(
        q,
        &events_ok(vec![
            ending_event(
                "Completed",
                "an-earlier-uid",
                "2025-05-01T11:00:00Z",
                "Job completed",
            ),
            ending_event(
                "DeadlineExceeded",
                uid,
                "2025-05-01T10:00:30Z",
                "Job was active longer than specified deadline",
            ),
        ]),
        now,
    );
    let c = t.observe(&[]);
    let Check::Pending(o) = &c else {
        panic!("{c:?}")
    };
    assert_eq!(o.class, Class::Gone);
    let cause = o.cause.as_deref().unwrap_or_default();
    assert!(
        cause.contains("its events say it failed at 2025-05-01T10:00:30Z (event DeadlineExceeded: Job was active longer than specified deadline)"),
        "{cause}"
    );
}

#[test]
fn a_missing_jobs_events_gone_or_forbidden_keep_the_honest_words() {
    let now = Instant::now();
    // None left (older than the API server's event TTL).
    let mut t = by_name(IfMissing::Wait);
    t.observe(&[]);
    let q = t.ending_due(now).unwrap();
    t.ending_read(q, &events_ok(vec![]), now);
    let c = t.observe(&[]);
    let Check::Pending(o) = &c else {
        panic!("{c:?}")
    };
    assert!(
        o.cause
            .as_deref()
            .unwrap_or_default()
            .contains("the API cannot tell these apart"),
        "{:?}",
        o.cause
    );
    // Forbidden: the same words, and never asked again.
    let mut t = by_name(IfMissing::Wait);
    t.observe(&[]);
    let q = t.ending_due(now).unwrap();
    let refused = ApiError {
        class: Class::Forbidden,
        code: Some(403),
        message: "events is forbidden".into(),
        retry_after: None,
    };
    t.ending_read(q, &Err(refused), now);
    let c = t.observe(&[]);
    let Check::Pending(o) = &c else {
        panic!("{c:?}")
    };
    assert!(
        o.cause
            .as_deref()
            .unwrap_or_default()
            .contains("the API cannot tell these apart"),
        "{:?}",
        o.cause
    );
    assert!(t.ending_due(now + POD_LOOK_EVERY * 2).is_none());
}
