//! `wait-http URL --service NAME` (and `wait-tcp`) against a real kube-apiserver (testkit::envtest)
//! and a real HTTP server on loopback: the Service's EndpointSlices, stored by the real server,
//! wake the check when an endpoint turns ready; kwait runs as a user holding exactly the Role its
//! `--dry-run=rbac` prints, and the audit log shows what it asked.
//!
//! Without the binaries every test says SKIPPED (and fails under `KWAIT_REQUIRE_K8S=1`).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use testkit::envtest::{self, Envtest, User};

/// A real HTTP/1.1 server on loopback: 503 until `up`, then 200; counts requests.
struct Web {
    port: u16,
    up: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
}

impl Web {
    fn start() -> Web {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (u, n) = (up.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut c) = conn else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                    }
                }
                n.fetch_add(1, Ordering::SeqCst);
                let status = if u.load(Ordering::SeqCst) {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                };
                let _ = c.write_all(
                    format!(
                        "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    )
                    .as_bytes(),
                );
            }
        });
        Web { port, up, requests }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/health", self.port)
    }
}

fn slice(ready: bool) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "web-abc12", "labels": {"kubernetes.io/service-name": "web"}},
           "addressType": "IPv4",
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
           "endpoints": [{"addresses": ["10.1.0.5"], "conditions": {"ready": ready},
                          "targetRef": {"kind": "Pod", "name": "web-1", "uid": "u-1"}}]})
}

fn service() -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
}

/// A namespace with Service `web` and its slice (not ready), a user holding exactly what
/// `--dry-run=rbac` prints for `args` (nothing when `grant` is false), and its kubeconfig.
struct Setup {
    ns: String,
    user: User,
    dir: PathBuf,
    kubeconfig: PathBuf,
}

fn setup(env: &Envtest, test: &str, args: &[&str], grant: bool) -> Setup {
    let ns = env.namespace(test);
    env.create(&ns, &service());
    env.create(&ns, &slice(false));
    let dir = scratch(test);
    let mut dry = vec!["-n", &ns, "--dry-run=rbac"];
    dry.extend_from_slice(args);
    let r = run_in(&dir, &dry);
    assert_eq!(r.code, Some(0), "--dry-run=rbac: {}", r.stderr);
    assert!(
        r.stdout.contains("endpointslices") && r.stdout.contains("watch"),
        "the printed Role has no list/watch on endpointslices:\n{}",
        r.stdout
    );
    let user = env.user();
    if grant {
        env.grant(&user, &r.stdout);
    }
    let kubeconfig = env.kubeconfig(&dir, &user, &ns);
    Setup {
        ns,
        user,
        dir,
        kubeconfig,
    }
}

impl Setup {
    fn kwait(&self, global: &[&str], args: &[&str]) -> std::process::Command {
        let mut c = common::kwait(&self.dir);
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["-n", &self.ns])
            .args(global)
            .args(args);
        c
    }

    /// `verb resource` of each of the user's requests, counted.
    fn requests(&self, env: &Envtest) -> BTreeMap<String, usize> {
        let mut counted = BTreeMap::new();
        for e in env.audit(&self.user.name) {
            let path = e.uri.split('?').next().unwrap_or_default().to_string();
            let resource = path.rsplit('/').next().unwrap_or_default().to_string();
            *counted.entry(format!("{} {resource}", e.verb)).or_default() += 1;
        }
        counted
    }

    fn watching(&self, env: &Envtest, n: usize) {
        eventually(
            "kwait's watch of the slices is open",
            Duration::from_secs(60),
            || {
                let open = env
                    .audit(&self.user.name)
                    .iter()
                    .filter(|e| e.verb == "watch" && e.code == Some(200))
                    .count();
                (open >= n).then_some(())
            },
        );
    }
}

/// Waits with `args` (a 20 s steady period) until kwait names the Service's endpoints and
/// watches them; then `open`s the target and turns the endpoint ready. kwait must exit 0 within
/// seconds of the change (without the hint, its next check is 20 s after the last), and no
/// request of its user was refused. Returns the setup and kwait's output.
fn woken_at_once(
    test: &str,
    args: &[&str],
    watches: usize,
    open: impl FnOnce(),
) -> Option<(&'static Envtest, Setup, String)> {
    let env = envtest::shared(test)?;
    let s = setup(env, test, args, true);
    let mut k = Live::spawn(s.kwait(&["--timeout", "90s", "--interval", "20s"], args));
    k.wait_for(&format!("Service {}/web: 0 of 1 endpoint ready", s.ns));
    s.watching(env, watches);
    open();
    let flipped = Instant::now();
    env.patch(&s.ns, &slice(true), &slice(true));
    let (code, seen, out) = k.finish();
    assert_eq!(code, 0, "{out}");
    let took = seen - flipped;
    assert!(
        took < Duration::from_secs(10),
        "kwait exited {took:?} after the endpoint turned ready: the hint did not wake it\n{out}"
    );
    let refused = env.refused(&s.user.name);
    assert!(
        refused.is_empty(),
        "requests outside the printed Role: {refused:?}"
    );
    Some((env, s, out))
}

/// The endpoint turning ready wakes the HTTP check at once. Pending, kwait made one LIST and
/// one watch of the slices; the change cost one LIST more.
#[test]
fn an_endpoint_turning_ready_wakes_the_http_check_at_once() {
    let web = Web::start();
    let url = web.url();
    let up = web.up.clone();
    let Some((env, s, out)) = woken_at_once(
        "an_endpoint_turning_ready_wakes_the_http_check_at_once",
        &["wait-http", &url, "--service", "web"],
        1,
        || up.store(true, Ordering::SeqCst),
    ) else {
        return;
    };
    let expected: BTreeMap<String, usize> = [
        ("list endpointslices".to_string(), 2),
        ("watch endpointslices".to_string(), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(s.requests(env), expected, "{out}");
}

/// Without list/watch on endpointslices kwait polls as without `--service`, says so in its
/// state line, and still ends when the endpoint answers.
#[test]
fn forbidden_slices_fall_back_to_polling_and_say_so() {
    let test = "forbidden_slices_fall_back_to_polling_and_say_so";
    let Some(env) = envtest::shared(test) else {
        return;
    };
    let web = Web::start();
    let url = web.url();
    let args = ["wait-http", &url, "--service", "web"];
    let s = setup(env, test, &args, false);
    let mut k = Live::spawn(s.kwait(&["--timeout", "90s", "--interval", "200ms"], &args));
    k.wait_for(&format!(
        "Service {}/web's endpoints not watched (list endpointslices.discovery.k8s.io forbidden)",
        s.ns
    ));
    let polled = web.requests.load(Ordering::SeqCst);
    eventually("kwait keeps polling", Duration::from_secs(60), || {
        (web.requests.load(Ordering::SeqCst) >= polled + 3).then_some(())
    });
    web.up.store(true, Ordering::SeqCst);
    let (code, _, out) = k.finish();
    assert_eq!(code, 0, "{out}");
}

/// `wait-service web --and wait-http ... --service web`: one watch of the slices serves both.
#[test]
fn wait_service_and_a_service_hint_share_one_watch() {
    let web = Web::start();
    let url = web.url();
    let up = web.up.clone();
    let args = [
        "wait-http",
        &url,
        "--service",
        "web",
        "--and",
        "wait-service",
        "web",
    ];
    // The Service's watch and the slices' one.
    let Some((env, s, out)) = woken_at_once(
        "wait_service_and_a_service_hint_share_one_watch",
        &args,
        2,
        || up.store(true, Ordering::SeqCst),
    ) else {
        return;
    };
    let made = s.requests(env);
    assert_eq!(
        made.get("watch endpointslices"),
        Some(&1),
        "one watch of the slices for both targets: {made:?}\n{out}"
    );
    assert_eq!(made.get("watch services"), Some(&1), "{made:?}");
}

/// `wait-tcp HOST:PORT --service web`: the same wake-up for a port that opens when the endpoint
/// turns ready.
#[test]
fn an_endpoint_turning_ready_wakes_the_tcp_check_at_once() {
    // A free port, closed until the endpoint turns ready.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut listener = None;
    woken_at_once(
        "an_endpoint_turning_ready_wakes_the_tcp_check_at_once",
        &["wait-tcp", &addr, "--service", "web"],
        1,
        || listener = Some(TcpListener::bind(&addr).expect("bind the port again")),
    );
}

/// A wait that runs out of time says, in its report, what the Service's endpoints were: the
/// cause of an unreachable target is often a pod that never turned Ready.
#[test]
fn a_timeout_report_names_the_services_endpoints() {
    let test = "a_timeout_report_names_the_services_endpoints";
    let Some(env) = envtest::shared(test) else {
        return;
    };
    let web = Web::start();
    let url = web.url();
    let args = ["wait-http", &url, "--service", "web"];
    let s = setup(env, test, &args, true);
    let r = run(
        s.kwait(&["--timeout", "3s"], &args),
        Duration::from_secs(60),
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let report = std::fs::read_to_string(s.dir.join("termination-log")).unwrap_or_default();
    let want = format!(
        "answered 503 Service Unavailable; Service {}/web: 0 of 1 endpoint ready",
        s.ns
    );
    assert!(
        report.contains(&want),
        "the report does not name the endpoints:\n{report}\n{}",
        r.stderr
    );
}

/// A user who may list the slices but not watch them: the count in the state line is refreshed
/// by a LIST every 30 s while the watch is refused, and a change seen that way still wakes the
/// check (a 60 s steady period would otherwise find the endpoint only a minute later).
#[test]
fn without_watch_the_endpoints_are_listed_again_and_still_wake_the_check() {
    let test = "without_watch_the_endpoints_are_listed_again_and_still_wake_the_check";
    let Some(env) = envtest::shared(test) else {
        return;
    };
    let web = Web::start();
    let url = web.url();
    let args = ["wait-http", &url, "--service", "web"];
    let s = setup(env, test, &args, false);
    env.grant(
        &s.user,
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: list-only\n  namespace: {}\nrules:\n- apiGroups: [\"discovery.k8s.io\"]\n  resources: [\"endpointslices\"]\n  verbs: [\"list\"]\n",
            s.ns
        ),
    );
    let mut k = Live::spawn(s.kwait(&["--timeout", "150s", "--interval", "60s"], &args));
    k.wait_for(&format!("Service {}/web: 0 of 1 endpoint ready", s.ns));
    web.up.store(true, Ordering::SeqCst);
    let flipped = Instant::now();
    env.patch(&s.ns, &slice(true), &slice(true));
    let (code, seen, out) = k.finish();
    assert_eq!(code, 0, "{out}");
    let took = seen - flipped;
    assert!(
        took < Duration::from_secs(50),
        "kwait exited {took:?} after the endpoint turned ready: the slices were not listed again\n{out}"
    );
}
