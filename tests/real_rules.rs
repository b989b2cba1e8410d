//! Issue 22's judgements ("never a false ready") replayed on a real kube-apiserver
//! (testkit::envtest: etcd + kube-apiserver from `$KUBEBUILDER_ASSETS`, no controllers). The
//! objects of tests/ready.rs's issue-22 tests on testkit, plus an operator's custom resource and
//! a re-imaged Pod, but stored, defaulted and validated by the real server: created as they are, then their status written through the status subresource
//! as their controller would; the server sets `metadata.generation` itself and bumps it when the
//! spec changes, so a stale status is made by changing the spec after the status was written.
//!
//! Each test runs every wait twice at once, as a user holding exactly the Role(s) kwait's
//! `--dry-run=rbac` prints for them: a short run, which must time out (124) on the objects as
//! they are, and a long one, which must still be waiting when the short ones have ended (it did
//! not say ready, or failed, early); then the objects move on as their controller would move
//! them, and each long run must end with the code the rule says (0, or 1 for a failure for
//! good). The API server's audit log must show no request of that user answered 403.
//!
//! Issue 22's item 4 (a CRD whose names conflict fails at once) is `crd_failed` in
//! tests/real_api.rs. Without the binaries every test says SKIPPED (and fails under
//! `KWAIT_REQUIRE_K8S=1`).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::deployment::*;
use common::*;
use serde_json::{Value, json};
use testkit::envtest::{self, Envtest, User, collection_path};

/// The short runs' timeout: the objects are not ready for that long, so they exit 124.
const SHORT: &str = "5s";
/// The long runs' timeout: far beyond the test's moves.
const LONG: &str = "90s";
/// How long any run may take before the test kills it and fails.
const LIMIT: Duration = Duration::from_secs(120);
/// How long the long runs may take to open their watches (a loaded machine is slow).
const WATCHED_WITHIN: Duration = Duration::from_secs(60);

// ----- objects, as their controllers write them ---------------------------------------------

fn obj(api_version: &str, kind: &str, name: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}})
}

fn deployment(name: &str) -> Value {
    obj("apps/v1", "Deployment", name)
}

/// A 3-replica Deployment `name` (the server fills in the other defaults), with a progress
/// deadline given, as most charts give it.
fn new_deployment(name: &str) -> Value {
    let mut d = deployment(name);
    d["metadata"]["labels"] = json!({"app": name});
    d["spec"] = json!({"replicas": 3, "progressDeadlineSeconds": 600,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "web", "image": "web:1"}]}}});
    d
}

/// A 3-replica Deployment's status at generation `observed`, every replica updated, ready and
/// available, with `conditions`.
fn deployment_status(observed: u64, conditions: Value) -> Value {
    json!({"observedGeneration": observed, "replicas": 3, "updatedReplicas": 3,
           "readyReplicas": 3, "availableReplicas": 3, "conditions": conditions})
}

/// A CustomResourceDefinition of kind Database (plural `databases`) in the namespace's own
/// group (CRDs are cluster-scoped), with a status subresource, as operators define theirs.
fn database_crd(ns: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("databases.{ns}.example.com")},
        "spec": {"group": format!("{ns}.example.com"), "scope": "Namespaced",
            "names": {"kind": "Database", "listKind": "DatabaseList",
                      "plural": "databases", "singular": "database"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]}
    })
}

fn database(ns: &str) -> Value {
    obj(&format!("{ns}.example.com/v1"), "Database", "app")
}

/// `wait-ready` of the Database `app`.
fn database_target(ns: &str) -> String {
    format!("databases.{ns}.example.com/app")
}

/// Installs the Database CRD and creates the Database `app` at version `version`.
fn new_database(env: &Envtest, ns: &str, version: &str) {
    env.create("", &database_crd(ns));
    env.wait_established(&format!("databases.{ns}.example.com"));
    let mut d = database(ns);
    d["spec"] = json!({"version": version, "storage": "10Gi"});
    env.create(ns, &d);
}

/// A Database's status as its operator writes it: `observedGeneration` in the status, a `Ready`
/// condition without one of its own (as many operators write it).
fn database_status(observed: u64) -> Value {
    json!({"observedGeneration": observed, "conditions": [
        condition("Ready", "True", "Succeeded", "the database accepts connections")]})
}

fn pod() -> Value {
    obj("v1", "Pod", "db-0")
}

fn new_pod() -> Value {
    let mut p = pod();
    p["spec"] = json!({"containers": [{"name": "db", "image": "db:1"}]});
    p
}

/// A running, ready Pod's status as a kubelet 1.33+ writes it for generation `observed` of its
/// spec (container image `image`).
fn pod_status(observed: u64, image: &str) -> Value {
    json!({"observedGeneration": observed, "phase": "Running", "startTime": "2026-11-30T10:00:00Z",
           "conditions": [{"type": "Ready", "status": "True", "observedGeneration": observed,
                           "lastTransitionTime": "2026-11-30T10:00:05Z"}],
           "containerStatuses": [{"name": "db", "image": image, "imageID": "", "ready": true,
               "restartCount": 0, "state": {"running": {"startedAt": "2026-11-30T10:00:01Z"}}}]})
}

/// `metadata.generation` of a stored object.
fn generation(stored: &Value) -> u64 {
    stored["metadata"]["generation"].as_u64().unwrap_or(0)
}

// ----- the harness --------------------------------------------------------------------------

/// A wait: kwait's arguments after the global ones, what its short run says at its deadline,
/// and the exit code its long run ends with once the objects moved on.
struct Wait {
    args: Vec<String>,
    says: &'static str,
    then: i32,
}

fn wait(args: &[&str], says: &'static str, then: i32) -> Wait {
    Wait {
        args: args.iter().map(|a| a.to_string()).collect(),
        says,
        then,
    }
}

fn args_of(waits: &[Wait]) -> Vec<Vec<String>> {
    waits.iter().map(|w| w.args.clone()).collect()
}

/// A user holding exactly the Role(s) `--dry-run=rbac` prints for every wait of a test (each
/// wait's arguments), its kubeconfig and a scratch directory.
struct Setup {
    ns: String,
    user: User,
    dir: PathBuf,
    kubeconfig: PathBuf,
}

fn setup(env: &Envtest, test: &str, ns: &str, waits: &[Vec<String>]) -> Setup {
    let dir = scratch(test);
    let mut dry = vec!["-n".to_string(), ns.to_string(), "--dry-run=rbac".into()];
    for (i, w) in waits.iter().enumerate() {
        if i > 0 {
            dry.push("--and".into());
        }
        dry.extend(w.iter().cloned());
    }
    let dry: Vec<&str> = dry.iter().map(String::as_str).collect();
    let r = run_in(&dir, &dry);
    assert_eq!(r.code, Some(0), "--dry-run=rbac: {}", r.stderr);
    let user = env.user();
    env.grant(&user, &r.stdout);
    let kubeconfig = env.kubeconfig(&dir, &user, ns);
    Setup {
        ns: ns.to_string(),
        user,
        dir,
        kubeconfig,
    }
}

impl Setup {
    fn kwait(&self, timeout: &str, args: &[String]) -> std::process::Command {
        let mut c = common::kwait(&self.dir);
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["-n", &self.ns, "--timeout", timeout])
            .args(args);
        c
    }

    /// The watches the user opened so far.
    fn watches(&self, env: &Envtest) -> usize {
        env.audit(&self.user.name)
            .iter()
            .filter(|e| e.verb == "watch" && e.code == Some(200))
            .count()
    }
}

/// Runs each of `waits` twice at once (a short run and a long one). Each short run must exit
/// 124 saying its `says`, each long one must still be waiting then; `change` moves the objects
/// on, and each long run must then exit its `then`. No request may be refused.
fn not_ready_until(env: &Envtest, s: &Setup, waits: &[Wait], change: impl FnOnce()) {
    let short: Vec<Running> = waits
        .iter()
        .map(|w| spawn(s.kwait(SHORT, &w.args)))
        .collect();
    let mut long: Vec<Running> = waits
        .iter()
        .map(|w| spawn(s.kwait(LONG, &w.args)))
        .collect();
    let mut problems = Vec::new();
    let mut timed_out = 0;
    for (w, r) in waits.iter().zip(short) {
        let r = r.finish(LIMIT);
        if r.code == Some(124) && r.stderr.contains(w.says) {
            timed_out += 1;
        } else {
            problems.push(format!(
                "{:?} ({SHORT}): exit {:?}, expected 124 saying {:?}:\n{}",
                w.args, r.code, w.says, r.stderr
            ));
        }
    }
    // Each run that waited opened one watch (nothing changed): once the long ones have theirs,
    // they judged the objects as they were before the change. A long run that ended instead
    // is reported below.
    let start = Instant::now();
    while s.watches(env) < timed_out + long.len()
        && long.iter_mut().all(Running::is_running)
        && start.elapsed() < WATCHED_WITHIN
    {
        sleep_ms(50);
    }
    if start.elapsed() >= WATCHED_WITHIN {
        problems.push(format!(
            "the long runs did not open their watches within {WATCHED_WITHIN:?}"
        ));
    }
    let early: Vec<bool> = long.iter_mut().map(|r| !r.is_running()).collect();
    change();
    for ((w, r), early) in waits.iter().zip(long).zip(early) {
        let r = r.finish(LIMIT);
        if early {
            problems.push(format!(
                "{:?} ({LONG}): exit {:?} before the change, expected it still waiting:\n{}",
                w.args, r.code, r.stderr
            ));
        } else if r.code != Some(w.then) {
            problems.push(format!(
                "{:?} ({LONG}): exit {:?} after the change, expected {}:\n{}",
                w.args, r.code, w.then, r.stderr
            ));
        }
    }
    let refused = env.refused(&s.user.name);
    if !refused.is_empty() {
        problems.push(format!("requests outside the printed Role: {refused:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

// ----- issue 22, item by item ---------------------------------------------------------------

/// Item 1: a Deployment and a custom resource rolled out at generation 1, then given a new spec
/// (the server makes it generation 2) their controllers have not observed yet: the status and
/// its conditions (which carry no observedGeneration of their own) still describe generation 1.
/// `--condition`, `--json-path` in the status and the kstatus rules all wait until the
/// controller has caught up.
#[test]
fn real_stale_condition_without_own_observed_generation_is_not_ready() {
    let test = "real_stale_condition_without_own_observed_generation_is_not_ready";
    let Some(env) = envtest::shared(test) else {
        return;
    };
    let ns = env.namespace("real-stale");
    env.create(&ns, &new_deployment("web"));
    env.patch_status(
        &ns,
        &deployment("web"),
        &deployment_status(1, rolled_out_conditions("web-6b8f")),
    );
    let stored = env.patch(
        &ns,
        &deployment("web"),
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}}),
    );
    assert_eq!(generation(&stored), 2, "{stored}");
    new_database(env, &ns, "16");
    env.patch_status(&ns, &database(&ns), &database_status(1));
    let stored = env.patch(&ns, &database(&ns), &json!({"spec": {"version": "17"}}));
    assert_eq!(generation(&stored), 2, "{stored}");
    assert_eq!(stored["status"]["observedGeneration"], json!(1), "{stored}");
    // A Pod whose kubelet (1.33+) writes observedGeneration in its status and on its conditions,
    // then re-imaged: the server bumps a Pod's generation on a spec change too.
    env.create(&ns, &new_pod());
    env.patch_status(&ns, &pod(), &pod_status(1, "db:1"));
    let mut stored = env.get(&ns, "v1", "Pod", "db-0").unwrap_or_default();
    stored["spec"]["containers"][0]["image"] = json!("db:2");
    let path = format!("{}/db-0", collection_path("v1", "Pod", &ns));
    let put = env.request(&env.admin(), "PUT", &path, Some(&stored));
    let stored: Value = put
        .ok()
        .and_then(|a| serde_json::from_slice(&a.body).ok())
        .unwrap_or_default();
    assert_eq!(generation(&stored), 2, "{stored}");

    let db = database_target(&ns);
    let ready_status = "$.status.conditions[?@.type=='Ready'].status";
    let waits = [
        wait(
            &["wait-ready", "deploy/web", "--condition", "Available"],
            "generation 2",
            0,
        ),
        wait(
            &[
                "wait-ready",
                "deploy/web",
                "--json-path",
                "$.status.availableReplicas",
                "--equals",
                "3",
            ],
            "generation 2",
            0,
        ),
        wait(&["wait-ready", "deploy/web"], "generation 2", 0),
        wait(
            &["wait-ready", &db, "--condition", "Ready"],
            "generation 2",
            0,
        ),
        wait(
            &[
                "wait-ready",
                &db,
                "--json-path",
                ready_status,
                "--equals",
                "True",
            ],
            "generation 2",
            0,
        ),
        wait(&["wait-ready", &db], "generation 2", 0),
        wait(
            &["wait-ready", "pod/db-0", "--condition", "Ready"],
            "generation 2",
            0,
        ),
        wait(&["wait-ready", "pod/db-0"], "generation 2", 0),
    ];
    let s = setup(env, test, &ns, &args_of(&waits));
    not_ready_until(env, &s, &waits, || {
        // The controllers observe generation 2 (the new pods are rolled out, the database
        // upgraded).
        env.patch_status(
            &ns,
            &deployment("web"),
            &deployment_status(2, rolled_out_conditions("web-7c9d")),
        );
        env.patch_status(&ns, &database(&ns), &database_status(2));
        env.patch_status(&ns, &pod(), &pod_status(2, "db:2"));
    });
}

/// Item 2: every replica counted, but the Deployment controller says `Available=False`, or
/// (with a progress deadline) `Progressing` is not yet True/NewReplicaSetAvailable: not rolled
/// out (124). Once the controller writes the end of the rollout, 0; when it writes
/// ProgressDeadlineExceeded instead, 1.
#[test]
fn real_deployment_with_available_false_or_progressing_not_complete_is_not_ready() {
    let test = "real_deployment_with_available_false_or_progressing_not_complete_is_not_ready";
    let Some(env) = envtest::shared(test) else {
        return;
    };
    let ns = env.namespace("real-deploy-conditions");
    let unfinished = |rs: &str| {
        json!([
            available_condition(true),
            progressing("ReplicaSetUpdated", rs)
        ])
    };
    let start = [
        (
            "avail-false",
            json!([
                available_condition(false),
                progressing("NewReplicaSetAvailable", "avail-false-6b8f")
            ]),
        ),
        ("progressing", unfinished("progressing-6b8f")),
        ("stuck", unfinished("stuck-6b8f")),
    ];
    for (name, conditions) in &start {
        let stored = env.create(&ns, &new_deployment(name));
        assert_eq!(generation(&stored), 1, "{stored}");
        env.patch_status(
            &ns,
            &deployment(name),
            &deployment_status(1, conditions.clone()),
        );
    }
    let unfinished_says = "waiting for Progressing=True (NewReplicaSetAvailable); now Progressing=True (ReplicaSetUpdated)";
    let waits = [
        wait(
            &["wait-ready", "deploy/avail-false"],
            "not available: Available=False (MinimumReplicasUnavailable)",
            0,
        ),
        wait(&["wait-ready", "deploy/progressing"], unfinished_says, 0),
        wait(&["wait-ready", "deploy/stuck"], unfinished_says, 1),
    ];
    let s = setup(env, test, &ns, &args_of(&waits));
    not_ready_until(env, &s, &waits, || {
        for name in ["avail-false", "progressing"] {
            let done = rolled_out_conditions(&format!("{name}-6b8f"));
            env.patch_status(&ns, &deployment(name), &deployment_status(1, done));
        }
        let deadline = json!([
            available_condition(true),
            progressing("ProgressDeadlineExceeded", "stuck-6b8f")
        ]);
        env.patch_status(&ns, &deployment("stuck"), &deployment_status(1, deadline));
    });
}

/// Item 3: a StatefulSet (RollingUpdate, the server's default partition 0) whose replicas are
/// all ready at one revision but one not yet counted at it (currentReplicas < replicas), and a
/// DaemonSet with numberReady < desiredNumberScheduled: not ready (124); once the controllers
/// count every pod, 0.
#[test]
fn real_statefulset_and_daemonset_with_pods_left_behind_are_not_ready() {
    let test = "real_statefulset_and_daemonset_with_pods_left_behind_are_not_ready";
    let Some(env) = envtest::shared(test) else {
        return;
    };
    let ns = env.namespace("real-sts-ds");
    let mut sts = obj("apps/v1", "StatefulSet", "db");
    sts["spec"] = json!({"replicas": 3, "serviceName": "db",
        "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}},
                     "spec": {"containers": [{"name": "db", "image": "postgres:17"}]}}});
    let stored = env.create(&ns, &sts);
    assert_eq!(
        stored["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
        "the server's default: {stored}"
    );
    let sts_status = |current: u64| {
        json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": 3,
               "availableReplicas": 3, "currentReplicas": current, "updatedReplicas": 3,
               "currentRevision": "db-7c9d8f", "updateRevision": "db-7c9d8f", "collisionCount": 0})
    };
    env.patch_status(&ns, &sts, &sts_status(2));
    let mut ds = obj("apps/v1", "DaemonSet", "agent");
    ds["spec"] = json!({"selector": {"matchLabels": {"app": "agent"}},
        "template": {"metadata": {"labels": {"app": "agent"}},
                     "spec": {"containers": [{"name": "agent", "image": "agent:1"}]}}});
    env.create(&ns, &ds);
    let ds_status = |ready: u64| {
        json!({"observedGeneration": 1, "desiredNumberScheduled": 3,
               "currentNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3,
               "numberReady": ready, "numberMisscheduled": 0})
    };
    env.patch_status(&ns, &ds, &ds_status(2));
    let waits = [
        wait(&["wait-ready", "sts/db"], "2 of 3 at revision db-7c9d8f", 0),
        wait(&["wait-ready", "ds/agent"], "2 of 3 pods are ready", 0),
    ];
    let s = setup(env, test, &ns, &args_of(&waits));
    not_ready_until(env, &s, &waits, || {
        env.patch_status(&ns, &sts, &sts_status(3));
        env.patch_status(&ns, &ds, &ds_status(3));
    });
}

/// Item 5: `--condition ready` matches a `Ready` condition (kubectl compares condition types
/// without regard to case), on a custom resource and on a Pod, and says which type matched.
#[test]
fn real_condition_ready_matches_a_ready_condition_without_regard_to_case() {
    let test = "real_condition_ready_matches_a_ready_condition_without_regard_to_case";
    let Some(env) = envtest::shared(test) else {
        return;
    };
    let ns = env.namespace("real-condition-case");
    new_database(env, &ns, "16");
    env.patch_status(&ns, &database(&ns), &database_status(1));
    env.create(&ns, &new_pod());
    let mut ready = pod_status(1, "db:1");
    // As a kubelet before 1.33 writes it: no observedGeneration.
    ready
        .as_object_mut()
        .map(|s| s.remove("observedGeneration"));
    ready["conditions"][0]
        .as_object_mut()
        .map(|c| c.remove("observedGeneration"));
    env.patch_status(&ns, &pod(), &ready);
    let db = database_target(&ns);
    let waits: Vec<Vec<String>> = [db.as_str(), "pod/db-0"]
        .iter()
        .map(|t| {
            vec![
                "wait-ready".into(),
                t.to_string(),
                "--condition".into(),
                "ready".into(),
            ]
        })
        .collect();
    let s = setup(env, test, &ns, &waits);
    let runs: Vec<Running> = waits.iter().map(|w| spawn(s.kwait("30s", w))).collect();
    let mut problems = Vec::new();
    for (w, r) in waits.iter().zip(runs) {
        let r = r.finish(LIMIT);
        let says = "has Ready=True (--condition ready, compared without case)";
        if r.code != Some(0) || !r.stderr.contains(says) {
            problems.push(format!(
                "{w:?}: exit {:?}, expected 0 saying {says:?}:\n{}",
                r.code, r.stderr
            ));
        }
    }
    let refused = env.refused(&s.user.name);
    if !refused.is_empty() {
        problems.push(format!("requests outside the printed Role: {refused:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
