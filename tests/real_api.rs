//! Every Kubernetes kind kwait waits for, against a real kube-apiserver (testkit::envtest: etcd +
//! kube-apiserver from `$KUBEBUILDER_ASSETS`, no controllers): objects are stored and validated
//! by the real server, and their status is written through the status subresource, as a
//! controller would. For each kind:
//! - ready exits 0 and failed (when the kind can fail) exits 1, once kwait watches;
//! - left pending, it exits 124 having made exactly the requests listed for the kind (one read
//!   and one watch of each object it needs: nothing else while nothing changes), counted from
//!   the API server's audit log;
//! - kwait runs as a user holding exactly the Role(s) its `--dry-run=rbac` prints, and the
//!   audit log shows no request of that user answered 403.
//!
//! Without the binaries every test says SKIPPED (and fails under `KWAIT_REQUIRE_K8S=1`).
//! Adding a kind is one [`Kind`] in [`KINDS`] and a line per outcome at the end of this file.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use testkit::envtest::{self, AuditEntry, Envtest, User};

/// How long a pending wait runs: long enough for a re-read or re-watch to show.
const PENDING_FOR: &str = "8s";

/// A kind of wait, as a table row.
struct Kind {
    /// Short name, in test names and messages.
    name: &'static str,
    /// kwait's arguments (after the global ones) for the namespace given.
    args: fn(&str) -> Vec<String>,
    /// Creates the objects in their pending state (before kwait starts).
    pending: fn(&Envtest, &str),
    /// Moves them to ready.
    ready: fn(&Envtest, &str),
    /// Moves them to failed for good, for kinds that have such a state.
    failed: Option<fn(&Envtest, &str)>,
    /// Every request a pending wait makes over [`PENDING_FOR`] and at its deadline, as
    /// `verb resource` (or `verb /path` for discovery); `/api` and `/apis` are discovery
    /// (wait-ready resolves the type name). Just before the deadline the object is read once
    /// more, whatever the watch said: an open watch that saw nothing is no answer.
    requests: &'static [&'static str],
}

const KINDS: &[Kind] = &[
    SECRET,
    CONFIGMAP,
    CERTIFICATE,
    JOB,
    DEPLOYMENT,
    STATEFULSET,
    DAEMONSET,
    POD,
    PVC,
    CRD,
    CRD_INSTALL,
    HELMRELEASE,
    SERVICE,
    DELETED,
];

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn obj(api_version: &str, kind: &str, name: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}})
}

fn b64(s: &str) -> String {
    base64(s.as_bytes())
}

fn cond(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-03-01T10:00:00Z", "lastUpdateTime": "2026-03-01T10:00:00Z"})
}

// ----- Secret, ConfigMap: no status; ready once the key is written ----------------------------

const SECRET: Kind = Kind {
    name: "secret",
    args: |_| strings(&["wait-secret", "db", "--key", "password"]),
    pending: |env, ns| {
        let mut s = obj("v1", "Secret", "db");
        s["data"] = json!({"user": b64("app")});
        env.create(ns, &s);
    },
    ready: |env, ns| {
        env.patch(
            ns,
            &obj("v1", "Secret", "db"),
            &json!({"data": {"password": b64("s3cret")}}),
        );
    },
    failed: None,
    requests: &["get secrets", "watch secrets", "get secrets"],
};

const CONFIGMAP: Kind = Kind {
    name: "configmap",
    args: |_| strings(&["wait-configmap", "settings", "--key", "url"]),
    pending: |env, ns| {
        let mut c = obj("v1", "ConfigMap", "settings");
        c["data"] = json!({"url": ""});
        env.create(ns, &c);
    },
    ready: |env, ns| {
        env.patch(
            ns,
            &obj("v1", "ConfigMap", "settings"),
            &json!({"data": {"url": "postgres://db:5432"}}),
        );
    },
    failed: None,
    requests: &["get configmaps", "watch configmaps", "get configmaps"],
};

// ----- cert-manager Certificate (the published CRDs) ------------------------------------------

/// cert-manager's CRDs and a minimal Flux HelmRelease CRD, installed once per test process.
fn crds(env: &Envtest) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/cert-manager");
        for f in [
            "cert-manager.io_certificates.yaml",
            "cert-manager.io_certificaterequests.yaml",
        ] {
            let yaml = std::fs::read_to_string(dir.join(f))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()));
            env.create_yaml("", &yaml);
        }
        env.create("", &json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "helmreleases.helm.toolkit.fluxcd.io"},
            "spec": {"group": "helm.toolkit.fluxcd.io", "scope": "Namespaced",
                "names": {"kind": "HelmRelease", "listKind": "HelmReleaseList",
                          "plural": "helmreleases", "singular": "helmrelease", "shortNames": ["hr"]},
                "versions": [{"name": "v2", "served": true, "storage": true,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object",
                        "x-kubernetes-preserve-unknown-fields": true}}}]}
        }));
        for name in [
            "certificates.cert-manager.io",
            "certificaterequests.cert-manager.io",
            "helmreleases.helm.toolkit.fluxcd.io",
        ] {
            env.wait_established(name);
        }
    });
}

fn certificate() -> Value {
    obj("cert-manager.io/v1", "Certificate", "web")
}

const CERTIFICATE: Kind = Kind {
    name: "certificate",
    args: |_| strings(&["wait-certificate", "web", "--secret-name", "web-tls"]),
    pending: |env, ns| {
        crds(env);
        let mut c = certificate();
        c["spec"] = json!({"secretName": "web-tls", "dnsNames": ["web.example.com"],
                           "issuerRef": {"name": "letsencrypt", "kind": "Issuer", "group": "cert-manager.io"}});
        env.create(ns, &c);
        env.patch_status(
            ns,
            &certificate(),
            &json!({"conditions": [
                cond("Ready", "False", "DoesNotExist", "Issuing certificate as Secret does not exist"),
                cond("Issuing", "True", "DoesNotExist", "Issuing certificate as Secret does not exist")]}),
        );
    },
    ready: |env, ns| {
        let mut s = obj("v1", "Secret", "web-tls");
        s["type"] = json!("kubernetes.io/tls");
        s["data"] = json!({"tls.crt": b64("-----BEGIN CERTIFICATE-----"),
                           "tls.key": b64("-----BEGIN PRIVATE KEY-----")});
        env.create(ns, &s);
        let mut ready = cond(
            "Ready",
            "True",
            "Ready",
            "Certificate is up to date and has not expired",
        );
        ready["observedGeneration"] = json!(1);
        env.patch_status(
            ns,
            &certificate(),
            &json!({"conditions": [ready], "notAfter": "2027-05-30T10:00:04Z",
                    "renewalTime": "2027-04-30T10:00:04Z", "revision": 1}),
        );
    },
    failed: None,
    requests: &[
        "get certificates",
        "watch certificates",
        "get certificates",
        // For the timeout report (the latest CertificateRequest), at the deadline.
        "list certificaterequests",
    ],
};

// ----- Job ------------------------------------------------------------------------------------

fn job() -> Value {
    obj("batch/v1", "Job", "migrate")
}

const JOB: Kind = Kind {
    name: "job",
    args: |_| strings(&["wait-job", "migrate"]),
    pending: |env, ns| {
        let mut j = job();
        j["spec"] = json!({"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "migrate", "image": "app:1"}]}}});
        env.create(ns, &j);
        env.patch_status(
            ns,
            &job(),
            &json!({"startTime": "2026-03-01T10:00:00Z", "active": 1, "ready": 0}),
        );
    },
    ready: |env, ns| {
        env.patch_status(
            ns,
            &job(),
            &json!({"active": 0, "ready": 0, "succeeded": 1,
                    "completionTime": "2026-03-01T10:00:09Z",
                    "conditions": [
                        cond("SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods"),
                        cond("Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods")]}),
        );
    },
    failed: Some(|env, ns| {
        env.patch_status(
            ns,
            &job(),
            &json!({"active": 0, "ready": 0, "failed": 1,
                    "conditions": [
                        cond("FailureTarget", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                        cond("Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]}),
        );
    }),
    requests: &[
        "get jobs",
        "watch jobs",
        "get jobs",
        // The Job's pods: at the start, and again for the timeout report.
        "list pods",
        "list pods",
    ],
};

// ----- workloads --------------------------------------------------------------------------------

fn workload_spec() -> Value {
    json!({"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
           "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "web:1"}]}}})
}

fn deployment() -> Value {
    obj("apps/v1", "Deployment", "web")
}

const DEPLOYMENT: Kind = Kind {
    name: "deployment",
    args: |_| strings(&["wait-ready", "deployment/web"]),
    pending: |env, ns| {
        let mut d = deployment();
        d["spec"] = workload_spec();
        env.create(ns, &d);
        env.patch_status(
            ns,
            &deployment(),
            &json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                    "unavailableReplicas": 1,
                    "conditions": [cond("Progressing", "True", "ReplicaSetUpdated", "ReplicaSet \"web-5d9c7b8f6\" is progressing.")]}),
        );
    },
    ready: |env, ns| {
        env.patch_status(
            ns,
            &deployment(),
            &json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                    "readyReplicas": 1, "availableReplicas": 1, "unavailableReplicas": null,
                    "conditions": [
                        cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
                        cond("Progressing", "True", "NewReplicaSetAvailable", "ReplicaSet \"web-5d9c7b8f6\" has successfully progressed.")]}),
        );
    },
    failed: Some(|env, ns| {
        env.patch_status(
            ns,
            &deployment(),
            &json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                    "unavailableReplicas": 1,
                    "conditions": [cond("Progressing", "False", "ProgressDeadlineExceeded", "ReplicaSet \"web-5d9c7b8f6\" has timed out progressing.")]}),
        );
    }),
    requests: &[
        "get /api",
        "get /apis",
        "get deployments",
        "watch deployments",
        "get deployments",
    ],
};

fn statefulset() -> Value {
    obj("apps/v1", "StatefulSet", "db")
}

/// The generic kstatus rule every kind follows: `Stalled=True` is final.
fn stalled() -> Value {
    cond(
        "Stalled",
        "True",
        "RetriesExceeded",
        "the controller gave up",
    )
}

const STATEFULSET: Kind = Kind {
    name: "statefulset",
    args: |_| strings(&["wait-ready", "statefulset/db"]),
    pending: |env, ns| {
        let mut s = statefulset();
        s["spec"] = workload_spec();
        s["spec"]["serviceName"] = json!("db");
        env.create(ns, &s);
        env.patch_status(
            ns,
            &statefulset(),
            &json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": 0,
                    "currentReplicas": 1, "updatedReplicas": 1,
                    "currentRevision": "db-1", "updateRevision": "db-1"}),
        );
    },
    ready: |env, ns| {
        env.patch_status(
            ns,
            &statefulset(),
            &json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": 1,
                    "availableReplicas": 1, "currentReplicas": 1, "updatedReplicas": 1,
                    "currentRevision": "db-1", "updateRevision": "db-1"}),
        );
    },
    failed: Some(|env, ns| {
        env.patch_status(ns, &statefulset(), &json!({"conditions": [stalled()]}));
    }),
    requests: &[
        "get /api",
        "get /apis",
        "get statefulsets",
        "watch statefulsets",
        "get statefulsets",
    ],
};

fn daemonset() -> Value {
    obj("apps/v1", "DaemonSet", "agent")
}

const DAEMONSET: Kind = Kind {
    name: "daemonset",
    args: |_| strings(&["wait-ready", "daemonset/agent"]),
    pending: |env, ns| {
        let mut d = daemonset();
        d["spec"] = workload_spec();
        d["spec"].as_object_mut().map(|s| s.remove("replicas"));
        env.create(ns, &d);
        env.patch_status(
            ns,
            &daemonset(),
            &json!({"observedGeneration": 1, "desiredNumberScheduled": 1,
                    "currentNumberScheduled": 1, "updatedNumberScheduled": 1,
                    "numberReady": 0, "numberAvailable": 0, "numberUnavailable": 1,
                    "numberMisscheduled": 0}),
        );
    },
    ready: |env, ns| {
        env.patch_status(
            ns,
            &daemonset(),
            &json!({"observedGeneration": 1, "desiredNumberScheduled": 1,
                    "currentNumberScheduled": 1, "updatedNumberScheduled": 1,
                    "numberReady": 1, "numberAvailable": 1, "numberUnavailable": 0,
                    "numberMisscheduled": 0}),
        );
    },
    failed: Some(|env, ns| {
        env.patch_status(ns, &daemonset(), &json!({"conditions": [stalled()]}));
    }),
    requests: &[
        "get /api",
        "get /apis",
        "get daemonsets",
        "watch daemonsets",
        "get daemonsets",
    ],
};

fn pod() -> Value {
    obj("v1", "Pod", "db-0")
}

const POD: Kind = Kind {
    name: "pod",
    args: |_| strings(&["wait-ready", "pod/db-0"]),
    pending: |env, ns| {
        let mut p = pod();
        p["spec"] = json!({"containers": [{"name": "db", "image": "db:1"}]});
        env.create(ns, &p);
    },
    ready: |env, ns| {
        env.patch_status(
            ns,
            &pod(),
            &json!({"phase": "Running", "startTime": "2026-03-01T10:00:00Z",
                    "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-03-01T10:00:05Z"}],
                    "containerStatuses": [{"name": "db", "image": "db:1", "imageID": "", "ready": true,
                        "restartCount": 0, "state": {"running": {"startedAt": "2026-03-01T10:00:01Z"}}}]}),
        );
    },
    failed: Some(|env, ns| {
        env.patch_status(
            ns,
            &pod(),
            &json!({"phase": "Failed", "startTime": "2026-03-01T10:00:00Z",
                    "containerStatuses": [{"name": "db", "image": "db:1", "imageID": "", "ready": false,
                        "restartCount": 0, "state": {"terminated": {"exitCode": 3, "reason": "Error",
                            "startedAt": "2026-03-01T10:00:01Z", "finishedAt": "2026-03-01T10:00:02Z"}}}]}),
        );
    }),
    requests: &["get /api", "get pods", "watch pods", "get pods"],
};

fn pvc() -> Value {
    obj("v1", "PersistentVolumeClaim", "data")
}

const PVC: Kind = Kind {
    name: "pvc",
    args: |_| strings(&["wait-ready", "pvc/data"]),
    pending: |env, ns| {
        let mut c = pvc();
        c["spec"] = json!({"accessModes": ["ReadWriteOnce"],
                           "resources": {"requests": {"storage": "1Gi"}}});
        env.create(ns, &c);
    },
    ready: |env, ns| {
        env.patch(ns, &pvc(), &json!({"spec": {"volumeName": "pv-data"}}));
        env.patch_status(
            ns,
            &pvc(),
            &json!({"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}),
        );
    },
    failed: Some(|env, ns| {
        env.patch_status(ns, &pvc(), &json!({"phase": "Lost"}));
    }),
    requests: &[
        "get /api",
        "get persistentvolumeclaims",
        "watch persistentvolumeclaims",
        "get persistentvolumeclaims",
    ],
};

// ----- CustomResourceDefinition: the API server's own controllers accept and establish it ------

/// A CRD of kind `kind` (plural `PLURAL`) in the test's own group (CRDs are cluster-scoped).
fn crd(ns: &str, plural: &str, kind: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{ns}.example.com")},
        "spec": {"group": format!("{ns}.example.com"), "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]}
    })
}

/// `wait-ready crd/widgets.NS.example.com`.
fn crd_args(ns: &str) -> Vec<String> {
    vec!["wait-ready".into(), format!("crd/widgets.{ns}.example.com")]
}

/// A CRD wait's requests: discovery, one read and one watch.
const CRD_REQUESTS: &[&str] = &[
    "get /api",
    "get /apis",
    "get customresourcedefinitions",
    "watch customresourcedefinitions",
    "get customresourcedefinitions",
];

const CRD: Kind = Kind {
    name: "crd",
    args: crd_args,
    // Another CRD of the group already has the kind Widget; widgets is not created yet.
    pending: |env, ns| {
        env.create("", &crd(ns, "gadgets", "Widget"));
        env.wait_established(&format!("gadgets.{ns}.example.com"));
    },
    // widgets arrives with a kind of its own: the server accepts its names and establishes it.
    ready: |env, ns| {
        env.create("", &crd(ns, "widgets", "Sprocket"));
    },
    // widgets arrives with the kind gadgets already has: the server's naming controller refuses
    // its names (NamesAccepted=False, ListKindConflict) and kwait fails at once (issue 22 item 4).
    // The server would accept them if gadgets went away; kwait does not wait for that (kstatus
    // calls this Failed too), and `--condition Established` waits through it.
    failed: Some(|env, ns| {
        env.create("", &crd(ns, "widgets", "Widget"));
    }),
    requests: CRD_REQUESTS,
};

/// A CRD its installer has not created yet.
const CRD_INSTALL: Kind = Kind {
    name: "crd-install",
    args: crd_args,
    pending: |_, _| {},
    ready: |env, ns| {
        env.create("", &crd(ns, "widgets", "Widget"));
    },
    failed: None,
    requests: CRD_REQUESTS,
};

// ----- wait-deleted (a ConfigMap held by a finalizer) ---------------------------------------------

fn held_configmap() -> Value {
    let mut c = obj("v1", "ConfigMap", "old-migration");
    c["metadata"]["finalizers"] = json!(["example.com/cleanup"]);
    c
}

const DELETED: Kind = Kind {
    name: "deleted",
    args: |_| strings(&["wait-deleted", "configmap/old-migration"]),
    // Deleted, but held by its finalizer: deletionTimestamp set, the object still there.
    pending: |env, ns| {
        env.create(ns, &held_configmap());
        env.delete(ns, &held_configmap());
    },
    // The finalizer's controller lets it go: the server removes the object.
    ready: |env, ns| {
        env.patch(
            ns,
            &held_configmap(),
            &json!({"metadata": {"finalizers": null}}),
        );
    },
    failed: None,
    requests: &[
        "get /api",
        "get configmaps",
        "watch configmaps",
        "get configmaps",
    ],
};

// ----- Flux HelmRelease (Ready / Stalled conditions) -------------------------------------------

fn helmrelease() -> Value {
    obj("helm.toolkit.fluxcd.io/v2", "HelmRelease", "web")
}

fn hr_status(conditions: Vec<Value>) -> Value {
    let conditions: Vec<Value> = conditions
        .into_iter()
        .map(|mut c| {
            c["observedGeneration"] = json!(1);
            c
        })
        .collect();
    json!({"observedGeneration": 1, "conditions": conditions})
}

const HELMRELEASE: Kind = Kind {
    name: "helmrelease",
    args: |_| strings(&["wait-ready", "helmrelease.helm.toolkit.fluxcd.io/web"]),
    pending: |env, ns| {
        crds(env);
        let mut h = helmrelease();
        h["spec"] = json!({"interval": "5m", "chart": {"spec": {"chart": "web", "version": "1.2.3",
            "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}});
        env.create(ns, &h);
        env.patch_status(
            ns,
            &helmrelease(),
            &hr_status(vec![
                cond(
                    "Reconciling",
                    "True",
                    "Progressing",
                    "Fulfilling prerequisites",
                ),
                cond(
                    "Ready",
                    "Unknown",
                    "Progressing",
                    "Fulfilling prerequisites",
                ),
            ]),
        );
    },
    ready: |env, ns| {
        env.patch_status(
            ns,
            &helmrelease(),
            &hr_status(vec![cond(
                "Ready",
                "True",
                "InstallSucceeded",
                "Helm install succeeded for release web with chart web@1.2.3",
            )]),
        );
    },
    failed: Some(|env, ns| {
        env.patch_status(
            ns,
            &helmrelease(),
            &hr_status(vec![
                cond(
                    "Stalled",
                    "True",
                    "RetriesExceeded",
                    "Failed to install after 1 attempt(s)",
                ),
                cond(
                    "Ready",
                    "False",
                    "InstallFailed",
                    "Helm install failed: timed out waiting for the condition",
                ),
            ]),
        );
    }),
    requests: &[
        "get /api",
        "get /apis",
        "get helmreleases",
        "watch helmreleases",
        "get helmreleases",
    ],
};

// ----- Service (EndpointSlices) ---------------------------------------------------------------

fn slice(ready: bool) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "web-abc12", "labels": {"kubernetes.io/service-name": "web"}},
           "addressType": "IPv4",
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
           "endpoints": [{"addresses": ["10.1.0.5"], "conditions": {"ready": ready}}]})
}

const SERVICE: Kind = Kind {
    name: "service",
    args: |_| strings(&["wait-service", "web"]),
    pending: |env, ns| {
        let mut s = obj("v1", "Service", "web");
        s["spec"] = json!({"selector": {"app": "web"},
                           "ports": [{"name": "http", "port": 80, "targetPort": 8080}]});
        env.create(ns, &s);
        env.create(ns, &slice(false));
    },
    ready: |env, ns| {
        env.patch(ns, &slice(true), &slice(true));
    },
    failed: None,
    requests: &[
        "get services",
        "watch services",
        "list endpointslices",
        "watch endpointslices",
        // Whether any pod matches the selector (said when there are no endpoints).
        "list pods",
        // The last check before the deadline reads all three again.
        "get services",
        "list endpointslices",
        "list pods",
    ],
};

// ----- the harness ----------------------------------------------------------------------------

/// `verb resource` for a resource request, `verb /path` for another.
fn shape(e: &AuditEntry) -> String {
    let path = e.uri.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // api/v1/... or apis/GROUP/VERSION/...
    let rest = match parts.first() {
        Some(&"api") if parts.len() > 2 => &parts[2..],
        Some(&"apis") if parts.len() > 3 => &parts[3..],
        _ => return format!("{} {path}", e.verb),
    };
    let rest = match rest {
        ["namespaces", _, more @ ..] if !more.is_empty() => more,
        r => r,
    };
    format!("{} {}", e.verb, rest[0])
}

/// A namespace, the pending objects, a user holding exactly the printed RBAC, its kubeconfig
/// and a scratch directory.
struct Setup {
    ns: String,
    user: User,
    dir: PathBuf,
    kubeconfig: PathBuf,
}

fn setup(env: &Envtest, test: &str, kind: &Kind) -> Setup {
    let ns = env.namespace(test);
    (kind.pending)(env, &ns);
    let dir = scratch(test);
    let mut dry = vec!["-n".to_string(), ns.clone(), "--dry-run=rbac".into()];
    dry.extend((kind.args)(&ns));
    let dry: Vec<&str> = dry.iter().map(String::as_str).collect();
    let r = run_in(&dir, &dry);
    assert_eq!(
        r.code,
        Some(0),
        "{}: --dry-run=rbac: {}",
        kind.name,
        r.stderr
    );
    let user = env.user();
    env.grant(&user, &r.stdout);
    let kubeconfig = env.kubeconfig(&dir, &user, &ns);
    Setup {
        ns,
        user,
        dir,
        kubeconfig,
    }
}

impl Setup {
    fn kwait(&self, kind: &Kind, timeout: &str) -> std::process::Command {
        let mut c = common::kwait(&self.dir);
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["-n", &self.ns, "--timeout", timeout])
            .args((kind.args)(&self.ns));
        c
    }

    /// The user's requests answered 403.
    fn refused(&self, env: &Envtest) -> Vec<String> {
        env.refused(&self.user.name)
    }
}

/// The kind `kind` left pending, then moved along by `to` once kwait watches: exit `code`.
fn ends(test: &str, kind: &Kind, to: fn(&Envtest, &str), code: i32) {
    let Some(env) = envtest::shared(test) else {
        return;
    };
    let s = setup(env, test, kind);
    let k = spawn(s.kwait(kind, "90s"));
    let watches = kind
        .requests
        .iter()
        .filter(|r| r.starts_with("watch "))
        .count()
        .max(1);
    eventually(
        &format!("{}: kwait's {watches} watch(es)", kind.name),
        Duration::from_secs(60),
        || {
            let open = env
                .audit(&s.user.name)
                .iter()
                .filter(|e| e.verb == "watch" && e.code == Some(200))
                .count();
            (open >= watches).then_some(())
        },
    );
    to(env, &s.ns);
    let r = k.finish(Duration::from_secs(120));
    assert_eq!(r.code, Some(code), "{}: {}", kind.name, r.stderr);
    let refused = s.refused(env);
    assert!(
        refused.is_empty(),
        "{}: requests outside the printed Role: {refused:?}\n{}",
        kind.name,
        r.stderr
    );
}

fn ready(test: &str, kind: &Kind) {
    ends(test, kind, kind.ready, 0);
}

fn failed(test: &str, kind: &Kind) {
    let to = kind
        .failed
        .unwrap_or_else(|| panic!("{} has no failed state", kind.name));
    ends(test, kind, to, 1);
}

/// Every kind left pending at once (each its own namespace, user and kwait, all waiting in
/// parallel): exit 124, no 403, and exactly the kind's requests.
#[test]
fn every_kind_left_pending_times_out_having_read_and_watched_once() {
    let test = "every_kind_left_pending_times_out_having_read_and_watched_once";
    let Some(env) = envtest::shared(test) else {
        return;
    };
    let problems: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = KINDS
            .iter()
            .map(|kind| {
                scope.spawn(move || {
                    let s = setup(env, &format!("pending-{}", kind.name), kind);
                    let r = run(s.kwait(kind, PENDING_FOR), Duration::from_secs(120));
                    let mut problems = Vec::new();
                    if r.code != Some(124) {
                        problems.push(format!("exit {:?}, expected 124: {}", r.code, r.stderr));
                    }
                    let refused = s.refused(env);
                    if !refused.is_empty() {
                        problems.push(format!("refused: {refused:?}"));
                    }
                    let mut made: Vec<String> = env.audit(&s.user.name).iter().map(shape).collect();
                    made.sort();
                    let mut counted: BTreeMap<&str, usize> = BTreeMap::new();
                    for m in &made {
                        *counted.entry(m.as_str()).or_default() += 1;
                    }
                    println!(
                        "{:12} {PENDING_FOR} pending: {} requests: {counted:?}",
                        kind.name,
                        made.len()
                    );
                    let mut expected = strings(kind.requests);
                    expected.sort();
                    if made != expected {
                        problems.push(format!("requests {made:?}, expected {:?}", kind.requests));
                    }
                    problems
                        .into_iter()
                        .map(|p| format!("{}: {p}", kind.name))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        runs.into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["a thread panicked".into()])
            })
            .collect()
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn secret_ready() {
    ready("secret_ready", &SECRET);
}

#[test]
fn configmap_ready() {
    ready("configmap_ready", &CONFIGMAP);
}

#[test]
fn certificate_ready() {
    ready("certificate_ready", &CERTIFICATE);
}

#[test]
fn job_ready() {
    ready("job_ready", &JOB);
}

#[test]
fn job_failed() {
    failed("job_failed", &JOB);
}

#[test]
fn deployment_ready() {
    ready("deployment_ready", &DEPLOYMENT);
}

#[test]
fn deployment_failed() {
    failed("deployment_failed", &DEPLOYMENT);
}

#[test]
fn statefulset_ready() {
    ready("statefulset_ready", &STATEFULSET);
}

#[test]
fn statefulset_failed() {
    failed("statefulset_failed", &STATEFULSET);
}

#[test]
fn daemonset_ready() {
    ready("daemonset_ready", &DAEMONSET);
}

#[test]
fn daemonset_failed() {
    failed("daemonset_failed", &DAEMONSET);
}

#[test]
fn pod_ready() {
    ready("pod_ready", &POD);
}

#[test]
fn pod_failed() {
    failed("pod_failed", &POD);
}

#[test]
fn pvc_ready() {
    ready("pvc_ready", &PVC);
}

#[test]
fn pvc_failed() {
    failed("pvc_failed", &PVC);
}

#[test]
fn crd_ready() {
    ready("crd_ready", &CRD);
}

#[test]
fn crd_failed() {
    failed("crd_failed", &CRD);
}

#[test]
fn crd_install_ready() {
    ready("crd_install_ready", &CRD_INSTALL);
}

#[test]
fn helmrelease_ready() {
    ready("helmrelease_ready", &HELMRELEASE);
}

#[test]
fn helmrelease_failed() {
    failed("helmrelease_failed", &HELMRELEASE);
}

#[test]
fn service_ready() {
    ready("service_ready", &SERVICE);
}

#[test]
fn deleted_ready() {
    ready("deleted_ready", &DELETED);
}
