//! envtest: a real etcd and kube-apiserver for tests, as controller-runtime's envtest starts
//! them (no controllers, no nodes: tests write `status` through the status subresource, as a
//! controller would).
//!
//! The binaries come from `$KUBEBUILDER_ASSETS` (controller-runtime's convention: a folder
//! holding `etcd` and `kube-apiserver`). [`shared`] starts ONE server per test process, on the
//! first call, on free loopback ports with its own PKI made here (CA, serving certificate,
//! service-account key), token users (an admin in `system:masters` and a pool of users with no
//! rights), `--authorization-mode=RBAC` and an audit log of every request (level Metadata).
//! Without the binaries it says SKIPPED and returns `None`, or fails the test when
//! `KWAIT_REQUIRE_K8S=1`.
//!
//! Nothing outlives the test process: etcd and kube-apiserver run under a small shell that
//! reads its stdin, a pipe whose only writer is this process; when the process ends however it
//! ends (even SIGKILL), the pipe closes, the shell kills both servers (SIGKILL: their data is
//! thrown away, and a graceful API server shutdown takes seconds) and removes the scratch
//! directory (kept with `KWAIT_ENVTEST_KEEP=1`). No `unsafe` (no `prctl(PR_SET_PDEATHSIG)`) is
//! needed for that.
//!
//! Objects are created and read over HTTPS by [`https`] (no kubectl needed); their REST path
//! comes from `apiVersion` and `kind` ([`collection_path`]).

mod https;

pub use https::Answer;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, DnType, KeyPair};
use serde_json::{Value, json};

/// How long etcd + kube-apiserver may take to answer `/readyz` ok (about 5 s on an idle
/// 2-core machine; a loaded one is much slower, and a slow start is not a failure).
const START_DEADLINE: Duration = Duration::from_secs(120);
/// How long a new RoleBinding may take to reach the authorizer's cache.
const GRANT_DEADLINE: Duration = Duration::from_secs(30);
/// Token users with no rights handed out by [`Envtest::user`] (the token file is read once, at
/// start).
const USERS: usize = 64;
/// The admin's user name (group `system:masters`).
pub const ADMIN: &str = "envtest-admin";

/// Where the binaries are: `$KUBEBUILDER_ASSETS` holding `etcd` and `kube-apiserver`.
pub fn assets() -> Result<PathBuf, String> {
    let dir = std::env::var_os("KUBEBUILDER_ASSETS")
        .filter(|d| !d.is_empty())
        .ok_or("KUBEBUILDER_ASSETS is not set (a folder holding etcd and kube-apiserver)")?;
    let dir = PathBuf::from(dir);
    for b in ["etcd", "kube-apiserver"] {
        if !dir.join(b).is_file() {
            return Err(format!("KUBEBUILDER_ASSETS={} holds no {b}", dir.display()));
        }
    }
    Ok(dir)
}

/// Whether the tests must run (`KWAIT_REQUIRE_K8S=1`, CI sets it) instead of saying SKIPPED.
pub fn required() -> bool {
    std::env::var("KWAIT_REQUIRE_K8S").is_ok_and(|v| v == "1")
}

/// The test process's server, started on the first call. `None` (after printing SKIPPED for
/// `test` straight to stderr, which the test harness does not capture) when the binaries are
/// missing; panics when they are missing and [`required`], or when the server does not start.
pub fn shared(test: &str) -> Option<&'static Envtest> {
    static SERVER: OnceLock<Result<Envtest, String>> = OnceLock::new();
    let assets = match assets() {
        Ok(a) => a,
        Err(why) => {
            assert!(
                !required(),
                "{test}: KWAIT_REQUIRE_K8S=1 but {why} (unpack ../shared/k8s/{{etcd,kube-apiserver}}.xz there)"
            );
            let _ = std::io::stderr().write_all(
                format!("\n*** SKIPPED: {test}: {why} (see README, \"Tests against a real API server\") ***\n")
                    .as_bytes(),
            );
            return None;
        }
    };
    match SERVER.get_or_init(|| Envtest::start(&assets)) {
        Ok(e) => Some(e),
        Err(why) => panic!("{test}: envtest did not start: {why}"),
    }
}

/// A token user.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub token: String,
}

/// One request of the audit log (its stages merged by `auditID`).
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub verb: String,
    pub uri: String,
    /// The response code, once a stage with one was logged (`ResponseStarted` for a watch).
    pub code: Option<u16>,
    /// The last stage logged (`RequestReceived`, `ResponseStarted`, `ResponseComplete`, `Panic`).
    pub stage: String,
    /// When the server received it (RFC 3339 with microseconds, as logged).
    pub received: String,
}

impl std::fmt::Display for AuditEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = self.code.map_or("-".to_string(), |c| c.to_string());
        write!(
            f,
            "{} {} {} -> {code} ({})",
            self.received, self.verb, self.uri, self.stage
        )
    }
}

/// A running etcd + kube-apiserver (see the module's documentation).
pub struct Envtest {
    dir: PathBuf,
    port: u16,
    ca_pem: String,
    admin_token: String,
    users: Vec<User>,
    next_user: AtomicUsize,
    next_ns: AtomicUsize,
    client: https::Client,
    audit_log: PathBuf,
    pids: (u32, u32),
    /// The watchdog shell; its stdin is never written and closes when this process ends.
    _watchdog: Mutex<Child>,
}

impl Envtest {
    /// Starts etcd and kube-apiserver from `assets` and waits until `/readyz` says ok.
    pub fn start(assets: &Path) -> Result<Envtest, String> {
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "kwait-envtest-{}-{}-{nanos}",
            std::process::id(),
            STARTS.fetch_add(1, Ordering::Relaxed)
        ));
        let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
        std::fs::create_dir_all(&dir).map_err(|e| io("scratch directory", e))?;
        for p in [&dir, assets] {
            if p.to_string_lossy().contains('\'') {
                return Err(format!("a quote in the path {}", p.display()));
            }
        }
        let pki = Pki::generate()?;
        let write =
            |name: &str, body: &str| std::fs::write(dir.join(name), body).map_err(|e| io(name, e));
        write("ca.crt", &pki.ca_pem)?;
        write("server.crt", &pki.server_pem)?;
        write("server.key", &pki.server_key)?;
        write("sa.key", &pki.sa_key)?;
        write("sa.pub", &pki.sa_pub)?;

        let token = |who: &str| format!("envtest-{who}-{}-{nanos}", std::process::id());
        let admin_token = token("admin");
        let users: Vec<User> = (0..USERS)
            .map(|i| User {
                name: format!("envtest-user-{i}"),
                token: token(&format!("user-{i}")),
            })
            .collect();
        let mut tokens = format!("{admin_token},{ADMIN},{ADMIN},\"system:masters\"\n");
        for u in &users {
            tokens += &format!("{},{},{}\n", u.token, u.name, u.name);
        }
        write("tokens.csv", &tokens)?;
        // Every request, every stage, no bodies.
        write(
            "audit-policy.yaml",
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n",
        )?;

        let [etcd_port, peer_port, port] = free_ports()?;
        let d = dir.display();
        let a = assets.display();
        let etcd = format!(
            "'{a}/etcd' --name envtest --data-dir '{d}/etcd' \
             --listen-client-urls http://127.0.0.1:{etcd_port} --advertise-client-urls http://127.0.0.1:{etcd_port} \
             --listen-peer-urls http://127.0.0.1:{peer_port} --initial-advertise-peer-urls http://127.0.0.1:{peer_port} \
             --initial-cluster envtest=http://127.0.0.1:{peer_port} --unsafe-no-fsync"
        );
        let apiserver = format!(
            "'{a}/kube-apiserver' --etcd-servers=http://127.0.0.1:{etcd_port} \
             --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port={port} --cert-dir='{d}' \
             --tls-cert-file='{d}/server.crt' --tls-private-key-file='{d}/server.key' --client-ca-file='{d}/ca.crt' \
             --token-auth-file='{d}/tokens.csv' --authorization-mode=RBAC \
             --service-account-key-file='{d}/sa.pub' --service-account-signing-key-file='{d}/sa.key' \
             --service-account-issuer=https://kubernetes.default.svc.cluster.local \
             --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
             --audit-policy-file='{d}/audit-policy.yaml' --audit-log-path='{d}/audit.log'"
        );
        // The watchdog: both servers run until this shell's stdin (a pipe held by the test
        // process alone) closes.
        let script = format!(
            "cd '{d}' || exit 1
{etcd} >etcd.log 2>&1 </dev/null &
e=$!
{apiserver} >kube-apiserver.log 2>&1 </dev/null &
a=$!
echo \"$e $a\" > pids
while read -r _; do :; done
kill -9 $a $e 2>/dev/null
wait
[ \"$KWAIT_ENVTEST_KEEP\" = 1 ] || rm -rf '{d}'
"
        );
        write("run.sh", &script)?;
        let log = std::fs::File::create(dir.join("watchdog.log")).map_err(|e| io("log", e))?;
        let log2 = log.try_clone().map_err(|e| io("log", e))?;
        let watchdog = Command::new("sh")
            .arg(dir.join("run.sh"))
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| io("sh run.sh", e))?;
        let client = https::Client::new(port, &pki.ca_der)?;
        let mut env = Envtest {
            audit_log: dir.join("audit.log"),
            dir,
            port,
            ca_pem: pki.ca_pem,
            admin_token,
            users,
            next_user: AtomicUsize::new(0),
            next_ns: AtomicUsize::new(0),
            client,
            pids: (0, 0),
            _watchdog: Mutex::new(watchdog),
        };
        env.wait_ready()?;
        Ok(env)
    }

    /// Polls `/readyz` until it says ok; fails early, with the logs, when a server exited.
    fn wait_ready(&mut self) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if self.pids == (0, 0)
                && let Ok(p) = std::fs::read_to_string(self.dir.join("pids"))
                && let Some((e, a)) = p.trim().split_once(' ')
            {
                self.pids = (e.parse().unwrap_or(0), a.parse().unwrap_or(0));
            }
            if self.pids != (0, 0) {
                for (pid, name) in [(self.pids.0, "etcd"), (self.pids.1, "kube-apiserver")] {
                    if !alive(pid) {
                        return Err(format!("{name} exited\n{}", self.logs()));
                    }
                }
            }
            let last = match self
                .client
                .request(&self.admin_token, "GET", "/readyz", None)
            {
                Ok(a) if a.status == 200 && a.text().trim() == "ok" => return Ok(()),
                Ok(a) => format!("/readyz {}: {}", a.status, a.text()),
                Err(e) => e,
            };
            if start.elapsed() > START_DEADLINE {
                return Err(format!(
                    "not ready within {START_DEADLINE:?} (last: {last})\n{}",
                    self.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The last lines of both servers' logs.
    fn logs(&self) -> String {
        let mut out = String::new();
        for f in ["etcd.log", "kube-apiserver.log", "watchdog.log"] {
            let text = std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out += &format!("--- {f} (last 30 lines)\n");
            for l in &lines[lines.len().saturating_sub(30)..] {
                out += l;
                out.push('\n');
            }
        }
        out
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The CA of the serving (and client) certificates, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The process ids of etcd and kube-apiserver.
    pub fn pids(&self) -> (u32, u32) {
        self.pids
    }

    /// The scratch directory (removed when the test process ends).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The admin (group `system:masters`).
    pub fn admin(&self) -> User {
        User {
            name: ADMIN.to_string(),
            token: self.admin_token.clone(),
        }
    }

    /// A user of its own with no rights (each call a new one; the pool holds 64).
    pub fn user(&self) -> User {
        let i = self.next_user.fetch_add(1, Ordering::Relaxed);
        match self.users.get(i) {
            Some(u) => u.clone(),
            None => panic!("envtest: all {USERS} users are handed out; raise USERS"),
        }
    }

    /// A new namespace `PREFIX-N` with its ServiceAccount `default` (no controller makes it,
    /// and Pods need it).
    pub fn namespace(&self, prefix: &str) -> String {
        let n = self.next_ns.fetch_add(1, Ordering::Relaxed);
        let mut clean: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        clean.truncate(50);
        let name = format!("{}-{n}", clean.trim_matches('-'));
        self.create(
            "",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        );
        self.create(
            &name,
            &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
        );
        name
    }

    /// A kubeconfig for `user` with `namespace` as its context's, written in `dir`.
    pub fn kubeconfig(&self, dir: &Path, user: &User, namespace: &str) -> PathBuf {
        use base64::Engine as _;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: {u}\n  user:\n    token: {t}\ncontexts:\n- name: envtest\n  context:\n    cluster: envtest\n    user: {u}\n    namespace: {namespace}\ncurrent-context: envtest\n",
            self.url(),
            u = user.name,
            t = user.token,
        );
        let path = dir.join(format!("{}-{namespace}.kubeconfig", user.name));
        if let Err(e) = std::fs::write(&path, yaml) {
            panic!("envtest: write {}: {e}", path.display());
        }
        path
    }

    /// One request as `user` (a JSON body when given).
    pub fn request(
        &self,
        user: &User,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let bytes = body.map(Value::to_string);
        let ctype = if method == "PATCH" {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        self.client.request(
            &user.token,
            method,
            path,
            bytes.as_deref().map(|b| (ctype, b.as_bytes())),
        )
    }

    /// `method path` as the admin; the answer's JSON, or a panic naming the request.
    fn admin_json(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        match self.request(&self.admin(), method, path, body) {
            Ok(a) if (200..300).contains(&a.status) => {
                serde_json::from_slice(&a.body).unwrap_or(Value::Null)
            }
            Ok(a) => panic!("envtest: {method} {path}: {}: {}", a.status, a.text()),
            Err(e) => panic!("envtest: {method} {path}: {e}"),
        }
    }

    /// Creates `obj` (in `namespace` when its kind is namespaced) as the admin; returns it as
    /// stored.
    pub fn create(&self, namespace: &str, obj: &Value) -> Value {
        let (path, _) = object_path(obj, namespace);
        self.admin_json("POST", &path, Some(obj))
    }

    /// Creates every object of a YAML stream (`---` separated; e.g. a CRD file) as the admin;
    /// returns them as stored.
    pub fn create_yaml(&self, namespace: &str, yaml: &str) -> Vec<Value> {
        let mut created = Vec::new();
        for doc in yaml_documents(yaml) {
            let api_version = top_level(&doc, "apiVersion");
            let kind = top_level(&doc, "kind");
            let ns = metadata_field(&doc, "namespace").unwrap_or_else(|| namespace.to_string());
            let path = collection_path(&api_version, &kind, &ns);
            match self.client.request(
                &self.admin_token,
                "POST",
                &path,
                Some(("application/yaml", doc.as_bytes())),
            ) {
                Ok(a) if (200..300).contains(&a.status) => {
                    created.push(serde_json::from_slice(&a.body).unwrap_or(Value::Null));
                }
                Ok(a) => panic!(
                    "envtest: create {kind} from YAML: {}: {}",
                    a.status,
                    a.text()
                ),
                Err(e) => panic!("envtest: create {kind} from YAML: {e}"),
            }
        }
        created
    }

    /// The object `kind`/`name` (`None` when not found), as the admin.
    pub fn get(&self, namespace: &str, api_version: &str, kind: &str, name: &str) -> Option<Value> {
        let path = format!("{}/{name}", collection_path(api_version, kind, namespace));
        match self.request(&self.admin(), "GET", &path, None) {
            Ok(a) if a.status == 404 => None,
            Ok(a) if a.status == 200 => serde_json::from_slice(&a.body).ok(),
            Ok(a) => panic!("envtest: GET {path}: {}: {}", a.status, a.text()),
            Err(e) => panic!("envtest: GET {path}: {e}"),
        }
    }

    /// Merge-patches `obj`'s main resource (`obj` names it by apiVersion, kind and name).
    pub fn patch(&self, namespace: &str, obj: &Value, patch: &Value) -> Value {
        let (path, name) = object_path(obj, namespace);
        self.admin_json("PATCH", &format!("{path}/{name}"), Some(patch))
    }

    /// Sets `status` (merge patch) through the status subresource, as a controller does.
    pub fn patch_status(&self, namespace: &str, obj: &Value, status: &Value) -> Value {
        let (path, name) = object_path(obj, namespace);
        self.admin_json(
            "PATCH",
            &format!("{path}/{name}/status"),
            Some(&json!({ "status": status })),
        )
    }

    /// Deletes `obj` (foreground-free: the object goes at once when it has no finalizers).
    pub fn delete(&self, namespace: &str, obj: &Value) {
        let (path, name) = object_path(obj, namespace);
        self.admin_json("DELETE", &format!("{path}/{name}"), None);
    }

    /// Waits until the CustomResourceDefinition `name` is Established (the API server's own
    /// controllers set it; its REST endpoint serves from then on).
    pub fn wait_established(&self, name: &str) {
        let start = Instant::now();
        loop {
            let crd = self.get(
                "",
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                name,
            );
            let established = crd
                .as_ref()
                .and_then(|c| c.pointer("/status/conditions"))
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Established" && c["status"] == "True")
                });
            if established {
                return;
            }
            assert!(
                start.elapsed() < GRANT_DEADLINE,
                "envtest: CRD {name} not Established within {GRANT_DEADLINE:?}: {crd:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Creates the Roles and ClusterRoles of `rbac_yaml` (kwait's `--dry-run=rbac` output) and
    /// binds each to `user`; returns once the authorizer allows every rule to `user` (a new
    /// binding reaches its cache a moment after it is stored).
    pub fn grant(&self, user: &User, rbac_yaml: &str) {
        for role in self.create_yaml("", rbac_yaml) {
            let kind = role["kind"].as_str().unwrap_or_default().to_string();
            let name = role["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let ns = role["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let binding = format!("{name}-{}", user.name);
            let (binding_kind, meta) = if kind == "ClusterRole" {
                ("ClusterRoleBinding", json!({ "name": binding }))
            } else {
                ("RoleBinding", json!({ "name": binding, "namespace": ns }))
            };
            self.create(
                &ns,
                &json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": binding_kind,
                    "metadata": meta,
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user.name}]
                }),
            );
            for rule in role["rules"].as_array().into_iter().flatten() {
                let strings = |k: &str| -> Vec<String> {
                    rule[k]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                };
                let names = strings("resourceNames");
                let names = if names.is_empty() {
                    vec![String::new()]
                } else {
                    names
                };
                for group in strings("apiGroups") {
                    for resource in strings("resources") {
                        for verb in strings("verbs") {
                            for n in &names {
                                self.wait_allowed(user, &ns, &group, &resource, &verb, n);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Polls a SubjectAccessReview until `user` may `verb` the resource.
    fn wait_allowed(
        &self,
        user: &User,
        ns: &str,
        group: &str,
        resource: &str,
        verb: &str,
        name: &str,
    ) {
        let review = json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user.name, "groups": ["system:authenticated"],
                     "resourceAttributes": {"namespace": ns, "verb": verb, "group": group,
                                            "resource": resource, "name": name}}
        });
        let start = Instant::now();
        loop {
            let answer = self.admin_json(
                "POST",
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                Some(&review),
            );
            if answer["status"]["allowed"] == true {
                return;
            }
            assert!(
                start.elapsed() < GRANT_DEADLINE,
                "envtest: {} still may not {verb} {resource} {name:?} in {ns:?} after {GRANT_DEADLINE:?}: {answer}",
                user.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every request `user` made so far, in the order the audit log received them.
    pub fn audit(&self, user: &str) -> Vec<AuditEntry> {
        let text = std::fs::read_to_string(&self.audit_log).unwrap_or_default();
        let mut order: Vec<String> = Vec::new();
        let mut entries: std::collections::HashMap<String, AuditEntry> = Default::default();
        for line in text.lines() {
            let Ok(ev) = serde_json::from_str::<Value>(line) else {
                continue; // a line being written
            };
            if ev["user"]["username"] != user {
                continue;
            }
            let id = ev["auditID"].as_str().unwrap_or_default().to_string();
            let code = ev["responseStatus"]["code"]
                .as_u64()
                .and_then(|c| u16::try_from(c).ok());
            let stage = ev["stage"].as_str().unwrap_or_default().to_string();
            let e = entries.entry(id.clone()).or_insert_with(|| {
                order.push(id);
                AuditEntry {
                    verb: ev["verb"].as_str().unwrap_or_default().to_string(),
                    uri: ev["requestURI"].as_str().unwrap_or_default().to_string(),
                    code: None,
                    stage: String::new(),
                    received: ev["requestReceivedTimestamp"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                }
            });
            e.code = code.or(e.code);
            e.stage = stage;
        }
        order
            .into_iter()
            .filter_map(|id| entries.remove(&id))
            .collect()
    }
}

/// Whether the process `pid` runs (a zombie does not).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(false)
}

/// Three distinct free loopback ports (bound together, then released for the servers).
fn free_ports() -> Result<[u16; 3], String> {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("free port: {e}"));
    let l = [bind()?, bind()?, bind()?];
    let mut ports = [0u16; 3];
    for (p, l) in ports.iter_mut().zip(&l) {
        *p = l.local_addr().map_err(|e| e.to_string())?.port();
    }
    Ok(ports)
}

/// The CA, the API server's serving certificate and the service-account key pair.
struct Pki {
    ca_pem: String,
    ca_der: Vec<u8>,
    server_pem: String,
    server_key: String,
    sa_key: String,
    sa_pub: String,
}

impl Pki {
    fn generate() -> Result<Pki, String> {
        let e = |what: &'static str| move |err: rcgen::Error| format!("{what}: {err}");
        let ca = crate::tls::new_ca("envtest CA").map_err(e("CA"))?;
        let server_key = KeyPair::generate().map_err(e("server key"))?;
        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "kubernetes.default.svc".to_string(),
        ])
        .map_err(e("server certificate"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        let server = params
            .signed_by(&server_key, &ca)
            .map_err(e("server certificate"))?;
        let sa = KeyPair::generate().map_err(e("service-account key"))?;
        Ok(Pki {
            ca_pem: ca.pem(),
            ca_der: ca.der().to_vec(),
            server_pem: server.pem(),
            server_key: server_key.serialize_pem(),
            sa_key: sa.serialize_pem(),
            sa_pub: sa.public_key_pem(),
        })
    }
}

/// Kinds without a namespace (of those the tests create).
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "StorageClass",
    "SubjectAccessReview",
];

/// The REST path of `kind`'s collection: `/api/v1/namespaces/NS/secrets`,
/// `/apis/apiextensions.k8s.io/v1/customresourcedefinitions`. The plural is the lower-cased
/// kind plus `s` (`es` after `s`, `ies` for a final consonant + `y`), right for every kind
/// the tests use.
pub fn collection_path(api_version: &str, kind: &str, namespace: &str) -> String {
    let root = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    let lower = kind.to_ascii_lowercase();
    let plural = if lower.ends_with('s') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    };
    if CLUSTER_SCOPED.contains(&kind) || namespace.is_empty() {
        format!("{root}/{plural}")
    } else {
        format!("{root}/namespaces/{namespace}/{plural}")
    }
}

/// `obj`'s collection path and name.
fn object_path(obj: &Value, namespace: &str) -> (String, String) {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let ns = match s("/metadata/namespace") {
        "" => namespace,
        ns => ns,
    };
    (
        collection_path(s("/apiVersion"), s("/kind"), ns),
        s("/metadata/name").to_string(),
    )
}

/// The documents of a YAML stream.
fn yaml_documents(yaml: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in yaml.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(d) = docs.last_mut() {
            d.push_str(line);
            d.push('\n');
        }
    }
    docs.into_iter()
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// A top-level scalar of a YAML document (`kind: Role`).
fn top_level(doc: &str, key: &str) -> String {
    doc.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().trim_matches('"').to_string())
        .unwrap_or_default()
}

/// A scalar under the top-level `metadata:` of a YAML document (two-space indentation).
fn metadata_field(doc: &str, key: &str) -> Option<String> {
    let mut in_meta = false;
    for l in doc.lines() {
        if !l.starts_with(' ') {
            in_meta = l.trim_end() == "metadata:";
            continue;
        }
        if in_meta
            && let Some(v) = l.strip_prefix("  ").and_then(|l| l.strip_prefix(key))
            && let Some(v) = v.strip_prefix(':')
        {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_paths_follow_the_kinds_the_tests_use() {
        for (api_version, kind, path) in [
            ("v1", "Secret", "/api/v1/namespaces/a/secrets"),
            (
                "networking.k8s.io/v1",
                "Ingress",
                "/apis/networking.k8s.io/v1/namespaces/a/ingresses",
            ),
            (
                "networking.k8s.io/v1",
                "NetworkPolicy",
                "/apis/networking.k8s.io/v1/namespaces/a/networkpolicies",
            ),
            (
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            ),
            (
                "v1",
                "PersistentVolumeClaim",
                "/api/v1/namespaces/a/persistentvolumeclaims",
            ),
        ] {
            assert_eq!(collection_path(api_version, kind, "a"), path);
        }
    }

    #[test]
    fn yaml_streams_split_into_documents_with_their_kind_and_namespace() {
        let y = "# comment\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: kwait-s\n  namespace: app\nrules:\n- apiGroups: [\"\"]\n---\nkind: ClusterRole\nmetadata:\n  name: c\n";
        let docs = yaml_documents(y);
        assert_eq!(docs.len(), 2, "{docs:?}");
        assert_eq!(top_level(&docs[0], "kind"), "Role");
        assert_eq!(
            metadata_field(&docs[0], "namespace").as_deref(),
            Some("app")
        );
        assert_eq!(metadata_field(&docs[1], "namespace"), None);
        assert_eq!(top_level(&docs[1], "kind"), "ClusterRole");
    }
}
