//! The real `kubectl` against testkit's discovery (both forms) and its new types: what kubectl
//! lists is what testkit serves (and what kwait's resolver resolves: see the unit test
//! `every_name_kubectl_api_resources_lists_resolves_to_the_same_type` in src/kube/discovery.rs),
//! and `kubectl get deploy`, `get pv` and `get crd` work, including a CRD created from
//! cert-manager's published manifest. Skipped (with a message) when kubectl is not on PATH.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Cluster, NS};
use serde_json::json;

fn kubectl_found() -> bool {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        println!("SKIPPED: kubectl not found");
    }
    found
}

/// kubectl with the cluster's kubeconfig, `home` as HOME (its discovery cache) and a deadline.
fn kubectl(c: &Cluster, home: &Path, args: &[&str]) -> Output {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .arg("--request-timeout=10s")
        .args(args)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubectl");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("kubectl {args:?} hung for 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn ok(c: &Cluster, home: &Path, args: &[&str]) -> String {
    let out = kubectl(c, home, args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kubectl_api_resources_lists_exactly_what_testkit_serves_in_both_discovery_forms() {
    if !kubectl_found() {
        return;
    }
    let c = Cluster::new("discovery-list");
    let mut served: Vec<String> = c
        .api
        .resources()
        .iter()
        .map(|d| {
            if d.group.is_empty() {
                d.plural.clone()
            } else {
                format!("{}.{}", d.plural, d.group)
            }
        })
        .collect();
    served.push("namespaces".into());
    served.sort();
    for aggregated in [true, false] {
        c.api.set_aggregated_discovery(aggregated);
        c.api.reset_counters();
        let home = c.dir.join(format!("home-{aggregated}"));
        let out = ok(&c, &home, &["api-resources", "-o", "name"]);
        let mut listed: Vec<String> = out.lines().map(str::to_string).collect();
        listed.sort();
        assert_eq!(listed, served, "aggregated discovery {aggregated}");
        let per_group = c
            .api
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/apis/") || r.path.starts_with("/api/"))
            .count();
        assert_eq!(
            per_group == 0,
            aggregated,
            "kubectl reads the per-group documents only without aggregated discovery"
        );
    }
}

#[test]
fn kubectl_gets_deployments_persistent_volumes_and_crds_from_testkit() {
    if !kubectl_found() {
        return;
    }
    let c = Cluster::new("discovery-get");
    let home = c.dir.join("home");
    c.api.create(
        "deployments",
        NS,
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": {}}}),
    );
    c.api.patch_status(
        "deploy",
        NS,
        "web",
        json!({"status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1}}),
    );
    // testkit answers no server-side Table: kubectl prints its default NAME/AGE columns.
    let out = ok(&c, &home, &["get", "deploy"]);
    assert!(out.contains("web"), "{out}");
    let out = ok(
        &c,
        &home,
        &[
            "get",
            "deployments.v1.apps",
            "web",
            "-o",
            "jsonpath={.status.updatedReplicas}",
        ],
    );
    assert_eq!(out, "2");

    // Cluster-scoped: no namespace in the path or the object, even with -n.
    c.api.create(
        "pv",
        "",
        json!({"metadata": {"name": "data-1"}, "spec": {"capacity": {"storage": "1Gi"}}}),
    );
    let out = ok(&c, &home, &["get", "pv", "data-1", "-o", "json"]);
    let pv: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(pv["metadata"].get("namespace").is_none(), "{pv}");

    // A CRD created from cert-manager's own manifest serves its type, as on a real server.
    c.api.unregister_resource("certificates");
    let out = kubectl(&c, &home, &["get", "certificates.cert-manager.io"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the server doesn't have a resource type")
    );
    let manifest = "/work/shared/fixtures/cert-manager/cert-manager.io_certificates.yaml";
    let crd_file = if Path::new(manifest).exists() {
        manifest.to_string()
    } else {
        let f = c.dir.join("crd.yaml");
        std::fs::write(&f, MINIMAL_CRD).unwrap();
        f.display().to_string()
    };
    let out = ok(&c, &home, &["create", "-f", &crd_file]);
    assert!(
        out.contains("certificates.cert-manager.io created"),
        "{out}"
    );
    let out = ok(&c, &home, &["get", "crd"]);
    assert!(out.contains("certificates.cert-manager.io"), "{out}");
    let out = ok(
        &c,
        &home,
        &[
            "get",
            "crd",
            "certificates.cert-manager.io",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
        ],
    );
    assert_eq!(out, "True");
    // A new kubectl (cold discovery cache) finds the type by its short name.
    c.api.create(
        "certificates",
        NS,
        json!({"metadata": {"name": "web-tls"}, "spec": {"secretName": "web-tls"}}),
    );
    let out = ok(&c, &c.dir.join("home-2"), &["get", "cert", "-o", "name"]);
    assert_eq!(out.trim(), "certificate.cert-manager.io/web-tls");
}

/// Used where the cert-manager fixture is not on this machine.
const MINIMAL_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: certificates.cert-manager.io
spec:
  group: cert-manager.io
  names: {kind: Certificate, listKind: CertificateList, plural: certificates, singular: certificate, shortNames: [cert, certs]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    subresources: {status: {}}
";
