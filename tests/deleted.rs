//! `wait-deleted` end to end: the built binary against testkit. Gone (404), replaced (another
//! uid under the same name), held by a finalizer (the report names the deletionTimestamp and
//! the finalizers, exit 124), selectors with and without `--any`, a type not served, and the
//! exact RBAC of `--dry-run=rbac` with no request refused.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(40);

fn job(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "migrate:1"}]}}}
    })
}

fn configmap(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

/// Waits until kwait has read `resource` once (so it has seen what exists at the start).
fn first_read(api: &ApiServer, verb: &str, resource: &str) {
    eventually("kwait's first read", Duration::from_secs(20), || {
        (api.count_for(verb, resource) >= 1).then_some(())
    });
}

#[test]
fn an_object_deleted_while_kwait_waits_is_gone_and_one_never_there_is_gone_at_once() {
    let c = Cluster::new("deleted-gone");
    c.api.create("jobs", NS, job("migrate", json!({})));
    let k = spawn(c.kwait(&["--timeout", "30s", "wait-deleted", "job/migrate"]));
    first_read(&c.api, "get", "jobs");
    sleep_ms(300);
    assert!(c.api.delete("jobs", NS, "migrate"));
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("kwait: waiting for deletion of Job crs/migrate, timeout 30s"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("crs/migrate: exists, not being deleted"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Job crs/migrate is gone"), "{}", r.stderr);

    // Not there at the start: already gone (as kubectl wait --for=delete).
    let r = run(
        c.kwait(&["--timeout", "30s", "wait-deleted", "job/never"]),
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Job crs/never does not exist (nothing to wait for)"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_object_replaced_by_a_new_one_of_the_same_name_is_gone() {
    let c = Cluster::new("deleted-replaced");
    let old = c.api.create("jobs", NS, job("migrate", json!({})));
    let k = spawn(c.kwait(&[
        "--timeout",
        "30s",
        "--max-interval",
        "1s",
        "wait-deleted",
        "job/migrate",
    ]));
    first_read(&c.api, "get", "jobs");
    // While kwait cannot see it, the Job is deleted and created again: its next read finds
    // the name holding another object.
    c.api.stop();
    assert!(c.api.delete("jobs", NS, "migrate"));
    let new = c.api.create("jobs", NS, job("migrate", json!({})));
    c.api.restart();
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let uid = |o: &Value| {
        o["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        r.stderr.contains(&format!(
            "Job crs/migrate is gone: the name now holds a new object (uid {}; the one first seen was {})",
            uid(&new),
            uid(&old)
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn an_object_held_by_a_finalizer_times_out_naming_its_deletion_timestamp_and_finalizers() {
    let c = Cluster::new("deleted-held");
    let mut cm = configmap("cfg", json!({}));
    cm["metadata"]["finalizers"] = json!(["example.com/cleanup", "evil\u{1b}[2J"]);
    c.api.create("configmaps", NS, cm);
    c.api.patch(
        "configmaps",
        NS,
        "cfg",
        json!({"metadata": {"deletionTimestamp": "2026-12-06T10:00:00Z"}}),
    );
    let r = run(
        c.kwait(&["--timeout", "2s", "wait-deleted", "configmap/cfg"]),
        LIMIT,
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let held = "being deleted (deletionTimestamp 2026-12-06T10:00:00Z), held by finalizers: example.com/cleanup, evil\\u{1b}[2J";
    let report = &r.stderr[r.stderr.find("timed out").unwrap_or(0)..];
    assert!(report.contains(held), "{}", r.stderr);
    assert!(
        report.contains("kubectl get configmaps cfg -n crs -o yaml"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains('\u{1b}'), "{}", r.stderr);

    // The JSON lines carry the same state.
    let r = run(
        c.kwait(&[
            "--timeout",
            "2s",
            "--log-format",
            "json",
            "wait-deleted",
            "configmap/cfg",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let states: Vec<Value> = r
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v.to_string()
                .contains("held by finalizers: example.com/cleanup, evil")
        })
        .collect();
    assert!(!states.is_empty(), "{}", r.stderr);
    assert!(!r.stderr.contains('\u{1b}'), "{}", r.stderr);
    assert!(
        states
            .iter()
            .all(|v| v["target"].as_str() == Some("deletion of ConfigMap crs/cfg")),
        "{states:?}"
    );
}

#[test]
fn a_selector_waits_for_every_object_matched_at_the_start_or_with_any_for_one() {
    let c = Cluster::new("deleted-selector");
    for n in ["a", "b"] {
        c.api
            .create("configmaps", NS, configmap(n, json!({"app": "old"})));
    }
    let k = spawn(c.kwait(&[
        "--timeout",
        "30s",
        "wait-deleted",
        "configmaps",
        "-l",
        "app=old",
    ]));
    first_read(&c.api, "list", "configmaps");
    let lists = |api: &ApiServer| api.count_for("list", "configmaps");
    let after = |api: &ApiServer, n: usize| {
        eventually("kwait to list again", Duration::from_secs(20), || {
            (lists(api) > n).then_some(())
        })
    };
    let n = lists(&c.api);
    assert!(c.api.delete("configmaps", NS, "a"));
    after(&c.api, n);
    // One more matches after the start: a new object, not waited for.
    sleep_ms(300);
    let n = lists(&c.api);
    c.api
        .create("configmaps", NS, configmap("c", json!({"app": "old"})));
    after(&c.api, n);
    assert!(c.api.get("configmaps", NS, "b").is_some());
    assert!(c.api.delete("configmaps", NS, "b"));
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("1 of 2 gone; b: exists, not being deleted"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            "all 2 ConfigMap matching app=old at the start are gone; 1 created since match now, not waited for"
        ),
        "{}",
        r.stderr
    );

    // --any: one of those matched at the start gone is enough.
    for n in ["d", "e"] {
        c.api
            .create("configmaps", NS, configmap(n, json!({"app": "older"})));
    }
    let n = lists(&c.api);
    let k = spawn(c.kwait(&[
        "--timeout",
        "30s",
        "wait-deleted",
        "configmaps",
        "-l",
        "app=older",
        "--any",
    ]));
    after(&c.api, n);
    assert!(c.api.delete("configmaps", NS, "e"));
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("ConfigMap e is gone (1 of the 2 matching app=older at the start)"),
        "{}",
        r.stderr
    );
    assert!(c.api.get("configmaps", NS, "d").is_some());

    // Nothing matches at the start: nothing to wait for.
    let r = run(
        c.kwait(&["--timeout", "30s", "wait-deleted", "jobs", "-l", "app=none"]),
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no Job matched app=none when the wait started (nothing to wait for)"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_cluster_scoped_object_by_its_short_name_is_read_without_a_namespace() {
    let c = Cluster::new("deleted-cluster-scoped");
    c.api.create(
        "persistentvolumes",
        "",
        json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "data"},
               "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}}),
    );
    let k = spawn(c.kwait(&["--timeout", "30s", "wait-deleted", "pv/data"]));
    first_read(&c.api, "get", "persistentvolumes");
    sleep_ms(300);
    assert!(c.api.delete("persistentvolumes", "", "data"));
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains("PersistentVolume data is gone"),
        "{}",
        r.stderr
    );
    let reads: Vec<String> = (c.api.requests().into_iter())
        .filter(|q| q.resource == "persistentvolumes")
        .map(|q| q.path)
        .collect();
    assert!(!reads.is_empty());
    assert!(
        reads.iter().all(|p| !p.contains("/namespaces/")),
        "{reads:?}"
    );
}

/// A type the server does not serve is a misspelling as often as a removed CRD: never gone at
/// once (kubectl wait errors); pending, with the check to make.
#[test]
fn a_type_never_served_is_not_taken_for_gone() {
    let c = Cluster::new("deleted-not-served");
    let r = run(
        c.kwait(&["--timeout", "2s", "wait-deleted", "widgets.example.com/w"]),
        LIMIT,
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the API server serves no resource type widgets.example.com"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("kubectl api-resources"), "{}", r.stderr);
}

#[test]
fn a_forbidden_read_is_never_taken_for_gone() {
    let c = Cluster::with("deleted-forbidden", Allow::none());
    let r = run(
        c.kwait(&["--timeout", "2s", "wait-deleted", "job/migrate"]),
        LIMIT,
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(r.stderr.contains("forbidden"), "{}", r.stderr);
    assert!(
        r.stderr.contains("kubectl create role kwait-migrate-"),
        "{}",
        r.stderr
    );
}

/// The rules `--dry-run=rbac` prints for `args` (one Role in `crs`), as testkit rules.
fn printed_rules(dir: &std::path::Path, args: &[&str]) -> Vec<Rule> {
    let mut all = vec!["-n", NS, "--no-events", "--dry-run=rbac"];
    all.extend(args);
    let r = run_in(dir, &all);
    assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
    let list = |line: &str, key: &str| -> Option<Vec<String>> {
        let v = line.trim_start_matches("- ").trim().strip_prefix(key)?;
        let v = v.trim().strip_prefix('[')?.strip_suffix(']')?;
        Some(
            v.split(", ")
                .map(|s| s.trim_matches('"').to_string())
                .collect(),
        )
    };
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.starts_with('#')).collect();
    let mut rules = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(groups) = list(l, "apiGroups:") else {
            continue;
        };
        let field = |key: &str| lines[i + 1..].iter().take(3).find_map(|l| list(l, key));
        let resources = field("resources:").unwrap_or_default();
        let verbs = field("verbs:").unwrap_or_default();
        let verbs: Vec<&str> = verbs.iter().map(String::as_str).collect();
        let mut rule = Rule::new(&verbs, &resources[0])
            .group(&groups[0])
            .namespace(NS);
        if let Some(names) = field("resourceNames:") {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            rule = rule.names(&names);
        }
        rules.push(rule);
    }
    assert_eq!(rules.len(), 1, "{}", r.stdout);
    rules
}

#[test]
fn wait_deleted_needs_nothing_beyond_its_printed_role() {
    for (name, args) in [
        ("deleted-rbac-name", &["wait-deleted", "job/migrate"][..]),
        (
            "deleted-rbac-selector",
            &["wait-deleted", "jobs", "-l", "app=migrate"][..],
        ),
    ] {
        let dir = scratch(name);
        let c = Cluster::with(name, Allow::rules(printed_rules(&dir, args)));
        c.api
            .create("jobs", NS, job("migrate", json!({"app": "migrate"})));
        let mut all = vec!["-n", NS, "--timeout", "30s"];
        all.extend(args);
        let k = spawn(c.kwait(&all));
        eventually("kwait to open its watch", Duration::from_secs(20), || {
            let read = c.api.count_for("get", "jobs") + c.api.count_for("list", "jobs");
            (c.api.count("watch") >= 1 && read >= 1).then_some(())
        });
        sleep_ms(300);
        assert!(c.api.delete("jobs", NS, "migrate"));
        let r = k.finish(LIMIT);
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
        let refused: Vec<String> = (c.api.requests().into_iter())
            .filter(|q| q.status == 403)
            .map(|q| format!("{} {} ({})", q.verb, q.path, q.resource))
            .collect();
        assert!(refused.is_empty(), "{args:?}: {refused:?}\n{}", r.stderr);
        assert!(
            (c.api.requests().iter()).any(|q| q.verb == "watch" && q.status == 200),
            "{args:?}: no watch was allowed"
        );
    }
}
