//! testkit: a fake Kubernetes API server on loopback for kwait's tests, demo and benchmark.
//!
//! [`ApiServer`] serves namespaced resources (core/v1 secrets, configmaps, pods, services;
//! batch/v1 jobs; cert-manager.io/v1 certificates and certificaterequests, plus whatever
//! [`ApiServer::register_resource`] adds) over the real REST protocol, on HTTP or HTTPS with a
//! generated CA, with bearer-token authentication, a per-token allow list, fault injection and
//! request counters. The handle is synchronous and cheap to clone; the server runs on its own
//! tokio runtime and stops when the last handle is dropped.
//!
//! ```no_run
//! use serde_json::json;
//! let api = testkit::ApiServer::builder().tls(true).auth(true).start();
//! api.add_token("tok", "system:serviceaccount:crs:default", testkit::Allow::All);
//! let dir = std::env::temp_dir();
//! let kc = api.write_kubeconfig(&dir, testkit::KubeconfigOpts {
//!     token: Some("tok"), namespace: Some("crs"), ..Default::default()
//! });
//! api.create("secrets", "crs", json!({"metadata": {"name": "x"}, "data": {}}));
//! api.fail_next(testkit::Fault::status(500).times(2).verb("get"));
//! assert_eq!(api.count("get"), 0);
//! # let _ = kc;
//! ```
//!
//! See testkit/README.md for what is and is not implemented.

/// A real etcd + kube-apiserver from `$KUBEBUILDER_ASSETS`, one per test process.
pub mod envtest;
/// Real loopback HTTP/HTTPS servers for wait-http tests (owned by the wait-http work).
pub mod netserve;

mod model;
mod selector;
mod server;
mod state;
mod tls;
mod util;
mod watchfault;

pub use model::{Allow, Answer, Fault, KubeconfigOpts, RequestRecord, ResourceDef, Rule};
pub use watchfault::WatchFault;

use model::DelayRule;
use serde_json::Value;
use server::Shared;
use state::{Part, State, Token};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The token registered with [`Allow::All`] on every server with authentication on.
pub const ADMIN_TOKEN: &str = "testkit-admin-token";

/// Default period of `BOOKMARK` events on watches that ask for them.
pub const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);

/// Builder for [`ApiServer`].
#[derive(Clone, Debug)]
pub struct Builder {
    tls: bool,
    auth: bool,
    port: u16,
    bookmark_interval: Duration,
    history_limit: usize,
}

impl Builder {
    /// Serve HTTPS with a generated CA (see [`ApiServer::ca_pem`]). Default: plain HTTP.
    pub fn tls(mut self, on: bool) -> Builder {
        self.tls = on;
        self
    }

    /// Require bearer tokens (see [`ApiServer::add_token`]). Default: off, everything allowed.
    pub fn auth(mut self, on: bool) -> Builder {
        self.auth = on;
        self
    }

    /// Listen on this port of 127.0.0.1 (default 0: any free port).
    pub fn port(mut self, port: u16) -> Builder {
        self.port = port;
        self
    }

    /// Period of `BOOKMARK` events (default [`DEFAULT_BOOKMARK_INTERVAL`]).
    pub fn bookmark_interval(mut self, d: Duration) -> Builder {
        self.bookmark_interval = d;
        self
    }

    /// How many change events are kept for watches that resume from a resourceVersion
    /// (default 10 000); older resourceVersions get `410 Expired`.
    pub fn history_limit(mut self, n: usize) -> Builder {
        self.history_limit = n.max(1);
        self
    }

    /// Starts the server. Panics if the port cannot be bound.
    pub fn start(self) -> ApiServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("testkit-apiserver")
            .enable_all()
            .build()
            .expect("tokio runtime");
        let tls = tls::generate();
        let mut state = State::new(self.history_limit, self.bookmark_interval);
        state.auth = self.auth;
        state.tokens.insert(
            ADMIN_TOKEN.to_string(),
            Token {
                subject: "system:admin".to_string(),
                allow: Allow::All,
            },
        );
        let listener = bind(&runtime, self.port).expect("testkit: cannot bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            close_watches: tokio::sync::watch::channel(0).0,
            stop: tokio::sync::watch::channel(0).0,
            tls: self.tls.then(|| tls.config.clone()),
            port,
        });
        let inner = Inner {
            shared,
            runtime: Some(runtime),
            ca_pem: tls.ca_pem,
            ca: tls.ca,
            tls: self.tls,
            running: Mutex::new(None),
        };
        inner.serve(listener);
        ApiServer {
            inner: Arc::new(inner),
        }
    }
}

fn bind(rt: &tokio::runtime::Runtime, port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let _guard = rt.enter();
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(1024)
}

struct Inner {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    ca_pem: String,
    ca: tls::Ca,
    tls: bool,
    /// Acknowledgement channel of the running accept loop (None when stopped).
    running: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl Inner {
    fn rt(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("runtime")
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (ack_tx, ack_rx) = std::sync::mpsc::channel();
        let stop_rx = self.shared.stop.subscribe();
        self.rt().spawn(server::accept_loop(
            self.shared.clone(),
            listener,
            stop_rx,
            ack_tx,
        ));
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = Some(ack_rx);
    }

    fn stop(&self) {
        let ack = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.shared.stop.send_modify(|g| *g += 1);
        if let Some(ack) = ack {
            let _ = ack.recv_timeout(Duration::from_secs(5));
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.stop.send_modify(|g| *g += 1);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A running fake API server. Clone it freely; the server stops when the last clone is dropped.
///
/// Every method is synchronous and may be called from any thread (also from inside an async
/// runtime). Object helpers ([`create`](Self::create), [`patch`](Self::patch), ...) act on the
/// store directly, bypass authentication and fault injection, are not counted, and produce the
/// same watch events as requests over HTTP.
#[derive(Clone)]
pub struct ApiServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("url", &self.url())
            .finish()
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn q(s: &str) -> String {
    Value::from(s).to_string()
}

impl ApiServer {
    /// A builder (defaults: HTTP, authentication off, any free port).
    pub fn builder() -> Builder {
        Builder {
            tls: false,
            auth: false,
            port: 0,
            bookmark_interval: DEFAULT_BOOKMARK_INTERVAL,
            history_limit: 10_000,
        }
    }

    /// Starts a plain-HTTP server with authentication off.
    pub fn start() -> ApiServer {
        ApiServer::builder().start()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.shared.lock()
    }

    fn def(&self, resource: &str) -> ResourceDef {
        self.state()
            .find(resource)
            .unwrap_or_else(|| panic!("testkit: unknown resource {resource:?}"))
    }

    // ----- addresses -------------------------------------------------------------------

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.inner.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port())
    }

    /// The port on 127.0.0.1 (kept across [`stop`](Self::stop)/[`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.inner.shared.port
    }

    /// Whether the server is serving TLS.
    pub fn is_tls(&self) -> bool {
        self.inner.tls
    }

    /// PEM of the CA that signed the server certificate (generated even when TLS is off).
    pub fn ca_pem(&self) -> String {
        self.inner.ca_pem.clone()
    }

    // ----- authentication and authorization -------------------------------------------

    /// Registers (or replaces) a bearer token for `subject` (e.g.
    /// `system:serviceaccount:crs:default`) with an allow list.
    pub fn add_token(&self, token: &str, subject: &str, allow: Allow) {
        self.state().tokens.insert(
            token.to_string(),
            Token {
                subject: subject.to_string(),
                allow,
            },
        );
    }

    /// Issues a client certificate (CN `subject`, signed by the server's CA) that authenticates
    /// as `subject` with `allow`, as kind and kubeadm users do. Returns (certificate PEM, key PEM).
    pub fn add_client_certificate(&self, subject: &str, allow: Allow) -> (String, String) {
        let (cert_pem, key_pem, der) = self.inner.ca.client_certificate(subject);
        self.state().client_certs.insert(
            der,
            Token {
                subject: subject.to_string(),
                allow,
            },
        );
        (cert_pem, key_pem)
    }

    /// Changes what a registered token may do; takes effect for the next request.
    /// Panics if the token is unknown.
    pub fn set_allow(&self, token: &str, allow: Allow) {
        let mut st = self.state();
        let t = st
            .tokens
            .get_mut(token)
            .unwrap_or_else(|| panic!("testkit: unknown token {token:?}"));
        t.allow = allow;
    }

    /// Forgets a token (its requests then get 401).
    pub fn remove_token(&self, token: &str) {
        self.state().tokens.remove(token);
    }

    /// Turns authentication on or off at runtime.
    pub fn set_auth(&self, on: bool) {
        self.state().auth = on;
    }

    /// The admin token ([`ADMIN_TOKEN`], subject `system:admin`, [`Allow::All`]).
    pub fn admin_token(&self) -> &'static str {
        ADMIN_TOKEN
    }

    /// The kubeconfig text for this server (see [`write_kubeconfig`](Self::write_kubeconfig)).
    pub fn kubeconfig(&self, opts: &KubeconfigOpts<'_>) -> String {
        use base64::Engine as _;
        let server = opts
            .server
            .map(str::to_string)
            .unwrap_or_else(|| self.url());
        let name = q(opts.context);
        let mut y = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
        y += &format!("- name: {name}\n  cluster:\n    server: {}\n", q(&server));
        if opts.insecure {
            y += "    insecure-skip-tls-verify: true\n";
        } else if server.starts_with("https") {
            let ca = base64::engine::general_purpose::STANDARD.encode(&self.inner.ca_pem);
            y += &format!("    certificate-authority-data: {ca}\n");
        }
        y += "users:\n";
        match (opts.user, opts.token) {
            (Some(user), _) => {
                y += &format!("- name: {name}\n  user:\n");
                for line in user.lines() {
                    y += &format!("    {line}\n");
                }
            }
            (None, Some(t)) => y += &format!("- name: {name}\n  user:\n    token: {}\n", q(t)),
            (None, None) => y += &format!("- name: {name}\n  user: {{}}\n"),
        }
        y += &format!(
            "contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n"
        );
        if let Some(ns) = opts.namespace {
            y += &format!("    namespace: {}\n", q(ns));
        }
        y += &format!("current-context: {name}\npreferences: {{}}\n");
        y
    }

    /// Writes a kubeconfig (cluster URL, CA data for HTTPS, token user, context with
    /// namespace, current-context) to `dir/<context>-<token>.kubeconfig` and returns its path.
    pub fn write_kubeconfig(&self, dir: &Path, opts: KubeconfigOpts<'_>) -> PathBuf {
        let path = dir.join(format!(
            "{}-{}.kubeconfig",
            sanitize(opts.context),
            sanitize(opts.token.unwrap_or("anonymous"))
        ));
        std::fs::write(&path, self.kubeconfig(&opts)).expect("testkit: write kubeconfig");
        path
    }

    // ----- resource types --------------------------------------------------------------

    /// Serves another resource type (like installing a CRD); replaces a type with the same
    /// group and plural.
    pub fn register_resource(&self, def: ResourceDef) {
        let mut st = self.state();
        st.resources
            .retain(|d| !(d.group == def.group && d.plural == def.plural));
        st.resources.push(def);
    }

    /// Stops serving a type (`certificates`, `certificates.cert-manager.io`, a kind or short
    /// name), as if its CRD were not installed. Stored objects are kept and come back with
    /// [`register_resource`](Self::register_resource). Returns whether it was served.
    pub fn unregister_resource(&self, resource: &str) -> bool {
        let mut st = self.state();
        match st.find(resource) {
            Some(def) => {
                st.resources
                    .retain(|d| !(d.group == def.group && d.plural == def.plural));
                true
            }
            None => false,
        }
    }

    /// Whether `/api` and `/apis` answer aggregated discovery (`APIGroupDiscoveryList`) to a
    /// client whose `Accept` asks for it, as Kubernetes 1.30+ does (the default), or only the
    /// legacy documents, as before 1.26.
    pub fn set_aggregated_discovery(&self, on: bool) {
        self.state().aggregated_discovery = on;
    }

    /// The types currently served.
    pub fn resources(&self) -> Vec<ResourceDef> {
        self.state().resources.clone()
    }

    // ----- objects ---------------------------------------------------------------------

    /// Creates an object (metadata.name or generateName required; uid, resourceVersion,
    /// creationTimestamp and generation are filled in) and returns it as stored.
    /// `resource` is a plural, `plural.group`, kind or short name. Panics if it exists.
    pub fn create(&self, resource: &str, namespace: &str, obj: Value) -> Value {
        self.try_create(resource, namespace, obj)
            .unwrap_or_else(|s| panic!("testkit: create failed: {s}"))
    }

    /// Like [`create`](Self::create), returning the `Status` object on failure.
    pub fn try_create(&self, resource: &str, namespace: &str, obj: Value) -> Result<Value, Value> {
        let def = self.def(resource);
        self.state()
            .create(&def, namespace, obj)
            .map_err(|e| e.status())
    }

    /// Creates the object or replaces it entirely (spec and status) if it exists.
    pub fn apply(&self, resource: &str, namespace: &str, mut obj: Value) -> Value {
        let def = self.def(resource);
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut st = self.state();
        if st.get(&def, namespace, &name).is_ok() {
            if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            st.replace(&def, namespace, &name, obj, Part::All)
        } else {
            st.create(&def, namespace, obj)
        }
        .unwrap_or_else(|e| panic!("testkit: apply failed: {}", e.status()))
    }

    /// JSON-merge-patches an object (spec, metadata and status alike); generation is bumped
    /// when anything but metadata and status changes. Panics if it does not exist.
    pub fn patch(&self, resource: &str, namespace: &str, name: &str, patch: Value) -> Value {
        let def = self.def(resource);
        self.state()
            .patch(&def, namespace, name, &patch, Part::All)
            .unwrap_or_else(|e| panic!("testkit: patch failed: {}", e.status()))
    }

    /// Merge-patches only `status` (the `status` key of `patch`), like the `/status`
    /// subresource. Panics if the object does not exist.
    pub fn patch_status(&self, resource: &str, namespace: &str, name: &str, patch: Value) -> Value {
        let def = self.def(resource);
        self.state()
            .patch(&def, namespace, name, &patch, Part::Status)
            .unwrap_or_else(|e| panic!("testkit: patch_status failed: {}", e.status()))
    }

    /// Deletes an object (a DELETED watch event follows). Returns whether it existed.
    pub fn delete(&self, resource: &str, namespace: &str, name: &str) -> bool {
        let def = self.def(resource);
        self.state().delete(&def, namespace, name).is_ok()
    }

    /// The stored object, if any.
    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let def = self.def(resource);
        self.state().get(&def, namespace, name).ok()
    }

    /// All objects of a type in `namespace` (`""`: all namespaces), by namespace and name.
    pub fn list(&self, resource: &str, namespace: &str) -> Vec<Value> {
        let def = self.def(resource);
        let ns = (!namespace.is_empty()).then_some(namespace);
        self.state().list(&def, ns)
    }

    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.state().rv
    }

    /// Forgets the change history: a watch resuming from any resourceVersion older than the
    /// current one gets a `410 Expired` ERROR event.
    pub fn compact(&self) {
        self.state().compact();
    }

    // ----- fault injection -------------------------------------------------------------

    /// Answers the next `fault.times` matching requests with `fault.status` (and a `Status`
    /// body, and `Retry-After` when set). Faults queue; the first matching one is used.
    /// Applies to every path (discovery too) unless limited by verb or resource.
    pub fn fail_next(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    /// Delays every response by `d` (zero: no delay).
    pub fn delay(&self, d: Duration) {
        self.delay_matching(d, None, None);
    }

    /// Delays responses to requests matching the verb and/or resource by `d`
    /// (replaces any earlier delay; zero removes it).
    pub fn delay_matching(&self, d: Duration, verb: Option<&str>, resource: Option<&str>) {
        self.state().delay = (!d.is_zero()).then(|| DelayRule {
            duration: d,
            verb: verb.map(str::to_string),
            resource: resource.map(str::to_string),
        });
    }

    /// Closes the connection carrying each of the next `n` requests without answering
    /// (recorded with status 0).
    pub fn drop_connections(&self, n: usize) {
        self.state().drop_next += n;
    }

    /// Ends every open watch stream now (cleanly, like a server-side watch timeout).
    pub fn close_watches(&self) {
        self.inner.shared.close_watches.send_modify(|g| *g += 1);
    }

    /// Answers the next `n` watch requests with a 200 stream holding one ERROR event with a
    /// `410 Expired` Status, as the real server does for a too-old resourceVersion.
    pub fn gone_next_watches(&self, n: usize) {
        self.state().gone_next += n;
    }

    /// Removes every pending fault, delay, connection drop and 410.
    pub fn clear_faults(&self) {
        let mut st = self.state();
        st.faults.clear();
        st.delay = None;
        st.drop_next = 0;
        st.gone_next = 0;
    }

    /// Makes every watch opened from now on misbehave as `fault` says (`None`: behave again).
    /// Streams already open are left alone.
    pub fn set_watch_fault(&self, fault: Option<WatchFault>) {
        self.state().watch_fault = fault;
    }

    /// Changes the BOOKMARK period for watches opened from now on.
    pub fn set_bookmark_interval(&self, d: Duration) {
        self.state().bookmark_interval = d;
    }

    /// Stops listening and closes every connection (the port is refused); state is kept.
    /// Returns once the listener is closed.
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// Listens again on the same port after [`stop`](Self::stop), keeping all state.
    /// Does nothing when running. Panics if the port cannot be bound within 5 s.
    pub fn restart(&self) {
        if self.is_running() {
            return;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match bind(self.inner.rt(), self.port()) {
                Ok(l) => break l,
                Err(e) if std::time::Instant::now() > deadline => {
                    panic!("testkit: cannot re-bind port {}: {e}", self.port())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        self.inner.serve(listener);
    }

    /// Whether the server is listening (not [`stop`](Self::stop)ped).
    pub fn is_running(&self) -> bool {
        self.inner
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    // ----- counters --------------------------------------------------------------------

    /// Every request received since start or [`reset_counters`](Self::reset_counters).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().records.clone()
    }

    /// How many resource requests had this RBAC verb (discovery and other paths not counted).
    pub fn count(&self, verb: &str) -> usize {
        self.state()
            .records
            .iter()
            .filter(|r| r.is_resource() && r.verb == verb)
            .count()
    }

    /// How many requests had this verb on this resource plural.
    pub fn count_for(&self, verb: &str, resource: &str) -> usize {
        self.state()
            .records
            .iter()
            .filter(|r| r.verb == verb && r.resource == resource)
            .count()
    }

    /// Forgets the recorded requests.
    pub fn reset_counters(&self) {
        self.state().records.clear();
    }

    /// How many watch streams are open right now.
    pub fn open_watches(&self) -> usize {
        self.state().open_watches
    }
}
