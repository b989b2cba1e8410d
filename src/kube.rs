//! The Kubernetes client: configuration (in-cluster or kubeconfig), the namespace default,
//! plain GET/LIST with every failure classified, and single-object watches used only as
//! wake-up signals.
//!
//! kube's `config` feature reads the kubeconfig (merging, contexts, relative paths, CA data);
//! requests go over reqwest with rustls (ring), the same HTTP stack as `wait-http`, so kwait
//! links one HTTP client, not two. Every status code, `Status` body and `Retry-After` header
//! reaches the classification here, and there is no retry layer below it: the waiter owns
//! retries.

mod auth;
pub mod discovery;
mod events;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Request;
use kube::core::params::{GetParams, ListParams};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

use crate::check::Class;
use crate::net::failure::{Failure, failure};
use crate::net::resolve::{DnsError, Resolver};
pub use crate::net::text::chain;
use crate::net::text::{lock, printable, scrub};
use crate::net::tls::{Verifier, system_roots};
use crate::plan::KubeSettings;
#[cfg(test)]
pub use watch::Talk;
pub use watch::Wake;
use watch::WatchSet;

/// Where a pod's own namespace is written by the service-account mount.
const SA_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The most kwait reads of the answer to a GET of one object: 3 MiB. etcd refuses objects over
/// about 1.5 MiB (its default request limit), and an object's JSON is not much larger than
/// what etcd stores; twice that leaves room for any real object.
pub const GET_LIMIT: usize = 3 << 20;
/// The most kwait reads of a LIST answer: 8 MiB (thousands of Jobs or Pods; kwait lists only
/// what a label selector picks, or the CertificateRequests of one namespace).
pub const LIST_LIMIT: usize = 8 << 20;
/// The most memory (estimated) one parsed GET answer may take: 12 MiB. Parsed JSON takes more
/// room than its text, up to a hundred times for a text made of tiny objects, so the byte
/// limit alone does not bound memory.
pub const GET_PARSED: usize = 12 << 20;
/// The most memory (estimated) one parsed LIST answer may take: 24 MiB.
pub const LIST_PARSED: usize = 24 << 20;
/// The most kwait reads of an error answer (a `Status` is a few hundred bytes; a proxy's error
/// page is shown cut anyway).
const ERROR_LIMIT: usize = 64 << 10;
/// The most memory (estimated) a parsed error answer may take.
const ERROR_PARSED: usize = 1 << 20;
/// The longest server message (a `Status.message`) kept in an error.
const MESSAGE_MAX: usize = 400;
/// The longest piece of a non-`Status` error body kept in an error.
const BODY_MAX: usize = 200;
/// The longest name or kind from an answer quoted in an error.
const NAME_MAX: usize = 100;
/// The largest kubeconfig file kwait reads (real ones with hundreds of contexts are a few
/// hundred KiB).
const KUBECONFIG_LIMIT: u64 = 16 * 1024 * 1024;

/// The pod's own namespace, from the service-account mount; `None` outside a pod.
pub fn pod_namespace() -> Option<String> {
    let bytes = crate::net::file::read_capped(Path::new(SA_NAMESPACE), 4096, "namespace").ok()?;
    let ns = String::from_utf8(bytes).ok()?.trim().to_string();
    (!ns.is_empty()).then_some(ns)
}

/// Where the configuration comes from, as client-go decides: `--kubeconfig`/`$KUBECONFIG`, else
/// the in-cluster service account in a pod, else `~/.kube/config`.
enum Source {
    Kubeconfig(Vec<PathBuf>),
    InCluster,
    Missing,
}

impl Source {
    fn of(s: &KubeSettings) -> Source {
        let explicit = s.kubeconfig.clone().map(|p| vec![p]).or_else(|| {
            std::env::var_os("KUBECONFIG")
                .filter(|v| !v.is_empty())
                .map(|v| {
                    std::env::split_paths(&v)
                        .filter(|p| !p.as_os_str().is_empty())
                        .collect()
                })
        });
        if let Some(paths) = explicit.filter(|p: &Vec<PathBuf>| !p.is_empty()) {
            return Source::Kubeconfig(paths);
        }
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
            return Source::InCluster;
        }
        match std::env::var_os("HOME").map(|h| Path::new(&h).join(".kube").join("config")) {
            Some(path) if path.exists() => Source::Kubeconfig(vec![path]),
            _ => Source::Missing,
        }
    }
}

/// The namespace a wait uses, decided as client-go does, without contacting anything: `-n`;
/// else, with a kubeconfig, its context's namespace (or `default`); else, in-cluster, the pod's
/// own namespace (service-account mount). `None` when no configuration decides it (no
/// kubeconfig and not in a pod, or a kubeconfig that cannot be read). `connect` decides the same
/// way; `--dry-run` uses this.
pub fn default_namespace(s: &KubeSettings) -> Option<String> {
    let source = Source::of(s);
    let context_namespace = || {
        let Source::Kubeconfig(paths) = &source else {
            return None;
        };
        let (kc, _) = read_kubeconfigs(paths).ok()?;
        let name = s.context.as_ref().or(kc.current_context.as_ref())?;
        let ctx = kc.contexts.iter().find(|c| &c.name == name)?;
        Some(
            ctx.context
                .as_ref()
                .and_then(|c| c.namespace.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".to_string()),
        )
    };
    decide_namespace(
        s.namespace.as_deref(),
        &source,
        context_namespace,
        pod_namespace,
    )
}

/// client-go's order: `-n`; with a kubeconfig, its context's namespace (`default` when it names
/// none); in-cluster, the pod's own. The pod's namespace never overrides a kubeconfig's.
fn decide_namespace(
    flag: Option<&str>,
    source: &Source,
    context: impl FnOnce() -> Option<String>,
    pod: impl FnOnce() -> Option<String>,
) -> Option<String> {
    if let Some(ns) = flag {
        return Some(ns.to_string());
    }
    match source {
        Source::Kubeconfig(_) => context(),
        Source::InCluster => pod(),
        Source::Missing => None,
    }
}

/// A configuration problem: bad usage, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--kubeconfig` or `$KUBECONFIG` cannot be read or parsed.
    #[error("cannot use kubeconfig {path:?}: {why}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The kubeconfig is readable but unusable (unknown context, no cluster URL, bad CA...).
    #[error("kubeconfig: {0}")]
    Unusable(String),
    /// No configuration at all.
    #[error(
        "no Kubernetes configuration: not in a pod (KUBERNETES_SERVICE_HOST is unset) and no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config)"
    )]
    Missing,
    /// `--context` without a kubeconfig (in-cluster).
    #[error(
        "--context {0:?} needs a kubeconfig, but kwait is using the in-cluster service account"
    )]
    ContextInCluster(String),
    /// The in-cluster service account could not be used.
    #[error("in-cluster configuration: {0}")]
    InCluster(String),
    /// The client could not be built from the configuration (TLS material, ...).
    #[error("cannot build the Kubernetes client: {0}")]
    Client(String),
}

/// A resource type, as the REST paths name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// API group; "" for the core group.
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Plural, as in URLs and RBAC rules.
    pub plural: &'static str,
    /// Kind, for messages.
    pub kind: &'static str,
}

/// core/v1 secrets.
pub const SECRETS: Resource = Resource {
    group: "",
    version: "v1",
    plural: "secrets",
    kind: "Secret",
};
/// core/v1 configmaps.
pub const CONFIGMAPS: Resource = Resource {
    group: "",
    version: "v1",
    plural: "configmaps",
    kind: "ConfigMap",
};
/// core/v1 pods.
pub const PODS: Resource = Resource {
    group: "",
    version: "v1",
    plural: "pods",
    kind: "Pod",
};
/// core/v1 services.
pub const SERVICES: Resource = Resource {
    group: "",
    version: "v1",
    plural: "services",
    kind: "Service",
};
/// discovery.k8s.io/v1 endpointslices.
pub const ENDPOINT_SLICES: Resource = Resource {
    group: "discovery.k8s.io",
    version: "v1",
    plural: "endpointslices",
    kind: "EndpointSlice",
};
/// batch/v1 jobs.
pub const JOBS: Resource = Resource {
    group: "batch",
    version: "v1",
    plural: "jobs",
    kind: "Job",
};
/// core/v1 events.
pub const EVENTS: Resource = Resource {
    group: "",
    version: "v1",
    plural: "events",
    kind: "Event",
};
/// cert-manager.io/v1 certificates.
pub const CERTIFICATES: Resource = Resource {
    group: "cert-manager.io",
    version: "v1",
    plural: "certificates",
    kind: "Certificate",
};
/// cert-manager.io/v1 certificaterequests.
pub const CERTIFICATE_REQUESTS: Resource = Resource {
    group: "cert-manager.io",
    version: "v1",
    plural: "certificaterequests",
    kind: "CertificateRequest",
};

impl Resource {
    /// `secrets` or `certificates.cert-manager.io`, as kubectl and RBAC messages write it.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `v1` for the core group, else `group/version`: what an answer's `apiVersion` must say.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The collection's path; without a namespace (`""`: a cluster-scoped type, read through
    /// [`discovery::Resolved::client`]) it has no `namespaces/NS` part.
    fn path(&self, namespace: &str) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        if namespace.is_empty() {
            return format!("{base}/{}", self.plural);
        }
        format!("{base}/namespaces/{namespace}/{}", self.plural)
    }
}

/// A request that did not return what was asked for, classified.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The class, for the report's wording.
    pub class: Class,
    /// The HTTP status, when there was an answer.
    pub code: Option<u16>,
    /// The server's `Status.message`, or the transport error's chain.
    pub message: String,
    /// `Retry-After`, when the server sent one.
    pub retry_after: Option<Duration>,
}

/// A LIST answer.
#[derive(Debug, Clone)]
pub struct List {
    /// The objects.
    pub items: Vec<Value>,
}

/// What a watch is on: one object by name, or objects by label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `fieldSelector=metadata.name=NAME`: allowed by RBAC `resourceNames`.
    Name(String),
    /// `labelSelector=...`: needs `list`/`watch` on the resource.
    Labels(String),
}

/// A connected client and the namespace to use.
#[derive(Clone)]
pub struct Kube {
    conn: Arc<Conn>,
    /// The namespace every request uses.
    pub namespace: String,
    /// Where the configuration came from, for messages (`in-cluster` or the kubeconfig path).
    pub source: String,
    /// The API server's URL, for messages.
    pub server: String,
    watches: Arc<WatchSet>,
}

/// The HTTP client, the server's base URL and the credentials.
struct Conn {
    /// Swapped for a new one when an exec plugin returns a new client certificate.
    http: Mutex<reqwest::Client>,
    /// What the client is built from, to rebuild it.
    spec: ClientSpec,
    /// The URL requests go to, without a trailing `/` (it may carry a path prefix, as behind
    /// Rancher). Its host is the `tls-server-name` when that must be sent as SNI ([`Route`]).
    base: String,
    /// The `Host` header when `base`'s host is not the cluster URL's.
    host: Option<reqwest::header::HeaderValue>,
    auth: auth::Auth,
    /// When the current check's budget runs out ([`Kube::bound`]): a credential plugin run for
    /// one of its requests stops a little before, with its own cause.
    check_by: Mutex<Option<tokio::time::Instant>>,
    /// When a request was last sent and an answer last heard (shared with the waiters).
    talk: Arc<watch::Talk>,
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("namespace", &self.namespace)
            .field("server", &self.server)
            .finish()
    }
}

/// What a kubeconfig or the in-cluster mount says about the server and the user.
struct Endpoint {
    config: kube::Config,
    auth: auth::Auth,
    identity: Option<auth::Identity>,
}

impl Kube {
    /// Builds the client: `--kubeconfig`/`$KUBECONFIG` when given, else the in-cluster service
    /// account when in a pod, else `~/.kube/config`. The namespace is `-n`, else the context's
    /// (kubeconfig) or the pod's own (in-cluster), else `default` (see [`default_namespace`]).
    /// Nothing is run or contacted here: an exec credential plugin runs when a request needs it.
    pub async fn connect(s: &KubeSettings, attempt_timeout: Duration) -> Result<Kube, ConfigError> {
        let options = KubeConfigOptions {
            context: s.context.clone(),
            cluster: None,
            user: None,
        };
        let chosen = Source::of(s);
        let (endpoint, source) = match &chosen {
            Source::Kubeconfig(paths) => {
                let source = paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":");
                (
                    load_kubeconfig(paths, &options, attempt_timeout).await?,
                    source,
                )
            }
            Source::InCluster => {
                if let Some(ctx) = &s.context {
                    return Err(ConfigError::ContextInCluster(ctx.clone()));
                }
                let config =
                    kube::Config::incluster().map_err(|e| ConfigError::InCluster(chain(&e)))?;
                let token = config
                    .auth_info
                    .token_file
                    .clone()
                    .ok_or_else(|| ConfigError::InCluster("no service-account token".into()))?;
                let endpoint = Endpoint {
                    config,
                    auth: auth::Auth::token_file(PathBuf::from(token)),
                    identity: None,
                };
                (endpoint, "in-cluster service account".to_string())
            }
            Source::Missing => return Err(ConfigError::Missing),
        };
        let Endpoint {
            config,
            auth,
            identity,
        } = endpoint;
        // As client-go: the pod's namespace applies to the in-cluster configuration only; a
        // kubeconfig's is its context's (kube puts it, or `default`, in `default_namespace`).
        let namespace = decide_namespace(
            s.namespace.as_deref(),
            &chosen,
            || Some(config.default_namespace.clone()),
            pod_namespace,
        )
        .unwrap_or_else(|| config.default_namespace.clone());
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        let route = Route::of(&config, &server)?;
        let spec = ClientSpec {
            config,
            connect_timeout: attempt_timeout,
            sni: route.sni,
        };
        let http = spec.build(identity)?;
        Ok(Kube {
            conn: Arc::new(Conn {
                http: Mutex::new(http),
                spec,
                base: route.base,
                host: route.host,
                auth,
                check_by: Mutex::new(None),
                talk: Arc::default(),
            }),
            namespace,
            source,
            server,
            watches: Arc::new(WatchSet::default()),
        })
    }

    /// A client for one more target of the run: the same connection, credentials and exec
    /// plugin (run once for all), with watches of its own (a watch's poke wakes its own
    /// target's waiter, and the health is that of its own watches) and `namespace` when given
    /// (`-n` inside its `--and` segment).
    pub fn for_target(&self, namespace: Option<&str>) -> Kube {
        Kube {
            conn: self.conn.clone(),
            namespace: namespace.map_or_else(|| self.namespace.clone(), str::to_string),
            source: self.source.clone(),
            server: self.server.clone(),
            watches: Arc::new(WatchSet::default()),
        }
    }

    /// The check that is starting may take `budget` (the waiter's: `--attempt-timeout`, or less
    /// near the deadline). Requests made for it until the next call stay within it where kwait
    /// itself does the waiting (a credential plugin run), so their own cause is reported rather
    /// than the waiter's "no answer". The watch is not bound by it.
    pub fn bound(&self, budget: Duration) {
        *lock(&self.conn.check_by) = Some(tokio::time::Instant::now() + budget);
    }

    /// GET one object. `Ok(None)` when it does not exist; a 404 for the resource *type* (CRD
    /// not installed) is an error of class [`Class::NotServed`]. The answer must be that object
    /// (its kind, apiVersion and name), read within [`GET_LIMIT`] bytes and [`GET_PARSED`]
    /// once parsed; anything else is an error of class [`Class::Other`] saying what came back.
    pub async fn get(&self, res: &Resource, name: &str) -> Result<Option<Value>, ApiError> {
        self.watches.reading(res, &self.namespace, name);
        let req = Request::new(res.path(&self.namespace))
            .get(name, &GetParams::default())
            .map_err(|e| other(e.to_string()))?;
        let asked = format!("GET {}/{name}", res.qualified());
        let answer = self.conn.send(&req, &asked, GET_LIMIT).await;
        self.watches.first_read_done(res, &self.namespace);
        let v = match answer {
            Ok(bytes) => parse(&bytes, GET_PARSED, &asked)?,
            Err(e) if e.class == Class::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if let Some(what) = not_the_object(&v, res, name) {
            return Err(answered(&asked, &what));
        }
        self.watches.read(res, &self.namespace, &v);
        Ok(Some(v))
    }

    /// LIST objects by label selector. The answer must be the resource's List (kind and
    /// apiVersion) with an array of objects as `items`, read within [`LIST_LIMIT`] bytes and
    /// [`LIST_PARSED`] once parsed; anything else is an error of class [`Class::Other`].
    pub async fn list(&self, res: &Resource, labels: &str) -> Result<List, ApiError> {
        self.list_with(res, ListParams::default().labels(labels), true)
            .await
    }

    /// [`Kube::list`] for a reader beside the target's own checks (`--service` reading the
    /// endpoints of a Service that `wait-service` also waits for): the versions it reads are not
    /// noted, so they never make a watch event look old to the target whose check did not read
    /// them, and never move where a watch starts.
    pub async fn list_beside(&self, res: &Resource, labels: &str) -> Result<List, ApiError> {
        self.list_with(res, ListParams::default().labels(labels), false)
            .await
    }

    /// LIST objects by field selector (e.g. events by `involvedObject.name=...,reason=...`),
    /// with the same limits and checks as [`Kube::list`].
    pub async fn list_fields(&self, res: &Resource, fields: &str) -> Result<List, ApiError> {
        self.list_with(res, ListParams::default().fields(fields), true)
            .await
    }

    async fn list_with(
        &self,
        res: &Resource,
        params: ListParams,
        track: bool,
    ) -> Result<List, ApiError> {
        let req = Request::new(res.path(&self.namespace))
            .list(&params)
            .map_err(|e| other(e.to_string()))?;
        let asked = format!("LIST {}", res.qualified());
        let answer = self.conn.send(&req, &asked, LIST_LIMIT).await;
        self.watches.first_read_done(res, &self.namespace);
        let v = parse(&answer?, LIST_PARSED, &asked)?;
        if track {
            self.watches.listed(res, &self.namespace, &v);
        }
        let items = list_items(v, res).map_err(|what| answered(&asked, &what))?;
        if track {
            for item in &items {
                self.watches.read(res, &self.namespace, item);
            }
        }
        Ok(List { items })
    }
}

impl Conn {
    /// Sends a request built by kube-core's request builder; the answer's headers are in. Runs the
    /// exec credential plugin first when its credential is needed (dropping the future kills it).
    async fn start(
        &self,
        req: &http::Request<Vec<u8>>,
        within: Option<Duration>,
    ) -> Result<reqwest::Response, ApiError> {
        let url = format!("{}{}", self.base, req.uri());
        let applied = self.auth.headers_within(within).await?;
        if let Some(identity) = applied.identity {
            match self.spec.build(Some(identity)) {
                Ok(client) => *lock(&self.http) = client,
                Err(e) => {
                    self.auth.rejected();
                    return Err(ApiError {
                        class: Class::Unauthorized,
                        code: None,
                        message: e.to_string(),
                        retry_after: None,
                    });
                }
            }
        }
        let http = lock(&self.http).clone();
        // GET for every read; POST and PATCH only for the Events kwait records (kube/events.rs).
        let mut rb = http.request(req.method().clone(), url);
        // Only discovery sets one (aggregated discovery's Accept); kube-core's GETs set none.
        if let Some(accept) = req.headers().get(http::header::ACCEPT) {
            rb = rb.header(reqwest::header::ACCEPT, accept.clone());
        }
        if let Some(ct) = req.headers().get(http::header::CONTENT_TYPE) {
            rb = rb.header(reqwest::header::CONTENT_TYPE, ct.clone());
        }
        if !req.body().is_empty() {
            rb = rb.body(req.body().clone());
        }
        for (name, value) in applied.headers {
            rb = rb.header(name, value);
        }
        if let Some(host) = &self.host {
            rb = rb.header(reqwest::header::HOST, host.clone());
        }
        self.talk.note_sent();
        let res = rb.send().await.map_err(|e| transport(&e))?;
        self.talk.note_heard();
        if res.status() == reqwest::StatusCode::UNAUTHORIZED {
            self.auth.rejected();
        }
        Ok(res)
    }

    /// A GET: the body of a successful answer (at most `limit` bytes, else an error saying
    /// the answer was too large), or the failure classified. `asked` names the request.
    async fn send(
        &self,
        req: &http::Request<Vec<u8>>,
        asked: &str,
        limit: usize,
    ) -> Result<Vec<u8>, ApiError> {
        let within = (*lock(&self.check_by))
            .map(|by| by.saturating_duration_since(tokio::time::Instant::now()));
        let mut res = self.start(req, within).await?;
        let status = res.status();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let cut_off = |e: reqwest::Error| ApiError {
            class: Class::Reset,
            code: Some(status.as_u16()),
            message: server_text(
                &format!("the answer was cut off: {}", chain(&e)),
                MESSAGE_MAX,
            ),
            retry_after: None,
        };
        if status.is_success() {
            let too_large = || ApiError {
                class: Class::Other,
                code: Some(status.as_u16()),
                message: format!(
                    "the API server's answer exceeded {} ({asked}; a Kubernetes object is at most about 1.5 MiB)",
                    mib(limit)
                ),
                retry_after: None,
            };
            // Refused unread when the server announces more than the limit.
            if res.content_length().is_some_and(|n| n > limit as u64) {
                return Err(too_large());
            }
            return match read_body(&mut res, limit).await.map_err(cut_off)? {
                (bytes, true) => Ok(bytes),
                (_, false) => Err(too_large()),
            };
        }
        // An error answer: its start is enough (a Status is a few hundred bytes).
        let (bytes, _) = read_body(&mut res, ERROR_LIMIT).await.map_err(cut_off)?;
        let body = parse(&bytes, ERROR_PARSED, asked).ok();
        Err(classify_status(
            status.as_u16(),
            body.as_ref(),
            &bytes,
            retry_after,
        ))
    }
}

/// At most `limit` bytes of an answer's body, read chunk by chunk (never more than the limit
/// and one chunk in memory), and whether that was the whole body.
async fn read_body(
    res: &mut reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let expected = res.content_length().map_or(0, |n| n.min(limit as u64));
    let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    while let Some(chunk) = res.chunk().await? {
        let room = limit - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok((bytes, false));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((bytes, true))
}

/// Where requests go. With `tls-server-name`, client-go sends that name as SNI and checks the
/// certificate against it, while the `Host` header keeps the URL's host. reqwest sends the URL's
/// host as SNI, so the URL's host becomes the `tls-server-name`, a resolver override maps that
/// name to the real host's addresses, and the `Host` header is set to the real host. Through a
/// proxy (which resolves the CONNECT target itself) or for an IP address as the name (never SNI),
/// the name is only the one the certificate is checked against ([`Verifier`]).
struct Route {
    base: String,
    host: Option<reqwest::header::HeaderValue>,
    sni: Option<Sni>,
}

/// `tls-server-name` sent as SNI: `name` resolves to `real`'s addresses.
#[derive(Clone)]
struct Sni {
    name: String,
    real: String,
}

impl Route {
    fn of(config: &kube::Config, server: &str) -> Result<Route, ConfigError> {
        let direct = Route {
            base: server.to_string(),
            host: None,
            sni: None,
        };
        let Some(name) = config.tls_server_name.as_deref().filter(|n| !n.is_empty()) else {
            return Ok(direct);
        };
        let uri = &config.cluster_url;
        let (Some(real), Some(authority)) = (uri.host(), uri.authority()) else {
            return Ok(direct);
        };
        if config.proxy_url.is_some()
            || config.accept_invalid_certs
            || uri.scheme_str() != Some("https")
            || name.parse::<std::net::IpAddr>().is_ok()
            || name.eq_ignore_ascii_case(real)
        {
            return Ok(direct);
        }
        let mut url = reqwest::Url::parse(server)
            .map_err(|_| ConfigError::Unusable(format!("server {server:?} is not a URL")))?;
        url.set_host(Some(name)).map_err(|_| {
            ConfigError::Unusable(format!("tls-server-name {name:?} is not a host name"))
        })?;
        let host = reqwest::header::HeaderValue::from_str(authority.as_str())
            .map_err(|_| ConfigError::Unusable(format!("server {server:?} has no usable host")))?;
        Ok(Route {
            base: url.as_str().trim_end_matches('/').to_string(),
            host: Some(host),
            sni: Some(Sni {
                name: name.to_ascii_lowercase(),
                real: real.trim_matches(['[', ']']).to_string(),
            }),
        })
    }
}

/// The resolver with the `tls-server-name` override of [`Route`].
struct SniResolver(Sni);

impl reqwest::dns::Resolve for SniResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        if !name.as_str().eq_ignore_ascii_case(&self.0.name) {
            return Resolver.resolve(name);
        }
        if let Ok(ip) = self.0.real.parse::<std::net::IpAddr>() {
            let addr = std::net::SocketAddr::new(ip, 0);
            return Box::pin(std::future::ready(Ok(
                Box::new(std::iter::once(addr)) as reqwest::dns::Addrs
            )));
        }
        match self.0.real.parse::<reqwest::dns::Name>() {
            Ok(real) => Resolver.resolve(real),
            // A DnsError, so that the failure is classified as DNS like any other lookup.
            Err(e) => Box::pin(std::future::ready(Err(Box::new(DnsError::Failed {
                host: self.0.real.clone(),
                detail: e.to_string(),
            })
                as Box<dyn std::error::Error + Send + Sync>))),
        }
    }
}

/// What the HTTP client is built from (again, when an exec plugin hands out a new client
/// certificate).
struct ClientSpec {
    config: kube::Config,
    connect_timeout: Duration,
    sni: Option<Sni>,
}

impl ClientSpec {
    /// The HTTP client for the API server: its CA (or the system's), a client certificate when
    /// the user has one, `insecure-skip-tls-verify` and `tls-server-name` as kubectl reads them,
    /// `proxy-url`, HTTP/1.1 (one connection per watch, as kube-rs and the tests use).
    fn build(&self, identity: Option<auth::Identity>) -> Result<reqwest::Client, ConfigError> {
        let config = &self.config;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        let verifier: Arc<dyn ServerCertVerifier> = if config.accept_invalid_certs {
            Arc::new(Verifier::insecure(&provider))
        } else {
            let mut roots = RootCertStore::empty();
            match &config.root_cert {
                Some(ders) => {
                    for der in ders {
                        roots.add(CertificateDer::from(der.clone())).map_err(|e| {
                            ConfigError::Unusable(format!("certificate-authority: {e}"))
                        })?;
                    }
                }
                None => roots = system_roots().map_err(ConfigError::Unusable)?,
            }
            if roots.is_empty() {
                return Err(ConfigError::Unusable(
                    "the cluster has no certificate-authority and the system has no CA bundle"
                        .into(),
                ));
            }
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| ConfigError::Unusable(format!("certificate-authority: {e}")))?;
            match (&config.tls_server_name, &self.sni) {
                // Sent as SNI: the URL's host is the name, rustls checks it as usual.
                (Some(_), Some(_)) | (None, _) => webpki,
                (Some(name), None) => Arc::new(Verifier::named(
                    webpki,
                    ServerName::try_from(name.clone()).map_err(|_| {
                        ConfigError::Unusable(format!(
                            "tls-server-name {name:?} is not a host name"
                        ))
                    })?,
                    &provider,
                )),
            }
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut tls = match identity {
            Some(id) => builder
                .with_client_auth_cert(id.certs, id.key)
                .map_err(|e| ConfigError::Unusable(format!("client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut b = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .http1_only()
            .connect_timeout(self.connect_timeout)
            .tcp_keepalive(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kwait/", env!("CARGO_PKG_VERSION")));
        b = match &self.sni {
            Some(sni) => b.dns_resolver(Arc::new(SniResolver(sni.clone()))),
            None => b.dns_resolver(Arc::new(Resolver)),
        };
        if let Some(proxy) = &config.proxy_url {
            let proxy = reqwest::Proxy::all(proxy.to_string())
                .map_err(|e| ConfigError::Unusable(format!("proxy-url: {}", chain(&e))))?;
            b = b.proxy(proxy);
        }
        b.build().map_err(|e| ConfigError::Client(chain(&e)))
    }
}

/// Reads and merges the kubeconfig files (first wins, as kubectl merges `$KUBECONFIG`), each
/// read with a size limit; relative file paths are taken from each file's directory, as kubectl
/// does. Returns the merged kubeconfig and the paths as shown in messages.
fn read_kubeconfigs(paths: &[PathBuf]) -> Result<(Kubeconfig, String), ConfigError> {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths {
        // In a list, files that do not exist are skipped, as kubectl does; a single one must.
        if paths.len() > 1 && !path.exists() {
            continue;
        }
        let fail = |why: String| ConfigError::Kubeconfig {
            path: path.to_path_buf(),
            why,
        };
        let bytes = crate::net::file::read_capped(path, KUBECONFIG_LIMIT, "kubeconfig").map_err(
            |e| match e {
                crate::net::file::FileError::TooLarge { .. } => {
                    fail("it is larger than 16 MiB, the most kwait reads".into())
                }
                crate::net::file::FileError::Io { source, .. } => fail(source.to_string()),
            },
        )?;
        let text = kubeconfig_text(bytes).map_err(|why| fail(why.into()))?;
        let mut kc = kubeconfig_from_yaml(&text).map_err(fail)?;
        if let Some(dir) = path.parent() {
            absolute_paths(&mut kc, dir);
        }
        merged = Some(match merged {
            Some(m) => m.merge(kc).map_err(|e| fail(chain(&e)))?,
            None => kc,
        });
    }
    let shown = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let kc = merged.ok_or_else(|| ConfigError::Kubeconfig {
        path: PathBuf::from(&shown),
        why: "none of these files exists".into(),
    })?;
    Ok((kc, shown))
}

/// A kubeconfig's text as kube's `Kubeconfig::from_yaml` reads it (every YAML document, merged
/// first-wins), through a plain JSON tree: the YAML parser is then compiled once, for
/// `serde_json::Value`, instead of once per kubeconfig type (that monomorphisation was 245,760
/// bytes of the static binary, which must stay under 4 MiB). No kubeconfig field is a number, so
/// an integer is taken back as the text it was written as (`namespace: 2024`; `0123` and `1_000`
/// are kept as written by the parser), and `true`/`false` outside the known boolean fields
/// likewise, as the typed reading did. A plain number with a fraction or an exponent (`1.10`)
/// cannot be given back as written: it is refused, naming the field, instead of being misread.
fn kubeconfig_from_yaml(text: &str) -> Result<Kubeconfig, String> {
    let mut options = serde_saphyr::Options::default();
    options.leading_zero_numbers_as_strings = true;
    options.underscored_numbers_as_strings = true;
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple_with_options(text, options).map_err(|e| chain(&e))?;
    let mut merged = Kubeconfig::default();
    for mut doc in docs {
        if doc.is_null() {
            continue;
        }
        scalars_as_text(&mut doc, None)?;
        let kc: Kubeconfig = serde_json::from_value(doc).map_err(|e| chain(&e))?;
        merged = merged.merge(kc).map_err(|e| chain(&e))?;
    }
    Ok(merged)
}

/// The kubeconfig fields that are booleans; every other scalar field is text.
const KUBECONFIG_BOOLS: &[&str] = &[
    "insecure-skip-tls-verify",
    "disable-compression",
    "colors",
    "provideClusterInfo",
];

/// Integers, and booleans outside [`KUBECONFIG_BOOLS`], become the text YAML wrote them as; a
/// named extension's free-form `extension` is left as written (it is JSON for its consumer).
fn scalars_as_text(v: &mut serde_json::Value, key: Option<&str>) -> Result<(), String> {
    use serde_json::Value;
    if key == Some("extension") {
        return Ok(());
    }
    match v {
        Value::Number(n) if n.is_f64() => {
            return Err(format!(
                "{}: {n} reads as a number with a fraction, which kwait cannot give back as written: put it in quotes",
                crate::net::text::printable(key.unwrap_or("a list item"), 100)
            ));
        }
        Value::Number(n) => *v = Value::String(n.to_string()),
        Value::Bool(b) if !key.is_some_and(|k| KUBECONFIG_BOOLS.contains(&k)) => {
            *v = Value::String(b.to_string());
        }
        Value::Array(items) => {
            for i in items {
                scalars_as_text(i, None)?;
            }
        }
        Value::Object(map) => {
            for (k, i) in map.iter_mut() {
                scalars_as_text(i, Some(k.as_str()))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A kubeconfig's bytes as text: UTF-8 (a BOM is dropped) or UTF-16 with a BOM, as kube reads it.
fn kubeconfig_text(bytes: Vec<u8>) -> Result<String, &'static str> {
    let utf16 = |rest: &[u8], be: bool| {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| {
                if be {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| "it is not valid UTF-16")
    };
    match bytes.as_slice() {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, false),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, true),
        [0xEF, 0xBB, 0xBF, rest @ ..] => {
            String::from_utf8(rest.to_vec()).map_err(|_| "it is not UTF-8 text")
        }
        _ => String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text"),
    }
}

/// Makes the file paths of a kubeconfig absolute from its directory (certificate-authority,
/// client certificate and key, token file, an exec command with a `/`), as kube's `read_from`
/// and client-go do.
fn absolute_paths(kc: &mut Kubeconfig, dir: &Path) {
    let fix = |p: &mut Option<String>| {
        if let Some(rel) = p.as_deref()
            && Path::new(rel).is_relative()
            && let Some(abs) = dir.join(rel).to_str()
        {
            *p = Some(abs.to_string());
        }
    };
    for cluster in kc.clusters.iter_mut().filter_map(|c| c.cluster.as_mut()) {
        fix(&mut cluster.certificate_authority);
    }
    for user in kc
        .auth_infos
        .iter_mut()
        .filter_map(|u| u.auth_info.as_mut())
    {
        fix(&mut user.client_certificate);
        fix(&mut user.client_key);
        fix(&mut user.token_file);
        if let Some(exec) = user.exec.as_mut()
            && exec.command.as_deref().is_some_and(|c| c.contains('/'))
        {
            fix(&mut exec.command);
        }
    }
}

/// Reads and merges the kubeconfig files, picks the context, and builds the user's credentials
/// (`budget` bounds one exec plugin run).
async fn load_kubeconfig(
    paths: &[PathBuf],
    options: &KubeConfigOptions,
    budget: Duration,
) -> Result<Endpoint, ConfigError> {
    let (mut kc, shown) = read_kubeconfigs(paths)?;
    if let Some(ctx) = &options.context
        && !kc.contexts.iter().any(|c| &c.name == ctx)
    {
        let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(ConfigError::Unusable(format!(
            "context {ctx:?} not found in {shown} (it has: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    }
    let cluster_name = options
        .context
        .as_ref()
        .or(kc.current_context.as_ref())
        .and_then(|name| kc.contexts.iter().find(|c| &c.name == name))
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone());
    let cluster = cluster_name.and_then(|name| {
        kc.clusters
            .iter_mut()
            .find(|x| x.name == name)
            .and_then(|c| c.cluster.as_mut())
    });
    // The cluster's own `proxy-url`. kube's loader falls back to $HTTPS_PROXY without looking
    // at $NO_PROXY; reqwest applies both itself, as client-go does.
    let mut proxy_url = None;
    if let Some(cluster) = cluster {
        proxy_url = cluster.proxy_url.clone().filter(|p| !p.is_empty());
        // kube reads a certificate-authority file whole: read it here, capped, and hand it over
        // as data.
        if cluster.certificate_authority_data.is_none()
            && let Some(file) = cluster.certificate_authority.take()
        {
            let pem = crate::net::file::read_capped(
                Path::new(&file),
                auth::PEM_FILE_LIMIT,
                "certificate-authority",
            )
            .map_err(|e| ConfigError::Unusable(e.to_string()))?;
            use base64::Engine as _;
            cluster.certificate_authority_data =
                Some(base64::engine::general_purpose::STANDARD.encode(pem));
        }
    }
    let mut config = kube::Config::from_custom_kubeconfig(kc, options)
        .await
        .map_err(|e| ConfigError::Unusable(chain(&e)))?;
    config.proxy_url = match proxy_url {
        Some(p) => Some(
            p.parse()
                .map_err(|_| ConfigError::Unusable(proxy_url_error(&p)))?,
        ),
        None => None,
    };
    let (auth, identity) = auth::Auth::new(&config.auth_info, budget)?;
    Ok(Endpoint {
        config,
        auth,
        identity,
    })
}

fn other(message: String) -> ApiError {
    ApiError {
        class: Class::Other,
        code: None,
        message,
        retry_after: None,
    }
}

/// Text a server sent, made safe to keep in an error: every credential kwait holds removed
/// *before* cutting (so that no cut can leave a piece of one for the reporter to miss, and no
/// escaping can hide one from it), then one printable line of at most `max` characters.
fn server_text(s: &str, max: usize) -> String {
    printable(&scrub(s), max)
}

/// `3 MiB`.
fn mib(bytes: usize) -> String {
    format!("{} MiB", bytes >> 20)
}

/// An answer that is not what was asked for: `the API server answered GET secrets/x with null`.
fn answered(asked: &str, what: &str) -> ApiError {
    ApiError {
        class: Class::Other,
        code: Some(200),
        message: format!("the API server answered {asked} {what}"),
        retry_after: None,
    }
}

/// `a Secret`, `an Event`.
fn a(kind: &str) -> String {
    let kind = server_text(kind, NAME_MAX);
    match kind.chars().next() {
        Some(c) if "AEIOUaeiou".contains(c) => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

/// What a JSON value is, for a message: `null`, `an array`, ...
fn shape(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why `v` is not the object `res`/`name` (`with a ConfigMap named y`), `None` when it is.
/// The API server always sets kind and apiVersion on a single object it returns.
fn not_the_object(v: &Value, res: &Resource, name: &str) -> Option<String> {
    let Value::Object(o) = v else {
        return Some(format!("with {}", shape(v)));
    };
    let field = |k: &str| o.get(k).and_then(Value::as_str);
    let named = match v.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) => format!("named {}", server_text(n, NAME_MAX)),
        None => "without a name".to_string(),
    };
    let Some(kind) = field("kind") else {
        return Some(format!("with an object without a kind, {named}"));
    };
    if kind != res.kind {
        return Some(format!("with {} {named}", a(kind)));
    }
    match field("apiVersion") {
        Some(api) if api == res.api_version() => {}
        Some(api) => {
            return Some(format!(
                "with {} of apiVersion {} {named}",
                a(kind),
                server_text(api, NAME_MAX)
            ));
        }
        None => return Some(format!("with {} without an apiVersion {named}", a(kind))),
    }
    (v.pointer("/metadata/name").and_then(Value::as_str) != Some(name))
        .then(|| format!("with {} {named}", a(kind)))
}

/// The items of a LIST answer, which must be the resource's List (its items lack kind and
/// apiVersion, as the API server sends them); `items: null` (Go's empty slice) is no item.
/// Otherwise, why not (`with a SecretList`, `whose items are not an array`).
fn list_items(v: Value, res: &Resource) -> Result<Vec<Value>, String> {
    let Value::Object(mut o) = v else {
        return Err(format!("with {}", shape(&v)));
    };
    let list_kind = format!("{}List", res.kind);
    let kind = o.get("kind").and_then(Value::as_str);
    let api = o.get("apiVersion").and_then(Value::as_str);
    match (kind, api) {
        (Some(k), Some(a)) if k == list_kind && a == res.api_version() => {}
        (Some(k), Some(api)) if k == list_kind => {
            return Err(format!(
                "with {} of apiVersion {}",
                a(k),
                server_text(api, NAME_MAX)
            ));
        }
        (Some(k), _) => return Err(format!("with {}", a(k))),
        (None, _) => return Err("with an object without a kind".to_string()),
    }
    let items = match o.remove("items") {
        Some(Value::Array(items)) => items,
        Some(Value::Null) => Vec::new(),
        _ => return Err("whose items are not an array".to_string()),
    };
    if let Some(i) = items.iter().position(|i| !i.is_object()) {
        return Err(format!("whose item {i} is not an object"));
    }
    Ok(items)
}

/// Parses an answer into JSON within an estimated memory budget (see [`GET_PARSED`]), leaving
/// out `metadata.managedFields` (server-side apply's bookkeeping: often half of an object,
/// made of many tiny maps, and never read by kwait). A failure says what was wrong, naming the
/// field of a number out of range (`1e400`) instead of calling the whole answer "not JSON".
fn parse(bytes: &[u8], budget: usize, asked: &str) -> Result<Value, ApiError> {
    let left = std::cell::Cell::new(budget);
    let over = std::cell::Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde::de::DeserializeSeed::deserialize(
        Bounded {
            left: &left,
            over: &over,
            metadata: false,
        },
        &mut de,
    )
    .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| {
        let what = if over.get() {
            return ApiError {
                class: Class::Other,
                code: Some(200),
                message: format!(
                    "the API server's answer exceeded {} once parsed ({asked})",
                    mib(budget)
                ),
                retry_after: None,
            };
        } else if let Some(field) = number_out_of_range(bytes, &e) {
            format!("with a number out of range {field}")
        } else {
            format!(
                "with a body that is not JSON ({})",
                server_text(&e.to_string(), NAME_MAX)
            )
        };
        answered(asked, &what)
    })
}

/// Builds a [`Value`] while charging an estimate of the memory it takes against `left`.
#[derive(Clone, Copy)]
struct Bounded<'a> {
    left: &'a std::cell::Cell<usize>,
    over: &'a std::cell::Cell<bool>,
    /// This is the value of a `metadata` field (whose `managedFields` are left out).
    metadata: bool,
}

impl Bounded<'_> {
    /// What a value in a container, a map entry, a string or a map's node costs (the sizes of
    /// `Value`, a `String` and a B-tree leaf, plus the allocator's overhead).
    const SLOT: usize = 32;
    const STRING: usize = 40;
    const NODE: usize = 640;

    fn charge<E: serde::de::Error>(&self, bytes: usize) -> Result<(), E> {
        match self.left.get().checked_sub(bytes) {
            Some(rest) => {
                self.left.set(rest);
                Ok(())
            }
            None => {
                self.over.set(true);
                Err(E::custom("the answer is too large"))
            }
        }
    }

    fn inner(&self, metadata: bool) -> Self {
        Bounded { metadata, ..*self }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.charge(v.len() + Self::STRING)?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.charge(v.len() + Self::STRING)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        // A vector doubles as it grows: count each element twice.
        while let Some(v) = {
            self.charge(2 * Self::SLOT)?;
            seq.next_element_seed(self.inner(false))?
        } {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        let mut n = 0usize;
        while let Some(key) = map.next_key::<String>()? {
            if self.metadata && key == "managedFields" {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            // B-tree nodes hold up to 11 entries and are about half full once they split.
            let node = if n.is_multiple_of(6) { Self::NODE } else { 0 };
            self.charge(key.len() + Self::STRING + node)?;
            n += 1;
            let v = map.next_value_seed(self.inner(key == "metadata"))?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// When parsing failed on a number too large for a float (`1e400`, which Go's encoder never
/// writes but a hostile or broken server may), where it is: `in field "failed" (1e400)`.
fn number_out_of_range(bytes: &[u8], e: &serde_json::Error) -> Option<String> {
    // serde_json reports the line (from 1) and the byte column of where it stopped: the end of
    // the number.
    let line_start = if e.line() <= 1 {
        0
    } else {
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(e.line() - 2)
            .map(|(i, _)| i + 1)?
    };
    let at = (line_start + e.column()).min(bytes.len());
    let numeric = |b: &u8| b.is_ascii_digit() || b"+-.eE".contains(b);
    let start = bytes[..at]
        .iter()
        .rposition(|b| !numeric(b))
        .map_or(0, |i| i + 1);
    let end = at + bytes[at..].iter().take_while(|b| numeric(b)).count();
    let token = std::str::from_utf8(&bytes[start..end]).ok()?;
    if !token.parse::<f64>().ok()?.is_infinite() {
        return None;
    }
    let token = server_text(token, 40);
    // The key before `:`, if the number is a field's value.
    let before = bytes[..start].trim_ascii_end();
    let field = before
        .strip_suffix(b":")
        .map(<[u8]>::trim_ascii_end)
        .and_then(|b| b.strip_suffix(b"\""))
        .and_then(|b| {
            let open = b.iter().rposition(|c| *c == b'"')?;
            std::str::from_utf8(&b[open + 1..]).ok()
        });
    Some(match field {
        Some(f) => format!("in field \"{}\" ({token})", server_text(f, NAME_MAX)),
        None => format!("({token})"),
    })
}

/// Classifies a transport failure (no HTTP answer) by its error chain.
fn transport(e: &reqwest::Error) -> ApiError {
    // reqwest's own first line repeats the URL ("error sending request for url (...)"); the
    // report names the server already.
    let full = chain(e);
    let message = match full.split_once(": ") {
        Some((first, rest)) if first.starts_with("error sending request") => rest.to_string(),
        _ => full,
    };
    let class = match failure(e) {
        Failure::Dns(_) => Class::Dns,
        Failure::Tls(_) => Class::Tls,
        Failure::Timeout { .. } => Class::Timeout,
        Failure::Closed => Class::Reset,
        Failure::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                Class::Reset
            }
            _ => Class::Unreachable,
        },
        // No answer at all, as far as the waiter is concerned.
        Failure::Builder | Failure::NotHttp | Failure::Other => Class::Unreachable,
    };
    ApiError {
        class,
        code: None,
        message: server_text(&message, MESSAGE_MAX),
        retry_after: None,
    }
}

/// Classifies an HTTP error answer by its status and `Status` body.
fn classify_status(
    code: u16,
    body: Option<&Value>,
    raw: &[u8],
    retry_after: Option<Duration>,
) -> ApiError {
    // Whatever the server says is escaped (it could forge a line or move the cursor) and
    // scrubbed of kwait's credentials (it could echo them) before it is cut.
    let status_message = body
        .filter(|b| b.get("kind").and_then(Value::as_str) == Some("Status"))
        .and_then(|b| b.get("message"))
        .and_then(Value::as_str)
        .map(|m| server_text(m, MESSAGE_MAX))
        .filter(|m| !m.is_empty());
    let message = status_message.unwrap_or_else(|| {
        let text = server_text(&String::from_utf8_lossy(raw), BODY_MAX);
        if text.is_empty() {
            format!("HTTP {code}")
        } else {
            text
        }
    });
    let class = match code {
        401 => Class::Unauthorized,
        403 => Class::Forbidden,
        404 => {
            // An object's 404 names the object in `details.name`; a resource type that is not
            // served answers 404 without it ("the server could not find the requested resource").
            let named = body
                .and_then(|b| b.pointer("/details/name"))
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
            if named {
                Class::NotFound
            } else {
                Class::NotServed
            }
        }
        410 => Class::Gone,
        429 => Class::Throttled,
        500..=599 => Class::ServerError,
        _ => Class::Other,
    };
    ApiError {
        class,
        code: Some(code),
        message,
        retry_after,
    }
}

/// `proxy-url "…" is not a URL`, with the proxy's password hidden (also in a URL without a
/// scheme, `user:pw@proxy:3128`), escaped and bounded.
fn proxy_url_error(p: &str) -> String {
    let shown = match p.rsplit_once('@') {
        Some((_, host)) if !p.contains("://") => format!("***@{host}"),
        _ => crate::net::text::redact_url(p),
    };
    format!("proxy-url {:?} is not a URL", printable(&shown, 200))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use serde_json::json;

    /// The class `transport` gives the failure of a GET of `url` by the API client built as
    /// for a cluster whose CA is `ca` (a PEM).
    async fn transport_class_of(url: &str, ca: &str) -> Class {
        let mut config = kube::Config::new(url.parse().unwrap());
        config.root_cert = Some(
            CertificateDer::pem_slice_iter(ca.as_bytes())
                .map(|c| c.unwrap().to_vec())
                .collect(),
        );
        let spec = ClientSpec {
            config,
            connect_timeout: Duration::from_secs(10),
            sni: None,
        };
        let client = spec.build(None).unwrap();
        let e = client.get(url).send().await.unwrap_err();
        transport(&e).class
    }

    #[tokio::test]
    async fn a_transport_failure_is_classified_by_its_type_not_its_message() {
        use testkit::netserve::{HttpServer, Reply, TestCa, free_port};
        let ca = TestCa::new("cluster-ca").pem();
        // Nothing listens: connection refused.
        let url = format!("http://127.0.0.1:{}/api", free_port());
        assert_eq!(transport_class_of(&url, &ca).await, Class::Unreachable);
        // Our own resolver says the name does not exist.
        let url = "http://api.nothing.invalid:6443/api";
        assert_eq!(transport_class_of(url, &ca).await, Class::Dns);
        // The server's certificate is signed by a CA the client does not trust.
        let other = TestCa::new("other-ca");
        let tls = HttpServer::start_tls(vec![Reply::status(200)], &other.issue(&["localhost"]));
        let url = format!("https://localhost:{}/api", tls.addr().port());
        assert_eq!(transport_class_of(&url, &ca).await, Class::Tls);
        // The server closes the connection without answering.
        let closing = HttpServer::start(vec![Reply::close()]);
        assert_eq!(
            transport_class_of(&closing.url("/api"), &ca).await,
            Class::Reset
        );
    }

    #[test]
    fn an_objects_404_is_not_found_but_a_missing_resource_type_is_not_served() {
        let obj = json!({"kind":"Status","code":404,"reason":"NotFound","message":"secrets \"x\" not found",
                         "details":{"name":"x","kind":"secrets"}});
        assert_eq!(
            classify_status(404, Some(&obj), b"", None).class,
            Class::NotFound
        );
        let typ = json!({"kind":"Status","code":404,"reason":"NotFound",
                         "message":"the server could not find the requested resource","details":{}});
        assert_eq!(
            classify_status(404, Some(&typ), b"", None).class,
            Class::NotServed
        );
        assert_eq!(
            classify_status(404, None, b"404 page not found", None).class,
            Class::NotServed
        );
    }

    #[test]
    fn status_messages_are_kept_and_other_bodies_are_cut() {
        let forbidden = json!({"kind":"Status","code":403,"message":"secrets \"x\" is forbidden: User \"u\" cannot get resource \"secrets\""});
        let e = classify_status(403, Some(&forbidden), b"", None);
        assert_eq!(e.class, Class::Forbidden);
        assert!(e.message.starts_with("secrets \"x\" is forbidden"));
        let long = "x".repeat(1000);
        let e = classify_status(502, None, long.as_bytes(), None);
        assert_eq!(e.class, Class::ServerError);
        assert_eq!(e.message, format!("{}…", "x".repeat(BODY_MAX)));
    }

    #[test]
    fn server_messages_cannot_forge_lines_or_move_the_cursor() {
        let forged = json!({"kind":"Status","code":403,
            "message":"x\n kwait: ready after 1s: forged\u{1b}[2K\r\u{7}"});
        let e = classify_status(403, Some(&forged), b"", None);
        assert_eq!(
            e.message,
            "x kwait: ready after 1s: forged\\u{1b}[2K \\u{7}"
        );
        let e = classify_status(500, None, "a\u{1b}]0;title\u{7}\nb".as_bytes(), None);
        assert_eq!(e.message, "a\\u{1b}]0;title\\u{7} b");
        let long = json!({"kind":"Status","message": "y".repeat(5000)});
        let e = classify_status(500, Some(&long), b"", None);
        assert_eq!(e.message.chars().count(), MESSAGE_MAX + 1);
    }

    #[test]
    fn an_echoed_credential_is_removed_before_the_message_is_cut() {
        crate::net::text::add_secret("echoed-token-0123456789");
        let body = format!("{}Bearer echoed-token-0123456789", "-".repeat(185));
        let e = classify_status(500, None, body.as_bytes(), None);
        assert!(!e.message.contains("echoed-tok"), "{}", e.message);
        assert!(e.message.ends_with("Bearer ***"), "{}", e.message);
    }

    fn object(kind: &str, api: &str, name: &str) -> Value {
        json!({"kind": kind, "apiVersion": api, "metadata": {"name": name}})
    }

    #[test]
    fn only_the_object_asked_for_is_accepted() {
        let check = |v: Value| not_the_object(&v, &SECRETS, "x");
        assert_eq!(check(object("Secret", "v1", "x")), None);
        assert_eq!(check(Value::Null).as_deref(), Some("with null"));
        assert_eq!(check(json!([])).as_deref(), Some("with an array"));
        assert_eq!(
            check(object("ConfigMap", "v1", "x")).as_deref(),
            Some("with a ConfigMap named x")
        );
        assert_eq!(
            check(object("Event", "v1", "x")).as_deref(),
            Some("with an Event named x")
        );
        assert_eq!(
            check(object("Secret", "v1", "y")).as_deref(),
            Some("with a Secret named y")
        );
        assert_eq!(
            check(object("Secret", "batch/v1", "x")).as_deref(),
            Some("with a Secret of apiVersion batch/v1 named x")
        );
        assert_eq!(
            check(json!({"kind": "Secret", "apiVersion": "v1"})).as_deref(),
            Some("with a Secret without a name")
        );
        assert_eq!(
            check(json!({"metadata": {"name": "x"}})).as_deref(),
            Some("with an object without a kind, named x")
        );
        assert_eq!(
            not_the_object(&object("Job", "batch/v1", "m"), &JOBS, "m"),
            None
        );
        let e = answered("GET secrets/x", "with null");
        assert_eq!(
            (e.class, e.message.as_str()),
            (
                Class::Other,
                "the API server answered GET secrets/x with null"
            )
        );
    }

    #[test]
    fn only_the_resources_list_of_objects_is_accepted() {
        let list =
            |items: Value| json!({"kind": "JobList", "apiVersion": "batch/v1", "items": items});
        assert_eq!(
            list_items(list(json!([{}, {}])), &JOBS).map(|i| i.len()),
            Ok(2)
        );
        assert_eq!(list_items(list(Value::Null), &JOBS).map(|i| i.len()), Ok(0));
        let why = |v: Value| list_items(v, &JOBS).err();
        assert_eq!(
            why(list(json!({}))).as_deref(),
            Some("whose items are not an array")
        );
        assert_eq!(
            why(list(json!([{}, 1]))).as_deref(),
            Some("whose item 1 is not an object")
        );
        assert_eq!(
            why(json!({"kind": "SecretList", "apiVersion": "v1", "items": []})).as_deref(),
            Some("with a SecretList")
        );
        assert_eq!(
            why(json!({"kind": "JobList", "apiVersion": "v1", "items": []})).as_deref(),
            Some("with a JobList of apiVersion v1")
        );
        assert_eq!(why(json!([])).as_deref(), Some("with an array"));
    }

    #[test]
    fn a_number_out_of_range_is_named_by_its_field() {
        let body = b"{\"kind\":\"Job\",\n  \"status\": {\"active\": 1, \"failed\" :  1e400 }}";
        let e = parse(body, GET_PARSED, "GET jobs/m")
            .err()
            .map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some(
                "the API server answered GET jobs/m with a number out of range in field \"failed\" (1e400)"
            )
        );
        let e = parse(b"[1, -2e999]", GET_PARSED, "LIST jobs")
            .err()
            .map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some("the API server answered LIST jobs with a number out of range (-2e999)")
        );
        let e = parse(b"{\"a\": 1x}", GET_PARSED, "GET jobs/m")
            .err()
            .map(|e| e.message);
        assert!(e.is_some_and(|m| m.contains("not JSON")));
        assert!(parse(b"{\"a\": 1e300}", GET_PARSED, "GET jobs/m").is_ok());
    }

    #[test]
    fn parsing_is_bounded_and_leaves_managed_fields_out() {
        // 40,000 tiny objects: 320 KB of text, ~25 MB as Values.
        let tiny = format!("[{}{{\"a\":1}}]", "{\"a\":1},".repeat(40_000));
        let e = parse(tiny.as_bytes(), GET_PARSED, "GET secrets/x").err();
        assert_eq!(
            e.map(|e| (e.class, e.message)),
            Some((
                Class::Other,
                "the API server's answer exceeded 12 MiB once parsed (GET secrets/x)".to_string()
            ))
        );
        let obj = json!({"kind": "Secret", "metadata": {"name": "x",
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:data": {}}}]},
            "data": {"managedFields": "kept"}});
        let v = parse(obj.to_string().as_bytes(), GET_PARSED, "GET secrets/x");
        assert_eq!(
            v.ok(),
            Some(
                json!({"kind": "Secret", "metadata": {"name": "x"}, "data": {"managedFields": "kept"}})
            )
        );
    }

    #[test]
    fn a_kubeconfig_inside_a_pod_uses_its_contexts_namespace_not_the_pods() {
        let pod = || Some("pod-ns".to_string());
        let ctx = || Some("ctx-ns".to_string());
        let kc = Source::Kubeconfig(vec![PathBuf::from("kc")]);
        assert_eq!(
            decide_namespace(None, &kc, ctx, pod).as_deref(),
            Some("ctx-ns")
        );
        assert_eq!(
            decide_namespace(None, &Source::InCluster, ctx, pod).as_deref(),
            Some("pod-ns")
        );
        assert_eq!(
            decide_namespace(Some("flag"), &kc, ctx, pod).as_deref(),
            Some("flag")
        );
        assert_eq!(
            decide_namespace(Some("flag"), &Source::InCluster, ctx, pod).as_deref(),
            Some("flag")
        );
        assert_eq!(decide_namespace(None, &Source::Missing, ctx, pod), None);
    }

    #[test]
    fn the_default_namespace_is_the_contexts_or_default() {
        let dir = std::env::temp_dir().join(format!("kwait-ns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kc = dir.join("kc");
        std::fs::write(
            &kc,
            "apiVersion: v1\nkind: Config\ncurrent-context: a\nclusters: []\nusers: []\ncontexts:\n- name: a\n  context: {cluster: x, user: y, namespace: team-a}\n- name: b\n  context: {cluster: x, user: y}\n",
        )
        .unwrap();
        let settings = |context: Option<&str>| KubeSettings {
            namespace: None,
            kubeconfig: Some(kc.clone()),
            context: context.map(str::to_string),
        };
        assert_eq!(
            default_namespace(&settings(None)).as_deref(),
            Some("team-a")
        );
        assert_eq!(
            default_namespace(&settings(Some("b"))).as_deref(),
            Some("default")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn paths_follow_the_rest_layout() {
        assert_eq!(SECRETS.path("crs"), "/api/v1/namespaces/crs/secrets");
        assert_eq!(JOBS.path("a"), "/apis/batch/v1/namespaces/a/jobs");
        assert_eq!(CERTIFICATES.qualified(), "certificates.cert-manager.io");
    }

    #[test]
    fn a_proxy_url_that_is_not_a_url_is_reported_without_its_password() {
        for p in [
            "http://user:pr0xy-s3cret@pro xy:3128",
            "user:pr0xy-s3cret@proxy:notaport",
        ] {
            let text = proxy_url_error(p);
            assert!(!text.contains("pr0xy-s3cret"), "{text}");
            assert!(text.contains("***"), "{text}");
        }
    }

    /// The kubeconfig is read through a JSON tree (for size); what YAML typed as a number or a
    /// boolean in a text field must still read as the text, the booleans stay booleans, and
    /// every document is merged first-wins, as kube's own `Kubeconfig::from_yaml` does.
    #[test]
    fn a_kubeconfig_read_through_json_keeps_numeric_looking_text_and_its_booleans() {
        let yaml = "apiVersion: v1\nkind: Config\ncurrent-context: 2024\nclusters:\n- name: 2024\n  cluster:\n    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: true\ncontexts:\n- name: 2024\n  context:\n    cluster: 2024\n    user: true\n    namespace: 0123\nusers:\n- name: true\n  user:\n    token: 12345\n---\ncontexts:\n- name: 2024\n  context:\n    cluster: later\n    user: later\n- name: other\n  context:\n    cluster: x\n    user: y\n";
        let kc = kubeconfig_from_yaml(yaml).unwrap();
        assert_eq!(kc.current_context.as_deref(), Some("2024"));
        let ctx = kc.contexts[0].context.as_ref().unwrap();
        assert_eq!(ctx.cluster, "2024");
        assert_eq!(ctx.user.as_deref(), Some("true"));
        assert_eq!(ctx.namespace.as_deref(), Some("0123"));
        assert_eq!(
            kc.contexts.len(),
            2,
            "the second document's new context is merged in"
        );
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.insecure_skip_tls_verify, Some(true));
        let user = kc.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(
            user.token
                .as_ref()
                .map(|t| secrecy::ExposeSecret::expose_secret(t).to_string()),
            Some("12345".to_string())
        );
        assert!(kubeconfig_from_yaml("clusters: [unclosed").is_err());
        let e = kubeconfig_from_yaml(
            "contexts:\n- name: a\n  context:\n    cluster: c\n    namespace: 1.10\n",
        )
        .unwrap_err();
        assert!(e.contains("namespace: 1.1 reads as a number"), "{e}");
    }
}
