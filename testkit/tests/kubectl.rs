//! The real `kubectl` against the fake API server over HTTPS with a token kubeconfig:
//! keeps the fake honest. Skipped (with a clear message) when kubectl is not on PATH.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use testkit::{Allow, ApiServer, KubeconfigOpts, Rule};

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

struct Env {
    api: ApiServer,
    dir: PathBuf,
    kubeconfig: PathBuf,
}

impl Env {
    fn new(name: &str) -> Env {
        let api = ApiServer::builder().tls(true).auth(true).start();
        api.add_token("tok", "system:serviceaccount:crs:default", Allow::All);
        let dir =
            std::env::temp_dir().join(format!("testkit-kubectl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).unwrap();
        let kubeconfig = api.write_kubeconfig(
            &dir,
            KubeconfigOpts {
                token: Some("tok"),
                namespace: Some("crs"),
                ..Default::default()
            },
        );
        Env {
            api,
            dir,
            kubeconfig,
        }
    }

    /// Runs kubectl with this kubeconfig, a private HOME (discovery cache) and a hard deadline.
    fn kubectl_with(&self, kubeconfig: &Path, args: &[&str], deadline: Duration) -> Output {
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--request-timeout=10s")
            .args(args)
            .env("HOME", self.dir.join("home"))
            .env_remove("KUBECONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl");
        let start = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if start.elapsed() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "kubectl {args:?} hung for {deadline:?}; stderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with(&self.kubeconfig, args, Duration::from_secs(60))
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const SECRET_YAML: &str = "apiVersion: v1
kind: Secret
metadata:
  name: from-file
  labels:
    app: demo
type: Opaque
stringData:
  API_KEY: hello
";

#[test]
fn kubectl_get_create_delete() {
    if !kubectl_found() {
        return;
    }
    let env = Env::new("crud");
    env.api.create(
        "secrets",
        "crs",
        json!({"metadata": {"name": "existing"}, "data": {"K": "dg=="}}),
    );
    let out = env.ok(&["get", "secrets"]);
    assert!(out.contains("existing"), "{out}");
    let out = env.ok(&["get", "secret", "existing", "-o", "jsonpath={.data.K}"]);
    assert_eq!(out, "dg==");

    let manifest = env.dir.join("secret.yaml");
    std::fs::write(&manifest, SECRET_YAML).unwrap();
    let out = env.ok(&["create", "-f", manifest.to_str().unwrap()]);
    assert!(out.contains("secret/from-file created"), "{out}");
    let stored = env.api.get("secrets", "crs", "from-file").unwrap();
    assert_eq!(stored["data"]["API_KEY"], "aGVsbG8=");
    let out = env.ok(&["get", "secrets", "-l", "app=demo", "-o", "name"]);
    assert_eq!(out.trim(), "secret/from-file");

    // a second create is AlreadyExists, a missing object NotFound, as kubectl words them
    let out = env.kubectl(&["create", "-f", manifest.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AlreadyExists"), "{err}");
    let out = env.kubectl(&["get", "secret", "nope"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Error from server (NotFound): secrets \"nope\" not found"),
        "{err}"
    );

    let out = env.ok(&["delete", "secret", "from-file", "--wait=false"]);
    assert!(out.contains("deleted"), "{out}");
    assert!(env.api.get("secrets", "crs", "from-file").is_none());

    // forbidden, in kubectl's words
    env.api
        .add_token("none", "system:serviceaccount:crs:default", Allow::none());
    let kc = env.api.write_kubeconfig(
        &env.dir,
        KubeconfigOpts {
            token: Some("none"),
            namespace: Some("crs"),
            ..Default::default()
        },
    );
    let out = env.kubectl_with(&kc, &["get", "secret", "existing"], Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("secrets \"existing\" is forbidden: User \"system:serviceaccount:crs:default\" cannot get resource \"secrets\" in API group \"\" in the namespace \"crs\""),
        "{err}"
    );
    env.api
        .set_allow("none", Allow::rules(vec![Rule::new(&["get"], "secrets")]));
    let out = env.kubectl_with(
        &kc,
        &["get", "secret", "existing", "-o", "name"],
        Duration::from_secs(60),
    );
    assert!(out.status.success());
}

#[test]
fn kubectl_wait_for_create() {
    if !kubectl_found() {
        return;
    }
    let env = Env::new("wait");
    let api = env.api.clone();
    let creator = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        api.create("secrets", "crs", json!({"metadata": {"name": "late"}}));
    });
    let started = Instant::now();
    let out = env.ok(&["wait", "--for=create", "secret/late", "--timeout=30s"]);
    creator.join().unwrap();
    assert!(out.contains("condition met"), "{out}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // and a wait that really waits on a watch: delete
    let api = env.api.clone();
    let deleter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        api.delete("secrets", "crs", "late");
    });
    let out = env.ok(&["wait", "--for=delete", "secret/late", "--timeout=30s"]);
    deleter.join().unwrap();
    assert!(out.contains("condition met"), "{out}");
}

#[test]
fn kubectl_certificates() {
    if !kubectl_found() {
        return;
    }
    let env = Env::new("certs");
    env.api.create(
        "certificates",
        "crs",
        json!({"metadata": {"name": "web-tls"}, "spec": {"secretName": "web-tls"}}),
    );
    env.api.patch_status(
        "certificates",
        "crs",
        "web-tls",
        json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
    );
    let out = env.ok(&["get", "certificates.cert-manager.io"]);
    assert!(out.contains("web-tls"), "{out}");
    let out = env.ok(&[
        "get",
        "cert",
        "web-tls",
        "-o",
        "jsonpath={.status.conditions[0].status}",
    ]);
    assert_eq!(out, "True");
    let out = env.ok(&[
        "wait",
        "--for=condition=Ready",
        "certificate/web-tls",
        "--timeout=20s",
    ]);
    assert!(out.contains("condition met"), "{out}");

    // CRD not installed: kubectl says the resource type is unknown
    env.api.unregister_resource("certificates");
    env.api.unregister_resource("certificaterequests");
    let out = env.kubectl(&["get", "certificates.cert-manager.io"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the server doesn't have a resource type"),
        "{err}"
    );
}
