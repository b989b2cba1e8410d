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
mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Request;
use kube::core::params::{GetParams, ListParams};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::Value;

pub use crate::net::text::chain;
use crate::plan::KubeSettings;
use crate::probe::Class;
pub use watch::Wake;
use watch::WatchSet;

/// Where a pod's own namespace is written by the service-account mount.
const SA_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The pod's own namespace, from the service-account mount; `None` outside a pod.
pub fn pod_namespace() -> Option<String> {
    std::fs::read_to_string(SA_NAMESPACE)
        .ok()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
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
    http: reqwest::Client,
    /// The cluster URL without a trailing `/` (it may carry a path prefix, as behind Rancher).
    base: String,
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
    /// account when in a pod, else `~/.kube/config`. The namespace is `-n`, else the pod's own
    /// (service-account mount), else the context's, else `default`.
    pub async fn connect(s: &KubeSettings, attempt_timeout: Duration) -> Result<Kube, ConfigError> {
        let explicit = s.kubeconfig.clone().map(|p| vec![p]).or_else(|| {
            std::env::var_os("KUBECONFIG")
                .filter(|v| !v.is_empty())
                .map(|v| {
                    std::env::split_paths(&v)
                        .filter(|p| !p.as_os_str().is_empty())
                        .collect()
                })
        });
        let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
        let home_config =
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".kube").join("config"));
        let options = KubeConfigOptions {
            context: s.context.clone(),
            cluster: None,
            user: None,
        };
        let (endpoint, source) = if let Some(paths) = explicit.filter(|p| !p.is_empty()) {
            let source = paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(":");
            (load_kubeconfig(&paths, &options).await?, source)
        } else if in_cluster {
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
        } else if let Some(path) = home_config.filter(|p| p.exists()) {
            let source = path.display().to_string();
            (load_kubeconfig(&[path], &options).await?, source)
        } else {
            return Err(ConfigError::Missing);
        };
        let Endpoint {
            config,
            auth,
            identity,
        } = endpoint;
        let namespace = match &s.namespace {
            Some(ns) => ns.clone(),
            None => pod_namespace().unwrap_or_else(|| config.default_namespace.clone()),
        };
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        let http = http_client(&config, identity, attempt_timeout)?;
        Ok(Kube {
            conn: Arc::new(Conn {
                http,
                base: server.clone(),
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
        self.watches.reading(res, &self.namespace, name);
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
        self.watches.listed(res, &self.namespace, &v);
        let items = match v.get("items") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        for item in &items {
            self.watches.read(res, &self.namespace, item);
        }
        Ok(List { items })
    }
}

impl Conn {
    /// Sends a GET built by kube-core's request builder; the answer's headers are in.
    async fn start(&self, req: &http::Request<Vec<u8>>) -> Result<reqwest::Response, ApiError> {
        let url = format!("{}{}", self.base, req.uri());
        let rb = self.auth.apply(self.http.get(url)).await?;
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

/// The HTTP client for the API server: its CA (or the system's), a client certificate when
/// the user has one, `insecure-skip-tls-verify` and `tls-server-name` as kubectl reads them,
/// `proxy-url`, HTTP/1.1 (one connection per watch, as kube-rs and the tests use).
fn http_client(
    config: &kube::Config,
    identity: Option<auth::Identity>,
    connect_timeout: Duration,
) -> Result<reqwest::Client, ConfigError> {
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
                "the cluster has no certificate-authority and the system has no CA bundle".into(),
            ));
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| ConfigError::Unusable(format!("certificate-authority: {e}")))?;
        match &config.tls_server_name {
            Some(name) => Arc::new(NamedVerifier {
                inner: webpki,
                name: ServerName::try_from(name.clone()).map_err(|_| {
                    ConfigError::Unusable(format!("tls-server-name {name:?} is not a host name"))
                })?,
            }),
            None => webpki,
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
        .connect_timeout(connect_timeout)
        .tcp_keepalive(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(crate::probe::http::Resolver))
        .user_agent(concat!("kwait/", env!("CARGO_PKG_VERSION")));
    if let Some(proxy) = &config.proxy_url {
        let proxy = reqwest::Proxy::all(proxy.to_string())
            .map_err(|e| ConfigError::Unusable(format!("proxy-url: {}", chain(&e))))?;
        b = b.proxy(proxy);
    }
    b.build().map_err(|e| ConfigError::Client(chain(&e)))
}

/// `tls-server-name`: the server's certificate is checked against this name instead of the
/// URL's host (SNI still carries the URL's host).
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

/// Reads and merges the kubeconfig files (first wins, as kubectl merges `$KUBECONFIG`), picks
/// the context, and builds the user's credentials.
async fn load_kubeconfig(
    paths: &[PathBuf],
    options: &KubeConfigOptions,
) -> Result<Endpoint, ConfigError> {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths {
        // In a list, files that do not exist are skipped, as kubectl does; a single one must.
        if paths.len() > 1 && !path.exists() {
            continue;
        }
        let kc = Kubeconfig::read_from(path).map_err(|e| ConfigError::Kubeconfig {
            path: path.to_path_buf(),
            why: chain(&e),
        })?;
        merged = Some(match merged {
            Some(m) => m.merge(kc).map_err(|e| ConfigError::Kubeconfig {
                path: path.to_path_buf(),
                why: chain(&e),
            })?,
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
    // The cluster's own `proxy-url`. kube's loader falls back to $HTTPS_PROXY without looking
    // at $NO_PROXY; reqwest applies both itself, as client-go does.
    let proxy_url = options
        .context
        .as_ref()
        .or(kc.current_context.as_ref())
        .and_then(|name| kc.contexts.iter().find(|c| &c.name == name))
        .and_then(|c| c.context.as_ref())
        .and_then(|c| kc.clusters.iter().find(|x| x.name == c.cluster))
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.proxy_url.clone())
        .filter(|p| !p.is_empty());
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
    let (auth, identity) = auth::Auth::new(&config.auth_info)?;
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
    fn paths_follow_the_rest_layout() {
        assert_eq!(SECRETS.path("crs"), "/api/v1/namespaces/crs/secrets");
        assert_eq!(JOBS.path("a"), "/apis/batch/v1/namespaces/a/jobs");
        assert_eq!(CERTIFICATES.qualified(), "certificates.cert-manager.io");
    }
}
