//! Resource types by the names people type: `KIND[.GROUP]`, plural, singular and short names
//! (`deploy`, `hr`, `pvc`, `Deployment.apps`, `helmrelease.helm.toolkit.fluxcd.io`) and
//! `RESOURCE.VERSION.GROUP` (`deployments.v1.apps`), resolved against what the API server
//! serves right now, into a [`Resolved`] type whose [`Resource`] `get`/`list`/watch use.
//!
//! How the server is asked (nothing is cached on disk, nothing between calls):
//! - aggregated discovery (Kubernetes 1.26+, GA in 1.30): one GET of `/api` and one of `/apis`
//!   with `Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,...`;
//!   the answer lists every group, version and resource;
//! - a server that does not offer it answers the same requests with the legacy `APIVersions` /
//!   `APIGroupList`; then the per-version documents are read: `/api/v1`, and `/apis/G/V` for
//!   the preferred version of each group (of the one group the name names, when it names one).
//!   A bare name found in the core group needs no `/apis` at all: the core group wins (`pods`
//!   is also metrics.k8s.io's, `events` also events.k8s.io's).
//!
//! Where several groups serve a name, the core group wins, then Kubernetes' own groups (`apps`,
//! `batch`, `*.k8s.io`), as in kubectl's discovery order; a name served by several other groups
//! is ambiguous ([`DiscoveryError::Ambiguous`], listing them: meant for exit 2, e.g.
//! `certificates` of cert-manager and of Knative); a name matching nothing served is
//! [`DiscoveryError::NotServed`]: a pending state, since a GitOps controller may install the CRD
//! later. Every answer is read within [`LIST_LIMIT`] bytes and [`LIST_PARSED`] once parsed.

// Until `wait-ready` calls it (the lead wires the command line on top of this module).

use serde_json::Value;

use super::{ApiError, Kube, LIST_LIMIT, LIST_PARSED, Resource, parse, server_text};
use crate::check::{Class, Observation};

/// What `Accept` asks for: aggregated discovery v2, then v2beta1 (1.26–1.29), then the legacy
/// documents.
pub const AGGREGATED_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

/// Longest name kept in a message.
const NAME_MAX: usize = 253;

/// The most per-group documents one legacy discovery reads (`/apis/GROUP/VERSION`, one request
/// each). Real clusters serve a few dozen groups; a server listing thousands (hostile, or
/// broken) must not turn each check into thousands of requests.
const MAX_GROUP_DOCUMENTS: usize = 200;

/// The most resource types one discovery keeps. Real clusters serve a few hundred; documents of
/// 8 MiB each listing hundreds of thousands must not grow memory without end.
const MAX_ENTRIES: usize = 10_000;

/// One served resource type, as discovery describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// API group, "" for the core group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural, as in URLs and RBAC rules.
    pub plural: String,
    /// Singular (may be empty in old servers' documents: then the kind lowercased).
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Short names (`deploy`).
    pub short_names: Vec<String>,
    /// Namespaced, or cluster-scoped.
    pub namespaced: bool,
    /// The version is the group's preferred one (listed first).
    pub preferred: bool,
}

impl Entry {
    /// `deployments.apps`, or `pods` for the core group.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// A name resolved to one served type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// What discovery said about it.
    pub entry: Entry,
    /// The same as a [`Resource`] for `get`/`list`/watch. Its strings are leaked once per
    /// resolution (a [`Resource`] holds `&'static str`): resolve once per target, not per check.
    pub resource: Resource,
}

impl Resolved {
    /// Whether objects of this type live in a namespace.
    pub fn namespaced(&self) -> bool {
        self.entry.namespaced
    }

    /// The client to read objects of this type with: `kube` itself for a namespaced type, a
    /// copy without a namespace for a cluster-scoped one (its paths have no `namespaces/NS`).
    pub fn client(&self, kube: &Kube) -> Kube {
        let mut k = kube.clone();
        if !self.entry.namespaced {
            k.namespace.clear();
        }
        k
    }
}

/// Why a name did not resolve.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiscoveryError {
    /// Not a resource name at all (usage: exit 2).
    #[error(
        "{name:?} is not a resource type name (e.g. deploy, deployments.apps, Deployment, deployments.v1.apps)"
    )]
    Invalid {
        /// The name as given.
        name: String,
    },
    /// Several groups serve a type of this name (usage: exit 2).
    #[error("{name:?} is ambiguous: it names {}; give the group, e.g. {}", candidates.join(", "), candidates.first().map_or("", String::as_str))]
    Ambiguous {
        /// The name as given.
        name: String,
        /// `certificates.cert-manager.io`, ... (sorted).
        candidates: Vec<String>,
    },
    /// No served type has this name (yet): pending, a CRD may be installed later.
    #[error("the server doesn't have a resource type {name:?}")]
    NotServed {
        /// The name as given.
        name: String,
        /// The groups whose part of the answer was missing or out of date (a legacy group
        /// document that failed, an aggregated group version marked `Stale`): one of them may
        /// serve the name. Empty when discovery answered in full: then no such type is served
        /// (what `wait-deleted` takes for "no such object").
        unread: Vec<String>,
    },
    /// A discovery request failed (forbidden, unreachable, 5xx, ...): pending, worded by the
    /// probe as any API failure.
    #[error("{}", .0.message)]
    Api(ApiError),
    /// A discovery document was not what its kind says (pending: a proxy may be in the way).
    #[error("{0}")]
    Document(String),
}

impl DiscoveryError {
    /// A mistake in the name itself, to report as bad usage (exit 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            DiscoveryError::Invalid { .. } | DiscoveryError::Ambiguous { .. }
        )
    }

    /// The pending state for [`DiscoveryError::NotServed`] and [`DiscoveryError::Document`];
    /// `None` for the others (usage errors, and API failures which the probe words itself).
    pub fn pending(&self) -> Option<Observation> {
        match self {
            DiscoveryError::NotServed { name, .. } => {
                let name = server_text(name, NAME_MAX);
                Some(
                    Observation::new(Class::NotServed, format!("resource type {name} not served (CRD not installed yet?)"))
                        .cause(format!(
                            "the API server does not serve a resource type named {name} (yet): its CustomResourceDefinition is not installed, or the name is misspelt. kwait looks again, as a GitOps controller may install it later"
                        ))
                        .fix("list what the server serves: kubectl api-resources")
                        .fix("install the operator or chart that brings this type (its CRDs), e.g. flux, cert-manager"),
                )
            }
            DiscoveryError::Document(what) => Some(
                Observation::new(Class::Other, "discovery answer not understood")
                    .cause(what.clone()),
            ),
            _ => None,
        }
    }
}

impl From<ApiError> for DiscoveryError {
    fn from(e: ApiError) -> Self {
        DiscoveryError::Api(e)
    }
}

/// Resolves `name` against what the server serves now: one or two requests where aggregated
/// discovery is offered, the legacy documents otherwise (see the module comment).
pub async fn resolve(kube: &Kube, name: &str) -> Result<Resolved, DiscoveryError> {
    let wanted = Wanted::parse(name)?;
    let core_doc = read(kube, "/api").await?;
    let mut entries = Vec::new();
    // Groups whose documents could not be read, or are marked stale: a name not found may be
    // theirs.
    let mut unread: Vec<String> = Vec::new();
    if is_aggregated(&core_doc) {
        unread.extend(stale_groups(&core_doc));
        entries.extend(aggregated(&core_doc)?);
    } else {
        let v1 = read(kube, "/api/v1").await?;
        entries.extend(legacy_resources(&v1, "", true)?);
    }
    // The core group wins over every other: no need to look further when it has the name.
    if wanted.group_hint.is_empty()
        && let Ok(found) = pick(&entries, &wanted, name)
    {
        return Ok(found);
    }
    let groups_doc = read(kube, "/apis").await?;
    if is_aggregated(&groups_doc) {
        unread.extend(stale_groups(&groups_doc));
        entries.extend(aggregated(&groups_doc)?);
    } else {
        let groups = legacy_groups(&groups_doc, &wanted)?;
        if groups.len() > MAX_GROUP_DOCUMENTS {
            return Err(DiscoveryError::Document(format!(
                "the API server lists {} group versions to read one by one, more than the {MAX_GROUP_DOCUMENTS} kwait reads: name the type with its group (PLURAL.GROUP), which reads only that group's",
                groups.len()
            )));
        }
        for (group, version, preferred) in groups {
            match read(kube, &format!("/apis/{group}/{version}")).await {
                Ok(doc) => {
                    entries.extend(legacy_resources(&doc, &group, preferred)?);
                    too_many(&entries)?;
                }
                // A group whose aggregated API server is down (metrics.k8s.io, ...) must not
                // stop a name of another group from resolving; when it is the group named, the
                // failure is the answer (transient: retried).
                Err(e) if wanted.could_be_group(&group) => return Err(e),
                Err(_) => unread.push(group),
            }
        }
    }
    too_many(&entries)?;
    pick(&entries, &wanted, name).map_err(|e| match e {
        DiscoveryError::NotServed { name, .. } => DiscoveryError::NotServed {
            name,
            unread: unread.iter().map(|g| server_text(g, NAME_MAX)).collect(),
        },
        other => other,
    })
}

/// The groups of an aggregated discovery document with a version whose `freshness` is `Stale`
/// (its aggregated API server did not answer: the resources listed may be out of date).
fn stale_groups(doc: &Value) -> Vec<String> {
    let items = doc.get("items").and_then(Value::as_array);
    items
        .into_iter()
        .flatten()
        .filter(|item| {
            let versions = item.get("versions").and_then(Value::as_array);
            versions
                .into_iter()
                .flatten()
                .any(|v| text(v, "/freshness") == "Stale")
        })
        .map(|item| text(item, "/metadata/name").to_string())
        .collect()
}

/// More resource types than [`MAX_ENTRIES`]: not a real cluster's discovery.
fn too_many(entries: &[Entry]) -> Result<(), DiscoveryError> {
    if entries.len() > MAX_ENTRIES {
        return Err(not_understood(&format!(
            "more than {MAX_ENTRIES} resource types"
        )));
    }
    Ok(())
}

/// One GET of a discovery document.
async fn read(kube: &Kube, path: &str) -> Result<Value, DiscoveryError> {
    let req = http::Request::get(path)
        .header(http::header::ACCEPT, AGGREGATED_ACCEPT)
        .body(Vec::new())
        .map_err(|e| DiscoveryError::Document(format!("GET {path}: {e}")))?;
    let asked = format!("GET {path}");
    let bytes = kube.conn.send(&req, &asked, LIST_LIMIT).await?;
    Ok(parse(&bytes, LIST_PARSED, &asked)?)
}

fn is_aggregated(doc: &Value) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some("APIGroupDiscoveryList")
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn not_understood(what: &str) -> DiscoveryError {
    DiscoveryError::Document(format!(
        "the API server's discovery answer is not understood: {what}"
    ))
}

/// The entries of an aggregated discovery document (`APIGroupDiscoveryList`, v2 or v2beta1:
/// the same shape). Versions are listed most preferred first.
pub fn aggregated(doc: &Value) -> Result<Vec<Entry>, DiscoveryError> {
    let items = doc
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| not_understood("an APIGroupDiscoveryList without items"))?;
    let mut out = Vec::new();
    for item in items {
        let group = text(item, "/metadata/name");
        let versions = item.get("versions").and_then(Value::as_array);
        for (i, v) in versions.into_iter().flatten().enumerate() {
            let version = text(v, "/version");
            for r in v
                .get("resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let plural = text(r, "/resource");
                let kind = text(r, "/responseKind/kind");
                if plural.is_empty() || plural.contains('/') || kind.is_empty() {
                    continue;
                }
                out.push(Entry {
                    group: group.to_string(),
                    version: version.to_string(),
                    plural: plural.to_string(),
                    singular: text(r, "/singularResource").to_string(),
                    kind: kind.to_string(),
                    short_names: strings(r, "shortNames"),
                    namespaced: text(r, "/scope") != "Cluster",
                    preferred: i == 0,
                });
            }
        }
    }
    Ok(out)
}

/// The entries of a legacy `APIResourceList` (`/api/v1`, `/apis/G/V`); subresources
/// (`pods/status`) are left out.
pub fn legacy_resources(
    doc: &Value,
    group: &str,
    preferred: bool,
) -> Result<Vec<Entry>, DiscoveryError> {
    if doc.get("kind").and_then(Value::as_str) != Some("APIResourceList") {
        return Err(not_understood("expected an APIResourceList"));
    }
    let gv = text(doc, "/groupVersion");
    let version = gv.rsplit('/').next().unwrap_or(gv);
    Ok(doc
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let plural = text(r, "/name");
            let kind = text(r, "/kind");
            (!plural.is_empty() && !plural.contains('/') && !kind.is_empty()).then(|| Entry {
                group: group.to_string(),
                version: version.to_string(),
                plural: plural.to_string(),
                singular: text(r, "/singularName").to_string(),
                kind: kind.to_string(),
                short_names: strings(r, "shortNames"),
                namespaced: r.get("namespaced").and_then(Value::as_bool) != Some(false),
                preferred,
            })
        })
        .collect())
}

/// The `(group, version, preferred)` documents of a legacy `APIGroupList` to read for
/// `wanted`: each group's preferred version (and the version the name gives), only of the
/// group the name could name when it names one.
fn legacy_groups(
    doc: &Value,
    wanted: &Wanted,
) -> Result<Vec<(String, String, bool)>, DiscoveryError> {
    if doc.get("kind").and_then(Value::as_str) != Some("APIGroupList") {
        return Err(not_understood(
            "expected an APIGroupList or APIGroupDiscoveryList",
        ));
    }
    let mut out = Vec::new();
    for g in doc
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = text(g, "/name");
        if name.is_empty() || (!wanted.group_hint.is_empty() && !wanted.could_be_group(name)) {
            continue;
        }
        let mut preferred = text(g, "/preferredVersion/version").to_string();
        if preferred.is_empty() {
            preferred = text(g, "/versions/0/version").to_string();
        }
        if !preferred.is_empty() {
            out.push((name.to_string(), preferred.clone(), true));
        }
        if let Some((v, group)) = &wanted.version_group
            && group == name
            && *v != preferred
        {
            out.push((name.to_string(), v.clone(), false));
        }
    }
    Ok(out)
}

/// A name as typed, lowercased: `head` before the first dot, and what follows it.
#[derive(Debug)]
struct Wanted {
    /// `deploy`, `deployments`, `deployment`.
    head: String,
    /// Everything after the first dot: a group (`apps`), or `VERSION.GROUP`; "" when none.
    group_hint: String,
    /// `(version, group)` when the hint reads as `VERSION.GROUP` (`v1.apps`, `v2beta1.x.io`).
    version_group: Option<(String, String)>,
}

impl Wanted {
    fn parse(name: &str) -> Result<Wanted, DiscoveryError> {
        let lower = name.trim().to_ascii_lowercase();
        let ok = !lower.is_empty()
            && lower.len() <= 2 * NAME_MAX
            && lower
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            && !lower.starts_with('.')
            && !lower.ends_with('.')
            && !lower.contains("..");
        if !ok {
            return Err(DiscoveryError::Invalid {
                name: server_text(name, NAME_MAX),
            });
        }
        let (head, hint) = lower.split_once('.').unwrap_or((lower.as_str(), ""));
        let version_group = hint
            .split_once('.')
            .filter(|(v, _)| is_version(v))
            .map(|(v, g)| (v.to_string(), g.to_string()));
        Ok(Wanted {
            head: head.to_string(),
            group_hint: hint.to_string(),
            version_group,
        })
    }

    /// Whether `group` may be the group this name names.
    fn could_be_group(&self, group: &str) -> bool {
        self.group_hint == group || self.version_group.as_ref().is_some_and(|(_, g)| g == group)
    }

    /// Whether `e` answers this name, and how well: 3 plural or singular, 2 short name, 1 kind.
    fn score(&self, e: &Entry) -> u8 {
        let group_ok = self.group_hint.is_empty()
            || self.group_hint == e.group
            || self
                .version_group
                .as_ref()
                .is_some_and(|(v, g)| *g == e.group && *v == e.version);
        if !group_ok {
            return 0;
        }
        let h = self.head.as_str();
        let singular = if e.singular.is_empty() {
            e.kind.to_ascii_lowercase()
        } else {
            e.singular.to_ascii_lowercase()
        };
        if e.plural.eq_ignore_ascii_case(h) || singular == h {
            3
        } else if e.short_names.iter().any(|s| s.eq_ignore_ascii_case(h)) {
            2
        } else if e.kind.eq_ignore_ascii_case(h) {
            1
        } else {
            0
        }
    }
}

/// `v1`, `v2beta1`, `v1alpha3`: a Kubernetes version string.
fn is_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let tail = &rest[digits..];
    tail.is_empty()
        || ["alpha", "beta"].iter().any(|p| {
            tail.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
}

/// The one type `wanted` names among `entries`: the best-scoring matches, one per group (its
/// preferred version, or the version named); the core group wins over the others; matches in
/// several other groups are ambiguous.
#[cfg(test)]
pub fn pick_entry(entries: &[Entry], name: &str) -> Result<Entry, DiscoveryError> {
    let wanted = Wanted::parse(name)?;
    pick_with(entries, &wanted, name)
}

fn pick_with(entries: &[Entry], wanted: &Wanted, name: &str) -> Result<Entry, DiscoveryError> {
    let best = entries.iter().map(|e| wanted.score(e)).max().unwrap_or(0);
    if best == 0 {
        return Err(DiscoveryError::NotServed {
            name: name.to_string(),
            unread: Vec::new(),
        });
    }
    let mut per_group: Vec<&Entry> = Vec::new();
    for e in entries.iter().filter(|e| wanted.score(e) == best) {
        match per_group.iter_mut().find(|p| p.group == e.group) {
            Some(p) if e.preferred && !p.preferred => *p = e,
            Some(_) => {}
            None => per_group.push(e),
        }
    }
    // The core group first, then Kubernetes' own groups (`apps`, `batch`, `*.k8s.io`), as
    // kubectl's discovery order has it: `jobs` is batch's even where Volcano serves
    // `jobs.batch.volcano.sh`. Ambiguity is only among the first tier that has the name.
    let tier = |e: &Entry| -> u8 {
        if e.group.is_empty() {
            0
        } else if !e.group.contains('.') || e.group.ends_with(".k8s.io") {
            1
        } else {
            2
        }
    };
    let first = per_group.iter().map(|e| tier(e)).min().unwrap_or(2);
    per_group.retain(|e| tier(e) == first);
    match per_group.as_slice() {
        [one] => Ok((*one).clone()),
        many => {
            let mut candidates: Vec<String> = many
                .iter()
                .map(|e| server_text(&e.qualified(), NAME_MAX))
                .collect();
            candidates.sort();
            Err(DiscoveryError::Ambiguous {
                name: server_text(name, NAME_MAX),
                candidates,
            })
        }
    }
}

fn pick(entries: &[Entry], wanted: &Wanted, name: &str) -> Result<Resolved, DiscoveryError> {
    let entry = pick_with(entries, wanted, name)?;
    Ok(Resolved {
        resource: leak(&entry),
        entry,
    })
}

/// A [`Resource`] for `entry` (its strings leaked: see [`Resolved::resource`]).
fn leak(entry: &Entry) -> Resource {
    let s = |t: &str| -> &'static str { Box::leak(t.to_string().into_boxed_str()) };
    Resource {
        group: s(&entry.group),
        version: s(&entry.version),
        plural: s(&entry.plural),
        kind: s(&entry.kind),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A testkit API server, a scratch dir `kwait-NAME-PID-PORT` holding its kubeconfig (with
    /// `namespace`), the kubeconfig's path, and a client connected through it.
    async fn connected(
        name: &str,
        namespace: Option<&str>,
    ) -> (
        testkit::ApiServer,
        std::path::PathBuf,
        std::path::PathBuf,
        Kube,
    ) {
        let api = testkit::ApiServer::start();
        let dir = std::env::temp_dir().join(format!(
            "kwait-{name}-{}-{}",
            std::process::id(),
            api.port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let kc = api.write_kubeconfig(
            &dir,
            testkit::KubeconfigOpts {
                namespace,
                ..Default::default()
            },
        );
        let settings = crate::plan::KubeSettings {
            namespace: None,
            kubeconfig: Some(kc.clone()),
            context: None,
        };
        let kube = Kube::connect(&settings, std::time::Duration::from_secs(10))
            .await
            .unwrap();
        (api, dir, kc, kube)
    }

    /// `/apis` as a 1.30+ server answers it with aggregated discovery (shortened).
    fn aggregated_apis() -> Value {
        json!({
            "kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": [
                {"metadata": {"name": "apps", "creationTimestamp": null}, "versions": [{"version": "v1", "freshness": "Current", "resources": [
                    {"resource": "deployments", "responseKind": {"group": "", "version": "", "kind": "Deployment"}, "scope": "Namespaced",
                     "singularResource": "deployment", "verbs": ["create","delete","get","list","patch","update","watch"], "shortNames": ["deploy"], "categories": ["all"],
                     "subresources": [{"subresource": "status", "responseKind": {"group": "", "version": "", "kind": "Deployment"}, "verbs": ["get","patch","update"]}]},
                    {"resource": "statefulsets", "responseKind": {"group": "", "version": "", "kind": "StatefulSet"}, "scope": "Namespaced", "singularResource": "statefulset", "verbs": ["get"], "shortNames": ["sts"]}
                ]}]},
                {"metadata": {"name": "apiextensions.k8s.io"}, "versions": [{"version": "v1", "resources": [
                    {"resource": "customresourcedefinitions", "responseKind": {"group": "", "version": "", "kind": "CustomResourceDefinition"}, "scope": "Cluster",
                     "singularResource": "customresourcedefinition", "verbs": ["get"], "shortNames": ["crd", "crds"]}]}]},
                {"metadata": {"name": "cert-manager.io"}, "versions": [{"version": "v1", "resources": [
                    {"resource": "certificates", "responseKind": {"group": "cert-manager.io", "version": "v1", "kind": "Certificate"}, "scope": "Namespaced",
                     "singularResource": "certificate", "verbs": ["get"], "shortNames": ["cert", "certs"]}]}]},
                {"metadata": {"name": "networking.internal.knative.dev"}, "versions": [{"version": "v1alpha1", "resources": [
                    {"resource": "certificates", "responseKind": {"group": "networking.internal.knative.dev", "version": "v1alpha1", "kind": "Certificate"}, "scope": "Namespaced",
                     "singularResource": "certificate", "verbs": ["get"], "shortNames": ["kcert"]}]}]},
                {"metadata": {"name": "helm.toolkit.fluxcd.io"}, "versions": [
                    {"version": "v2", "resources": [{"resource": "helmreleases", "responseKind": {"group": "helm.toolkit.fluxcd.io", "version": "v2", "kind": "HelmRelease"}, "scope": "Namespaced", "singularResource": "helmrelease", "verbs": ["get"], "shortNames": ["hr"]}]},
                    {"version": "v2beta2", "resources": [{"resource": "helmreleases", "responseKind": {"group": "helm.toolkit.fluxcd.io", "version": "v2beta2", "kind": "HelmRelease"}, "scope": "Namespaced", "singularResource": "helmrelease", "verbs": ["get"], "shortNames": ["hr"]}]}
                ]},
                {"metadata": {"name": "metrics.k8s.io"}, "versions": [{"version": "v1beta1", "freshness": "Current", "resources": [
                    {"resource": "pods", "responseKind": {"group": "metrics.k8s.io", "version": "v1beta1", "kind": "PodMetrics"}, "scope": "Namespaced", "singularResource": "", "verbs": ["get","list"]}]}]}
            ]
        })
    }

    fn aggregated_core() -> Value {
        json!({
            "kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": [{"metadata": {"creationTimestamp": null}, "versions": [{"version": "v1", "resources": [
                {"resource": "pods", "responseKind": {"group": "", "version": "", "kind": "Pod"}, "scope": "Namespaced", "singularResource": "pod", "verbs": ["get"], "shortNames": ["po"], "categories": ["all"]},
                {"resource": "persistentvolumeclaims", "responseKind": {"group": "", "version": "", "kind": "PersistentVolumeClaim"}, "scope": "Namespaced", "singularResource": "persistentvolumeclaim", "verbs": ["get"], "shortNames": ["pvc"]},
                {"resource": "persistentvolumes", "responseKind": {"group": "", "version": "", "kind": "PersistentVolume"}, "scope": "Cluster", "singularResource": "persistentvolume", "verbs": ["get"], "shortNames": ["pv"]}
            ]}]}]
        })
    }

    fn all_aggregated() -> Vec<Entry> {
        let mut e = aggregated(&aggregated_core()).unwrap();
        e.extend(aggregated(&aggregated_apis()).unwrap());
        e
    }

    fn resolved(entries: &[Entry], name: &str) -> (String, String, String, bool) {
        let e = pick_entry(entries, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        (e.group, e.version, e.plural, e.namespaced)
    }

    /// `wait-deleted` takes a type not served for "no such object" only when discovery answered
    /// in full: a group version marked `Stale` (its aggregated API server down) may serve it.
    #[test]
    fn stale_group_versions_are_named_as_unread() {
        assert!(stale_groups(&aggregated_apis()).is_empty());
        let mut doc = aggregated_apis();
        doc["items"][5]["versions"][0]["freshness"] = json!("Stale");
        assert_eq!(stale_groups(&doc), ["metrics.k8s.io"]);
    }

    #[test]
    fn short_names_kinds_plurals_and_singulars_resolve_from_aggregated_discovery() {
        let e = all_aggregated();
        let deploy = (
            "apps".to_string(),
            "v1".to_string(),
            "deployments".to_string(),
            true,
        );
        for name in [
            "deploy",
            "deployments",
            "deployment",
            "Deployment",
            "deployments.apps",
            "Deployment.apps",
            "deployments.v1.apps",
        ] {
            assert_eq!(resolved(&e, name), deploy, "{name}");
        }
        assert_eq!(resolved(&e, "pvc").2, "persistentvolumeclaims");
        assert_eq!(
            resolved(&e, "pv"),
            (
                String::new(),
                "v1".into(),
                "persistentvolumes".into(),
                false
            )
        );
        assert_eq!(
            resolved(&e, "crd"),
            (
                "apiextensions.k8s.io".into(),
                "v1".into(),
                "customresourcedefinitions".into(),
                false
            )
        );
        assert_eq!(resolved(&e, "cert").0, "cert-manager.io");
    }

    #[test]
    fn a_group_served_in_several_versions_resolves_to_its_preferred_one_unless_named() {
        let e = all_aggregated();
        assert_eq!(resolved(&e, "hr").1, "v2");
        assert_eq!(resolved(&e, "helmrelease.helm.toolkit.fluxcd.io").1, "v2");
        assert_eq!(
            resolved(&e, "helmreleases.v2beta2.helm.toolkit.fluxcd.io").1,
            "v2beta2"
        );
    }

    #[test]
    fn a_name_served_by_two_other_groups_is_ambiguous_listing_both() {
        let e = all_aggregated();
        let err = pick_entry(&e, "certificates").unwrap_err();
        assert!(err.is_usage());
        assert_eq!(
            err,
            DiscoveryError::Ambiguous {
                name: "certificates".into(),
                candidates: vec![
                    "certificates.cert-manager.io".into(),
                    "certificates.networking.internal.knative.dev".into()
                ]
            }
        );
        assert!(err.to_string().contains(
            "certificates.cert-manager.io, certificates.networking.internal.knative.dev"
        ));
        assert_eq!(
            resolved(&e, "certificates.cert-manager.io").0,
            "cert-manager.io"
        );
    }

    #[test]
    fn the_core_group_wins_over_metrics_pods() {
        assert_eq!(resolved(&all_aggregated(), "pods").0, "");
    }

    #[test]
    fn a_kubernetes_group_wins_over_a_crd_of_the_same_name_as_in_kubectl() {
        let entry = |group: &str| Entry {
            group: group.into(),
            version: "v1".into(),
            plural: "jobs".into(),
            singular: "job".into(),
            kind: "Job".into(),
            short_names: vec![],
            namespaced: true,
            preferred: true,
        };
        let e = [entry("batch.volcano.sh"), entry("batch")];
        assert_eq!(resolved(&e, "jobs").0, "batch");
        assert_eq!(resolved(&e, "jobs.batch.volcano.sh").0, "batch.volcano.sh");
    }

    #[test]
    fn a_type_not_served_is_pending_as_not_served_not_a_usage_error() {
        let err = pick_entry(
            &all_aggregated(),
            "kustomizations.kustomize.toolkit.fluxcd.io",
        )
        .unwrap_err();
        assert!(!err.is_usage());
        let obs = err.pending().unwrap();
        assert_eq!(obs.class, Class::NotServed);
        assert!(obs.state.contains("not served"), "{}", obs.state);
    }

    #[test]
    fn names_that_cannot_be_types_are_usage_errors() {
        for bad in [
            "",
            "deploy/web",
            "a b",
            ".apps",
            "apps.",
            "x..y",
            "\u{1b}[2J",
        ] {
            assert!(
                matches!(pick_entry(&[], bad), Err(DiscoveryError::Invalid { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn legacy_documents_give_the_same_answers() {
        let v1 = json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [
            {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod", "verbs": ["get"], "shortNames": ["po"]},
            {"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]},
            {"name": "persistentvolumes", "singularName": "persistentvolume", "namespaced": false, "kind": "PersistentVolume", "verbs": ["get"], "shortNames": ["pv"]}
        ]});
        let apps = json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1", "resources": [
            {"name": "deployments", "singularName": "deployment", "namespaced": true, "kind": "Deployment", "verbs": ["get"], "shortNames": ["deploy"]},
            {"name": "deployments/scale", "singularName": "", "namespaced": true, "kind": "Scale", "group": "autoscaling", "version": "v1", "verbs": ["get"]}
        ]});
        let mut e = legacy_resources(&v1, "", true).unwrap();
        e.extend(legacy_resources(&apps, "apps", true).unwrap());
        assert_eq!(e.len(), 3, "subresources are left out: {e:?}");
        assert_eq!(
            resolved(&e, "deploy"),
            ("apps".into(), "v1".into(), "deployments".into(), true)
        );
        assert!(!resolved(&e, "pv").3);

        let groups = json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}], "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}},
            {"name": "helm.toolkit.fluxcd.io", "versions": [{"groupVersion": "helm.toolkit.fluxcd.io/v2", "version": "v2"}, {"groupVersion": "helm.toolkit.fluxcd.io/v2beta2", "version": "v2beta2"}],
             "preferredVersion": {"groupVersion": "helm.toolkit.fluxcd.io/v2", "version": "v2"}}
        ]});
        let all = legacy_groups(&groups, &Wanted::parse("hr").unwrap()).unwrap();
        assert_eq!(
            all.len(),
            2,
            "a bare name reads every group's preferred version"
        );
        let named = legacy_groups(
            &groups,
            &Wanted::parse("helmreleases.v2beta2.helm.toolkit.fluxcd.io").unwrap(),
        )
        .unwrap();
        assert_eq!(
            named,
            vec![
                ("helm.toolkit.fluxcd.io".into(), "v2".into(), true),
                ("helm.toolkit.fluxcd.io".into(), "v2beta2".into(), false)
            ],
            "a named group reads only that group"
        );
    }

    #[test]
    fn versions_are_told_from_groups() {
        for v in ["v1", "v2beta1", "v1alpha3", "v10"] {
            assert!(is_version(v), "{v}");
        }
        for g in ["apps", "v", "vbeta1", "v1beta", "v1gamma1", "velero"] {
            assert!(!is_version(g), "{g}");
        }
    }

    /// One row of `kubectl api-resources`: name, short names, apiVersion, namespaced, kind.
    type Row = (String, Vec<String>, String, bool, String);

    /// kubectl's `api-resources` table against testkit: `(name, short names, apiVersion,
    /// namespaced, kind)` per row, read by the header's column offsets (a blank SHORTNAMES
    /// cell would shift a whitespace split). `None` when kubectl is not installed.
    fn kubectl_api_resources(
        kubeconfig: &std::path::Path,
        home: &std::path::Path,
    ) -> Option<Vec<Row>> {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--request-timeout=10s", "api-resources"])
            .env("HOME", home)
            .env_remove("KUBECONFIG")
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kubectl api-resources: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines = text.lines();
        let header = lines.next()?;
        let col = |h: &str| header.find(h).unwrap();
        let cols = [
            col("NAME"),
            col("SHORTNAMES"),
            col("APIVERSION"),
            col("NAMESPACED"),
            col("KIND"),
        ];
        let cell = |l: &str, i: usize| -> String {
            let end = cols.get(i + 1).copied().unwrap_or(l.len()).min(l.len());
            l.get(cols[i]..end).unwrap_or("").trim().to_string()
        };
        Some(
            lines
                .map(|l| {
                    let shorts = cell(l, 1);
                    (
                        cell(l, 0),
                        shorts
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect(),
                        cell(l, 2),
                        cell(l, 3) == "true",
                        cell(l, 4),
                    )
                })
                .collect(),
        )
    }

    /// The real kubectl and kwait's resolver read testkit's discovery (both forms) alike:
    /// every name, short name and kind kubectl lists resolves to the same group, version,
    /// scope and kind; aggregated discovery costs 2 requests, the legacy form one per group.
    #[tokio::test]
    async fn every_name_kubectl_api_resources_lists_resolves_to_the_same_type() {
        let (api, dir, kc, kube) = connected("discovery", Some("crs")).await;
        std::fs::create_dir_all(dir.join("home")).unwrap();
        for aggregated in [true, false] {
            api.set_aggregated_discovery(aggregated);
            // A fresh HOME each time: kubectl caches discovery there.
            let home = dir.join(format!("home-{aggregated}"));
            api.reset_counters();
            let Some(rows) = kubectl_api_resources(&kc, &home) else {
                println!("SKIPPED: kubectl not found");
                return;
            };
            // kubectl took the aggregated documents (no per-group reads) where offered.
            let per_group = api
                .requests()
                .iter()
                .filter(|q| q.path.starts_with("/apis/") || q.path.starts_with("/api/"))
                .count();
            assert_eq!(
                per_group == 0,
                aggregated,
                "kubectl's requests: {:?}",
                api.requests().iter().map(|q| &q.path).collect::<Vec<_>>()
            );
            assert!(rows.len() >= 15, "{rows:?}");
            println!(
                "kubectl api-resources (aggregated {aggregated}): {} rows",
                rows.len()
            );
            for (name, shorts, api_version, namespaced, kind) in &rows {
                if name == "namespaces" {
                    continue; // synthetic in testkit, and not a wait-ready type
                }
                let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                let qualified = if group.is_empty() {
                    name.clone()
                } else {
                    format!("{name}.{group}")
                };
                let mut names = vec![
                    name.clone(),
                    qualified,
                    kind.clone(),
                    format!("{name}.{version}.{group}"),
                ];
                names.extend(shorts.iter().cloned());
                if group.is_empty() {
                    names.retain(|n| !n.ends_with('.'));
                }
                for n in names {
                    api.reset_counters();
                    let r = resolve(&kube, &n)
                        .await
                        .unwrap_or_else(|e| panic!("{n} (aggregated {aggregated}): {e}"));
                    assert_eq!(
                        (
                            r.entry.group.as_str(),
                            r.entry.version.as_str(),
                            r.entry.namespaced,
                            r.entry.kind.as_str()
                        ),
                        (group, version, *namespaced, kind.as_str()),
                        "{n} (aggregated {aggregated})"
                    );
                    assert_eq!(r.resource.api_version(), *api_version);
                    let paths: Vec<String> = api.requests().into_iter().map(|q| q.path).collect();
                    if aggregated {
                        let most = if group.is_empty() { 1 } else { 2 };
                        assert!(paths.len() <= most && paths[0] == "/api", "{n}: {paths:?}");
                    }
                }
            }
        }
        api.set_aggregated_discovery(true);
        api.reset_counters();
        resolve(&kube, "deploy").await.unwrap();
        let aggregated: Vec<String> = api.requests().into_iter().map(|q| q.path).collect();
        assert_eq!(aggregated, ["/api", "/apis"]);
        api.set_aggregated_discovery(false);
        api.reset_counters();
        resolve(&kube, "deploy").await.unwrap();
        let legacy = api.requests().len();
        api.reset_counters();
        resolve(&kube, "deployments.apps").await.unwrap();
        let legacy_named: Vec<String> = api.requests().into_iter().map(|q| q.path).collect();
        assert_eq!(legacy_named, ["/api", "/api/v1", "/apis", "/apis/apps/v1"]);
        println!(
            "requests to resolve deploy: aggregated 2, legacy {legacy}; deployments.apps legacy 4"
        );
        // A cluster-scoped type is read through the client without a namespace.
        let crd = resolve(&kube, "crd").await.unwrap();
        assert!(!crd.namespaced());
        let got = crd
            .client(&kube)
            .get(&crd.resource, "certificates.cert-manager.io")
            .await
            .unwrap();
        assert_eq!(got, None, "no CRD object was created in testkit");
        api.create(
            "crd",
            "",
            serde_json::json!({"metadata": {"name": "kustomizations.kustomize.toolkit.fluxcd.io"},
                "spec": {"group": "kustomize.toolkit.fluxcd.io", "scope": "Namespaced",
                         "names": {"kind": "Kustomization", "plural": "kustomizations", "singular": "kustomization", "shortNames": ["ks"]},
                         "versions": [{"name": "v1", "served": true, "storage": true}]}}),
        );
        let got = crd
            .client(&kube)
            .get(&crd.resource, "kustomizations.kustomize.toolkit.fluxcd.io")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got["status"]["conditions"][1]["type"], "Established");
        assert_eq!(
            resolve(&kube, "ks").await.unwrap().entry.kind,
            "Kustomization"
        );
        api.delete("crd", "", "kustomizations.kustomize.toolkit.fluxcd.io");
        let missing = resolve(&kube, "kustomizations.kustomize.toolkit.fluxcd.io")
            .await
            .unwrap_err();
        assert_eq!(missing.pending().map(|o| o.class), Some(Class::NotServed));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Against testkit in both forms: `certificates` served by cert-manager and by Knative is
    /// ambiguous (a usage error listing both), either one by its group resolves, and a type
    /// whose CRD is removed is NotServed.
    #[tokio::test]
    async fn a_name_two_crds_serve_is_ambiguous_against_a_server_in_both_forms() {
        let (api, dir, _, kube) = connected("ambiguous", None).await;
        api.register_resource(
            testkit::ResourceDef::new(
                "networking.internal.knative.dev",
                "v1alpha1",
                "Certificate",
                "certificates",
            )
            .short_names(&["kcert"]),
        );
        for aggregated in [true, false] {
            api.set_aggregated_discovery(aggregated);
            let err = resolve(&kube, "certificates").await.unwrap_err();
            assert!(err.is_usage(), "{err}");
            assert_eq!(
                err.to_string(),
                "\"certificates\" is ambiguous: it names certificates.cert-manager.io, certificates.networking.internal.knative.dev; give the group, e.g. certificates.cert-manager.io"
            );
            let r = resolve(&kube, "certificate.cert-manager.io").await.unwrap();
            assert_eq!(r.resource.api_version(), "cert-manager.io/v1");
            let r = resolve(&kube, "kcert").await.unwrap();
            assert_eq!(r.resource.plural, "certificates");
            assert_eq!(r.entry.group, "networking.internal.knative.dev");
        }
        api.unregister_resource("certificaterequests");
        let err = resolve(&kube, "cr").await.unwrap_err();
        assert!(matches!(err, DiscoveryError::NotServed { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A server listing hundreds of API groups, in the legacy form, made every check read each
    /// group's document, one request each: a request storm per check. Past
    /// MAX_GROUP_DOCUMENTS the bare name is refused without those requests; a name with its
    /// group still reads only that group's document.
    #[tokio::test]
    async fn hundreds_of_legacy_groups_are_not_read_one_by_one() {
        let (api, dir, _, kube) = connected("many-groups", None).await;
        for i in 0..MAX_GROUP_DOCUMENTS + 50 {
            api.register_resource(testkit::ResourceDef::new(
                &format!("g{i}.example.com"),
                "v1",
                "Widget",
                "widgets",
            ));
        }
        api.set_aggregated_discovery(false);
        api.reset_counters();
        let err = resolve(&kube, "widgets").await.unwrap_err();
        assert!(
            matches!(err, DiscoveryError::Document(_))
                && err.to_string().contains("name the type with its group"),
            "{err}"
        );
        assert!(api.requests().len() <= 3, "{:#?}", api.requests());
        api.reset_counters();
        let r = resolve(&kube, "widgets.g7.example.com").await.unwrap();
        assert_eq!(r.entry.group, "g7.example.com");
        assert!(api.requests().len() <= 4, "{:#?}", api.requests());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
