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

fn deployment(replicas: u64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "generation": 2, "labels": {"app": "web"}},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:2"}]}}}})
}

fn rollout(updated: u64, available: u64, ready: u64) -> Value {
    json!({"status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": updated,
                      "readyReplicas": ready, "availableReplicas": available,
                      "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                                      "message": "ReplicaSet \"web-7d4b9c\" is progressing."}]}})
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
    c.api
        .create("customresourcedefinitions", "", helmrelease_crd());
    c.api.create("helmreleases", NS, helmrelease(1));
    c.api.patch_status(
        "helmreleases",
        NS,
        "postgres",
        flux_ready("True", "InstallSucceeded", "Helm install succeeded", 1),
    );
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
            .contains("kwait: Deployment crs/web: 1 of 3 updated"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("kwait: Deployment crs/web: 2 of 3 updated"),
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
