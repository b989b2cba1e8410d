//! The envtest harness itself: a real API server that answers with RBAC and an audit log, and
//! that does not outlive the process that started it, even one killed with SIGKILL.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use testkit::envtest;

use envtest::alive;

#[test]
fn no_etcd_or_apiserver_survives_a_killed_test_process() {
    if envtest::shared("no_etcd_or_apiserver_survives_a_killed_test_process").is_none() {
        return;
    }
    // The holder starts its own server (as a test binary does) and is killed without warning.
    let mut holder = Command::new(env!("CARGO_BIN_EXE_envtest"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn envtest");
    let out = holder.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let pids = lines.next().expect("a line").expect("pids line");
    let kubeconfig = lines.next().expect("a line").expect("kubeconfig line");
    let pids: Vec<u32> = pids
        .strip_prefix("pids ")
        .expect("pids ...")
        .split(' ')
        .map(|p| p.parse().expect("a pid"))
        .collect();
    let dir = std::path::Path::new(
        kubeconfig
            .strip_prefix("kubeconfig ")
            .expect("kubeconfig ..."),
    )
    .parent()
    .expect("its directory")
    .to_path_buf();
    assert!(
        pids.iter().all(|p| alive(*p)),
        "{pids:?} run while the holder runs"
    );
    holder.kill().expect("SIGKILL the holder");
    let _ = holder.wait();
    let start = Instant::now();
    while pids.iter().any(|p| alive(*p)) || dir.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "still running 60 s after their test process was killed: {:?}; directory kept: {}",
            pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>(),
            dir.exists()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_user_with_no_rights_is_refused_and_the_audit_log_says_so() {
    let Some(env) = envtest::shared("a_user_with_no_rights_is_refused_and_the_audit_log_says_so")
    else {
        return;
    };
    let ns = env.namespace("harness");
    let user = env.user();
    let path = format!("/api/v1/namespaces/{ns}/secrets/s");
    let a = env.request(&user, "GET", &path, None).expect("GET");
    assert_eq!(a.status, 403, "{}", a.text());
    env.grant(
        &user,
        &format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\n  namespace: {ns}\nrules:\n- apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  resourceNames: [\"s\"]\n  verbs: [\"get\"]\n"),
    );
    let a = env.request(&user, "GET", &path, None).expect("GET");
    assert_eq!(a.status, 404, "{}", a.text());
    env.create(
        &ns,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}),
    );
    let a = env.request(&user, "GET", &path, None).expect("GET");
    assert_eq!(a.status, 200, "{}", a.text());
    let start = Instant::now();
    loop {
        let codes: Vec<Option<u16>> = env.audit(&user.name).iter().map(|e| e.code).collect();
        if codes == [Some(403), Some(404), Some(200)] {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "audit log of {}: {codes:?}",
            user.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
