//! `wait-ready` end to end: the built binary against testkit, which serves discovery (both
//! forms), built-in workload types, cluster-scoped types and any CRD once it is created. Status
//! is patched as the controllers write it (testkit runs no controllers).

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(40);

/// Flux's HelmRelease CRD, as `flux install` applies it (the parts a server reads).
fn helmrelease_crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "helmreleases.helm.toolkit.fluxcd.io"},
           "spec": {"group": "helm.toolkit.fluxcd.io", "scope": "Namespaced",
                    "names": {"kind": "HelmRelease", "listKind": "HelmReleaseList", "plural": "helmreleases",
                              "singular": "helmrelease", "shortNames": ["hr"]},
                    "versions": [{"name": "v2", "served": true, "storage": true,
                                  "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                                  "subresources": {"status": {}}}]}})
}

fn helmrelease(generation: u64) -> Value {
    json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
           "metadata": {"name": "postgres", "generation": generation},
           "spec": {"interval": "10m", "chart": {"spec": {"chart": "postgresql"}}}})
}

fn flux_ready(status: &str, reason: &str, message: &str, observed: u64) -> Value {
    json!({"status": {"observedGeneration": observed, "conditions": [
        {"type": "Ready", "status": status, "reason": reason, "message": message,
         "observedGeneration": observed, "lastTransitionTime": "2026-11-30T10:00:00Z"}]}})
}

/// A Deployment as the API server stores it (its defaults filled in) at generation 2.
fn deployment(replicas: u64) -> Value {
    deployment_named("web", replicas, json!({}))
}

/// A Deployment `name` as the API server stores it, with `spec` merged over the defaults.
fn deployment_named(name: &str, replicas: u64, spec: Value) -> Value {
    let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "generation": 2, "labels": {"app": name},
                        "annotations": {"deployment.kubernetes.io/revision": "2"}},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10,
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": "web", "image": "web:2", "imagePullPolicy": "IfNotPresent",
                                                          "terminationMessagePath": "/dev/termination-log",
                                                          "terminationMessagePolicy": "File", "resources": {}}],
                                          "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                                          "schedulerName": "default-scheduler", "securityContext": {},
                                          "terminationGracePeriodSeconds": 30}}}});
    if let (Some(s), Some(extra)) = (d["spec"].as_object_mut(), spec.as_object()) {
        s.extend(extra.clone());
    }
    d
}

/// One condition of a Deployment's status as the controller writes it.
fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastUpdateTime": "2026-11-30T10:00:00Z", "lastTransitionTime": "2026-11-30T10:00:00Z"})
}

/// A 3-replica Deployment's status at generation 2 as the controller writes it: `updated` on
/// the new template, `available` and `ready` of 3.
fn rollout(updated: u64, available: u64, ready: u64) -> Value {
    let conditions = if updated == 3 && available == 3 && ready == 3 {
        rolled_out_conditions("web-7d4b9c")
    } else {
        json!([
            available_condition(false),
            progressing("ReplicaSetUpdated", "web-7d4b9c")
        ])
    };
    deploy_status(2, (3, updated, ready, available), conditions)
}

/// Flux's HelmRelease CRD and a HelmRelease `postgres` installed at generation 1 (Ready=True).
fn installed_helmrelease(c: &Cluster) {
    c.api
        .create("customresourcedefinitions", "", helmrelease_crd());
    c.api.create("helmreleases", NS, helmrelease(1));
    c.api.patch_status(
        "helmreleases",
        NS,
        "postgres",
        flux_ready("True", "InstallSucceeded", "Helm install succeeded", 1),
    );
}

#[test]
fn a_crd_installed_after_kwait_started_is_pending_then_its_object_ready() {
    let c = Cluster::new("ready-crd-late");
    let k = spawn(c.kwait(&[
        "--timeout",
        "30s",
        "--max-interval",
        "1s",
        "wait-ready",
        "hr/postgres",
    ]));
    sleep_ms(2000);
    c.api
        .create("customresourcedefinitions", "", helmrelease_crd());
    c.api.create("helmreleases", NS, helmrelease(1));
    c.api.patch_status(
        "helmreleases",
        NS,
        "postgres",
        flux_ready(
            "True",
            "InstallSucceeded",
            "Helm install succeeded for release crs/postgres.v1",
            1,
        ),
    );
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "kwait: HelmRelease crs/postgres: resource type hr not served (CRD not installed yet?)"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("Helm install succeeded for release crs/postgres.v1"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_helmrelease_is_judged_by_ready_observed_generation_and_stalled() {
    let c = Cluster::new("ready-flux");
    installed_helmrelease(&c);
    // A new spec (generation 2): Ready=True is for the previous generation, so not ready.
    c.api.patch(
        "helmreleases",
        NS,
        "postgres",
        json!({"spec": {"interval": "5m"}}),
    );
    let k = spawn(c.kwait(&[
        "--timeout",
        "30s",
        "--interval",
        "10s",
        "wait-ready",
        "helmreleases.helm.toolkit.fluxcd.io/postgres",
    ]));
    eventually("the watch", Duration::from_secs(20), || {
        (c.api.count("watch") >= 1).then_some(())
    });
    sleep_ms(300);
    let changed = Instant::now();
    c.api.patch_status("helmreleases", NS, "postgres", json!({"status": {"observedGeneration": 2, "conditions": [
        {"type": "Ready", "status": "False", "reason": "InstallFailed", "message": "install retries exhausted",
         "observedGeneration": 2, "lastTransitionTime": "2026-11-30T10:00:00Z"},
        {"type": "Stalled", "status": "True", "reason": "RetriesExceeded", "message": "Failed to install after 3 attempt(s)",
         "observedGeneration": 2, "lastTransitionTime": "2026-11-30T10:00:00Z"}]}}));
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(1), "Stalled is for good: {}", r.stderr);
    assert!(
        r.ended - changed < Duration::from_secs(3),
        "the watch woke it: {:?}",
        r.ended - changed
    );
    assert!(
        r.stderr.contains("generation 2"),
        "the stale state was shown: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("Failed to install after 3 attempt(s)"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_deployment_rollout_completes_by_status_patches() {
    let c = Cluster::new("ready-deploy");
    c.api.create("deployments", NS, deployment(3));
    c.api
        .patch_status("deployments", NS, "web", rollout(1, 2, 2));
    let k = spawn(c.kwait(&[
        "--timeout",
        "30s",
        "--interval",
        "10s",
        "wait-ready",
        "deploy/web",
    ]));
    eventually("the watch", Duration::from_secs(20), || {
        (c.api.open_watches() >= 1).then_some(())
    });
    c.api
        .patch_status("deployments", NS, "web", rollout(2, 2, 2));
    sleep_ms(500);
    c.api
        .patch_status("deployments", NS, "web", rollout(3, 3, 3));
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("kwait: waiting for Deployment crs/web, timeout 30s\n"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("kwait: Deployment crs/web: waiting for rollout to finish: 1 out of 3 new replicas have been updated\n"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("kwait: Deployment crs/web: waiting for rollout to finish: 2 out of 3 new replicas have been updated\n"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("kwait: ready after "), "{}", r.stderr);
}

#[test]
fn a_selector_waits_for_every_match_or_with_any_for_one() {
    let c = Cluster::new("ready-select");
    for (name, phase, ready) in [("db-0", "Running", "True"), ("db-1", "Pending", "False")] {
        c.api.create("pods", NS, json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "db"}},
            "spec": {"containers": [{"name": "db", "image": "postgres:16"}]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}],
                       "containerStatuses": [{"name": "db", "ready": ready == "True", "restartCount": 0,
                                               "state": if ready == "True" { json!({"running": {}}) } else { json!({"waiting": {"reason": "ContainerCreating"}}) }}]}}));
    }
    let all = run(
        c.kwait(&["--timeout", "2s", "wait-ready", "pods", "-l", "app=db"]),
        LIMIT,
    );
    assert_eq!(all.code, Some(124), "{}", all.stderr);
    assert!(
        all.stderr.contains("db-1"),
        "the report names the pod holding the wait: {}",
        all.stderr
    );
    let any = run(
        c.kwait(&[
            "--timeout",
            "10s",
            "wait-ready",
            "po",
            "-l",
            "app=db",
            "--any",
        ]),
        LIMIT,
    );
    assert_eq!(any.code, Some(0), "{}", any.stderr);
}

#[test]
fn cluster_scoped_crds_and_persistent_volumes_are_read_without_a_namespace() {
    let c = Cluster::new("ready-cluster");
    c.api
        .create("customresourcedefinitions", "", helmrelease_crd());
    let r = run(
        c.kwait(&[
            "--timeout",
            "10s",
            "wait-ready",
            "crd/helmreleases.helm.toolkit.fluxcd.io",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.starts_with("kwait: waiting for CustomResourceDefinition helmreleases.helm.toolkit.fluxcd.io, timeout 10s\n"), "{}", r.stderr);
    c.api.create("persistentvolumes", "", json!({"apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": "data-1"}, "spec": {"capacity": {"storage": "1Gi"}}, "status": {"phase": "Available"}}));
    let r = run(
        c.kwait(&["--timeout", "10s", "wait-ready", "pv/data-1"]),
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let paths: Vec<String> = c
        .api
        .requests()
        .into_iter()
        .filter(|q| q.verb == "get")
        .map(|q| q.path)
        .collect();
    assert!(
        paths
            .iter()
            .any(|p| p == "/api/v1/persistentvolumes/data-1"),
        "{paths:?}"
    );
    // A -n given for a cluster-scoped type is said (the user may have meant pvc), not refused:
    // the kubeconfig's own namespace, given by nobody, is not.
    let r = run(
        c.kwait(&["--timeout", "10s", "wait-ready", "pv/data-1", "-n", "app"]),
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let note =
        "-n app does not apply: PersistentVolume is cluster-scoped, so the namespace is not used";
    assert!(
        r.stderr.contains(&format!("kwait: warning: {note}\n")),
        "{}",
        r.stderr
    );
    let r = run(
        c.kwait(&["--timeout", "10s", "wait-ready", "pv/data-1"]),
        LIMIT,
    );
    assert!(!r.stderr.contains("does not apply"), "{}", r.stderr);
    let dry = run_in(
        &c.dir,
        &["--dry-run", "-n", "app", "wait-ready", "pv/data-1"],
    );
    assert!(
        dry.stdout.contains(&format!("kwait: note: {note}\n")),
        "{}",
        dry.stdout
    );
    // --dry-run=rbac grants cluster-scoped types through a ClusterRole.
    let dry = run_in(
        &c.dir,
        &[
            "--no-events",
            "--dry-run=rbac",
            "-n",
            NS,
            "wait-ready",
            "pv/data-1",
        ],
    );
    assert!(
        dry.stdout.contains("kind: ClusterRole\n") && !dry.stdout.contains("namespace:"),
        "{}",
        dry.stdout
    );
}

#[test]
fn an_ambiguous_type_name_is_exit_2_listing_the_candidates() {
    let c = Cluster::new("ready-ambiguous");
    for group in ["widgets.example.com", "widgets.example.org"] {
        let g = group.trim_start_matches("widgets.");
        c.api.create("customresourcedefinitions", "", json!({"apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition", "metadata": {"name": group},
            "spec": {"group": g, "scope": "Namespaced",
                     "names": {"kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true,
                                   "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}));
    }
    let r = run(
        c.kwait(&["--timeout", "10s", "wait-ready", "widgets/w"]),
        LIMIT,
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("example.com") && r.stderr.contains("example.org"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_wait_ready_arguments_are_one_line_naming_them() {
    let home = scratch("ready-usage");
    for (args, says) in [
        (&["wait-ready", "web"][..], "KIND/NAME"),
        (&["wait-ready", "deploy/Web"][..], "KIND/NAME"),
        (&["wait-ready", "deploy/web", "-l", "a=b"][..], "not both"),
        (
            &["wait-ready", "deploy/web", "--condition", "Ready=Tr ue"][..],
            "--condition",
        ),
        (
            &["--dry-run=rbac", "wait-ready", "widgets/w"][..],
            "PLURAL.GROUP",
        ),
    ] {
        let r = run_in(&home, args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
}

// ----- issue 22: never a false ready --------------------------------------------------------
//
// Each object below is written in full as a real API server stores it (the defaults filled in,
// the status as its controller writes it), so the same objects replay on a real cluster.

/// A Deployment's status at `observed` generation: `(replicas, updated, ready, available)` and
/// `conditions`.
fn deploy_status(observed: u64, counts: (u64, u64, u64, u64), conditions: Value) -> Value {
    let (replicas, updated, ready, available) = counts;
    json!({"status": {"observedGeneration": observed, "replicas": replicas, "updatedReplicas": updated,
                      "readyReplicas": ready, "availableReplicas": available,
                      "unavailableReplicas": replicas.saturating_sub(available),
                      "conditions": conditions}})
}

/// A Deployment's `Available` condition as the controller writes it.
fn available_condition(available: bool) -> Value {
    if available {
        condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    }
}

/// A Deployment's `Progressing` condition of `reason` about its new ReplicaSet `rs`, as the
/// controller writes it.
fn progressing(reason: &str, rs: &str) -> Value {
    let (status, says) = match reason {
        "NewReplicaSetAvailable" => ("True", "has successfully progressed."),
        "ProgressDeadlineExceeded" => ("False", "has timed out progressing."),
        _ => ("True", "is progressing."),
    };
    condition(
        "Progressing",
        status,
        reason,
        &format!("ReplicaSet \"{rs}\" {says}"),
    )
}

/// The conditions the Deployment controller writes with the final counts of a rollout.
fn rolled_out_conditions(rs: &str) -> Value {
    json!([
        available_condition(true),
        progressing("NewReplicaSetAvailable", rs)
    ])
}

/// `r` exited with `code` and its output says `says`.
fn ended(r: &Run, code: i32, says: &str) {
    assert_eq!(r.code, Some(code), "{}", r.stderr);
    assert!(
        r.stderr.contains(says),
        "expected {says:?} in:\n{}",
        r.stderr
    );
}

/// Runs every `args` at once against `c` and returns their runs in order.
fn run_all(c: &Cluster, runs: &[&[&str]]) -> Vec<Run> {
    let running: Vec<Running> = runs.iter().map(|a| spawn(c.kwait(a))).collect();
    running.into_iter().map(|r| r.finish(LIMIT)).collect()
}

#[test]
fn stale_condition_without_own_observed_generation_is_not_ready() {
    // Rolled out at generation 1; then a new image (generation 2) the controller has not
    // observed yet: its status, and its conditions (which carry no observedGeneration of their
    // own), still describe generation 1.
    let c = Cluster::new("ready-stale");
    c.api
        .create("deployments", NS, deployment_named("web", 3, json!({})));
    c.api.patch_status(
        "deployments",
        NS,
        "web",
        deploy_status(1, (3, 3, 3, 3), rolled_out_conditions("web-6b8f")),
    );
    let stored = c.api.patch(
        "deployments",
        NS,
        "web",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:3"}]}}}}),
    );
    assert_eq!(stored["metadata"]["generation"], json!(2), "{stored}");
    // (the judgement's arguments, with {} for the timeout)
    let judgements: [&[&str]; 3] = [
        &["--condition", "Available"],
        &["--json-path", "$.status.availableReplicas", "--equals", "3"],
        &[],
    ];
    let runs = |timeout: &str, c: &Cluster| {
        let args: Vec<Vec<&str>> = judgements
            .iter()
            .map(|j| [&["--timeout", timeout, "wait-ready", "deploy/web"][..], j].concat())
            .collect();
        let args: Vec<&[&str]> = args.iter().map(Vec::as_slice).collect();
        run_all(c, &args)
    };
    for r in runs("3s", &c) {
        assert_eq!(
            r.code,
            Some(124),
            "a status of generation 1 is not ready: {}",
            r.stderr
        );
        assert!(r.stderr.contains("generation 2"), "{}", r.stderr);
    }
    // The controller observes generation 2 (the new pods are rolled out).
    c.api.patch_status(
        "deployments",
        NS,
        "web",
        deploy_status(2, (3, 3, 3, 3), rolled_out_conditions("web-7c9d")),
    );
    for r in runs("20s", &c) {
        assert_eq!(r.code, Some(0), "{}", r.stderr);
    }
}

#[test]
fn condition_ready_matches_a_ready_condition_without_regard_to_case() {
    let c = Cluster::new("ready-condition-case");
    installed_helmrelease(&c);
    let r = run(
        c.kwait(&[
            "--timeout",
            "20s",
            "wait-ready",
            "hr/postgres",
            "--condition",
            "ready",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("has Ready=True (--condition ready, compared without case)"),
        "{}",
        r.stderr
    );
}

#[test]
fn deployment_with_available_false_or_progressing_not_complete_is_not_ready() {
    let c = Cluster::new("ready-deploy-conditions");
    let complete = (3, 3, 3, 3);
    let cases = [
        // Counts complete, but the controller says it lacks minimum availability.
        (
            "avail-false",
            json!([
                available_condition(false),
                progressing("NewReplicaSetAvailable", "avail-false-6b8f")
            ]),
        ),
        // Counts complete, but with a progress deadline the rollout is not judged done yet.
        (
            "progressing",
            json!([
                available_condition(true),
                progressing("ReplicaSetUpdated", "progressing-6b8f")
            ]),
        ),
        (
            "deadline",
            json!([
                available_condition(true),
                progressing("ProgressDeadlineExceeded", "deadline-6b8f")
            ]),
        ),
        ("done", rolled_out_conditions("done-6b8f")),
    ];
    for (name, conditions) in &cases {
        c.api
            .create("deployments", NS, deployment_named(name, 3, json!({})));
        c.api.patch_status(
            "deployments",
            NS,
            name,
            deploy_status(1, complete, conditions.clone()),
        );
    }
    let args: Vec<String> = cases.iter().map(|(n, _)| format!("deploy/{n}")).collect();
    let runs: Vec<[&str; 4]> = args
        .iter()
        .map(|a| ["--timeout", "3s", "wait-ready", a.as_str()])
        .collect();
    let runs: Vec<&[&str]> = runs.iter().map(|a| &a[..]).collect();
    let r = run_all(&c, &runs);
    ended(
        &r[0],
        124,
        "not available: Available=False (MinimumReplicasUnavailable)",
    );
    ended(
        &r[1],
        124,
        "waiting for Progressing=True (NewReplicaSetAvailable); now Progressing=True (ReplicaSetUpdated)",
    );
    ended(&r[2], 1, "ReplicaSet deadline-6b8f");
    assert_eq!(r[3].code, Some(0), "{}", r[3].stderr);
}

#[test]
fn statefulset_and_daemonset_with_pods_left_behind_are_not_ready() {
    let c = Cluster::new("ready-sts-ds");
    c.api.create("statefulsets", NS, json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "labels": {"app": "db"}},
        "spec": {"replicas": 3, "serviceName": "db", "podManagementPolicy": "OrderedReady",
                 "revisionHistoryLimit": 10, "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                 "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "db", "image": "postgres:17"}]}}}}));
    // Every replica ready and the revisions agree, but one pod is not counted at them yet.
    let sts = |current: u64| {
        json!({"status": {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3,
        "availableReplicas": 3, "currentReplicas": current, "updatedReplicas": 3,
        "currentRevision": "db-7c9d8f", "updateRevision": "db-7c9d8f", "collisionCount": 0}})
    };
    c.api.patch_status("statefulsets", NS, "db", sts(2));
    c.api.create("daemonsets", NS, json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "labels": {"app": "agent"}},
        "spec": {"revisionHistoryLimit": 10,
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
                 "selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"containers": [{"name": "agent", "image": "agent:1"}]}}}}));
    let ds = |ready: u64| {
        json!({"status": {"observedGeneration": 1, "desiredNumberScheduled": 3,
        "currentNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3,
        "numberReady": ready, "numberMisscheduled": 0}})
    };
    c.api.patch_status("daemonsets", NS, "agent", ds(2));
    let r = run_all(
        &c,
        &[
            &["--timeout", "3s", "wait-ready", "sts/db"],
            &["--timeout", "3s", "wait-ready", "ds/agent"],
        ],
    );
    ended(&r[0], 124, "2 of 3 at revision db-7c9d8f");
    ended(&r[1], 124, "2 of 3 pods are ready");
    c.api.patch_status("statefulsets", NS, "db", sts(3));
    c.api.patch_status("daemonsets", NS, "agent", ds(3));
    for r in run_all(
        &c,
        &[
            &["--timeout", "20s", "wait-ready", "sts/db"],
            &["--timeout", "20s", "wait-ready", "ds/agent"],
        ],
    ) {
        assert_eq!(r.code, Some(0), "{}", r.stderr);
    }
}

#[test]
fn crd_with_names_not_accepted_fails_at_once_naming_the_conflict() {
    let c = Cluster::new("ready-crd-conflict");
    c.api
        .create("customresourcedefinitions", "", helmrelease_crd());
    // A second definition in the same group claiming the kind HelmRelease: the API server's
    // naming controller refuses its names and never establishes it.
    c.api.create("customresourcedefinitions", "", json!({"apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition", "metadata": {"name": "releases.helm.toolkit.fluxcd.io"},
        "spec": {"group": "helm.toolkit.fluxcd.io", "scope": "Namespaced", "conversion": {"strategy": "None"},
                 "names": {"kind": "HelmRelease", "listKind": "HelmReleaseList", "plural": "releases", "singular": "release"},
                 "versions": [{"name": "v2", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
        "status": {"acceptedNames": {"kind": "", "plural": ""}, "storedVersions": ["v2"], "conditions": [
            {"type": "NamesAccepted", "status": "False", "reason": "KindConflict",
             "message": "\"HelmRelease\" is already in use", "lastTransitionTime": "2026-11-30T10:00:00Z"},
            {"type": "Established", "status": "False", "reason": "NotAccepted",
             "message": "not all names are accepted", "lastTransitionTime": "2026-11-30T10:00:00Z"}]}}));
    let r = run(
        c.kwait(&[
            "--timeout",
            "30s",
            "wait-ready",
            "crd/releases.helm.toolkit.fluxcd.io",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.took < Duration::from_secs(20),
        "at once, not at the deadline: {:?}",
        r.took
    );
    assert!(
        r.stderr
            .contains("NamesAccepted=False (KindConflict): \"HelmRelease\" is already in use"),
        "{}",
        r.stderr
    );
}

#[test]
fn pod_reports_name_the_crash_loop_and_an_unschedulable_pod_without_an_empty_message() {
    let c = Cluster::new("ready-pod-report");
    let spec = json!({"containers": [{"name": "db", "image": "postgres:17", "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "resources": {}}],
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
        "serviceAccountName": "default", "terminationGracePeriodSeconds": 30, "enableServiceLinks": true,
        "preemptionPolicy": "PreemptLowerPriority", "priority": 0});
    c.api.create("pods", NS, json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "crashing", "labels": {"app": "db"}}, "spec": spec,
        "status": {"phase": "Running", "qosClass": "BestEffort", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available",
             "lastTransitionTime": "2026-11-30T10:00:00Z"},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
             "message": "containers with unready status: [db]", "lastTransitionTime": "2026-11-30T10:00:00Z"}],
          "containerStatuses": [{"name": "db", "ready": false, "started": false, "restartCount": 4, "image": "postgres:17",
             "imageID": "", "containerID": "containerd://4f1e",
             "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container=db pod=crashing_crs(1f2e)"}},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": "2026-11-30T10:01:00Z", "finishedAt": "2026-11-30T10:01:02Z"}}}]}}));
    c.api.create(
        "pods",
        NS,
        json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "unplaced"}, "spec": spec,
        "status": {"phase": "Pending", "qosClass": "BestEffort", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "",
             "lastTransitionTime": "2026-11-30T10:00:00Z"}]}}),
    );
    let r = run_all(
        &c,
        &[
            &["--timeout", "2s", "wait-ready", "pod/crashing"],
            &["--timeout", "2s", "wait-ready", "pod/unplaced"],
        ],
    );
    ended(
        &r[0],
        124,
        "container db waiting (CrashLoopBackOff: back-off 1m20s",
    );
    ended(&r[1], 124, "kwait: Pod crs/unplaced: unschedulable\n");
    assert!(
        !r[1].stderr.contains("(Unschedulable): ") && !r[1].stderr.contains("unschedulable: "),
        "{}",
        r[1].stderr
    );
}
