//! Public data types: resource definitions, authorization rules, faults, request records.

use std::time::{Duration, SystemTime};

/// A resource type the fake server serves (what a CRD or a built-in type declares),
/// namespaced unless [`cluster_scoped`](ResourceDef::cluster_scoped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceDef {
    /// API group, `""` for the core group.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Secret`.
    pub kind: String,
    /// Plural resource name used in URLs and RBAC, e.g. `secrets`.
    pub plural: String,
    /// Singular name, e.g. `secret`.
    pub singular: String,
    /// Short names, e.g. `["cert", "certs"]`.
    pub short_names: Vec<String>,
    /// Whether the type has a `/status` subresource (status changes through the main
    /// resource are then ignored, as on a real API server).
    pub status_subresource: bool,
    /// Whether objects live in a namespace (`/namespaces/NS/PLURAL/NAME`) or not
    /// (`/PLURAL/NAME`: CustomResourceDefinitions, PersistentVolumes, ...).
    pub namespaced: bool,
}

impl ResourceDef {
    /// A definition with no short names and a `/status` subresource.
    pub fn new(group: &str, version: &str, kind: &str, plural: &str) -> ResourceDef {
        ResourceDef {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
            singular: kind.to_ascii_lowercase(),
            short_names: Vec::new(),
            status_subresource: true,
            namespaced: true,
        }
    }

    /// Makes the type cluster-scoped.
    pub fn cluster_scoped(mut self) -> ResourceDef {
        self.namespaced = false;
        self
    }

    /// Sets the short names.
    pub fn short_names(mut self, names: &[&str]) -> ResourceDef {
        self.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Sets whether a `/status` subresource exists.
    pub fn with_status(mut self, status: bool) -> ResourceDef {
        self.status_subresource = status;
        self
    }

    /// `v1` for the core group, else `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `secrets` for the core group, `certificates.cert-manager.io` otherwise (the form used
    /// in API server messages).
    pub fn qualified_plural(&self) -> String {
        qualified(&self.plural, &self.group)
    }

    /// The types served out of the box: core/v1 secrets, configmaps, pods, services, events,
    /// persistentvolumeclaims, persistentvolumes (cluster); apps/v1 deployments, statefulsets,
    /// daemonsets, replicasets; batch/v1 jobs; discovery.k8s.io/v1 endpointslices;
    /// policy/v1 poddisruptionbudgets; storage.k8s.io/v1 storageclasses (cluster);
    /// apiextensions.k8s.io/v1 customresourcedefinitions (cluster; creating one serves its
    /// type); cert-manager.io/v1 certificates and certificaterequests.
    pub fn builtins() -> Vec<ResourceDef> {
        vec![
            ResourceDef::new("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims")
                .short_names(&["pvc"]),
            ResourceDef::new("", "v1", "PersistentVolume", "persistentvolumes")
                .short_names(&["pv"])
                .cluster_scoped(),
            ResourceDef::new("apps", "v1", "Deployment", "deployments").short_names(&["deploy"]),
            ResourceDef::new("apps", "v1", "StatefulSet", "statefulsets").short_names(&["sts"]),
            ResourceDef::new("apps", "v1", "DaemonSet", "daemonsets").short_names(&["ds"]),
            ResourceDef::new("apps", "v1", "ReplicaSet", "replicasets").short_names(&["rs"]),
            ResourceDef::new("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices")
                .with_status(false),
            ResourceDef::new(
                "policy",
                "v1",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
            )
            .short_names(&["pdb"]),
            ResourceDef::new("storage.k8s.io", "v1", "StorageClass", "storageclasses")
                .short_names(&["sc"])
                .with_status(false)
                .cluster_scoped(),
            ResourceDef::new(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
            )
            .short_names(&["crd", "crds"])
            .cluster_scoped(),
            ResourceDef::new("", "v1", "Secret", "secrets").with_status(false),
            ResourceDef::new("", "v1", "ConfigMap", "configmaps")
                .short_names(&["cm"])
                .with_status(false),
            ResourceDef::new("", "v1", "Pod", "pods").short_names(&["po"]),
            ResourceDef::new("", "v1", "Service", "services").short_names(&["svc"]),
            ResourceDef::new("", "v1", "Event", "events")
                .short_names(&["ev"])
                .with_status(false),
            ResourceDef::new("batch", "v1", "Job", "jobs"),
            ResourceDef::new("cert-manager.io", "v1", "Certificate", "certificates")
                .short_names(&["cert", "certs"]),
            ResourceDef::new(
                "cert-manager.io",
                "v1",
                "CertificateRequest",
                "certificaterequests",
            )
            .short_names(&["cr", "crs"]),
        ]
    }
}

pub(crate) fn qualified(plural: &str, group: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

/// What a bearer token may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allow {
    /// Everything (cluster-admin).
    All,
    /// Only what one of these rules allows (an empty list allows nothing).
    Rules(Vec<Rule>),
}

impl Allow {
    /// `Allow::Rules(rules)`.
    pub fn rules(rules: Vec<Rule>) -> Allow {
        Allow::Rules(rules)
    }

    /// Allows nothing (every resource request is answered 403).
    pub fn none() -> Allow {
        Allow::Rules(Vec::new())
    }

    pub(crate) fn permits(&self, req: &AuthzRequest<'_>) -> bool {
        match self {
            Allow::All => true,
            Allow::Rules(rules) => rules.iter().any(|r| r.permits(req)),
        }
    }
}

/// One RBAC-like rule: verbs on a resource, optionally limited to names, a namespace and a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// RBAC verbs (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`) or `*`.
    pub verbs: Vec<String>,
    /// Resource plurals, `plural/subresource` (e.g. `jobs/status`) or `*`.
    pub resources: Vec<String>,
    /// `resourceNames`: when set, only requests naming one of these objects match
    /// (a watch with `fieldSelector=metadata.name=X` names X; a list never names anything).
    pub names: Option<Vec<String>>,
    /// When set, only requests in this namespace match.
    pub namespace: Option<String>,
    /// When set, only this API group matches (`""` = core); unset matches any group.
    pub group: Option<String>,
}

impl Rule {
    /// A rule for `verbs` on `resource` (a plural, `plural/subresource`, or `*`).
    pub fn new(verbs: &[&str], resource: &str) -> Rule {
        Rule {
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            resources: vec![resource.to_string()],
            names: None,
            namespace: None,
            group: None,
        }
    }

    /// Limits the rule to these object names (RBAC `resourceNames`).
    pub fn names(mut self, names: &[&str]) -> Rule {
        self.names = Some(names.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Limits the rule to one namespace.
    pub fn namespace(mut self, ns: &str) -> Rule {
        self.namespace = Some(ns.to_string());
        self
    }

    /// Limits the rule to one API group (`""` for core).
    pub fn group(mut self, group: &str) -> Rule {
        self.group = Some(group.to_string());
        self
    }

    /// Adds another resource to the rule.
    pub fn resource(mut self, resource: &str) -> Rule {
        self.resources.push(resource.to_string());
        self
    }

    fn permits(&self, req: &AuthzRequest<'_>) -> bool {
        if !self.verbs.iter().any(|v| v == "*" || v == req.verb) {
            return false;
        }
        let res = match req.subresource {
            Some(sub) => format!("{}/{}", req.resource, sub),
            None => req.resource.to_string(),
        };
        if !self.resources.iter().any(|r| r == "*" || *r == res) {
            return false;
        }
        if let Some(g) = &self.group
            && g != req.group
        {
            return false;
        }
        if let Some(ns) = &self.namespace
            && Some(ns.as_str()) != req.namespace
        {
            return false;
        }
        if let Some(names) = &self.names {
            match req.name {
                Some(n) => names.iter().any(|x| x == n),
                None => false,
            }
        } else {
            true
        }
    }
}

pub(crate) struct AuthzRequest<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// What an injected fault answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A Kubernetes `Status` object with the fault's message (the default).
    Status,
    /// Exactly these bytes, as `application/json` (whatever they are: `null`, an array, another
    /// kind, broken JSON, a plain-text error page...).
    Body(Vec<u8>),
    /// `head`, then the byte `fill` repeated `len` times (for ever when `None`), then `tail`,
    /// chunked (no `Content-Length`), `chunk` bytes at a time, one chunk every `every` (as fast
    /// as the client reads when zero).
    Stream {
        /// Sent first.
        head: Vec<u8>,
        /// The filler byte.
        fill: u8,
        /// How many filler bytes; `None`: the body never ends.
        len: Option<u64>,
        /// Sent last (never, for an endless body).
        tail: Vec<u8>,
        /// Bytes per chunk.
        chunk: usize,
        /// Pause between chunks.
        every: Duration,
    },
    /// A `Status` whose message ends with the request's `Authorization` header, as a careless
    /// proxy or webhook echoes it.
    EchoAuthorization,
}

/// An injected failure: answer the next `times` matching requests with `status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// HTTP status code of the injected answer (a Kubernetes `Status` body goes with it).
    pub status: u16,
    /// How many matching requests fail (default 1).
    pub times: usize,
    /// `Retry-After` header value in seconds.
    pub retry_after: Option<u64>,
    /// Only requests with this RBAC verb (`get`, `list`, `watch`, ...) match.
    pub verb: Option<String>,
    /// Only requests for this resource plural match.
    pub resource: Option<String>,
    /// Message of the `Status` body (a default per status code otherwise).
    pub message: Option<String>,
    /// What the answer's body is (a `Status` by default).
    pub answer: Answer,
}

impl Fault {
    /// Fail the next request with `status`.
    pub fn status(status: u16) -> Fault {
        Fault {
            status,
            times: 1,
            retry_after: None,
            verb: None,
            resource: None,
            message: None,
            answer: Answer::Status,
        }
    }

    /// Answer `status` with exactly `body` (`application/json`).
    pub fn body(status: u16, body: impl Into<Vec<u8>>) -> Fault {
        Fault {
            answer: Answer::Body(body.into()),
            ..Fault::status(status)
        }
    }

    /// Answer `status` with `head`, `len` bytes `fill`, then `tail`, streamed as fast as the
    /// client reads (e.g. a Secret whose value is 1.5 GiB, without holding it in memory).
    pub fn huge_body(status: u16, head: &[u8], fill: u8, len: u64, tail: &[u8]) -> Fault {
        Fault {
            answer: Answer::Stream {
                head: head.to_vec(),
                fill,
                len: Some(len),
                tail: tail.to_vec(),
                chunk: 64 << 10,
                every: Duration::ZERO,
            },
            ..Fault::status(status)
        }
    }

    /// Answer `status` with a body that never ends: `{"kind":` then spaces for ever, as fast
    /// as the client reads (see [`Fault::slowly`]).
    pub fn endless_body(status: u16) -> Fault {
        Fault {
            answer: Answer::Stream {
                head: b"{\"kind\":".to_vec(),
                fill: b' ',
                len: None,
                tail: Vec::new(),
                chunk: 64 << 10,
                every: Duration::ZERO,
            },
            ..Fault::status(status)
        }
    }

    /// A streamed body ([`Fault::huge_body`], [`Fault::endless_body`]) sent `chunk` bytes at a
    /// time, one chunk every `every`.
    pub fn slowly(mut self, chunk: usize, every: Duration) -> Fault {
        if let Answer::Stream {
            chunk: c, every: e, ..
        } = &mut self.answer
        {
            *c = chunk.max(1);
            *e = every;
        }
        self
    }

    /// Answer `status` with a `Status` whose message echoes the request's `Authorization`
    /// header (after the fault's message, if any).
    pub fn echo_authorization(status: u16) -> Fault {
        Fault {
            answer: Answer::EchoAuthorization,
            ..Fault::status(status)
        }
    }

    /// Fail `n` matching requests instead of one.
    pub fn times(mut self, n: usize) -> Fault {
        self.times = n;
        self
    }

    /// Add a `Retry-After: secs` header.
    pub fn retry_after(mut self, secs: u64) -> Fault {
        self.retry_after = Some(secs);
        self
    }

    /// Only requests with this RBAC verb match.
    pub fn verb(mut self, verb: &str) -> Fault {
        self.verb = Some(verb.to_string());
        self
    }

    /// Only requests for this resource plural match.
    pub fn resource(mut self, resource: &str) -> Fault {
        self.resource = Some(resource.to_string());
        self
    }

    /// The `Status` message.
    pub fn message(mut self, message: &str) -> Fault {
        self.message = Some(message.to_string());
        self
    }

    pub(crate) fn matches(&self, verb: &str, resource: &str) -> bool {
        self.verb.as_deref().is_none_or(|v| v == verb)
            && self.resource.as_deref().is_none_or(|r| r == resource)
    }
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    /// RBAC verb for resource requests (`get`, `list`, `watch`, `create`, `update`, `patch`,
    /// `delete`, `deletecollection`); the lower-case HTTP method for other paths (discovery...).
    /// Who was authenticated (token or client certificate subject); `None` when
    /// authentication is off or failed.
    pub subject: Option<String>,
    pub verb: String,
    /// Resource plural (`""` for non-resource paths such as `/api` or `/version`).
    pub resource: String,
    /// Subresource, e.g. `status`.
    pub subresource: Option<String>,
    /// Namespace from the path.
    pub namespace: Option<String>,
    /// Object name from the path (or, for watches, from `fieldSelector=metadata.name=X`).
    pub name: Option<String>,
    /// Path and query as sent.
    pub path: String,
    /// Status code answered (0 when the connection was dropped on purpose). A watch is
    /// recorded once, when it is opened, with 200.
    pub status: u16,
    /// When the request arrived.
    pub time: SystemTime,
}

impl RequestRecord {
    /// Whether this is a request for a resource (as opposed to discovery and other paths).
    pub fn is_resource(&self) -> bool {
        !self.resource.is_empty()
    }
}

/// Options for [`crate::ApiServer::write_kubeconfig`].
#[derive(Clone, Debug)]
pub struct KubeconfigOpts<'a> {
    /// Bearer token of the user (none: an anonymous user entry).
    pub token: Option<&'a str>,
    /// Namespace of the context.
    pub namespace: Option<&'a str>,
    /// Context (and cluster and user) name; `testkit` by default.
    pub context: &'a str,
    /// Write `insecure-skip-tls-verify: true` instead of the CA.
    pub insecure: bool,
    /// Override the server URL (e.g. to point at a closed port).
    pub server: Option<&'a str>,
    /// The user entry as YAML (`tokenFile: /x`, an `exec:` block, client certificate data...),
    /// written under `user:` instead of `token`.
    pub user: Option<&'a str>,
}

impl Default for KubeconfigOpts<'_> {
    fn default() -> Self {
        KubeconfigOpts {
            token: None,
            namespace: None,
            context: "testkit",
            insecure: false,
            server: None,
            user: None,
        }
    }
}

/// Delay rule set with [`crate::ApiServer::delay`] / [`crate::ApiServer::delay_matching`].
#[derive(Clone, Debug)]
pub(crate) struct DelayRule {
    pub duration: Duration,
    pub verb: Option<String>,
    pub resource: Option<String>,
}
