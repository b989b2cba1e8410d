//! Issue 24's proofs on a real kube-apiserver (testkit::envtest: etcd + kube-apiserver from
//! `$KUBEBUILDER_ASSETS`, no controllers): kwait runs as the init container of a real Pod object
//! would (the downward API's POD_NAME, POD_NAMESPACE and POD_UID in its environment), as a user
//! holding exactly the Role its `--dry-run=rbac` prints, and the Events it records are read back
//! as the admin from events.k8s.io/v1. The real server validates what testkit could not: the
//! Event body (eventTime with microseconds, `series`, `regarding` of a real Pod) and the merge
//! patch of a repeated state. The audit log must show no request of that user answered 403 for
//! the events (and none at all when the Role is complete).
//!
//! Without the binaries every test says SKIPPED (and fails under `KWAIT_REQUIRE_K8S=1`).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use testkit::envtest::{self, Envtest, User};

/// The most a run may take before the test kills it and fails.
const LIMIT: Duration = Duration::from_secs(60);
/// How soon the first Event must be stored (issue 24).
const FIRST_EVENT: Duration = Duration::from_secs(2);
/// The most Events a run may record (issue 24).
const MAX_EVENTS: usize = 20;
/// The Pod whose init container kwait plays.
const POD: &str = "web-0";

/// A namespace with the Pod [`POD`] in it (no node: it stays Pending), a user, its kubeconfig and
/// a scratch directory.
struct Setup {
    ns: String,
    uid: String,
    user: User,
    dir: PathBuf,
    kubeconfig: PathBuf,
}

fn setup(env: &Envtest, test: &str) -> Setup {
    let ns = env.namespace(test);
    let pod = env.create(
        &ns,
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": POD},
                "spec": {"containers": [{"name": "web", "image": "web:1"}]}}),
    );
    let uid = pod["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!uid.is_empty(), "{pod}");
    let dir = scratch(test);
    let user = env.user();
    let kubeconfig = env.kubeconfig(&dir, &user, &ns);
    Setup {
        ns,
        uid,
        user,
        dir,
        kubeconfig,
    }
}

impl Setup {
    /// kwait with `args` in the Pod's environment (the downward API's variables).
    fn kwait(&self, args: &[&str]) -> Command {
        let mut c = common::kwait(&self.dir);
        c.env("POD_NAME", POD)
            .env("POD_NAMESPACE", &self.ns)
            .env("POD_UID", &self.uid)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["-n", &self.ns])
            .args(args);
        c
    }

    /// What `--dry-run=rbac` prints for `args` in the Pod's environment.
    fn printed_rbac(&self, args: &[&str]) -> String {
        let mut dry = vec!["--dry-run=rbac"];
        dry.extend(args);
        let r = run(self.kwait(&dry), LIMIT);
        assert_eq!(r.code, Some(0), "--dry-run=rbac: {}", r.stderr);
        r.stdout
    }

    /// Grants exactly the printed Role for `args`.
    fn grant_printed(&self, env: &Envtest, args: &[&str]) -> String {
        let rbac = self.printed_rbac(args);
        assert!(rbac.contains("events.k8s.io"), "no events rule:\n{rbac}");
        env.grant(&self.user, &rbac);
        rbac
    }

    /// The Events stored in the namespace, as the admin reads them.
    fn events(&self, env: &Envtest) -> Vec<Value> {
        let path = format!("/apis/events.k8s.io/v1/namespaces/{}/events", self.ns);
        match env.request(&env.admin(), "GET", &path, None) {
            Ok(a) if a.status == 200 => serde_json::from_slice::<Value>(&a.body)
                .ok()
                .and_then(|l| l["items"].as_array().cloned())
                .unwrap_or_default(),
            Ok(a) => panic!("GET {path}: {}: {}", a.status, a.text()),
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    /// The first Event with `reason` whose note contains `text`.
    fn find(&self, env: &Envtest, reason: &str, text: &str) -> Option<Value> {
        self.events(env)
            .into_iter()
            .find(|e| s(e, "/reason") == reason && s(e, "/note").contains(text))
    }

    /// The user's requests to the events API answered 403.
    fn events_refused(&self, env: &Envtest) -> Vec<String> {
        env.refused(&self.user.name)
            .into_iter()
            .filter(|l| l.contains("/apis/events.k8s.io/"))
            .collect()
    }

    /// The user's writes to the events API, as audit lines.
    fn event_writes(&self, env: &Envtest) -> Vec<String> {
        env.audit(&self.user.name)
            .iter()
            .filter(|e| e.uri.starts_with("/apis/events.k8s.io/"))
            .map(ToString::to_string)
            .collect()
    }
}

fn s<'a>(e: &'a Value, path: &str) -> &'a str {
    e.pointer(path).and_then(Value::as_str).unwrap_or_default()
}

/// Every Event regards the Pod by its uid and comes from kwait.
fn assert_regards_the_pod(s_: &Setup, e: &Value) {
    // (A list's items carry no apiVersion: they are read from events.k8s.io/v1.)
    assert_eq!(s(e, "/reportingController"), "kwait", "{e}");
    assert_eq!(s(e, "/reportingInstance"), POD, "{e}");
    assert_eq!(s(e, "/regarding/kind"), "Pod", "{e}");
    assert_eq!(s(e, "/regarding/name"), POD, "{e}");
    assert_eq!(s(e, "/regarding/namespace"), s_.ns, "{e}");
    assert_eq!(s(e, "/regarding/uid"), s_.uid, "{e}");
}

#[test]
fn a_missing_secret_records_a_waiting_event_regarding_the_pod_within_2s() {
    let test = "real-events-waiting";
    let Some(env) = envtest::shared(test) else {
        return;
    };
    let st = setup(env, test);
    let args = ["wait-secret", "db-creds", "--key", "password"];
    st.grant_printed(env, &args);
    let mut full = vec!["--timeout", "60s"];
    full.extend(args);
    let started = Instant::now();
    let k = spawn(st.kwait(&full));
    let want = format!("Secret {}/db-creds (keys: password): not found", st.ns);
    let e = eventually(
        "a Waiting Event naming the Secret and its state",
        Duration::from_secs(30),
        || st.find(env, "Waiting", &want),
    );
    let within = started.elapsed();
    // A state seen again: not found → key missing → not found (a merge patch of `series`).
    env.create(
        &st.ns,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-creds"}}),
    );
    eventually("key password missing", Duration::from_secs(30), || {
        st.find(env, "Waiting", "found, but key password missing")
    });
    env.delete(
        &st.ns,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-creds"}}),
    );
    let again = eventually(
        "the not-found Event's series",
        Duration::from_secs(30),
        || {
            st.find(env, "Waiting", &want)
                .filter(|e| e["series"]["count"].as_u64() >= Some(2))
        },
    );
    env.create(
        &st.ns,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-creds"},
                "data": {"password": base64(b"s3cret")}}),
    );
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        within <= FIRST_EVENT,
        "the Waiting Event took {within:?}\n{}",
        r.stderr
    );
    assert_regards_the_pod(&st, &e);
    assert_eq!(s(&e, "/type"), "Normal", "{e}");
    // The server keeps eventTime as written (microseconds), and the series' last time.
    assert!(s(&e, "/eventTime").contains('.'), "{e}");
    assert!(again["series"]["lastObservedTime"].is_string(), "{again}");
    let ready = eventually("a Ready Event", Duration::from_secs(10), || {
        st.find(env, "Ready", "")
    });
    assert_regards_the_pod(&st, &ready);
    // The Role is complete: no request of the user was refused.
    let refused = env.refused(&st.user.name);
    assert!(refused.is_empty(), "refused: {refused:?}\n{}", r.stderr);
    // The events API did not refuse the body or the patch either (no warning line).
    assert!(!r.stderr.contains("cannot record Events"), "{}", r.stderr);
    let writes = st.event_writes(env);
    assert!(
        writes.iter().any(|w| w.contains(" patch ")),
        "no patch: {writes:?}"
    );
    assert!(
        writes
            .iter()
            .all(|w| w.contains("-> 201") || w.contains("-> 200")),
        "{writes:?}"
    );
}

#[test]
fn a_forbidden_secret_records_a_warning_with_the_kubectl_fix_within_2s() {
    let test = "real-events-forbidden";
    let Some(env) = envtest::shared(test) else {
        return;
    };
    let st = setup(env, test);
    let args = ["wait-secret", "db-creds"];
    // The printed Role without its Secret rule: the events rule only.
    let rbac = st.printed_rbac(&args);
    let rule = rbac
        .find("- apiGroups: [\"events.k8s.io\"]")
        .expect("an events rule");
    let head = rbac.find("rules:").expect("rules") + "rules:\n".len();
    let only_events = format!("{}{}", &rbac[..head], &rbac[rule..]);
    assert!(!only_events.contains("secrets"), "{only_events}");
    env.grant(&st.user, &only_events);
    let started = Instant::now();
    let k = spawn(st.kwait(&["--timeout", "4s", "wait-secret", "db-creds"]));
    let e = eventually(
        "a Forbidden warning with the fix",
        Duration::from_secs(30),
        || st.find(env, "Forbidden", "kubectl create role"),
    );
    let within = started.elapsed();
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(within <= FIRST_EVENT, "the Forbidden Event took {within:?}");
    assert_regards_the_pod(&st, &e);
    assert_eq!(s(&e, "/type"), "Warning", "{e}");
    assert!(s(&e, "/note").contains("kubectl create rolebinding"), "{e}");
    // The Secret's reads were refused (that is the point); the events' writes were not.
    assert!(
        !env.refused(&st.user.name).is_empty(),
        "the Secret was not refused"
    );
    let refused = st.events_refused(env);
    assert!(refused.is_empty(), "events refused: {refused:?}");
}

#[test]
fn a_timeout_records_timed_out_and_an_8s_wait_records_at_most_20_events() {
    let test = "real-events-timeout";
    let Some(env) = envtest::shared(test) else {
        return;
    };
    let st = setup(env, test);
    // Three Secrets, each missing another key every 200 ms: far more than 20 changes of state.
    let keys: Vec<String> = (0..40).map(|i| format!("k{i:02}")).collect();
    let names = ["a", "b", "c"];
    let mut args: Vec<&str> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            args.push("--and");
        }
        args.extend(["wait-secret", name]);
        for k in &keys {
            args.extend(["--key", k.as_str()]);
        }
    }
    st.grant_printed(env, &args);
    let all_but = |i: usize| -> Value {
        let data: serde_json::Map<String, Value> = (keys.iter().enumerate())
            .filter(|(j, _)| *j != i % keys.len())
            .map(|(_, k)| (k.clone(), json!(base64(b"v"))))
            .collect();
        Value::Object(data)
    };
    for name in names {
        env.create(
            &st.ns,
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                    "data": all_but(0)}),
        );
    }
    let mut full = vec![
        "--timeout",
        "8s",
        "--interval",
        "100ms",
        "--max-interval",
        "200ms",
    ];
    full.extend(args.iter().copied());
    let k = spawn(st.kwait(&full));
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < Duration::from_millis(7000) {
        i += 1;
        for name in names {
            // Another key missing: the one before comes back, the next one goes.
            let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}});
            let gone = keys[i % keys.len()].clone();
            let back = keys[(i - 1) % keys.len()].clone();
            let mut data = serde_json::Map::new();
            data.insert(gone, Value::Null);
            data.insert(back, json!(base64(b"v")));
            env.patch(&st.ns, &secret, &json!({ "data": data }));
        }
        sleep_ms(200);
    }
    let r = k.finish(LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let changes = r.stderr.matches(": found, but key").count();
    assert!(
        changes > MAX_EVENTS,
        "only {changes} changes of state:\n{}",
        r.stderr
    );
    let all = st.events(env);
    assert!(all.len() <= MAX_EVENTS, "{} Events: {all:#?}", all.len());
    let creates = (st.event_writes(env).iter())
        .filter(|w| w.contains(" create "))
        .count();
    assert!(creates <= MAX_EVENTS, "{creates} creates");
    let timed_out = st
        .find(env, "TimedOut", "timed out after")
        .unwrap_or_else(|| panic!("no TimedOut Event: {all:#?}"));
    assert_regards_the_pod(&st, &timed_out);
    assert_eq!(s(&timed_out, "/type"), "Warning", "{timed_out}");
    for e in &all {
        assert_regards_the_pod(&st, e);
    }
    let refused = env.refused(&st.user.name);
    assert!(refused.is_empty(), "refused: {refused:?}");
}

#[test]
fn no_events_records_none_and_its_role_has_no_events_rule() {
    let test = "real-events-none";
    let Some(env) = envtest::shared(test) else {
        return;
    };
    let st = setup(env, test);
    let args = ["--no-events", "wait-secret", "db-creds"];
    let rbac = st.printed_rbac(&args);
    assert!(!rbac.contains("events.k8s.io"), "{rbac}");
    env.grant(&st.user, &rbac);
    let mut full = vec!["--timeout", "3s"];
    full.extend(args);
    let r = run(st.kwait(&full), LIMIT);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let all = st.events(env);
    assert!(all.is_empty(), "{all:#?}");
    let writes = st.event_writes(env);
    assert!(writes.is_empty(), "{writes:?}");
    let refused = env.refused(&st.user.name);
    assert!(refused.is_empty(), "refused: {refused:?}");
}
