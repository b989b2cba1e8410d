//! `wait-job` end to end: the built binary against testkit's fake API server, with the Job's
//! status patched the way the Job controller of Kubernetes 1.31+ writes it.
//!
//! Timing assertions are loose on purpose (a busy 2-core machine): "exit 1 at once" is checked
//! as "within 5 s of the patch", where waiting for the next poll would take up to 30 s.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(40);

/// A Job as a chart would create it, with `status` as the controller last wrote it.
fn job(name: &str, labels: Value, status: Value) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "backoffLimit": 2,
            "ttlSecondsAfterFinished": 300,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": "app:1", "command": ["./migrate"]}]}},
        },
        "status": status,
    })
}

fn running(failed: u64) -> Value {
    json!({"startTime": "2025-05-01T10:00:00Z", "active": 1, "ready": 0, "failed": failed, "terminating": 0, "uncountedTerminatedPods": {}})
}

fn cond(kind: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": "True", "reason": reason, "message": message,
           "lastProbeTime": "2025-05-01T10:00:09Z", "lastTransitionTime": "2025-05-01T10:00:09Z"})
}

/// The two status writes of a successful Job on 1.31+: SuccessCriteriaMet while the pod
/// terminates, then Complete.
fn complete(api: &ApiServer, name: &str, failed: u64) {
    let met = cond(
        "SuccessCriteriaMet",
        "CompletionsReached",
        "Reached expected number of succeeded pods",
    );
    api.patch_status(
        "jobs",
        NS,
        name,
        json!({"status": {"active": 0, "succeeded": 1, "failed": failed, "terminating": 1, "conditions": [met]}}),
    );
    let done = cond(
        "Complete",
        "CompletionsReached",
        "Reached expected number of succeeded pods",
    );
    api.patch_status(
        "jobs",
        NS,
        name,
        json!({"status": {"terminating": 0, "completionTime": "2025-05-01T10:00:12Z", "conditions": [met, done]}}),
    );
}

/// The two status writes of a failed Job on 1.31+: FailureTarget, then Failed.
fn fail(api: &ApiServer, name: &str, reason: &str, message: &str) {
    let target = cond("FailureTarget", reason, message);
    api.patch_status(
        "jobs",
        NS,
        name,
        json!({"status": {"active": 0, "failed": 3, "terminating": 0, "conditions": [target]}}),
    );
    let failed = cond("Failed", reason, message);
    api.patch_status(
        "jobs",
        NS,
        name,
        json!({"status": {"conditions": [target, failed]}}),
    );
}

/// The failed pod `migrate-x7k2p` of Job `migrate`, labelled the 1.27+ way.
fn create_failed_pod(api: &ApiServer) {
    api.create(
        "pods",
        NS,
        failed_pod("migrate-x7k2p", "migrate", "batch.kubernetes.io/job-name"),
    );
}

fn failed_pod(name: &str, job: &str, label: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {label: job}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": "app:1"}]},
        "status": {"phase": "Failed", "containerStatuses": [{
            "name": "migrate", "ready": false, "restartCount": 0, "image": "app:1", "imageID": "", "started": false,
            "state": {"terminated": {"exitCode": 3, "reason": "Error", "message": "relation \"users\" does not exist",
                                     "startedAt": "2025-05-01T10:00:01Z", "finishedAt": "2025-05-01T10:00:04Z"}}
        }]},
    })
}

fn report(r: &Run, head: &str) -> String {
    r.stderr
        .split(head)
        .nth(1)
        .unwrap_or_else(|| panic!("no {head:?} in:\n{}", r.stderr))
        .to_string()
}

#[test]
fn job_completing_after_two_seconds_is_ready_and_counts_show_in_progress() {
    let c = Cluster::new("job-complete");
    c.api
        .create("jobs", NS, job("migrate", json!({}), running(0)));
    let k = spawn(c.kwait(&["wait-job", "migrate", "--timeout", "10s"]));
    // Synchronised on the server, not on sleeps: kwait has read the Job and watches it.
    eventually("kwait watches the Job", LIMIT, || {
        (c.api.count_for("watch", "jobs") >= 1).then_some(())
    });
    // One pod failed and the controller started another: a new progress line, not a failure.
    c.api
        .patch_status("jobs", NS, "migrate", json!({"status": {"failed": 1}}));
    eventually("kwait read the failed pod count", LIMIT, || {
        (c.api.count_for("get", "jobs") >= 2).then_some(())
    });
    let patched = Instant::now();
    complete(&c.api, "migrate", 1);
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        lines[0], "kwait: waiting for Job crs/migrate, timeout 10s",
        "{}",
        r.stderr
    );
    assert_eq!(
        lines[1], "kwait: Job crs/migrate: running (active 1, succeeded 0, failed 0)",
        "{}",
        r.stderr
    );
    assert_eq!(
        lines[2], "kwait: Job crs/migrate: running (active 1, succeeded 0, failed 1)",
        "{}",
        r.stderr
    );
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with("kwait: ready after ")
            && last.ends_with(": Job crs/migrate complete (succeeded 1, failed 1)"),
        "{}",
        r.stderr
    );
    assert!(r.ended > patched);
    assert!(
        r.ended - patched < Duration::from_secs(5),
        "{:?}",
        r.ended - patched
    );
}

#[test]
fn job_failing_exits_1_at_once_with_reason_counts_and_the_failed_pod() {
    let c = Cluster::new("job-failed");
    c.api
        .create("jobs", NS, job("migrate", json!({}), running(2)));
    create_failed_pod(&c.api);
    // Polling alone would not look again before 20 s: only the watch can wake the waiter.
    let k = spawn(c.kwait(&[
        "job",
        "migrate",
        "--timeout",
        "10s",
        "--interval",
        "20s",
        "--max-interval",
        "30s",
    ]));
    sleep_ms(2000);
    let patched = Instant::now();
    fail(
        &c.api,
        "migrate",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    );
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    // At once: the watch wakes the waiter; polling alone would take 20 s here.
    assert!(
        r.ended - patched < Duration::from_secs(5),
        "{:?}",
        r.ended - patched
    );
    let rep = report(&r, "kwait: failed after ");
    assert!(rep.contains(": Job crs/migrate\n"), "{rep}");
    assert!(
        rep.contains("  last seen : failed: BackoffLimitExceeded: Job has reached the specified backoff limit (failed 3, succeeded 0)"),
        "{rep}"
    );
    assert!(
        rep.contains("  cause     : Job crs/migrate failed"),
        "{rep}"
    );
    assert!(
        rep.contains("kubectl logs job/migrate -n crs")
            && rep.contains("kubectl describe job migrate -n crs"),
        "{rep}"
    );
    assert!(
        rep.contains("  failed pod: migrate-x7k2p container migrate exited 3 (Error): relation \"users\" does not exist"),
        "{rep}"
    );
}

#[test]
fn failure_target_alone_fails_and_old_clusters_pod_label_is_read() {
    // Only FailureTarget so far (PodFailurePolicy); pods labelled the pre-1.27 way (job-name=).
    let c = Cluster::new("job-target");
    c.api.create("jobs", NS, job("seed", json!({}), running(0)));
    c.api
        .create("pods", NS, failed_pod("seed-abcde", "seed", "job-name"));
    let k = spawn(c.kwait(&["wait-job", "seed", "--timeout", "10s"]));
    sleep_ms(1000);
    let msg = "Container migrate for pod crs/seed-abcde failed with exit code 3 matching FailJob rule at index 0";
    c.api.patch_status(
        "jobs",
        NS,
        "seed",
        json!({"status": {"active": 0, "failed": 1, "terminating": 1, "conditions": [cond("FailureTarget", "PodFailurePolicy", msg)]}}),
    );
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "last seen : failed: PodFailurePolicy: {msg} (failed 1, succeeded 0)"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("failed pod: seed-abcde container migrate exited 3 (Error)"),
        "{}",
        r.stderr
    );
}

#[test]
fn job_deleted_after_it_was_seen_gives_the_ttl_hint() {
    let c = Cluster::new("job-deleted");
    c.api
        .create("jobs", NS, job("migrate", json!({}), running(0)));
    let k = spawn(c.kwait(&["wait-job", "migrate", "--timeout", "5s"]));
    sleep_ms(1500);
    assert!(c.api.delete("jobs", NS, "migrate"));
    let r = k.finish(LIMIT);
    // --if-missing wait (the default) keeps waiting in case it is re-created.
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "kwait: Job crs/migrate: deleted after it was seen (ttlSecondsAfterFinished?); waiting in case it is re-created\n"
        ),
        "{}",
        r.stderr
    );
    let rep = report(&r, "kwait: timed out after ");
    assert!(
        rep.contains("  last seen : deleted after it was seen (ttlSecondsAfterFinished?)"),
        "{rep}"
    );
    assert!(
        rep.contains("existed (last seen migrate: running (active 1, succeeded 0, failed 0))"),
        "{rep}"
    );
    assert!(rep.contains("--if-missing succeed"), "{rep}");
}

#[test]
fn job_never_created_times_out_saying_how_to_check() {
    let c = Cluster::new("job-never");
    let r = run(c.kwait(&["wait-job", "migrate", "--timeout", "3s"]), LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(
        r.stderr.contains("kwait: Job crs/migrate: not found\n"),
        "{}",
        r.stderr
    );
    let rep = report(&r, "kwait: timed out after ");
    assert!(rep.contains("  last seen : not found (since "), "{rep}");
    assert!(
        rep.contains("ttlSecondsAfterFinished") && rep.contains("the API cannot tell these apart"),
        "{rep}"
    );
    assert!(
        rep.contains("kubectl get job migrate -n crs -o yaml"),
        "{rep}"
    );
    assert!(
        rep.contains("CronJob") && rep.contains("HelmRelease"),
        "{rep}"
    );
    // Nothing failed, so there is no pod to describe.
    assert!(!rep.contains("failed pod"), "{rep}");
}

#[test]
fn selector_waits_for_the_newest_of_three_jobs() {
    let c = Cluster::new("job-newest");
    let app = json!({"app.kubernetes.io/component": "migrations"});
    // creationTimestamp has whole seconds: create them more than a second apart. The oldest
    // failed (a previous revision): it must not count. Names sort opposite to age.
    c.api.create(
        "jobs",
        NS,
        job(
            "migrate-c",
            app.clone(),
            json!({"failed": 3, "conditions": [cond("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]}),
        ),
    );
    sleep_ms(1100);
    c.api
        .create("jobs", NS, job("migrate-b", app.clone(), running(0)));
    complete(&c.api, "migrate-b", 0);
    sleep_ms(1100);
    c.api.create("jobs", NS, job("migrate-a", app, running(0)));
    c.api.create(
        "jobs",
        NS,
        job("unrelated", json!({"app": "other"}), running(0)),
    );
    let k = spawn(c.kwait(&[
        "wait-job",
        "-l",
        "app.kubernetes.io/component=migrations",
        "--timeout",
        "10s",
    ]));
    sleep_ms(1500);
    complete(&c.api, "migrate-a", 0);
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "kwait: the newest Job in crs matching app.kubernetes.io/component=migrations: migrate-a (newest of 3) running (active 1, succeeded 0, failed 0)\n"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            ": Job crs/migrate-a complete (succeeded 1, failed 0), the newest of 3 matching app.kubernetes.io/component=migrations"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn selector_with_no_job_yet_is_pending_then_ready() {
    let c = Cluster::new("job-later");
    let k = spawn(c.kwait(&["job", "-l", "app=migrate", "--timeout", "10s"]));
    sleep_ms(1500);
    c.api.create(
        "jobs",
        NS,
        job("migrate-r1", json!({"app": "migrate"}), running(0)),
    );
    sleep_ms(500);
    complete(&c.api, "migrate-r1", 0);
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("matching app=migrate: no Job matches app=migrate yet\n"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            ": Job crs/migrate-r1 complete (succeeded 1, failed 0), the only Job matching app=migrate"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn if_missing_succeed_treats_a_missing_job_as_done() {
    let c = Cluster::new("job-succeed");
    let r = run(
        c.kwait(&[
            "wait-job",
            "migrate",
            "--if-missing",
            "succeed",
            "--timeout",
            "10s",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains(": Job crs/migrate not found; treated as done (--if-missing succeed)"),
        "{}",
        r.stderr
    );
    // An existing Job is still waited for.
    c.api
        .create("jobs", NS, job("migrate", json!({}), running(0)));
    let r = run(
        c.kwait(&[
            "wait-job",
            "migrate",
            "--if-missing",
            "succeed",
            "--timeout",
            "2s",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
}

#[test]
fn if_missing_fail_fails_a_missing_job_at_once() {
    let c = Cluster::new("job-fail");
    let r = run(
        c.kwait(&[
            "wait-job",
            "migrate",
            "--if-missing",
            "fail",
            "--timeout",
            "10s",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(8), "{:?}", r.took);
    let rep = report(&r, "kwait: failed after ");
    assert!(
        rep.contains("  last seen : not found (--if-missing fail)"),
        "{rep}"
    );
    assert!(
        rep.contains("kubectl get job migrate -n crs -o yaml"),
        "{rep}"
    );
}

#[test]
fn by_name_works_with_get_and_watch_on_that_job_only() {
    // No list, no pods: the failed Job's report says the pod details were not readable.
    let c = Cluster::with(
        "job-rbac-name",
        Allow::rules(vec![
            Rule::new(&["get", "watch"], "jobs")
                .group("batch")
                .names(&["migrate"]),
        ]),
    );
    c.api
        .create("jobs", NS, job("migrate", json!({}), running(0)));
    create_failed_pod(&c.api);
    let k = spawn(c.kwait(&["wait-job", "migrate", "--timeout", "10s"]));
    sleep_ms(1500);
    fail(
        &c.api,
        "migrate",
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    );
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("failed: DeadlineExceeded: Job was active longer than specified deadline (failed 3, succeeded 0)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("  failed pod: pod details were not readable"),
        "{}",
        r.stderr
    );
    assert_eq!(c.api.count_for("list", "jobs"), 0);
}

#[test]
fn forbidden_hint_names_the_verbs_of_the_mode_used() {
    let c = Cluster::with("job-rbac-none", Allow::none());
    let r = run(c.kwait(&["wait-job", "migrate", "--timeout", "2s"]), LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "kubectl create role kwait-migrate-1495d415 --verb=get,watch --resource=jobs.batch --resource-name=migrate -n crs"
        ),
        "{}",
        r.stderr
    );
    let r = run(
        c.kwait(&["wait-job", "-l", "app=migrate", "--timeout", "2s"]),
        LIMIT,
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "kubectl create role kwait-jobs-c7e966f4 --verb=list,watch --resource=jobs.batch -n crs"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn all_fails_when_any_matching_job_failed() {
    let c = Cluster::new("job-all");
    let l = json!({"app": "seed"});
    c.api
        .create("jobs", NS, job("seed-a", l.clone(), running(0)));
    c.api.create("jobs", NS, job("seed-b", l, running(0)));
    let k = spawn(c.kwait(&["wait-job", "-l", "app=seed", "--all", "--timeout", "10s"]));
    sleep_ms(1000);
    complete(&c.api, "seed-a", 0);
    sleep_ms(1000);
    fail(
        &c.api,
        "seed-b",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    );
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("1 of 2 complete; waiting for seed-b running"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("last seen : seed-b failed: BackoffLimitExceeded"),
        "{}",
        r.stderr
    );
}

// Stuck Jobs (issue 13, item 22): a Job whose pod cannot run keeps `active` (or has none) and no
// condition says why; only its pods, or the Job controller's events, do.

/// A Job as the API server returns it: `spec.selector` names its pods by controller uid.
fn job_selecting(name: &str, uid_label: &str, status: Value) -> Value {
    let mut j = job(name, json!({}), status);
    j["spec"]["selector"] =
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid_label}});
    j
}

fn pod_labelled(name: &str, label: &str, value: &str, status: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {label: value}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": "app:nope"}]},
        "status": status,
    })
}

fn waiting(reason: &str, message: &str) -> Value {
    json!({"phase": "Pending", "containerStatuses": [{
        "name": "migrate", "ready": false, "restartCount": 0, "image": "app:nope", "imageID": "", "started": false,
        "state": {"waiting": {"reason": reason, "message": message}}
    }]})
}

#[test]
fn a_job_whose_pod_is_in_image_pull_back_off_says_so_instead_of_running_active_1() {
    let c = Cluster::new("job-stuck-image");
    c.api
        .create("jobs", NS, job_selecting("migrate", "u-1", running(0)));
    let msg = "Back-off pulling image \"app:nope\"";
    c.api.create(
        "pods",
        NS,
        pod_labelled(
            "migrate-x7k2p",
            "batch.kubernetes.io/controller-uid",
            "u-1",
            waiting("ImagePullBackOff", msg),
        ),
    );
    let state = format!(
        "running (active 1, succeeded 0, failed 0); pod migrate-x7k2p ImagePullBackOff: {msg}"
    );
    let rep = stuck_report(&c, &state);
    assert!(
        rep.contains(&format!(
            "  pods      : migrate-x7k2p container migrate ImagePullBackOff: {msg}"
        )),
        "{rep}"
    );
    assert!(rep.contains("imagePullSecrets"), "{rep}");
}

#[test]
fn a_job_whose_pod_is_unschedulable_names_the_scheduler_message() {
    let c = Cluster::new("job-stuck-unschedulable");
    c.api
        .create("jobs", NS, job_selecting("migrate", "u-2", running(0)));
    let msg = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.";
    c.api.create(
        "pods",
        NS,
        pod_labelled(
            "migrate-q9",
            "batch.kubernetes.io/controller-uid",
            "u-2",
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg}]}),
        ),
    );
    let r = run(c.kwait(&["wait-job", "migrate", "--timeout", "3s"]), LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("running (active 1, succeeded 0, failed 0); pod migrate-q9 Unschedulable: 0/3 nodes are available: 3 Insufficient cpu."),
        "{}",
        r.stderr
    );
    let rep = report(&r, "kwait: timed out after ");
    assert!(
        rep.contains(&format!("  pods      : migrate-q9 Unschedulable: {msg}")),
        "{rep}"
    );
}

#[test]
fn a_crash_looping_pod_is_found_by_the_controller_uid_label_of_a_job_without_a_selector() {
    // Older fakes and some tools leave spec.selector out: the uid labels are tried, then job-name.
    let c = Cluster::new("job-stuck-crash");
    let created = c
        .api
        .create("jobs", NS, job("migrate", json!({}), running(0)));
    let uid = created["metadata"]["uid"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(!uid.is_empty());
    c.api.create(
        "pods",
        NS,
        pod_labelled(
            "migrate-c1",
            "controller-uid",
            &uid,
            waiting(
                "CrashLoopBackOff",
                "back-off 40s restarting failed container=migrate",
            ),
        ),
    );
    let r = run(c.kwait(&["wait-job", "migrate", "--timeout", "3s"]), LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let rep = report(&r, "kwait: timed out after ");
    assert!(
        rep.contains("  last seen : running (active 1, succeeded 0, failed 0); pod migrate-c1 CrashLoopBackOff: back-off 40s"),
        "{rep}"
    );
    assert!(
        rep.contains("kubectl logs migrate-c1 -n crs --previous"),
        "{rep}"
    );
}

#[test]
fn a_started_job_without_any_pod_points_at_failed_create() {
    let c = Cluster::new("job-stuck-nopod");
    let status = json!({"startTime": "2025-05-01T10:00:00Z", "active": 0, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}});
    c.api
        .create("jobs", NS, job_selecting("migrate", "u-3", status));
    let r = run(c.kwait(&["wait-job", "migrate", "--timeout", "3s"]), LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let rep = report(&r, "kwait: timed out after ");
    assert!(
        rep.contains("  last seen : running (active 0, succeeded 0, failed 0); no pod created (FailedCreate?)"),
        "{rep}"
    );
    assert!(
        rep.contains("ResourceQuota, PodSecurity admission"),
        "{rep}"
    );
    assert!(
        rep.contains("kubectl get events -n crs --field-selector involvedObject.kind=Job,involvedObject.name=migrate,reason=FailedCreate"),
        "{rep}"
    );
}

#[test]
fn stuck_pod_detection_lists_pods_once_a_minute_at_most_plus_once_for_the_report() {
    let c = Cluster::new("job-stuck-budget");
    c.api
        .create("jobs", NS, job_selecting("migrate", "u-4", running(0)));
    c.api.create(
        "pods",
        NS,
        pod_labelled(
            "migrate-b",
            "batch.kubernetes.io/controller-uid",
            "u-4",
            waiting("ErrImagePull", "not found"),
        ),
    );
    let k = spawn(c.kwait(&["wait-job", "migrate", "--timeout", "6s"]));
    // Changes that wake the waiter (the watch) and make it check again, several times.
    for i in 0..6 {
        sleep_ms(700);
        c.api.patch(
            "jobs",
            NS,
            "migrate",
            json!({"metadata": {"annotations": {"poke": i.to_string()}}}),
        );
    }
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(
        r.stderr.contains("pod migrate-b ErrImagePull"),
        "{}",
        r.stderr
    );
    let gets = c.api.count_for("get", "jobs");
    let lists = c.api.count_for("list", "pods");
    assert!(
        gets >= 3,
        "only {gets} checks: the bound below proves nothing"
    );
    // One look during the wait (the next is due a minute later), one for the report.
    assert!(lists <= 2, "{lists} pod LISTs for {gets} checks");
}

#[test]
fn a_stuck_job_is_awaited_without_list_on_pods_and_the_report_says_what_was_not_read() {
    let c = Cluster::with(
        "job-stuck-rbac",
        Allow::rules(vec![
            Rule::new(&["get", "watch"], "jobs")
                .group("batch")
                .names(&["migrate"]),
        ]),
    );
    c.api
        .create("jobs", NS, job_selecting("migrate", "u-5", running(0)));
    let r = run(c.kwait(&["wait-job", "migrate", "--timeout", "3s"]), LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let rep = report(&r, "kwait: timed out after ");
    assert!(
        rep.contains("  last seen : running (active 1, succeeded 0, failed 0) (since "),
        "{rep}"
    );
    assert!(
        rep.contains("  pods      : pod states were not readable: listing pods is forbidden (optional: grant list on pods"),
        "{rep}"
    );
    // Refused once; not asked again, not even for the report.
    assert_eq!(c.api.count_for("list", "pods"), 1);
}

#[test]
fn a_job_count_that_is_not_a_count_is_reported_as_invalid_not_as_zero() {
    // Issue 13, item 23: the Job controller writes int32 counts >= 0; anything else used to
    // read as 0 ("running (active 0)").
    let c = Cluster::new("job-invalid-count");
    let status = json!({"startTime": "2025-05-01T10:00:00Z", "active": -1, "ready": 0});
    c.api.create("jobs", NS, job("migrate", json!({}), status));
    let r = run(c.kwait(&["wait-job", "migrate", "--timeout", "2s"]), LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let rep = report(&r, "kwait: timed out after ");
    assert!(
        rep.contains("  last seen : invalid count: status.active is -1 (since "),
        "{rep}"
    );
    assert_eq!(c.api.count_for("list", "pods"), 0);
}

/// A FailedCreate event of Job `crs/migrate`, as the Job controller records it.
fn failed_create_event(name: &str, uid: &str, message: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": "Job", "namespace": NS, "name": "migrate", "uid": uid, "apiVersion": "batch/v1"},
        "reason": "FailedCreate", "type": "Warning", "count": 4,
        "source": {"component": "job-controller"},
        "firstTimestamp": "2025-05-01T10:00:00Z", "lastTimestamp": "2025-05-01T10:00:30Z",
        "message": message,
    })
}

fn no_pod_yet() -> Value {
    json!({"startTime": "2025-05-01T10:00:00Z", "active": 0, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}})
}

#[test]
fn a_job_that_cannot_create_pods_names_the_failed_create_event() {
    // Issue 13, item 22: a Job refused its pods (quota, PodSecurity) used to say only
    // "no pod created (FailedCreate?)"; its FailedCreate event says why.
    let c = Cluster::new("job-failed-create");
    let created = c
        .api
        .create("jobs", NS, job_selecting("migrate", "u-6", no_pod_yet()));
    let uid = created["metadata"]["uid"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let msg = "Error creating: pods \"migrate-x\" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=4, limited: cpu=4";
    c.api
        .create("events", NS, failed_create_event("migrate.1", &uid, msg));
    // Another Job's event, and another reason: not this one's.
    let mut other = failed_create_event("other.1", "u-x", "not about migrate");
    other["involvedObject"]["name"] = json!("other");
    c.api.create("events", NS, other);
    let mut created_ok = failed_create_event("migrate.0", &uid, "Created pod: migrate-old");
    created_ok["reason"] = json!("SuccessfulCreate");
    created_ok["lastTimestamp"] = json!("2025-05-01T10:01:00Z");
    c.api.create("events", NS, created_ok);
    let state =
        format!("running (active 0, succeeded 0, failed 0); no pod created: FailedCreate: {msg}");
    let rep = stuck_report(&c, &state);
    assert!(
        rep.contains(&format!(
            "the Job controller's pod creation is refused: FailedCreate: {msg}"
        )),
        "{rep}"
    );
    assert!(
        rep.contains("kubectl describe resourcequota -n crs"),
        "{rep}"
    );
    // One look while waiting, one for the report: each reads the events once.
    assert!(c.api.count_for("list", "events") <= 2);
}

#[test]
fn a_job_without_list_on_events_still_waits_and_says_events_were_not_readable() {
    let c = Cluster::with(
        "job-failed-create-rbac",
        Allow::rules(vec![
            Rule::new(&["get", "watch"], "jobs")
                .group("batch")
                .names(&["migrate"]),
            Rule::new(&["list"], "pods"),
        ]),
    );
    let created = c
        .api
        .create("jobs", NS, job_selecting("migrate", "u-7", no_pod_yet()));
    let uid = created["metadata"]["uid"]
        .as_str()
        .unwrap_or("")
        .to_string();
    c.api.create(
        "events",
        NS,
        failed_create_event("migrate.1", &uid, "Error creating: exceeded quota: compute"),
    );
    let r = run(c.kwait(&["wait-job", "migrate", "--timeout", "3s"]), LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let rep = report(&r, "kwait: timed out after ");
    assert!(
        rep.contains("  last seen : running (active 0, succeeded 0, failed 0); no pod created (FailedCreate?) (since "),
        "{rep}"
    );
    assert!(
        rep.contains("its events were not readable: listing events is forbidden (optional: grant list on events"),
        "{rep}"
    );
    assert!(!rep.contains("exceeded quota"), "{rep}");
    // Refused once; not asked again, not even for the report.
    assert_eq!(c.api.count_for("list", "events"), 1);
}

/// Waits 3 s for Job `migrate`, which must time out showing `state` as its state line and as
/// the report's last-seen line; returns the report.
fn stuck_report(c: &Cluster, state: &str) -> String {
    let r = run(c.kwait(&["wait-job", "migrate", "--timeout", "3s"]), LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("kwait: Job crs/migrate: {state}\n")),
        "{}",
        r.stderr
    );
    let rep = report(&r, "kwait: timed out after ");
    assert!(
        rep.contains(&format!("  last seen : {state} (since ")),
        "{rep}"
    );
    rep
}

// Regression (issue 22): at FailureTarget time `status.failed` still reads 0; the report said
// "(failed 0, succeeded 0)" and "0 pods failed" next to "failed pod: ... exited 3".
#[test]
fn failure_target_before_the_pods_are_counted_does_not_say_0_pods_failed() {
    let c = Cluster::new("job-target-uncounted");
    c.api
        .create("jobs", NS, job("migrate", json!({}), running(0)));
    create_failed_pod(&c.api);
    let k = spawn(c.kwait(&["wait-job", "migrate", "--timeout", "10s"]));
    eventually("kwait watches the Job", LIMIT, || {
        (c.api.count_for("watch", "jobs") >= 1).then_some(())
    });
    let msg = "Container migrate for pod crs/migrate-x7k2p failed with exit code 3 matching FailJob rule at index 0";
    c.api.patch_status(
        "jobs",
        NS,
        "migrate",
        json!({"status": {"active": 0, "failed": 0, "terminating": 1, "conditions": [cond("FailureTarget", "PodFailurePolicy", msg)]}}),
    );
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let rep = report(&r, "kwait: failed after ");
    assert!(
        rep.contains(&format!(
            "  last seen : failed: PodFailurePolicy: {msg} (its pods not counted yet)"
        )),
        "{rep}"
    );
    assert!(
        rep.contains("the controller has not counted its failed pods yet"),
        "{rep}"
    );
    let said = |label: &str| {
        rep.lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_default()
            .to_string()
    };
    assert!(!said("  last seen").contains("failed 0"), "{rep}");
    assert!(!said("  cause").contains("0 pods failed"), "{rep}");
    assert!(
        rep.contains("  failed pod: migrate-x7k2p container migrate exited 3 (Error)"),
        "{rep}"
    );
}

/// An event the Job controller records about Job `crs/migrate` (`Completed`, or the reason it
/// failed).
fn ending_event(reason: &str, message: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("migrate.{}", reason.to_lowercase())},
        "involvedObject": {"kind": "Job", "namespace": NS, "name": "migrate", "uid": "u-gone", "apiVersion": "batch/v1"},
        "reason": reason, "type": if reason == "Completed" { "Normal" } else { "Warning" }, "count": 1,
        "source": {"component": "job-controller"},
        "firstTimestamp": "2025-05-01T10:00:12Z", "lastTimestamp": "2025-05-01T10:00:12Z",
        "message": message,
    })
}

// Regression (issue 22): a Job deleted by ttlSecondsAfterFinished before kwait looked was
// reported as "not created yet, or completed and removed ...; the API cannot tell these
// apart", though its events, which the Role may already list, say which it was.
#[test]
fn a_job_deleted_before_kwait_looked_is_named_by_its_completed_or_failed_event() {
    for (reason, message, words) in [
        (
            "Completed",
            "Job completed",
            "a Job of this name completed at 2025-05-01T10:00:12Z (event Completed: Job completed) and was deleted since",
        ),
        (
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
            "a Job of this name failed at 2025-05-01T10:00:12Z (event BackoffLimitExceeded: Job has reached the specified backoff limit) and was deleted since",
        ),
    ] {
        let c = Cluster::new(&format!("job-gone-{}", reason.to_lowercase()));
        c.api.create(
            "events",
            NS,
            ending_event("SuccessfulCreate", "Created pod: migrate-x"),
        );
        c.api.create("events", NS, ending_event(reason, message));
        let r = run(c.kwait(&["wait-job", "migrate", "--timeout", "3s"]), LIMIT);
        // Still waiting (--if-missing wait): that run may be an earlier one.
        assert_eq!(r.code, Some(124), "{}", r.stderr);
        let rep = report(&r, "kwait: timed out after ");
        assert!(rep.contains("  last seen : not found (since "), "{rep}");
        assert!(rep.contains(words), "{rep}");
        assert!(!rep.contains("cannot tell these apart"), "{rep}");
        // One read of its events while it is missing, not one per check.
        assert_eq!(c.api.count_for("list", "events"), 1, "{reason}");
    }
}

#[test]
fn a_job_missing_without_list_on_events_keeps_the_honest_words() {
    let c = Cluster::with(
        "job-gone-no-events",
        Allow::rules(vec![
            Rule::new(&["get", "watch"], "jobs")
                .group("batch")
                .names(&["migrate"]),
        ]),
    );
    c.api
        .create("events", NS, ending_event("Completed", "Job completed"));
    let r = run(c.kwait(&["wait-job", "migrate", "--timeout", "3s"]), LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let rep = report(&r, "kwait: timed out after ");
    assert!(rep.contains("the API cannot tell these apart"), "{rep}");
    // Refused once, never asked again.
    assert_eq!(c.api.count_for("list", "events"), 1);
}
