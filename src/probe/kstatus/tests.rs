//! Each rule on objects shaped as the API server and the controllers write them (shapes after
//! kstatus' and Flux's own test fixtures; the objects are written here).

use serde_json::{Value, json};
use serde_json_path::JsonPath;

use super::*;

fn state(c: &Check) -> &str {
    match c {
        Check::Pending(o) => &o.state,
        other => panic!("expected pending, got {other:?}"),
    }
}

fn failed(c: &Check) -> &Observation {
    match c {
        Check::Failed(o) => o,
        other => panic!("expected failed, got {other:?}"),
    }
}

fn ready(c: &Check) -> &str {
    match c {
        Check::Ready(t) => t,
        other => panic!("expected ready, got {other:?}"),
    }
}

fn deployment(generation: i64, spec: Value, status: Value) -> Value {
    let mut spec_full = json!({
        "replicas": 3,
        "progressDeadlineSeconds": 600,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}
    });
    if let (Some(s), Some(extra)) = (spec_full.as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "crs", "generation": generation, "uid": "4c5a"},
        "spec": spec_full,
        "status": status
    })
}

#[test]
fn deployment_mid_rollout_counts_updated_and_available() {
    let d = deployment(
        2,
        json!({}),
        json!({
            "observedGeneration": 2, "replicas": 4, "updatedReplicas": 2, "readyReplicas": 3, "availableReplicas": 1, "unavailableReplicas": 3,
            "conditions": [
                {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."},
                {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": "ReplicaSet \"web-7d9c\" is progressing."}
            ]
        }),
    );
    assert_eq!(
        state(&judge(&d)),
        "waiting for rollout to finish: 2 out of 3 new replicas have been updated"
    );
}

#[test]
fn deployment_with_old_replicas_left_waits_for_them_to_terminate() {
    let d = deployment(
        2,
        json!({}),
        json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "readyReplicas": 4, "availableReplicas": 4}),
    );
    assert_eq!(
        state(&judge(&d)),
        "waiting for rollout to finish: 1 old replicas are pending termination"
    );
}

#[test]
fn deployment_rolled_out_is_ready() {
    let d = deployment(
        2,
        json!({}),
        json!({
            "observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "ReplicaSet \"web-7d9c\" has successfully progressed."}
            ]
        }),
    );
    assert_eq!(
        ready(&judge(&d)),
        "Deployment crs/web rolled out (3 of 3 updated and available)"
    );
}

#[test]
fn deployment_whose_status_is_of_an_older_generation_is_stale() {
    let d = deployment(
        3,
        json!({}),
        json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}),
    );
    assert_eq!(
        state(&judge(&d)),
        "waiting for the controller to observe generation 3"
    );
}

#[test]
fn deployment_paused_mid_rollout_says_paused_and_how_to_resume() {
    let d = deployment(
        4,
        json!({"paused": true}),
        json!({
            "observedGeneration": 4, "replicas": 3, "updatedReplicas": 0, "readyReplicas": 3, "availableReplicas": 3,
            "conditions": [{"type": "Progressing", "status": "Unknown", "reason": "DeploymentPaused", "message": "Deployment is paused"}]
        }),
    );
    let c = judge(&d);
    assert_eq!(
        state(&c),
        "paused: waiting for rollout to finish: 0 out of 3 new replicas have been updated"
    );
    let Check::Pending(o) = &c else { return };
    assert!(
        o.fix
            .iter()
            .any(|f| f.contains("kubectl rollout resume deployment/web -n crs"))
    );
}

#[test]
fn deployment_past_its_progress_deadline_fails_naming_the_new_replicaset() {
    let d = deployment(
        2,
        json!({}),
        json!({
            "observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 3, "availableReplicas": 3, "unavailableReplicas": 1,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-5d9c7b8f6\" has timed out progressing."}
            ]
        }),
    );
    let c = judge(&d);
    let o = failed(&c);
    assert_eq!(
        o.state,
        "failed: progress deadline exceeded (ReplicaSet web-5d9c7b8f6)"
    );
    assert!(o.cause.as_deref().is_some_and(|c| c.contains("600s")));
    assert!(
        o.fix
            .iter()
            .any(|f| f.contains("kubectl describe replicaset web-5d9c7b8f6 -n crs"))
    );
}

#[test]
fn deployment_scaled_to_zero_is_ready_once_no_replica_is_left() {
    let d = deployment(
        5,
        json!({"replicas": 0}),
        json!({"observedGeneration": 5, "replicas": 1, "updatedReplicas": 0}),
    );
    assert_eq!(
        state(&judge(&d)),
        "waiting for rollout to finish: 1 old replicas are pending termination"
    );
    let d = deployment(
        5,
        json!({"replicas": 0}),
        json!({"observedGeneration": 5, "conditions": complete_conditions()}),
    );
    assert_eq!(
        ready(&judge(&d)),
        "Deployment crs/web scaled to 0 (no replica left)"
    );
}

fn statefulset(strategy: Value, status: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "crs", "generation": 2},
        "spec": {"replicas": 3, "serviceName": "db", "updateStrategy": strategy,
                 "selector": {"matchLabels": {"app": "db"}}, "template": {}},
        "status": status
    })
}

#[test]
fn statefulset_mid_rolling_update_waits_for_the_update_revision() {
    let s = statefulset(
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
        json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "currentReplicas": 2, "updatedReplicas": 1,
               "currentRevision": "db-6b8f", "updateRevision": "db-7c9d"}),
    );
    assert_eq!(
        state(&judge(&s)),
        "1 of 3 updated to revision db-7c9d; waiting for the rollout"
    );
    let s = statefulset(
        json!({"type": "RollingUpdate"}),
        json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 3,
               "currentRevision": "db-7c9d", "updateRevision": "db-7c9d"}),
    );
    assert_eq!(
        ready(&judge(&s)),
        "StatefulSet crs/db rolled out (3 of 3 ready)"
    );
}

#[test]
fn statefulset_with_a_partition_is_ready_when_the_ordinals_above_it_are_updated() {
    let strategy = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}});
    let s = statefulset(
        strategy.clone(),
        json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 0,
               "currentRevision": "db-6b8f", "updateRevision": "db-7c9d"}),
    );
    assert_eq!(
        state(&judge(&s)),
        "0 of 1 updated (partition 2); waiting for the rollout"
    );
    let s = statefulset(
        strategy,
        json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "currentReplicas": 2, "updatedReplicas": 1,
               "currentRevision": "db-6b8f", "updateRevision": "db-7c9d"}),
    );
    assert!(ready(&judge(&s)).contains("partition rollout complete"));
}

#[test]
fn statefulset_on_delete_waits_for_ready_replicas_only() {
    let s = statefulset(
        json!({"type": "OnDelete"}),
        json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": 2, "currentReplicas": 3, "updatedReplicas": 0,
               "currentRevision": "db-6b8f", "updateRevision": "db-7c9d"}),
    );
    assert_eq!(state(&judge(&s)), "2 of 3 ready; waiting for pods");
    let s = statefulset(
        json!({"type": "OnDelete"}),
        json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 0,
               "currentRevision": "db-6b8f", "updateRevision": "db-7c9d"}),
    );
    assert!(ready(&judge(&s)).contains("OnDelete"));
}

fn daemonset(status: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "kube-system", "generation": 3},
        "spec": {"updateStrategy": {"type": "RollingUpdate"}, "selector": {}, "template": {}},
        "status": status
    })
}

#[test]
fn daemonset_waits_for_updated_and_available_pods_on_every_node() {
    let d = daemonset(json!({
        "observedGeneration": 3, "desiredNumberScheduled": 4, "currentNumberScheduled": 4,
        "updatedNumberScheduled": 2, "numberAvailable": 3, "numberReady": 3, "numberMisscheduled": 0
    }));
    assert_eq!(
        state(&judge(&d)),
        "waiting for rollout to finish: 2 out of 4 new pods have been updated"
    );
    let d = daemonset(json!({
        "observedGeneration": 3, "desiredNumberScheduled": 4, "currentNumberScheduled": 4,
        "updatedNumberScheduled": 4, "numberAvailable": 4, "numberReady": 4
    }));
    assert_eq!(
        ready(&judge(&d)),
        "DaemonSet kube-system/agent rolled out (4 of 4 updated, 4 available)"
    );
}

#[test]
fn daemonset_without_observed_generation_is_not_read_yet() {
    let d = daemonset(json!({"desiredNumberScheduled": 0, "numberAvailable": 0}));
    assert_eq!(
        state(&judge(&d)),
        "waiting for the controller's first status"
    );
}

#[test]
fn replicaset_failure_shows_the_controllers_message() {
    let rs = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-7d9c", "namespace": "crs", "generation": 1},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 1, "replicas": 0, "conditions": [
            {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
             "message": "pods \"web-7d9c-x\" is forbidden: exceeded quota: compute"}]}
    });
    assert!(state(&judge(&rs)).contains(
        "ReplicaFailure=True (FailedCreate): pods \"web-7d9c-x\" is forbidden: exceeded quota"
    ));
}

fn pod(status: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "postgres-0", "namespace": "crs", "creationTimestamp": "2026-11-30T05:00:00Z"},
        "spec": {"containers": [{"name": "db", "image": "postgres:17"}]},
        "status": status
    })
}

#[test]
fn pod_pending_before_scheduling_and_ready_after() {
    let p = pod(json!({"phase": "Pending", "qosClass": "BestEffort"}));
    assert_eq!(state(&judge(&p)), "Pending, not ready");
    let p = pod(json!({
        "phase": "Running",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": "True"},
            {"type": "Ready", "status": "True"}
        ],
        "containerStatuses": [{"name": "db", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": "2026-11-30T05:00:03Z"}}}]
    }));
    assert_eq!(ready(&judge(&p)), "Pod crs/postgres-0 ready");
}

#[test]
fn pod_crash_looping_names_the_container_and_its_back_off_and_stays_pending() {
    let p = pod(json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "containers with unready status: [db]"}],
        "containerStatuses": [{
            "name": "db", "ready": false, "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container=db pod=postgres-0_crs(1f2e)"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-11-30T05:03:00Z"}}
        }]
    }));
    let c = judge(&p);
    assert_eq!(
        state(&c),
        "not ready: container db waiting (CrashLoopBackOff: back-off 1m20s restarting failed container=db pod=postgres-0_crs(1f2e), restarted 4 times)"
    );
    let Check::Pending(o) = &c else { return };
    assert!(
        o.fix
            .iter()
            .any(|f| f == "see why it exits: kubectl logs postgres-0 -c db -n crs --previous")
    );
}

#[test]
fn pod_pulling_a_missing_image_says_image_pull_back_off() {
    let p = pod(json!({
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
        "initContainerStatuses": [{"name": "migrate", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"postgres:99\""}}}],
        "containerStatuses": [{"name": "db", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]
    }));
    assert_eq!(
        state(&judge(&p)),
        "not ready: init container migrate waiting (ImagePullBackOff: Back-off pulling image \"postgres:99\")"
    );
}

#[test]
fn pod_unschedulable_shows_the_schedulers_message() {
    let p = pod(json!({
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."}]
    }));
    assert_eq!(
        state(&judge(&p)),
        "unschedulable: 0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    );
}

#[test]
fn pod_succeeded_is_ready_and_failed_fails_naming_the_exit() {
    let p = pod(
        json!({"phase": "Succeeded", "containerStatuses": [{"name": "db", "ready": false,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    );
    assert_eq!(
        ready(&judge(&p)),
        "Pod crs/postgres-0 completed (Succeeded)"
    );
    let p = pod(
        json!({"phase": "Failed", "containerStatuses": [{"name": "db", "ready": false,
        "state": {"terminated": {"exitCode": 3, "reason": "Error", "message": "FATAL: data directory \"/var/lib/postgresql/data\" has invalid permissions\n", "finishedAt": "2026-11-30T05:01:00Z"}}}]}),
    );
    assert_eq!(
        failed(&judge(&p)).state,
        "failed: postgres-0 container db exited 3 (Error): FATAL: data directory \"/var/lib/postgresql/data\" has invalid permissions"
    );
    let p = pod(
        json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}),
    );
    assert_eq!(
        failed(&judge(&p)).state,
        "failed: postgres-0 failed (Evicted): The node was low on resource: memory."
    );
}

#[test]
fn server_text_in_a_state_line_cannot_forge_lines_or_escape_sequences() {
    let p = pod(
        json!({"phase": "Running", "containerStatuses": [{"name": "db\u{1b}[2J", "ready": false,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "x\nkwait: ready after 1s: all good\u{202e}"}}}]}),
    );
    let s = state(&judge(&p)).to_string();
    assert!(
        !s.contains('\n') && !s.contains('\u{1b}') && !s.contains('\u{202e}'),
        "{s}"
    );
    assert!(s.contains("db\\u{1b}[2J"), "{s}");
}

fn pvc(phase: &str, annotations: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "crs", "annotations": annotations},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path", "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"},
        "status": {"phase": phase}
    })
}

#[test]
fn pvc_bound_is_ready_and_pending_names_a_wait_for_first_consumer_class() {
    let mut bound = pvc("Bound", json!({}));
    bound["spec"]["volumeName"] = json!("pvc-1f2e");
    assert_eq!(
        ready(&judge(&bound)),
        "PersistentVolumeClaim crs/data is Bound (volume pvc-1f2e)"
    );
    let pending = pvc("Pending", json!({}));
    assert_eq!(state(&judge(&pending)), "Pending");
    let class = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "local-path"},
        "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"});
    assert_eq!(
        state(&judge_pvc(&pending, Some(&class))),
        "Pending (waiting for first consumer)"
    );
    let chosen = pvc(
        "Pending",
        json!({"volume.kubernetes.io/selected-node": "node-2"}),
    );
    assert_eq!(
        state(&judge_pvc(&chosen, Some(&class))),
        "Pending (provisioning for node node-2)"
    );
}

fn crd(conditions: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "certificates.cert-manager.io", "generation": 1},
        "spec": {"group": "cert-manager.io", "names": {"kind": "Certificate", "plural": "certificates"}, "scope": "Namespaced"},
        "status": {"conditions": conditions, "acceptedNames": {"kind": "Certificate", "plural": "certificates"}}
    })
}

#[test]
fn crd_is_ready_once_established_and_fails_on_a_names_conflict() {
    let c = crd(json!([
        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}
    ]));
    assert_eq!(
        ready(&judge(&c)),
        "CustomResourceDefinition certificates.cert-manager.io is Established"
    );
    let c = crd(
        json!([{"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
        {"type": "Established", "status": "False", "reason": "Installing", "message": "the initial names have not been accepted"}]),
    );
    assert_eq!(
        state(&judge(&c)),
        "Established=False (Installing): the initial names have not been accepted"
    );
    let c = crd(
        json!([{"type": "NamesAccepted", "status": "False", "reason": "MultipleConflicts",
        "message": "\"certificates\" is already in use"}]),
    );
    assert_eq!(
        failed(&judge(&c)).state,
        "names not accepted: NamesAccepted=False (MultipleConflicts): \"certificates\" is already in use"
    );
}

#[test]
fn crd_with_names_not_accepted_fails_at_once_naming_the_conflict() {
    // As the API server's naming controller writes it when another definition already serves
    // the plural: NamesAccepted=False, and Established=False (NotAccepted).
    let c = crd(json!([
        {"type": "NamesAccepted", "status": "False", "reason": "PluralConflict",
         "message": "\"certificates\" is already in use", "lastTransitionTime": "2026-11-30T10:00:00Z"},
        {"type": "Established", "status": "False", "reason": "NotAccepted",
         "message": "not all names are accepted", "lastTransitionTime": "2026-11-30T10:00:00Z"}
    ]));
    let c = judge(&c);
    let o = failed(&c);
    assert_eq!(
        o.state,
        "names not accepted: NamesAccepted=False (PluralConflict): \"certificates\" is already in use"
    );
    assert!(
        o.cause
            .as_deref()
            .is_some_and(|c| c.contains("\"certificates\" is already in use")),
        "{o:?}"
    );
}

#[test]
fn load_balancer_service_waits_for_an_ingress_address() {
    let mut s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "gw", "namespace": "crs"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.7", "ports": [{"port": 443}]},
        "status": {"loadBalancer": {}}});
    assert_eq!(state(&judge(&s)), "waiting for a load balancer address");
    s["status"]["loadBalancer"]["ingress"] = json!([{"ip": "203.0.113.7", "ipMode": "VIP"}]);
    assert_eq!(
        ready(&judge(&s)),
        "Service crs/gw has load balancer address 203.0.113.7"
    );
}

#[test]
fn job_is_judged_as_wait_job_judges_it() {
    let j = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "crs", "generation": 1},
        "spec": {"backoffLimit": 2},
        "status": {"failed": 3, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}});
    assert_eq!(judge(&j), crate::probe::job::judge(&j, "crs", "migrate"));
    assert!(matches!(judge(&j), Check::Failed(_)));
}

fn helmrelease(generation: i64, status: Value) -> Value {
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "openhands", "namespace": "apps", "generation": generation},
        "spec": {"interval": "5m", "chart": {"spec": {"chart": "openhands", "version": "0.9.x", "sourceRef": {"kind": "HelmRepository", "name": "openhands"}}}},
        "status": status
    })
}

#[test]
fn helmrelease_ready_true_is_ready_with_its_message() {
    let hr = helmrelease(
        2,
        json!({"observedGeneration": 2, "lastAttemptedRevision": "0.9.3", "conditions": [
            {"type": "Ready", "status": "True", "observedGeneration": 2, "reason": "InstallSucceeded",
             "message": "Helm install succeeded for release apps/openhands.v1 with chart openhands@0.9.3"},
            {"type": "Released", "status": "True", "observedGeneration": 2, "reason": "InstallSucceeded"}]}),
    );
    assert_eq!(
        ready(&judge(&hr)),
        "HelmRelease apps/openhands is Ready: Helm install succeeded for release apps/openhands.v1 with chart openhands@0.9.3"
    );
}

#[test]
fn helmrelease_ready_false_shows_reason_and_message() {
    let hr = helmrelease(
        2,
        json!({"observedGeneration": 2, "conditions": [
            {"type": "Ready", "status": "False", "observedGeneration": 2, "reason": "InstallFailed",
             "message": "Helm install failed for release apps/openhands with chart openhands@0.9.3: context deadline exceeded"}]}),
    );
    assert_eq!(
        state(&judge(&hr)),
        "Ready=False (InstallFailed): Helm install failed for release apps/openhands with chart openhands@0.9.3: context deadline exceeded"
    );
}

#[test]
fn helmrelease_whose_ready_condition_is_of_an_older_generation_is_stale() {
    // The object's observedGeneration is current, but Ready still judges generation 2.
    let hr = helmrelease(
        3,
        json!({"observedGeneration": 3, "conditions": [
            {"type": "Ready", "status": "True", "observedGeneration": 2, "reason": "UpgradeSucceeded", "message": "Helm upgrade succeeded"}]}),
    );
    assert_eq!(
        state(&judge(&hr)),
        "Ready condition is of generation 2, waiting for generation 3"
    );
    let hr = helmrelease(
        3,
        json!({"observedGeneration": 2, "conditions": [
            {"type": "Ready", "status": "True", "observedGeneration": 2, "reason": "UpgradeSucceeded"}]}),
    );
    assert_eq!(
        state(&judge(&hr)),
        "waiting for the controller to observe generation 3"
    );
}

#[test]
fn helmrelease_reconciling_is_pending_and_stalled_fails_for_good() {
    let hr = helmrelease(
        2,
        json!({"observedGeneration": 2, "conditions": [
            {"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "Running 'upgrade' action with timeout of 5m0s"},
            {"type": "Ready", "status": "Unknown", "reason": "Progressing", "message": "Running 'upgrade' action with timeout of 5m0s"}]}),
    );
    assert_eq!(
        state(&judge(&hr)),
        "reconciling: Running 'upgrade' action with timeout of 5m0s"
    );
    let hr = helmrelease(
        2,
        json!({"observedGeneration": 2, "conditions": [
            {"type": "Stalled", "status": "True", "reason": "RetriesExceeded", "message": "Failed to install after 1 attempt(s)"},
            {"type": "Ready", "status": "False", "reason": "InstallFailed", "message": "Helm install failed: timed out waiting for the condition"}]}),
    );
    let c = judge(&hr);
    let o = failed(&c);
    assert_eq!(o.state, "stalled: Failed to install after 1 attempt(s)");
    assert!(
        o.cause
            .as_deref()
            .is_some_and(|c| c.contains("Stalled=True (RetriesExceeded)"))
    );
}

#[test]
fn custom_resource_without_status_waits_for_its_controller_but_a_configmap_is_ready() {
    let ks = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "infra", "namespace": "flux-system", "generation": 1}, "spec": {"path": "./infra"}});
    assert_eq!(state(&judge(&ks)), "no status yet");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "crs"}, "data": {}});
    assert!(ready(&judge(&cm)).starts_with("ConfigMap crs/c exists"));
}

#[test]
fn an_object_being_deleted_is_not_ready_even_when_its_status_says_so() {
    let mut d = deployment(
        1,
        json!({}),
        json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}),
    );
    d["metadata"]["deletionTimestamp"] = json!("2026-11-30T05:10:00Z");
    d["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
    let c = judge(&d);
    assert_eq!(state(&c), "being deleted");
    let Check::Pending(o) = &c else { return };
    assert!(
        o.cause
            .as_deref()
            .is_some_and(|c| c.contains("foregroundDeletion"))
    );
}

#[test]
fn explicit_condition_compares_status_without_case_and_needs_the_current_generation() {
    let hr = helmrelease(
        3,
        json!({"conditions": [{"type": "Released", "status": "True", "observedGeneration": 3}]}),
    );
    assert_eq!(
        ready(&judge_condition(&hr, "Released", "true")),
        "HelmRelease apps/openhands has Released=True"
    );
    assert_eq!(
        state(&judge_condition(&hr, "Released", "False")),
        "Released=True"
    );
    assert_eq!(
        state(&judge_condition(&hr, "TestSuccess", "True")),
        "no TestSuccess condition yet"
    );
    let stale = helmrelease(
        4,
        json!({"conditions": [{"type": "Released", "status": "True", "observedGeneration": 3}]}),
    );
    assert_eq!(
        state(&judge_condition(&stale, "Released", "True")),
        "Released condition is of generation 3, waiting for generation 4"
    );
}

#[test]
fn explicit_json_path_uses_the_wait_http_engine_and_its_bound() {
    let p = pod(json!({"phase": "Running", "podIP": "10.1.2.3"}));
    let q = |s: &str| JsonPath::parse(s).unwrap();
    assert_eq!(
        ready(&judge_json_path(
            &p,
            "$.status.phase",
            &q("$.status.phase"),
            Some("Running")
        )),
        "Pod crs/postgres-0 has $.status.phase == \"Running\""
    );
    assert_eq!(
        state(&judge_json_path(
            &p,
            "$.status.phase",
            &q("$.status.phase"),
            Some("Succeeded")
        )),
        "$.status.phase is \"Running\""
    );
    assert_eq!(
        state(&judge_json_path(
            &p,
            "$.status.hostIP",
            &q("$.status.hostIP"),
            None
        )),
        "$.status.hostIP matched nothing"
    );
    // A wide object and a query that multiplies by it: refused before it runs.
    let wide: Vec<Value> = (0..2000).map(|i| json!({"a": [i, i, i]})).collect();
    let mut big = p.clone();
    big["status"]["x"] = Value::Array(wide);
    let path = "$..*..*..*";
    match judge_json_path(&big, path, &q(path), Some("1")) {
        Check::Pending(o) => {
            assert_eq!(o.class, Class::Other);
            assert!(
                o.state.starts_with("JSONPath result too large"),
                "{}",
                o.state
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_waiting_container_without_reason_or_restarts_is_worded_without_empty_brackets() {
    let p = pod(
        json!({"phase": "Pending", "containerStatuses": [{"name": "db", "ready": false, "restartCount": 0, "state": {"waiting": {}}}]}),
    );
    assert_eq!(state(&judge(&p)), "not ready: container db waiting");
}

/// A Flux HelmRelease at `generation` whose status says `status_observed` and whose `Released`
/// and `Ready` conditions (True) say `cond_observed` (each `None`: the field is left out).
fn release_with(
    generation: i64,
    status_observed: Option<i64>,
    cond_observed: Option<i64>,
) -> Value {
    let cond = |kind: &str| {
        let mut c = json!({"type": kind, "status": "True", "reason": "UpgradeSucceeded",
            "message": "Helm upgrade succeeded", "lastTransitionTime": "2026-11-30T10:00:00Z"});
        if let Some(g) = cond_observed {
            c["observedGeneration"] = json!(g);
        }
        c
    };
    let mut status = json!({"conditions": [cond("Ready"), cond("Released")]});
    if let Some(g) = status_observed {
        status["observedGeneration"] = json!(g);
    }
    helmrelease(generation, status)
}

/// kubectl's getObservedGeneration: a condition's own `observedGeneration`, else the status's;
/// a verdict for an older generation is not ready, in every judgement.
#[test]
fn every_judgement_reads_a_condition_generation_as_kubectl_does() {
    // (generation, status.observedGeneration, condition's own, current?)
    let table = [
        (2, Some(2), None, true),
        (2, Some(1), None, false),
        (2, None, None, true),
        (2, None, Some(1), false),
        (2, Some(2), Some(1), false),
        (2, Some(1), Some(2), true),
        (2, Some(2), Some(2), true),
    ];
    let path = "$.status.conditions[?@.type=='Released'].status";
    let q = JsonPath::parse(path).unwrap();
    for (generation, status, own, current) in table {
        let hr = release_with(generation, status, own);
        let case = format!("generation {generation}, status {status:?}, own {own:?}");
        let condition = judge_condition(&hr, "Released", "True");
        assert_eq!(
            matches!(condition, Check::Ready(_)),
            current,
            "--condition, {case}: {condition:?}"
        );
        // --json-path reads the condition without knowing it is one: only the status's own
        // observedGeneration says whether it is current.
        let by_path = judge_json_path(&hr, path, &q, Some("True"));
        assert_eq!(
            matches!(by_path, Check::Ready(_)),
            status.is_none_or(|s| s >= generation),
            "--json-path, {case}: {by_path:?}"
        );
        // The kstatus rules: the status's observedGeneration first, then Ready's own.
        let rules = judge(&hr);
        assert_eq!(
            matches!(rules, Check::Ready(_)),
            current && status.is_none_or(|s| s >= generation),
            "rules, {case}: {rules:?}"
        );
    }
}

#[test]
fn stale_condition_without_own_observed_generation_is_not_ready() {
    // Generation 2's spec, a status still about generation 1, a condition with no
    // observedGeneration of its own: kubectl keeps waiting, and so must kwait.
    let hr = release_with(2, Some(1), None);
    assert_eq!(
        state(&judge_condition(&hr, "Released", "True")),
        "Released condition is of generation 1, waiting for generation 2"
    );
}

#[test]
fn json_path_on_a_status_of_an_older_generation_is_not_ready() {
    let d = deployment(
        3,
        json!({}),
        json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}),
    );
    let q = |s: &str| JsonPath::parse(s).unwrap();
    for path in ["$.status.readyReplicas", "$..readyReplicas"] {
        assert_eq!(
            state(&judge_json_path(&d, path, &q(path), Some("3"))),
            "waiting for the controller to observe generation 3",
            "{path}"
        );
    }
    // A path outside the status does not depend on the controller.
    let path = "$.spec.replicas";
    assert!(matches!(
        judge_json_path(&d, path, &q(path), Some("3")),
        Check::Ready(_)
    ));
    // A value that does not match says what it is, stale or not.
    let path = "$.status.readyReplicas";
    assert_eq!(
        state(&judge_json_path(&d, path, &q(path), Some("2"))),
        "$.status.readyReplicas is 3"
    );
}

#[test]
fn stalled_of_an_older_generation_does_not_fail_the_wait() {
    // Stalled on generation 2; the user changed the spec (generation 3) and the controller
    // has not judged it yet: the change may be the fix, so kwait waits instead of exit 1.
    let hr = helmrelease(
        3,
        json!({"observedGeneration": 3, "conditions": [
            {"type": "Stalled", "status": "True", "observedGeneration": 2, "reason": "RetriesExceeded", "message": "Failed to install after 3 attempt(s)"},
            {"type": "Ready", "status": "False", "observedGeneration": 2, "reason": "InstallFailed"}]}),
    );
    assert_eq!(
        state(&judge(&hr)),
        "Stalled condition is of generation 2, waiting for generation 3"
    );
}

#[test]
fn condition_ready_matches_a_ready_condition_without_regard_to_case() {
    let hr = release_with(2, Some(2), None);
    // (asked type, asked status, the ready line)
    let table = [
        ("Ready", "True", "HelmRelease apps/openhands has Ready=True"),
        (
            "ready",
            "True",
            "HelmRelease apps/openhands has Ready=True (--condition ready, compared without case)",
        ),
        (
            "RELEASED",
            "true",
            "HelmRelease apps/openhands has Released=True (--condition RELEASED, compared without case)",
        ),
    ];
    for (kind, status, line) in table {
        assert_eq!(ready(&judge_condition(&hr, kind, status)), line, "{kind}");
    }
    // The pending line names the type as the object spells it.
    assert_eq!(
        state(&judge_condition(&hr, "ready", "False")),
        "Ready=True (UpgradeSucceeded): Helm upgrade succeeded"
    );
    assert_eq!(
        state(&judge_condition(&hr, "readyz", "True")),
        "no readyz condition yet"
    );
}

/// The conditions the Deployment controller writes with the final counts of a rollout.
fn complete_conditions() -> Value {
    json!([
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
         "message": "Deployment has minimum availability.",
         "lastUpdateTime": "2026-11-30T10:00:00Z", "lastTransitionTime": "2026-11-30T10:00:00Z"},
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
         "message": "ReplicaSet \"web-7d9c\" has successfully progressed.",
         "lastUpdateTime": "2026-11-30T10:00:00Z", "lastTransitionTime": "2026-11-30T09:58:00Z"}
    ])
}

/// A Deployment of 3 whose counts say rolled out, with `conditions`.
fn counted_out(spec: Value, conditions: Value) -> Value {
    deployment(
        2,
        spec,
        json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
               "availableReplicas": 3, "conditions": conditions}),
    )
}

/// kstatus' deploymentConditions, each rule decided (the safe side wins): complete counts are
/// not enough while the controller's conditions disagree.
#[test]
fn deployment_conditions_must_agree_with_complete_counts() {
    let available = |status: &str, reason: &str| json!({"type": "Available", "status": status, "reason": reason, "message": "Deployment does not have minimum availability."});
    let progressing = |status: &str, reason: &str| json!({"type": "Progressing", "status": status, "reason": reason, "message": "ReplicaSet \"web-7d9c\" is progressing."});
    let deadline = json!({});
    let no_deadline = json!({"progressDeadlineSeconds": 2147483647});
    let paused = json!({"paused": true});
    // (spec, conditions, ready?, the state line when pending)
    let table = [
        (&deadline, complete_conditions(), true, ""),
        (
            &deadline,
            json!([
                available("False", "MinimumReplicasUnavailable"),
                progressing("True", "NewReplicaSetAvailable")
            ]),
            false,
            "not available: Available=False (MinimumReplicasUnavailable): Deployment does not have minimum availability.",
        ),
        (
            &deadline,
            json!([progressing("True", "NewReplicaSetAvailable")]),
            false,
            "waiting for the controller's Available condition",
        ),
        (
            &deadline,
            json!([
                available("True", "MinimumReplicasAvailable"),
                progressing("True", "ReplicaSetUpdated")
            ]),
            false,
            "waiting for Progressing=True (NewReplicaSetAvailable); now Progressing=True (ReplicaSetUpdated): ReplicaSet \"web-7d9c\" is progressing.",
        ),
        (
            &deadline,
            json!([available("True", "MinimumReplicasAvailable")]),
            false,
            "waiting for the controller's Progressing condition",
        ),
        // Without a progress deadline the controller writes no Progressing condition.
        (
            &no_deadline,
            json!([available("True", "MinimumReplicasAvailable")]),
            true,
            "",
        ),
        (
            &no_deadline,
            json!([available("False", "MinimumReplicasUnavailable")]),
            false,
            "not available: Available=False (MinimumReplicasUnavailable): Deployment does not have minimum availability.",
        ),
        // Paused: the controller writes DeploymentPaused and judges no progress.
        (
            &paused,
            json!([
                available("True", "MinimumReplicasAvailable"),
                progressing("Unknown", "DeploymentPaused")
            ]),
            true,
            "",
        ),
    ];
    for (spec, conditions, is_ready, line) in table {
        let d = counted_out(spec.clone(), conditions.clone());
        let c = judge(&d);
        if is_ready {
            assert!(matches!(c, Check::Ready(_)), "{conditions}: {c:?}");
        } else {
            assert_eq!(state(&c), line, "{conditions}");
        }
    }
}

#[test]
fn deployment_with_available_false_is_not_ready() {
    let d = counted_out(
        json!({}),
        json!([
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
        ]),
    );
    assert!(matches!(judge(&d), Check::Pending(_)), "{:?}", judge(&d));
}

#[test]
fn deployment_with_a_progress_deadline_and_progressing_not_complete_is_not_ready() {
    let d = counted_out(
        json!({"progressDeadlineSeconds": 600}),
        json!([
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": "ReplicaSet \"web-7d9c\" is progressing."}
        ]),
    );
    assert!(matches!(judge(&d), Check::Pending(_)), "{:?}", judge(&d));
}

#[test]
fn deployment_rollout_during_a_surge_is_worded_as_kubectl_rollout_status_words_it() {
    // 2 desired, maxSurge 1: the new ReplicaSet has 1 pod, the old one still 2, 3 available.
    // (status counts, kubectl's words after "Waiting for deployment "web" rollout to finish: ")
    let table = [
        ((3, 1, 3, 3), "1 out of 2 new replicas have been updated"),
        ((3, 2, 3, 3), "1 old replicas are pending termination"),
        ((2, 2, 1, 2), "1 of 2 updated replicas are available"),
    ];
    for ((replicas, updated, available, ready), words) in table {
        let d = deployment(
            2,
            json!({"replicas": 2, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}),
            json!({"observedGeneration": 2, "replicas": replicas, "updatedReplicas": updated,
                   "availableReplicas": available, "readyReplicas": ready, "conditions": complete_conditions()}),
        );
        assert_eq!(
            state(&judge(&d)),
            format!("waiting for rollout to finish: {words}")
        );
    }
}

/// kstatus' stsConditions and kubectl's StatefulSetStatusViewer, each rule decided: every
/// replica created, ready, updated and counted at the update revision (no partition).
#[test]
fn statefulset_rules_table() {
    let rolling = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}});
    let unset = json!({"type": "RollingUpdate"});
    let partition = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}});
    let on_delete = json!({"type": "OnDelete"});
    // (strategy, replicas, ready, current, updated, currentRevision, ready?)
    let table = [
        (&rolling, 3, 3, 3, 3, "db-7c9d", true),
        (&unset, 3, 3, 3, 3, "db-7c9d", true),
        (&rolling, 2, 2, 2, 2, "db-7c9d", false),
        (&rolling, 4, 3, 3, 3, "db-7c9d", false),
        (&rolling, 3, 2, 3, 3, "db-7c9d", false),
        (&rolling, 3, 3, 2, 3, "db-7c9d", false),
        (&unset, 3, 3, 2, 3, "db-7c9d", false),
        (&rolling, 3, 3, 3, 2, "db-7c9d", false),
        (&rolling, 3, 3, 3, 3, "db-6b8f", false),
        (&partition, 3, 3, 1, 2, "db-6b8f", true),
        (&partition, 3, 3, 2, 1, "db-6b8f", false),
        (&on_delete, 3, 3, 0, 0, "db-6b8f", true),
        (&on_delete, 3, 2, 3, 3, "db-7c9d", false),
    ];
    for (strategy, replicas, ready, current, updated, revision, is_ready) in table {
        let s = statefulset(
            strategy.clone(),
            json!({"observedGeneration": 2, "replicas": replicas, "readyReplicas": ready,
                   "currentReplicas": current, "updatedReplicas": updated,
                   "currentRevision": revision, "updateRevision": "db-7c9d"}),
        );
        let c = judge(&s);
        assert_eq!(
            matches!(c, Check::Ready(_)),
            is_ready,
            "{strategy} replicas {replicas} ready {ready} current {current} updated {updated} {revision}: {c:?}"
        );
    }
}

#[test]
fn statefulset_with_current_replicas_below_replicas_is_not_ready() {
    let s = statefulset(
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
        json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "currentReplicas": 2, "updatedReplicas": 3,
               "currentRevision": "db-7c9d", "updateRevision": "db-7c9d"}),
    );
    assert_eq!(
        state(&judge(&s)),
        "2 of 3 at revision db-7c9d; waiting for the rollout"
    );
}

/// kstatus' daemonsetConditions and kubectl's DaemonSetStatusViewer, each rule decided.
#[test]
fn daemonset_rules_table() {
    // (strategy, scheduled, updated, available, ready, the state line or "" when ready)
    let table = [
        ("RollingUpdate", 4, 4, 4, 4, ""),
        (
            "RollingUpdate",
            3,
            3,
            3,
            3,
            "waiting for rollout to finish: 3 of 4 pods are scheduled",
        ),
        (
            "RollingUpdate",
            4,
            3,
            4,
            4,
            "waiting for rollout to finish: 3 out of 4 new pods have been updated",
        ),
        (
            "RollingUpdate",
            4,
            4,
            3,
            4,
            "waiting for rollout to finish: 3 of 4 updated pods are available",
        ),
        (
            "RollingUpdate",
            4,
            4,
            4,
            3,
            "waiting for rollout to finish: 3 of 4 pods are ready",
        ),
        ("OnDelete", 4, 0, 4, 4, ""),
        (
            "OnDelete",
            4,
            0,
            3,
            4,
            "waiting for rollout to finish: 3 of 4 pods are available",
        ),
    ];
    for (strategy, scheduled, updated, available, ready, line) in table {
        let mut d = daemonset(json!({
            "observedGeneration": 3, "desiredNumberScheduled": 4, "currentNumberScheduled": scheduled,
            "updatedNumberScheduled": updated, "numberAvailable": available, "numberReady": ready,
            "numberMisscheduled": 0
        }));
        d["spec"]["updateStrategy"]["type"] = json!(strategy);
        let c = judge(&d);
        if line.is_empty() {
            assert!(
                matches!(c, Check::Ready(_)),
                "{strategy} {scheduled} {updated} {available} {ready}: {c:?}"
            );
        } else {
            assert_eq!(state(&c), line);
        }
    }
}

#[test]
fn daemonset_with_number_ready_below_desired_is_not_ready() {
    let d = daemonset(json!({
        "observedGeneration": 3, "desiredNumberScheduled": 4, "currentNumberScheduled": 4,
        "updatedNumberScheduled": 4, "numberAvailable": 4, "numberReady": 3, "numberUnavailable": 0
    }));
    assert!(matches!(judge(&d), Check::Pending(_)), "{:?}", judge(&d));
}

#[test]
fn unschedulable_with_an_empty_message_prints_no_empty_colon() {
    let p = pod(json!({
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "",
                        "lastTransitionTime": "2026-11-30T05:00:00Z"}]
    }));
    let c = judge(&p);
    assert_eq!(state(&c), "unschedulable");
    let Check::Pending(o) = &c else { return };
    assert_eq!(
        o.cause.as_deref(),
        Some("the scheduler cannot place Pod crs/postgres-0 (Unschedulable)")
    );
}

#[test]
fn crash_loop_is_named_even_when_pod_scheduled_is_false() {
    // A status whose conditions contradict its containers (PodScheduled=False left over, or
    // written by hand): the crash loop is what the user must act on.
    let p = pod(json!({
        "phase": "Running",
        "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available"},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}
        ],
        "containerStatuses": [
            {"name": "proxy", "ready": false, "restartCount": 0, "state": {"running": {"startedAt": "2026-11-30T05:00:03Z"}}},
            {"name": "db", "ready": false, "restartCount": 5,
             "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s restarting failed container=db"}},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}
        ]
    }));
    let c = judge(&p);
    assert_eq!(
        state(&c),
        "not ready: container db waiting (CrashLoopBackOff: back-off 2m40s restarting failed container=db, restarted 5 times)"
    );
    let Check::Pending(o) = &c else { return };
    assert!(
        o.fix
            .iter()
            .any(|f| f == "see why it exits: kubectl logs postgres-0 -c db -n crs --previous"),
        "{o:?}"
    );
}

/// What a not-ready pod's line names first, by what its status holds.
#[test]
fn pod_names_first_the_crash_loop_then_the_scheduler_then_the_first_container() {
    let unscheduled = json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available"});
    let crash = json!({"name": "db", "ready": false, "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}});
    let pulling = json!({"name": "db", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}});
    let running =
        json!({"name": "proxy", "ready": false, "restartCount": 0, "state": {"running": {}}});
    // (conditions, container statuses, state line)
    let table = [
        (
            json!([unscheduled]),
            json!([]),
            "unschedulable: 0/1 nodes are available",
        ),
        (
            json!([unscheduled]),
            json!([pulling]),
            "unschedulable: 0/1 nodes are available",
        ),
        (
            json!([unscheduled]),
            json!([crash]),
            "not ready: container db waiting (CrashLoopBackOff, restarted 2 times)",
        ),
        (
            json!([]),
            json!([running, crash]),
            "not ready: container db waiting (CrashLoopBackOff, restarted 2 times)",
        ),
        (
            json!([]),
            json!([running, pulling]),
            "not ready: container proxy running, not ready",
        ),
    ];
    for (conditions, statuses, line) in table {
        let p = pod(
            json!({"phase": "Pending", "conditions": conditions, "containerStatuses": statuses}),
        );
        assert_eq!(state(&judge(&p)), line, "{conditions} {statuses}");
    }
}

/// A built-in type's deciding condition carrying an observedGeneration (a Pod's, written by
/// the kubelet since Kubernetes 1.33), or any other that carries one: a True condition of an
/// older generation is not ready.
#[test]
fn ready_condition_of_an_older_generation_is_not_ready_on_built_in_types() {
    let mut p = pod(
        json!({"phase": "Running", "observedGeneration": 2, "conditions": [
        {"type": "Ready", "status": "True", "observedGeneration": 1}]}),
    );
    p["metadata"]["generation"] = json!(2);
    assert_eq!(
        state(&judge(&p)),
        "Ready condition is of generation 1, waiting for generation 2"
    );
    p["status"]["conditions"][0]["observedGeneration"] = json!(2);
    assert!(matches!(judge(&p), Check::Ready(_)));
    let api = json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io", "generation": 3},
        "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "service": {"name": "metrics-server", "namespace": "kube-system"}},
        "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Passed", "observedGeneration": 2}]}});
    assert_eq!(
        state(&judge(&api)),
        "Available condition is of generation 2, waiting for generation 3"
    );
}
