//! The object store, its event history, tokens, faults and counters.

use crate::model::{Allow, DelayRule, Fault, RequestRecord, ResourceDef, qualified};
use crate::util::{merge_patch, name_suffix, rfc3339, uid};
use crate::watchfault::WatchFault;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast;

/// An error answered as a Kubernetes `Status` object.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub(crate) fn new(code: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason: reason_for(code),
            message: message.into(),
            details: None,
        }
    }

    pub(crate) fn details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub(crate) fn not_found(def: &ResourceDef, name: &str) -> ApiError {
        ApiError::new(
            404,
            format!("{} \"{name}\" not found", def.qualified_plural()),
        )
        .details(details(&def.group, &def.plural, Some(name)))
    }

    /// What the API server answers for a resource type it does not serve.
    pub(crate) fn no_resource() -> ApiError {
        ApiError::new(404, "the server could not find the requested resource").details(json!({}))
    }

    pub(crate) fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

pub(crate) fn details(group: &str, plural: &str, name: Option<&str>) -> Value {
    let mut d = Map::new();
    if let Some(n) = name {
        d.insert("name".into(), n.into());
    }
    if !group.is_empty() {
        d.insert("group".into(), group.into());
    }
    d.insert("kind".into(), plural.into());
    Value::Object(d)
}

pub(crate) fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

pub(crate) fn default_message(code: u16) -> String {
    match code {
        401 => "Unauthorized".into(),
        429 => "Too many requests, please try again later.".into(),
        500 => "Internal error occurred: injected by testkit".into(),
        503 => "the server is currently unable to handle the request".into(),
        504 => "the server was unable to return a response in the time allotted".into(),
        410 => "too old resource version".into(),
        c => format!("testkit injected fault ({c})"),
    }
}

/// A change to one object, kept for watches.
#[derive(Debug)]
pub(crate) struct Event {
    pub rv: u64,
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub kind: &'static str,
    pub object: Value,
    /// The object before a MODIFIED change.
    pub old: Option<Value>,
}

/// How a patch may touch the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// Everything (test helpers).
    All,
    /// Everything but `status` (main resource of a type with a status subresource).
    Main,
    /// Only `status` (the `/status` subresource).
    Status,
}

pub(crate) struct Token {
    pub subject: String,
    pub allow: Allow,
}

pub(crate) type ObjKey = (String, String, String, String); // group, plural, namespace, name

pub(crate) struct State {
    pub resources: Vec<ResourceDef>,
    pub objects: BTreeMap<ObjKey, Value>,
    pub rv: u64,
    pub history: VecDeque<Arc<Event>>,
    pub history_limit: usize,
    /// Watches from a resourceVersion older than this get 410 Expired.
    pub compacted: u64,
    pub events: broadcast::Sender<Arc<Event>>,
    pub tokens: HashMap<String, Token>,
    /// Client certificates (DER of the leaf) issued by `add_client_certificate`.
    pub client_certs: HashMap<Vec<u8>, Token>,
    pub auth: bool,
    pub faults: Vec<Fault>,
    pub delay: Option<DelayRule>,
    pub drop_next: usize,
    pub gone_next: usize,
    pub records: Vec<RequestRecord>,
    pub bookmark_interval: Duration,
    pub open_watches: usize,
    /// How every watch opened from now on misbehaves (hostile-input tests).
    pub watch_fault: Option<WatchFault>,
    /// Whether `/api` and `/apis` answer aggregated discovery when the client asks for it.
    pub aggregated_discovery: bool,
}

fn meta(obj: &Value, field: &str) -> Option<String> {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn strip(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
    }
    v
}

impl State {
    pub(crate) fn new(history_limit: usize, bookmark_interval: Duration) -> State {
        State {
            resources: ResourceDef::builtins(),
            objects: BTreeMap::new(),
            rv: 1,
            history: VecDeque::new(),
            history_limit,
            compacted: 0,
            events: broadcast::channel(4096).0,
            tokens: HashMap::new(),
            client_certs: HashMap::new(),
            auth: false,
            faults: Vec::new(),
            delay: None,
            drop_next: 0,
            gone_next: 0,
            records: Vec::new(),
            bookmark_interval,
            open_watches: 0,
            watch_fault: None,
            aggregated_discovery: true,
        }
    }

    /// Finds a resource by `plural`, `plural.group`, singular, kind or short name.
    pub(crate) fn find(&self, name: &str) -> Option<ResourceDef> {
        let lower = name.to_ascii_lowercase();
        self.resources
            .iter()
            .find(|d| {
                d.plural == lower
                    || qualified(&d.plural, &d.group) == lower
                    || d.singular == lower
                    || d.kind.to_ascii_lowercase() == lower
                    || d.short_names.contains(&lower)
            })
            .cloned()
    }

    pub(crate) fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<ResourceDef> {
        self.resources
            .iter()
            .find(|d| d.group == group && d.version == version && d.plural == plural)
            .cloned()
    }

    pub(crate) fn serves_group_version(&self, group: &str, version: &str) -> bool {
        self.resources
            .iter()
            .any(|d| d.group == group && d.version == version)
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn emit(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        kind: &'static str,
        obj: &Value,
        old: Option<Value>,
    ) {
        let ev = Arc::new(Event {
            rv: self.rv,
            group: def.group.clone(),
            plural: def.plural.clone(),
            namespace: ns.to_string(),
            kind,
            object: obj.clone(),
            old,
        });
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_limit {
            if let Some(e) = self.history.pop_front() {
                self.compacted = e.rv;
            }
        }
        let _ = self.events.send(ev);
    }

    /// Forget all history: watches from any resourceVersion older than now get 410.
    pub(crate) fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    fn key(def: &ResourceDef, ns: &str, name: &str) -> ObjKey {
        (
            def.group.clone(),
            def.plural.clone(),
            ns.to_string(),
            name.to_string(),
        )
    }

    pub(crate) fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&Self::key(def, ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(def, name))
    }

    /// Objects of one type, in one namespace or all (`None`), sorted by namespace and name.
    pub(crate) fn list(&self, def: &ResourceDef, ns: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((g, p, n, _), _)| {
                *g == def.group && *p == def.plural && ns.is_none_or(|x| x == n)
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn normalize(def: &ResourceDef, obj: &mut Value) -> Result<(), ApiError> {
        if !obj.is_object() {
            return Err(ApiError::new(400, "the body must be a JSON object"));
        }
        obj["apiVersion"] = def.api_version().into();
        obj["kind"] = def.kind.clone().into();
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        if def.group.is_empty() && def.plural == "secrets" {
            let o = obj.as_object_mut().expect("object");
            if let Some(sd) = o.remove("stringData") {
                let sd = sd.as_object().cloned().unwrap_or_default();
                let data = o.entry("data").or_insert_with(|| json!({}));
                if !data.is_object() {
                    *data = json!({});
                }
                for (k, v) in sd {
                    let s = v.as_str().unwrap_or_default();
                    data[k] = base64::engine::general_purpose::STANDARD.encode(s).into();
                }
            }
            if o.get("type").is_none_or(Value::is_null) {
                o.insert("type".into(), "Opaque".into());
            }
        }
        Ok(())
    }

    pub(crate) fn create(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        mut obj: Value,
    ) -> Result<Value, ApiError> {
        Self::normalize(def, &mut obj)?;
        if let Some(objns) = meta(&obj, "namespace")
            && !objns.is_empty()
            && objns != ns
        {
            return Err(ApiError::new(
                400,
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let name = match meta(&obj, "name").filter(|n| !n.is_empty()) {
            Some(n) => n,
            None => match meta(&obj, "generateName").filter(|n| !n.is_empty()) {
                Some(prefix) => format!("{prefix}{}", name_suffix()),
                None => {
                    return Err(ApiError::new(
                        422,
                        format!(
                            "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                            def.kind
                        ),
                    ));
                }
            },
        };
        let key = Self::key(def, ns, &name);
        if self.objects.contains_key(&key) {
            let mut e = ApiError::new(
                409,
                format!("{} \"{name}\" already exists", def.qualified_plural()),
            )
            .details(details(&def.group, &def.plural, Some(&name)));
            e.reason = "AlreadyExists";
            return Err(e);
        }
        let rv = self.next_rv();
        let m = obj["metadata"].as_object_mut().expect("metadata");
        m.insert("name".into(), name.clone().into());
        set_namespace(m, def, ns);
        m.insert("uid".into(), uid().into());
        m.insert("resourceVersion".into(), rv.to_string().into());
        m.insert(
            "creationTimestamp".into(),
            rfc3339(SystemTime::now()).into(),
        );
        m.insert("generation".into(), 1.into());
        m.remove("deletionTimestamp");
        if is_crd(def) {
            crd_accepted(&mut obj);
        }
        self.objects.insert(key, obj.clone());
        self.emit(def, ns, "ADDED", &obj, None);
        if is_crd(def) {
            self.serve_crd(&obj);
        }
        Ok(obj)
    }

    /// Stores `new` in place of `old` (same key): keeps identity fields, bumps
    /// resourceVersion, and generation when anything but metadata/status changed.
    fn commit(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        old: Value,
        mut new: Value,
    ) -> Result<Value, ApiError> {
        Self::normalize(def, &mut new)?;
        let gen_before = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let generation = if strip(&old) != strip(&new) {
            gen_before + 1
        } else {
            gen_before
        };
        let rv = self.next_rv();
        let m = new["metadata"].as_object_mut().expect("metadata");
        for f in ["uid", "creationTimestamp"] {
            if let Some(v) = old.pointer(&format!("/metadata/{f}")) {
                m.insert(f.into(), v.clone());
            }
        }
        m.insert("name".into(), name.into());
        set_namespace(m, def, ns);
        m.insert("resourceVersion".into(), rv.to_string().into());
        m.insert("generation".into(), generation.into());
        self.objects.insert(Self::key(def, ns, name), new.clone());
        self.emit(def, ns, "MODIFIED", &new, Some(old.clone()));
        if is_crd(def) {
            self.unserve_crd(&old);
            self.serve_crd(&new);
        }
        Ok(new)
    }

    /// PUT: replaces the object (or, for `Part::Status`, only its status).
    pub(crate) fn replace(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        body: Value,
        part: Part,
    ) -> Result<Value, ApiError> {
        let old = self.get(def, ns, name)?;
        if let Some(body_name) = meta(&body, "name")
            && body_name != name
        {
            return Err(ApiError::new(
                400,
                "the name of the object does not match the name on the URL",
            ));
        }
        if let Some(want) = meta(&body, "resourceVersion").filter(|s| !s.is_empty())
            && Some(&want) != meta(&old, "resourceVersion").as_ref()
        {
            return Err(ApiError::new(
                409,
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                    def.qualified_plural()
                ),
            )
            .details(details(&def.group, &def.plural, Some(name))));
        }
        let new = match part {
            Part::All => body,
            Part::Main => {
                let mut b = body;
                match old.get("status") {
                    Some(s) => b["status"] = s.clone(),
                    None => {
                        if let Some(o) = b.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
                b
            }
            Part::Status => {
                let mut n = old.clone();
                match body.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        if let Some(o) = n.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
                n
            }
        };
        self.commit(def, ns, name, old, new)
    }

    /// JSON merge patch.
    pub(crate) fn patch(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        patch: &Value,
        part: Part,
    ) -> Result<Value, ApiError> {
        let old = self.get(def, ns, name)?;
        if !patch.is_object() {
            return Err(ApiError::new(400, "the patch must be a JSON object"));
        }
        let mut new = old.clone();
        match part {
            Part::All => merge_patch(&mut new, patch),
            Part::Main => {
                let mut p = patch.clone();
                p.as_object_mut().expect("object").remove("status");
                merge_patch(&mut new, &p);
            }
            Part::Status => {
                if let Some(s) = patch.get("status") {
                    merge_patch(&mut new, &json!({ "status": s }));
                }
            }
        }
        self.commit(def, ns, name, old, new)
    }

    pub(crate) fn delete(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let mut obj = self
            .objects
            .remove(&Self::key(def, ns, name))
            .ok_or_else(|| ApiError::not_found(def, name))?;
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = rv.to_string().into();
        self.emit(def, ns, "DELETED", &obj, None);
        if is_crd(def) {
            self.unserve_crd(&obj);
        }
        Ok(obj)
    }

    /// A CustomResourceDefinition was stored: its served versions become resource types
    /// (the storage version first: the group's preferred one), replacing any of the same group
    /// and plural, as the real API server starts serving an established CRD.
    fn serve_crd(&mut self, crd: &Value) {
        let defs = crd_defs(crd);
        for d in &defs {
            self.resources
                .retain(|r| !(r.group == d.group && r.plural == d.plural));
        }
        self.resources.extend(defs);
    }

    /// A CustomResourceDefinition was deleted (or is being replaced): its types are no longer
    /// served. Stored objects are kept, as with `unregister_resource`.
    fn unserve_crd(&mut self, crd: &Value) {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("");
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or("");
        self.resources
            .retain(|r| !(r.group == group && r.plural == plural));
    }
}

/// Sets `metadata.namespace` for a namespaced type; a cluster-scoped object has none.
fn set_namespace(m: &mut serde_json::Map<String, Value>, def: &ResourceDef, ns: &str) {
    if def.namespaced {
        m.insert("namespace".into(), ns.into());
    } else {
        m.remove("namespace");
    }
}

fn is_crd(def: &ResourceDef) -> bool {
    def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions"
}

/// What the API server writes in a new CRD's status once its names are accepted.
fn crd_accepted(crd: &mut Value) {
    if crd
        .get("status")
        .is_some_and(|s| s.get("conditions").is_some())
    {
        return;
    }
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let now = rfc3339(SystemTime::now());
    let stored: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    crd["status"] = json!({
        "acceptedNames": names,
        "storedVersions": stored,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
    });
}

/// The resource types a CRD object declares: one per served version, the storage version
/// first.
fn crd_defs(crd: &Value) -> Vec<ResourceDef> {
    let text = |p: &str| crd.pointer(p).and_then(Value::as_str).unwrap_or("");
    let (group, kind, plural) = (
        text("/spec/group"),
        text("/spec/names/kind"),
        text("/spec/names/plural"),
    );
    if group.is_empty() || kind.is_empty() || plural.is_empty() {
        return Vec::new();
    }
    let short: Vec<&str> = crd
        .pointer("/spec/names/shortNames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let singular = text("/spec/names/singular");
    let cluster = text("/spec/scope") == "Cluster";
    let mut versions: Vec<&Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
        .collect();
    versions.sort_by_key(|v| v.get("storage").and_then(Value::as_bool) != Some(true));
    versions
        .into_iter()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .map(|version| {
            let status = crd
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
                .is_some_and(|v| v.pointer("/subresources/status").is_some());
            let mut d = ResourceDef::new(group, version, kind, plural)
                .short_names(&short)
                .with_status(status);
            if !singular.is_empty() {
                d.singular = singular.to_string();
            }
            if cluster {
                d = d.cluster_scoped();
            }
            d
        })
        .collect()
}
