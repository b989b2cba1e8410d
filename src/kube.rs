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

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::params::{GetParams, ListParams, WatchParams};
use kube::core::{Request, WatchEvent};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Notify, watch};

pub use crate::net::text::chain;
use crate::net::text::lock;
use crate::plan::KubeSettings;
use crate::probe::Class;
use crate::waiter::{Backoff, Wake};

/// Where a pod's own namespace is written by the service-account mount.
const SA_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

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
/// way; `--dry-run` should use this (main.rs, wired by its owner).
#[allow(dead_code)]
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
/// core/v1 pods.
pub const PODS: Resource = Resource {
    group: "",
    version: "v1",
    plural: "pods",
    kind: "Pod",
};
/// batch/v1 jobs.
pub const JOBS: Resource = Resource {
    group: "batch",
    version: "v1",
    plural: "jobs",
    kind: "Job",
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

    fn path(&self, namespace: &str) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
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
            }),
            namespace,
            source,
            server,
            watches: Arc::new(WatchSet::default()),
        })
    }

    /// GET one object. `Ok(None)` when it does not exist; a 404 for the resource *type* (CRD
    /// not installed) is an error of class [`Class::NotServed`].
    pub async fn get(&self, res: &Resource, name: &str) -> Result<Option<Value>, ApiError> {
        let req = Request::new(res.path(&self.namespace))
            .get(name, &GetParams::default())
            .map_err(|e| other(e.to_string()))?;
        let answer = self.conn.send(&req).await;
        self.watches.first_read_done(res, &self.namespace);
        match answer {
            Ok(v) => {
                self.watches.read(res, &self.namespace, &v);
                Ok(Some(v))
            }
            Err(e) if e.class == Class::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// LIST objects by label selector.
    pub async fn list(&self, res: &Resource, labels: &str) -> Result<List, ApiError> {
        let req = Request::new(res.path(&self.namespace))
            .list(&ListParams::default().labels(labels))
            .map_err(|e| other(e.to_string()))?;
        let answer = self.conn.send(&req).await;
        self.watches.first_read_done(res, &self.namespace);
        let v = answer?;
        let items = match v.get("items") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        for item in &items {
            self.watches.read(res, &self.namespace, item);
        }
        Ok(List { items })
    }

    /// Starts (once per resource and selector) a watch that pokes the returned [`Wake`] on
    /// every change. The same `Wake` serves every watch this client starts.
    pub fn watch(
        &self,
        res: &Resource,
        selector: Selector,
        interval: Duration,
        max: Duration,
    ) -> Wake {
        let set = &self.watches;
        let mut started = lock(&set.started);
        if !started.iter().any(|(r, s)| r == res && *s == selector) {
            started.push((*res, selector.clone()));
            let slot = {
                let mut health = lock(&set.health);
                health.push(false);
                health.len() - 1
            };
            set.healthy.send_replace(false);
            let task = WatchTask {
                conn: self.conn.clone(),
                path: res.path(&self.namespace),
                selector,
                set: set.clone(),
                slot,
                backoff: Backoff::new(interval, max),
                refused_delay: max,
            };
            tokio::spawn(task.run());
        }
        Wake {
            notify: set.notify.clone(),
            healthy: set.healthy.subscribe(),
        }
    }
}

impl Conn {
    /// Sends a GET built by kube-core's request builder; the answer's headers are in. Runs the
    /// exec credential plugin first when its credential is needed (dropping the future kills it).
    async fn start(&self, req: &http::Request<Vec<u8>>) -> Result<reqwest::Response, ApiError> {
        let url = format!("{}{}", self.base, req.uri());
        let applied = self.auth.headers().await?;
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
        let mut rb = http.get(url);
        for (name, value) in applied.headers {
            rb = rb.header(name, value);
        }
        if let Some(host) = &self.host {
            rb = rb.header(reqwest::header::HOST, host.clone());
        }
        let res = rb.send().await.map_err(|e| transport(&e))?;
        if res.status() == reqwest::StatusCode::UNAUTHORIZED {
            self.auth.rejected();
        }
        Ok(res)
    }

    /// A whole GET: the JSON body, or the failure classified.
    async fn send(&self, req: &http::Request<Vec<u8>>) -> Result<Value, ApiError> {
        let res = self.start(req).await?;
        let status = res.status();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = res.bytes().await.map_err(|e| ApiError {
            class: Class::Reset,
            code: Some(status.as_u16()),
            message: format!("the answer was cut off: {}", chain(&e)),
            retry_after: None,
        })?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return body.ok_or_else(|| {
                other(format!(
                    "the API server answered {status} with a body that is not JSON"
                ))
            });
        }
        Err(classify_status(
            status.as_u16(),
            body.as_ref(),
            &bytes,
            retry_after,
        ))
    }
}

/// Where requests go. With `tls-server-name`, client-go sends that name as SNI and checks the
/// certificate against it, while the `Host` header keeps the URL's host. reqwest sends the URL's
/// host as SNI, so the URL's host becomes the `tls-server-name`, a resolver override maps that
/// name to the real host's addresses, and the `Host` header is set to the real host. Through a
/// proxy (which resolves the CONNECT target itself) or for an IP address as the name (never SNI),
/// the name is only the one the certificate is checked against ([`NamedVerifier`]).
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
            return crate::probe::http::Resolver.resolve(name);
        }
        if let Ok(ip) = self.0.real.parse::<std::net::IpAddr>() {
            let addr = std::net::SocketAddr::new(ip, 0);
            return Box::pin(std::future::ready(Ok(
                Box::new(std::iter::once(addr)) as reqwest::dns::Addrs
            )));
        }
        match self.0.real.parse::<reqwest::dns::Name>() {
            Ok(real) => crate::probe::http::Resolver.resolve(real),
            Err(e) => Box::pin(std::future::ready(Err(
                Box::new(e) as Box<dyn std::error::Error + Send + Sync>
            ))),
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
            Arc::new(crate::probe::http::NoVerify(provider.clone()))
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
                None => {
                    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                }
            }
            if roots.is_empty() {
                return Err(ConfigError::Unusable(
                    "the cluster has no certificate-authority and the system has no CA bundle"
                        .into(),
                ));
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ConfigError::Unusable(format!("certificate-authority: {e}")))?;
            match (&config.tls_server_name, &self.sni) {
                // Sent as SNI: the URL's host is the name, rustls checks it as usual.
                (Some(_), Some(_)) | (None, _) => webpki,
                (Some(name), None) => Arc::new(NamedVerifier {
                    inner: webpki,
                    name: ServerName::try_from(name.clone()).map_err(|_| {
                        ConfigError::Unusable(format!(
                            "tls-server-name {name:?} is not a host name"
                        ))
                    })?,
                }),
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
            None => b.dns_resolver(Arc::new(crate::probe::http::Resolver)),
        };
        if let Some(proxy) = &config.proxy_url {
            let proxy = reqwest::Proxy::all(proxy.to_string())
                .map_err(|e| ConfigError::Unusable(format!("proxy-url: {}", chain(&e))))?;
            b = b.proxy(proxy);
        }
        b.build().map_err(|e| ConfigError::Client(chain(&e)))
    }
}

/// `tls-server-name` where it cannot be sent as SNI (through a proxy, see [`Route`]): the
/// server's certificate is checked against this name instead of the URL's host.
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Every watch of one client: one notifier, one health flag (all watches established).
#[derive(Debug)]
struct WatchSet {
    notify: Arc<Notify>,
    healthy: watch::Sender<bool>,
    health: Mutex<Vec<bool>>,
    started: Mutex<Vec<(Resource, Selector)>>,
    /// The resourceVersion of each object as the last GET or LIST read it, by path and name:
    /// a watch event for a version already read (the watch's initial ADDED) pokes nobody.
    read: Mutex<HashMap<String, String>>,
    /// The resource paths read at least once. A watch opens only after its resource's first
    /// read (GET then watch, as informers list then watch), so that its initial ADDED event
    /// cannot overtake the GET's answer and cost a second, identical GET.
    first_reads: watch::Sender<HashSet<String>>,
}

impl Default for WatchSet {
    fn default() -> Self {
        WatchSet {
            notify: Arc::new(Notify::new()),
            healthy: watch::Sender::new(false),
            health: Mutex::new(Vec::new()),
            started: Mutex::new(Vec::new()),
            read: Mutex::new(HashMap::new()),
            first_reads: watch::Sender::new(HashSet::new()),
        }
    }
}

impl WatchSet {
    /// Lets the watch on this resource open (its first read is done, whatever the outcome).
    fn first_read_done(&self, res: &Resource, namespace: &str) {
        let path = res.path(namespace);
        self.first_reads
            .send_if_modified(|paths| paths.insert(path));
    }

    /// Notes the version of an object a GET or LIST returned.
    fn read(&self, res: &Resource, namespace: &str, obj: &Value) {
        let meta = |f: &str| {
            obj.pointer(&format!("/metadata/{f}"))
                .and_then(Value::as_str)
        };
        if let (Some(name), Some(rv)) = (meta("name"), meta("resourceVersion")) {
            lock(&self.read).insert(format!("{}/{name}", res.path(namespace)), rv.to_string());
        }
    }

    /// Whether a watch event brings a version nobody has read yet.
    fn is_news(&self, path: &str, meta: &MetaFields) -> bool {
        match (&meta.name, &meta.resource_version) {
            (Some(name), Some(rv)) => lock(&self.read).get(&format!("{path}/{name}")) != Some(rv),
            _ => true,
        }
    }

    fn set_health(&self, slot: usize, ok: bool) {
        let all = {
            let mut h = lock(&self.health);
            if let Some(s) = h.get_mut(slot) {
                *s = ok;
            }
            h.iter().all(|s| *s)
        };
        self.healthy
            .send_if_modified(|v| std::mem::replace(v, all) != all);
    }
}

/// The part of any object a watch needs.
#[derive(Debug, Clone, Deserialize)]
struct Meta {
    #[serde(default)]
    metadata: MetaFields,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct MetaFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "resourceVersion")]
    resource_version: Option<String>,
}

struct WatchTask {
    conn: Arc<Conn>,
    path: String,
    selector: Selector,
    set: Arc<WatchSet>,
    slot: usize,
    backoff: Backoff,
    refused_delay: Duration,
}

impl WatchTask {
    /// Watches for ever (the process ends with the wait): reconnects after the server's timeout,
    /// resumes from the last resourceVersion, starts over from "0" after 410 Gone, and backs off
    /// while the watch is refused (e.g. forbidden: polling alone carries the wait then).
    async fn run(mut self) {
        let mut first_reads = self.set.first_reads.subscribe();
        if first_reads
            .wait_for(|p| p.contains(&self.path))
            .await
            .is_err()
        {
            return;
        }
        let mut rv = "0".to_string();
        loop {
            let mut wp = WatchParams::default().timeout(290);
            wp.bookmarks = true;
            let wp = match &self.selector {
                Selector::Name(n) => wp.fields(&format!("metadata.name={n}")),
                Selector::Labels(l) => wp.labels(l),
            };
            let Ok(req) = Request::new(&self.path).watch(&wp, &rv) else {
                return;
            };
            let opened = tokio::time::Instant::now();
            let res = match self.conn.start(&req).await {
                Ok(res) if res.status().is_success() => res,
                refused => {
                    self.set.set_health(self.slot, false);
                    let code = refused.map_or(0, |r| r.status().as_u16());
                    if code == 410 {
                        rv = "0".into();
                    }
                    // Refused (RBAC without `watch`): the GETs alone carry the wait and notice
                    // when a Role lands, so retry the watch only once per longest delay.
                    let delay = if matches!(code, 401 | 403) {
                        self.refused_delay
                    } else {
                        self.backoff.next_delay()
                    };
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            self.set.set_health(self.slot, true);
            if self.follow(res, &mut rv).await == Some(410) {
                rv = "0".into();
            }
            // The stream ended: the server's timeout, a closed connection, a 410. Something
            // may have been missed, so poke the waiter; reconnect at once unless the stream
            // was short-lived, which would otherwise turn into a hot loop.
            self.set.notify.notify_one();
            if opened.elapsed() < Duration::from_secs(5) {
                self.set.set_health(self.slot, false);
                tokio::time::sleep(self.backoff.next_delay()).await;
            } else {
                self.backoff.reset();
            }
        }
    }

    /// Reads watch events (one JSON object per line) until the stream ends; pokes the waiter on
    /// every change and keeps the last resourceVersion. Returns the code of an `ERROR` event.
    async fn follow(&self, mut res: reqwest::Response, rv: &mut String) -> Option<u16> {
        let mut buf: Vec<u8> = Vec::new();
        while let Ok(Some(chunk)) = res.chunk().await {
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<WatchEvent<Meta>>(&line) {
                    Ok(WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o)) => {
                        if self.set.is_news(&self.path, &o.metadata) {
                            self.set.notify.notify_one();
                        }
                        if let Some(v) = o.metadata.resource_version {
                            *rv = v;
                        }
                    }
                    Ok(WatchEvent::Bookmark(b)) => *rv = b.metadata.resource_version,
                    Ok(WatchEvent::Error(s)) => return Some(s.code),
                    Err(_) => return None,
                }
            }
        }
        None
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
        let mut kc = Kubeconfig::from_yaml(&text).map_err(|e| fail(chain(&e)))?;
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
                .map_err(|_| ConfigError::Unusable(format!("proxy-url {p:?} is not a URL")))?,
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

/// Classifies a transport failure (no HTTP answer) by its error chain.
fn transport(e: &reqwest::Error) -> ApiError {
    // reqwest's own first line repeats the URL ("error sending request for url (...)"); the
    // report names the server already.
    let full = chain(e);
    let message = match full.split_once(": ") {
        Some((first, rest)) if first.starts_with("error sending request") => rest.to_string(),
        _ => full,
    };
    let mut class = Class::Unreachable;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable => {
                    class = Class::Unreachable
                }
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    class = Class::Reset
                }
                TimedOut => class = Class::Timeout,
                _ => {}
            }
        }
        if err.downcast_ref::<rustls::Error>().is_some() {
            class = Class::Tls;
        }
        cur = err.source();
    }
    let lower = message.to_lowercase();
    if lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
    {
        class = Class::Dns;
    } else if lower.contains("certificate")
        || lower.contains("tls handshake")
        || lower.contains("invalid peer")
    {
        class = Class::Tls;
    } else if lower.contains("timed out") || lower.contains("deadline has elapsed") {
        class = Class::Timeout;
    } else if lower.contains("connection closed before message completed")
        || lower.contains("connection reset")
    {
        class = Class::Reset;
    }
    ApiError {
        class,
        code: None,
        message,
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
    let status_message = body
        .filter(|b| b.get("kind").and_then(Value::as_str) == Some("Status"))
        .and_then(|b| b.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let message = status_message.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&raw[..raw.len().min(200)]);
        let text: String = text.chars().filter(|c| !c.is_control()).collect();
        if text.trim().is_empty() {
            format!("HTTP {code}")
        } else {
            text.trim().to_string()
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert_eq!((e.class, e.message.len()), (Class::ServerError, 200));
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
}
