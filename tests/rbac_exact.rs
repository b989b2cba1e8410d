//! `--dry-run=rbac` is exactly sufficient: for every wait kind, a service account granted only
//! the rules of the Role kwait prints (optional ones included) waits to ready without a single
//! request answered 403 — no request kwait makes is outside what it asks for.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// The rules of the Role `kwait -n crs --dry-run=rbac ARGS` prints, as testkit rules limited to
/// the Role's namespace.
fn printed_rules(dir: &std::path::Path, args: &[&str]) -> Vec<Rule> {
    let mut all = vec!["-n", NS, "--dry-run=rbac"];
    all.extend(args);
    let r = run_in(dir, &all);
    assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
    let rules = parse_role(&r.stdout);
    assert!(!rules.is_empty(), "{args:?}: no rules in\n{}", r.stdout);
    rules
}

/// A `["a", "b"]` YAML flow list of quoted strings.
fn list(value: &str) -> Vec<String> {
    let inner = value
        .trim()
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or_else(|| panic!("not a flow list: {value}"));
    if inner.trim().is_empty() {
        return Vec::new();
    }
    // `""` (the core group) is a value too.
    inner
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect()
}

/// The rules of a Role as kwait prints it (block list of flow-list fields).
fn parse_role(yaml: &str) -> Vec<Rule> {
    assert!(yaml.contains("kind: Role\n"), "{yaml}");
    assert!(yaml.contains(&format!("  namespace: {NS}\n")), "{yaml}");
    let mut fields: Vec<Vec<(String, Vec<String>)>> = Vec::new();
    let mut in_rules = false;
    for line in yaml.lines() {
        if line.starts_with('#') || line.trim().starts_with('#') {
            continue;
        }
        if line == "rules:" {
            in_rules = true;
            continue;
        }
        if !in_rules {
            continue;
        }
        let (start, body) = match line.strip_prefix("- ") {
            Some(b) => (true, b),
            None => (false, line.trim_start()),
        };
        if start {
            fields.push(Vec::new());
        }
        let (key, value) = body
            .split_once(": ")
            .unwrap_or_else(|| panic!("unexpected line {line:?} in\n{yaml}"));
        fields
            .last_mut()
            .unwrap_or_else(|| panic!("field before the first rule in\n{yaml}"))
            .push((key.to_string(), list(value)));
    }
    fields
        .into_iter()
        .map(|f| {
            let get = |k: &str| f.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
            let groups = get("apiGroups").expect("apiGroups");
            let resources = get("resources").expect("resources");
            let verbs = get("verbs").expect("verbs");
            assert_eq!(groups.len(), 1, "one group per rule: {groups:?}");
            let verbs: Vec<&str> = verbs.iter().map(String::as_str).collect();
            let mut rule = Rule::new(&verbs, &resources[0])
                .group(&groups[0])
                .namespace(NS);
            for r in &resources[1..] {
                rule = rule.resource(r);
            }
            if let Some(names) = get("resourceNames") {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                rule = rule.names(&names);
            }
            rule
        })
        .collect()
}

/// A cluster where kwait's token holds exactly the rules `--dry-run=rbac ARGS` prints.
fn exactly_printed(name: &str, args: &[&str]) -> Cluster {
    let dir = scratch(&format!("{name}-dry"));
    let rules = printed_rules(&dir, args);
    Cluster::with(name, Allow::rules(rules))
}

/// Runs `args` (with `-n crs`), lets `progress` move the objects along once kwait is watching,
/// expects ready, and asserts that no request of kwait's was answered 403.
fn ready_without_403(c: &Cluster, args: &[&str], progress: impl FnOnce(&ApiServer)) {
    let mut all = vec!["-n", NS, "--timeout", "30s"];
    all.extend(args);
    let k = spawn(c.kwait(&all));
    eventually("kwait to open its watch", Duration::from_secs(20), || {
        (c.api.count("watch") >= 1).then_some(())
    });
    progress(&c.api);
    let r = k.finish(Duration::from_secs(60));
    assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
    let refused: Vec<String> = c
        .api
        .requests()
        .into_iter()
        .filter(|q| q.status == 403)
        .map(|q| format!("{} {} ({})", q.verb, q.path, q.resource))
        .collect();
    assert!(
        refused.is_empty(),
        "{args:?}: requests outside the printed Role: {refused:?}\n{}",
        r.stderr
    );
    let watched = c
        .api
        .requests()
        .iter()
        .any(|q| q.verb == "watch" && q.status == 200);
    assert!(watched, "{args:?}: no watch was allowed");
}

fn job(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "app:1"}]}}},
        "status": {"startTime": "2025-05-01T10:00:00Z", "active": 1, "ready": 0, "failed": 0}
    })
}

fn complete(api: &ApiServer, name: &str) {
    let cond = |kind: &str| {
        json!({"type": kind, "status": "True", "reason": "CompletionsReached",
               "message": "Reached expected number of succeeded pods",
               "lastTransitionTime": "2025-05-01T10:00:09Z"})
    };
    api.patch_status(
        "jobs",
        NS,
        name,
        json!({"status": {"active": 0, "succeeded": 1, "failed": 0, "terminating": 0,
            "completionTime": "2025-05-01T10:00:12Z",
            "conditions": [cond("SuccessCriteriaMet"), cond("Complete")]}}),
    );
}

#[test]
fn wait_secret_with_keys_needs_nothing_beyond_its_printed_role() {
    let args = ["wait-secret", "s", "--key", "k"];
    let c = exactly_printed("rbac-secret", &args);
    ready_without_403(&c, &args, |api| {
        api.create("secrets", NS, secret("s", &[("k", "v")]));
    });
}

#[test]
fn wait_certificate_needs_nothing_beyond_its_printed_role_even_when_its_secret_is_late() {
    let args = ["wait-certificate", "cert", "--secret-name", "tls"];
    let c = exactly_printed("rbac-cert", &args);
    let cond = |status: &str, reason: &str| {
        json!([{"type": "Ready", "status": status, "reason": reason, "message": reason,
                "lastTransitionTime": "2026-03-01T10:00:00Z", "observedGeneration": 1}])
    };
    c.api
        .create("certificates", NS, new_certificate("cert", "tls"));
    ready_without_403(&c, &args, |api| {
        // Ready before the Secret exists (as after the Secret was deleted): kwait reads the
        // Secret, finds none, and must not reach for anything its Role does not grant.
        let status = |conditions| json!({"status": {"conditions": conditions}});
        api.patch_status("certificates", NS, "cert", status(cond("True", "Ready")));
        eventually(
            "kwait to look for the Secret",
            Duration::from_secs(20),
            || (api.count_for("get", "secrets") >= 1).then_some(()),
        );
        std::thread::sleep(Duration::from_millis(300));
        api.patch_status(
            "certificates",
            NS,
            "cert",
            status(cond("False", "DoesNotExist")),
        );
        api.create(
            "secrets",
            NS,
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                   "metadata": {"name": "tls"},
                   "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}}),
        );
        api.patch_status("certificates", NS, "cert", status(cond("True", "Ready")));
    });
}

#[test]
fn wait_job_by_name_needs_nothing_beyond_its_printed_role() {
    let args = ["wait-job", "migrate"];
    let c = exactly_printed("rbac-job", &args);
    c.api
        .create("jobs", NS, job("migrate", json!({"app": "m"})));
    ready_without_403(&c, &args, |api| complete(api, "migrate"));
}

#[test]
fn wait_job_by_selector_needs_nothing_beyond_its_printed_role() {
    let args = ["wait-job", "-l", "app=m"];
    let c = exactly_printed("rbac-job-l", &args);
    c.api
        .create("jobs", NS, job("migrate-1", json!({"app": "m"})));
    ready_without_403(&c, &args, |api| complete(api, "migrate-1"));
}

#[test]
fn wait_job_by_selector_with_all_needs_nothing_beyond_its_printed_role() {
    let args = ["wait-job", "-l", "app=seed", "--all"];
    let c = exactly_printed("rbac-job-all", &args);
    c.api
        .create("jobs", NS, job("seed-a", json!({"app": "seed"})));
    c.api
        .create("jobs", NS, job("seed-b", json!({"app": "seed"})));
    ready_without_403(&c, &args, |api| {
        complete(api, "seed-a");
        complete(api, "seed-b");
    });
}

#[test]
fn wait_job_without_pods_reads_its_failed_create_events_within_its_printed_role() {
    // A started Job with no pod: kwait lists its pods, then its FailedCreate events.
    for (args, name) in [
        (&["wait-job", "nopod"][..], "rbac-job-events"),
        (&["wait-job", "-l", "app=nopod"][..], "rbac-job-events-l"),
    ] {
        let c = exactly_printed(name, args);
        let mut j = job("nopod", json!({"app": "nopod"}));
        j["status"]["active"] = json!(0);
        c.api.create("jobs", NS, j);
        ready_without_403(&c, args, |api| {
            eventually(
                "kwait to list the Job's events",
                Duration::from_secs(20),
                || (api.count_for("list", "events") >= 1).then_some(()),
            );
            complete(api, "nopod");
        });
    }
}

#[test]
fn several_waits_joined_by_and_need_nothing_beyond_their_one_merged_role() {
    let args = [
        "wait-secret",
        "s",
        "--key",
        "k",
        "--and",
        "wait-secret",
        "tls",
        "--and",
        "wait-certificate",
        "cert",
        "--secret-name",
        "tls",
        "--and",
        "wait-job",
        "migrate",
        "--and",
        "wait-job",
        "-l",
        "app=seed",
    ];
    let c = exactly_printed("rbac-and", &args);
    let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
        "message": "ok", "lastTransitionTime": "2026-03-01T10:00:00Z", "observedGeneration": 1}]}});
    c.api
        .create("certificates", NS, new_certificate("cert", "tls"));
    c.api
        .create("jobs", NS, job("migrate", json!({"app": "m"})));
    c.api
        .create("jobs", NS, job("seed-1", json!({"app": "seed"})));
    ready_without_403(&c, &args, |api| {
        api.create("secrets", NS, secret("s", &[("k", "v")]));
        api.create(
            "secrets",
            NS,
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                   "metadata": {"name": "tls"},
                   "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}}),
        );
        api.patch_status("certificates", NS, "cert", ready);
        complete(api, "migrate");
        complete(api, "seed-1");
    });
}

#[test]
fn wait_configmap_with_keys_needs_nothing_beyond_its_printed_role() {
    let args = ["wait-configmap", "cm", "--key", "k"];
    let c = exactly_printed("rbac-configmap", &args);
    ready_without_403(&c, &args, |api| {
        api.create(
            "configmaps",
            NS,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"k": "v"}}),
        );
    });
}

#[test]
fn wait_service_needs_nothing_beyond_its_printed_role() {
    let args = ["wait-service", "db", "--port", "5432"];
    let c = exactly_printed("rbac-service", &args);
    c.api.create(
        "services",
        NS,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
               "spec": {"selector": {"app": "db"}, "ports": [{"name": "pg", "port": 5432}]}}),
    );
    ready_without_403(&c, &args, |api| {
        // No endpoints at first: kwait lists the selector's pods (optional rule), then the
        // slice gains a ready endpoint.
        eventually("kwait to list the pods", Duration::from_secs(20), || {
            (api.count_for("list", "pods") >= 1).then_some(())
        });
        api.create(
            "endpointslices",
            NS,
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                   "metadata": {"name": "db-1", "labels": {"kubernetes.io/service-name": "db"}},
                   "addressType": "IPv4", "ports": [{"name": "pg", "port": 5432}],
                   "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": true}}]}),
        );
    });
}

#[test]
fn wait_ready_by_name_and_by_selector_needs_nothing_beyond_its_printed_role() {
    // Discovery (GET /api, /apis) is every authenticated user's (system:discovery): not in the Role.
    let args = [
        "wait-ready",
        "deploy/web",
        "--and",
        "wait-ready",
        "po",
        "-l",
        "app=db",
    ];
    let c = exactly_printed("rbac-ready", &args);
    c.api.create(
        "deployments",
        NS,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {}}}),
    );
    ready_without_403(&c, &args, |api| {
        api.patch_status(
            "deployments",
            NS,
            "web",
            json!({"status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                              "readyReplicas": 1, "availableReplicas": 1,
                              "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}}),
        );
        api.create(
            "pods",
            NS,
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db-0", "labels": {"app": "db"}},
                   "spec": {"containers": [{"name": "db", "image": "postgres:16"}]},
                   "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                              "containerStatuses": [{"name": "db", "ready": true, "restartCount": 0, "state": {"running": {}}}]}}),
        );
    });
}
