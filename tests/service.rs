//! `wait-service` end to end: the built binary against testkit, the Service's EndpointSlices
//! created and patched as the EndpointSlice controller writes them.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(40);

fn service() -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "postgres"},
           "spec": {"type": "ClusterIP", "selector": {"app": "postgres"},
                    "ports": [{"name": "pg", "port": 5432, "targetPort": 5432, "protocol": "TCP"}]}})
}

fn endpoint(pod: &str, ready: bool) -> Value {
    json!({"addresses": [format!("10.0.0.{}", pod.len())],
           "conditions": {"ready": ready, "serving": ready, "terminating": false},
           "targetRef": {"kind": "Pod", "name": pod, "namespace": NS, "uid": format!("uid-{pod}")}})
}

fn slice(name: &str, endpoints: Vec<Value>) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "postgres",
                                                 "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
           "addressType": "IPv4",
           "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
           "endpoints": endpoints})
}

fn pod(name: &str, phase: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "postgres"}},
           "spec": {"containers": [{"name": "db", "image": "postgres:16"}]},
           "status": {"phase": phase}})
}

#[test]
fn a_ready_endpoint_in_a_new_slice_wakes_kwait_at_once() {
    let c = Cluster::new("svc-wake");
    c.api.create("services", NS, service());
    // Polls at least 10 s apart: only the EndpointSlice watch can end the wait within seconds.
    let k = spawn(c.kwait(&[
        "--timeout",
        "30s",
        "--interval",
        "10s",
        "wait-service",
        "postgres",
    ]));
    eventually("both watches", Duration::from_secs(20), || {
        (c.api.open_watches() >= 2).then_some(())
    });
    c.api.create("pods", NS, pod("postgres-0", "Running"));
    sleep_ms(300);
    let added = Instant::now();
    c.api.create(
        "endpointslices",
        NS,
        slice("postgres-abcde", vec![endpoint("postgres-0", true)]),
    );
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.ended - added < Duration::from_secs(3),
        "{:?}\n{}",
        r.ended - added,
        r.stderr
    );
    assert!(
        r.stderr.starts_with(
            "kwait: waiting for Service crs/postgres, timeout 30s\n\
             kwait: Service crs/postgres: 0 of 0 endpoints ready: no pod matches selector app=postgres\n"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .trim_end()
            .ends_with("Service crs/postgres has 1 ready endpoint"),
        "{}",
        r.stderr
    );
}

#[test]
fn min_ready_waits_for_that_many_ready_endpoints_and_the_report_counts_them() {
    let c = Cluster::new("svc-min");
    c.api.create("services", NS, service());
    c.api.create("pods", NS, pod("postgres-0", "Running"));
    c.api.create("pods", NS, pod("postgres-1", "Running"));
    c.api.create(
        "endpointslices",
        NS,
        slice(
            "postgres-abcde",
            vec![endpoint("postgres-0", true), endpoint("postgres-1", false)],
        ),
    );
    let r = run(
        c.kwait(&[
            "--timeout",
            "2s",
            "wait-service",
            "postgres",
            "--port",
            "pg",
            "--min-ready",
            "2",
        ]),
        LIMIT,
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("  last seen : 1 of 2 endpoints ready (waiting for 2) (since the start"),
        "{}",
        r.stderr
    );
    let k = spawn(c.kwait(&[
        "--timeout",
        "30s",
        "wait-service",
        "postgres",
        "--min-ready",
        "2",
    ]));
    eventually("both watches", Duration::from_secs(20), || {
        (c.api.open_watches() >= 2).then_some(())
    });
    c.api.patch(
        "endpointslices",
        NS,
        "postgres-abcde",
        json!({"endpoints": [endpoint("postgres-0", true), endpoint("postgres-1", true)]}),
    );
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Service crs/postgres has 2 ready endpoints"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_service_that_does_not_exist_yet_is_waited_for() {
    let c = Cluster::new("svc-late");
    let k = spawn(c.kwait(&["--timeout", "30s", "wait-service", "postgres"]));
    eventually("the watches", Duration::from_secs(20), || {
        (c.api.open_watches() >= 1).then_some(())
    });
    c.api.create("services", NS, service());
    c.api.create(
        "endpointslices",
        NS,
        slice("postgres-abcde", vec![endpoint("postgres-0", true)]),
    );
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("kwait: Service crs/postgres: not found\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_service_arguments_are_one_line_naming_them() {
    let home = scratch("svc-usage");
    for (args, says) in [
        (
            &["wait-service", "postgres", "--min-ready", "0"][..],
            "--min-ready",
        ),
        (
            &["wait-service", "postgres", "--port", "Bad_Port"][..],
            "--port",
        ),
        (&["wait-service", "Postgres"][..], "NAME"),
    ] {
        let r = run_in(&home, args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
}
