//! `wait-configmap` end to end: the built binary against testkit. Values are never printed (a
//! ConfigMap often holds a connection string with a password), and the watch wakes kwait.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(40);
const VALUE: &str = "postgres://app:hunter2-configmap-value@db:5432/app";

fn configmap(data: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"}, "data": data})
}

#[test]
fn a_key_added_to_a_configmap_wakes_kwait_at_once() {
    let c = Cluster::new("cm-wake");
    c.api
        .create("configmaps", NS, configmap(json!({"OTHER": VALUE})));
    // Polls at least 10 s apart: only the watch can end the wait within seconds.
    let k = spawn(c.kwait(&[
        "--timeout",
        "30s",
        "--interval",
        "10s",
        "wait-configmap",
        "app-config",
        "--key",
        "DATABASE_URL",
    ]));
    eventually("the watch", Duration::from_secs(20), || {
        (c.api.open_watches() >= 1).then_some(())
    });
    sleep_ms(300);
    let changed = Instant::now();
    c.api.patch(
        "configmaps",
        NS,
        "app-config",
        json!({"data": {"DATABASE_URL": VALUE}}),
    );
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.ended - changed < Duration::from_secs(3),
        "{:?}",
        r.ended - changed
    );
    assert!(
        r.stderr.starts_with("kwait: waiting for ConfigMap crs/app-config (keys: DATABASE_URL), timeout 30s\n\
                              kwait: ConfigMap crs/app-config (keys: DATABASE_URL): found, but key DATABASE_URL missing\n"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .trim_end()
            .ends_with("ConfigMap crs/app-config has key DATABASE_URL"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
}

#[test]
fn configmap_values_never_appear_at_any_verbosity_or_format() {
    let c = Cluster::new("cm-values");
    c.api.create(
        "configmaps",
        NS,
        configmap(json!({"DATABASE_URL": VALUE, "EMPTY": ""})),
    );
    let term = c.dir.join("termination-log");
    for format in ["text", "json"] {
        let r = run(
            c.kwait(&[
                "-vvv",
                "--log-format",
                format,
                "--timeout",
                "2s",
                "--termination-log",
                term.to_str().unwrap_or_default(),
                "wait-configmap",
                "app-config",
                "--key",
                "EMPTY",
                "--key",
                "MISSING",
            ]),
            LIMIT,
        );
        assert_eq!(r.code, Some(124), "{}", r.stderr);
        assert!(
            r.stderr.contains("key MISSING missing; key EMPTY empty"),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("DATABASE_URL"),
            "the key names are shown: {}",
            r.stderr
        );
        let log = std::fs::read_to_string(&term).unwrap_or_default();
        for text in [&r.stderr, &log] {
            assert!(
                !text.contains("hunter2") && !text.contains("postgres://"),
                "{text}"
            );
        }
    }
}

#[test]
fn a_configmap_and_a_secret_in_one_run() {
    let c = Cluster::new("cm-and");
    c.api
        .create("configmaps", NS, configmap(json!({"DATABASE_URL": VALUE})));
    c.api
        .create("secrets", NS, secret("app-token", &[("API_KEY", "k")]));
    let r = run(
        c.kwait(&[
            "--timeout",
            "10s",
            "cm",
            "app-config",
            "--key",
            "DATABASE_URL",
            "--and",
            "wait-secret",
            "app-token",
            "--key",
            "API_KEY",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.trim_end().ends_with("all 2 ready after")
            || r.stderr.contains("kwait: all 2 ready after "),
        "{}",
        r.stderr
    );
    let dry = run_in(
        &c.dir,
        &[
            "--no-events",
            "--dry-run=rbac",
            "-n",
            NS,
            "wait-configmap",
            "app-config",
        ],
    );
    assert_eq!(
        dry.stdout,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: kwait-app-config-5cfac28e\n  namespace: crs\nrules:\n\
         # read the ConfigMap; watch it to react at once\n\
         - apiGroups: [\"\"]\n  resources: [\"configmaps\"]\n  resourceNames: [\"app-config\"]\n  verbs: [\"get\", \"watch\"]\n"
    );
}
