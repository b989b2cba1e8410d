//! `wait-deleted KIND/NAME` and `wait-deleted KIND -l SELECTOR [--any]` (kubectl's `wait
//! --for=delete`): ready once the object is gone. The type is found as `wait-ready` finds it
//! (discovery, short names, cluster-scoped types), and watched the same way once known.
//!
//! What "gone" means, on the safe side (never "gone" while the object may still be there):
//! - by name: the GET answers 404 for the object, or the name now holds another object (another
//!   uid than the one first seen: the old one was deleted and a new one made, e.g. a Job
//!   re-created by the next release). An object that does not exist at the first answer is
//!   already gone, as kubectl says;
//! - with `-l`: the objects the selector matches at the first answer (by uid) must all be gone;
//!   with `--any`, one of them. Objects created later are new ones and are not waited for (as
//!   kubectl, which lists once). None matching at the start: nothing to wait for;
//! - a type the API server does not serve: gone only when discovery answered in full (no group
//!   document failed, none marked stale): then no object of that type can exist (a CRD deleted
//!   takes its objects with it). kubectl stops with an error there; for a deletion wait the
//!   true answer is "there is no such object". When part of discovery could not be read, the
//!   type may be served by that part: kwait keeps waiting and says which part.
//!
//! While an object is held, the state names its `deletionTimestamp` and every finalizer left
//! on it (escaped), or says that nothing has deleted it yet.

use std::time::Duration;

use serde_json::Value;

use super::api::{self, Ctx};
use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::kube::discovery::{self, DiscoveryError, Resolved};
use crate::kube::{Kube, Selector};
use crate::net::text::printable;
use crate::plan::{DeletedTarget, JobSelect};
use crate::rbac::{self, Rule};

/// Longest name, uid or finalizer kept (a DNS subdomain).
const NAME_MAX: usize = 253;
/// Most finalizers named in a state line; the others are counted.
const FINALIZERS_SHOWN: usize = 8;
/// Longest condition message kept (a terminating namespace's).
const MESSAGE_MAX: usize = 300;

/// An object seen at the first answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    name: String,
    uid: String,
}

/// Waits for an object of any type, or those a selector matches, to be deleted.
#[derive(Debug)]
pub struct DeletedProbe {
    kube: Kube,
    target: DeletedTarget,
    /// The type, once discovery found it.
    resolved: Option<Resolved>,
    /// Discovery served the type once in this run (a type never served is not taken as gone).
    was_served: bool,
    /// Whether the watch was started (once, when the type was first found).
    watching: bool,
    rules: Vec<Rule>,
    role: String,
    /// The watch's retry delays.
    interval: Duration,
    max_interval: Duration,
    /// The objects of the first answer (one, or none, by name); `None` before it.
    seen: Option<Vec<Seen>>,
}

impl DeletedProbe {
    /// A probe for `target` in the client's namespace (cluster-scoped types: none).
    pub fn new(
        kube: Kube,
        target: DeletedTarget,
        rules: Vec<Rule>,
        role: String,
        interval: Duration,
        max_interval: Duration,
    ) -> Self {
        DeletedProbe {
            kube,
            target,
            resolved: None,
            was_served: false,
            watching: false,
            rules,
            role,
            interval,
            max_interval,
            seen: None,
        }
    }

    /// The type, found once: then its rule is that of the type the server serves, and its
    /// watch starts.
    async fn lookup(&mut self) -> Result<Resolved, DiscoveryError> {
        if let Some(r) = &self.resolved {
            return Ok(r.clone());
        }
        let r = discovery::resolve(&self.kube, &self.target.kind).await?;
        let e = &r.entry;
        self.rules = vec![rbac::deleted_rule(
            &self.target,
            &e.group,
            &e.plural,
            e.namespaced,
        )];
        if !self.watching {
            let selector = match &self.target.select {
                JobSelect::Name(n) => Selector::Name(n.clone()),
                JobSelect::Selector(s) => Selector::Labels(s.clone()),
            };
            r.client(&self.kube)
                .watch(&r.resource, selector, self.interval, self.max_interval);
            self.watching = true;
        }
        self.resolved = Some(r.clone());
        self.was_served = true;
        Ok(r)
    }

    /// [`Self::lookup`], its failures worded as a check; a type positively not served is gone.
    async fn resolve(&mut self) -> Result<Resolved, Check> {
        match self.lookup().await {
            Ok(r) => Ok(r),
            Err(DiscoveryError::NotServed { name, unread }) => Err(self.not_served(&name, &unread)),
            Err(e) => Err(api::discovery_failed(
                e,
                &self.kube,
                &self.rules,
                &self.role,
            )),
        }
    }

    /// The answer for a type discovery did not find. Gone only when this run saw the type
    /// served before and discovery now answered in full without it (a removed CRD takes its
    /// objects with it). A type never seen served is pending: a misspelt type and a CRD removed
    /// before kwait started look the same to discovery, and calling the object gone on a typo
    /// would let a hook go on while the old object still exists (kubectl wait errors here).
    fn not_served(&self, name: &str, unread: &[String]) -> Check {
        let name = printable(name, NAME_MAX);
        let what = self.describe_target();
        if unread.is_empty() && self.was_served {
            return Check::Ready(format!(
                "{what}: gone: the API server no longer serves the resource type {name} (discovery answered in full), so no such object exists"
            ));
        }
        if unread.is_empty() {
            return Check::Pending(
                Observation::new(
                    Class::NotServed,
                    format!("the API server serves no resource type {name}"),
                )
                .cause(format!(
                    "the API server serves no resource type named {name}: either the name is misspelt, or its CustomResourceDefinition is not installed (or was removed, with its objects); kwait cannot tell these apart, so it does not call the object gone"
                ))
                .fix("check the type's name: kubectl api-resources")
                .fix("if its CRD was removed on purpose, there is nothing to wait for: drop this wait"),
            );
        }
        Check::Pending(
            Observation::new(
                Class::NotServed,
                format!(
                    "resource type {name} not found, but discovery of {} could not be read",
                    unread.join(", ")
                ),
            )
            .cause(format!(
                "no resource type named {name} was found, but part of the API server's discovery did not answer (the group documents of {}, or their aggregated API servers are down): the type may be served there, so kwait does not call its objects gone",
                unread.join(", ")
            ))
            .fix("check the aggregated API servers: kubectl get apiservices"),
        )
    }

    /// `deletion of Job crs/migrate`, as [`describe`].
    fn describe_target(&self) -> String {
        object(&self.kube.namespace, &self.target)
    }

    /// One GET by name: gone, replaced or held.
    fn judge_named(&mut self, r: &Resolved, name: &str, got: Option<Value>) -> Check {
        let what = self.describe_target();
        let Some(obj) = got else {
            let seen = self.seen.as_ref().is_some_and(|s| !s.is_empty());
            return Check::Ready(if seen {
                format!("{what} is gone")
            } else {
                format!("{what} does not exist (nothing to wait for)")
            });
        };
        let uid = str_at(&obj, "/metadata/uid").to_string();
        match &self.seen {
            None => {
                self.seen = Some(vec![Seen {
                    name: name.to_string(),
                    uid,
                }]);
            }
            Some(seen) => {
                if let Some(first) = seen.first()
                    && first.uid != uid
                {
                    return Check::Ready(format!(
                        "{what} is gone: the name now holds a new object (uid {}; the one first seen was {})",
                        printable(&uid, NAME_MAX),
                        printable(&first.uid, NAME_MAX)
                    ));
                }
            }
        }
        Check::Pending(held(&obj, r, &self.kube.namespace))
    }

    /// One LIST by label: the objects of the first answer gone (one of them, with `--any`).
    fn judge_selection(&mut self, r: &Resolved, sel: &str, items: &[Value]) -> Check {
        let kind = printable(&r.entry.kind, NAME_MAX);
        let sel_shown = printable(sel, 200);
        let now: Vec<Seen> = items
            .iter()
            .map(|o| Seen {
                name: str_at(o, "/metadata/name").to_string(),
                uid: str_at(o, "/metadata/uid").to_string(),
            })
            .collect();
        let seen = self.seen.get_or_insert_with(|| now.clone()).clone();
        if seen.is_empty() {
            return Check::Ready(format!(
                "no {kind} matched {sel_shown} when the wait started (nothing to wait for)"
            ));
        }
        let total = seen.len();
        let mut present: Vec<&Seen> = seen
            .iter()
            .filter(|s| now.iter().any(|n| n.uid == s.uid))
            .collect();
        present.sort_by(|a, b| a.name.cmp(&b.name));
        let gone = total - present.len();
        let new = now
            .iter()
            .filter(|n| !seen.iter().any(|s| s.uid == n.uid))
            .count();
        let new_note = if new > 0 {
            format!("; {new} created since match now, not waited for")
        } else {
            String::new()
        };
        if self.target.any && gone > 0 {
            let mut first_gone: Vec<&Seen> = seen
                .iter()
                .filter(|s| !present.iter().any(|p| p.uid == s.uid))
                .collect();
            first_gone.sort_by(|a, b| a.name.cmp(&b.name));
            let name = first_gone
                .first()
                .map_or_else(String::new, |s| printable(&s.name, NAME_MAX));
            return Check::Ready(format!(
                "{kind} {name} is gone ({gone} of the {total} matching {sel_shown} at the start{new_note})"
            ));
        }
        if present.is_empty() {
            return Check::Ready(format!(
                "all {total} {kind} matching {sel_shown} at the start are gone{new_note}"
            ));
        }
        let first = present[0];
        let obj = items
            .iter()
            .find(|o| str_at(o, "/metadata/uid") == first.uid);
        let mut obs = match obj {
            Some(o) => held(o, r, &self.kube.namespace),
            None => Observation::new(Class::NotReady, "still there"),
        };
        obs.state = format!(
            "{gone} of {total} gone; {}: {}",
            printable(&first.name, NAME_MAX),
            obs.state
        );
        Check::Pending(obs)
    }
}

/// `deletion of Job crs/migrate`, `deletion of every Job in crs matching app=x`, `... any ...`.
pub fn describe(namespace: &str, t: &DeletedTarget) -> String {
    format!("deletion of {}", object(namespace, t))
}

/// The object(s) awaited: `Job crs/migrate`, `every Job in crs matching app=x`.
fn object(namespace: &str, t: &DeletedTarget) -> String {
    let kind = t.kind_shown();
    let scoped = t.known.is_none_or(|k| k.namespaced);
    match (&t.select, scoped) {
        (JobSelect::Name(n), true) => format!("{kind} {namespace}/{n}"),
        (JobSelect::Name(n), false) => format!("{kind} {n}"),
        (JobSelect::Selector(s), scoped) => format!(
            "{} {kind} {}matching {s}",
            if t.any { "any" } else { "every" },
            if scoped {
                format!("in {namespace} ")
            } else {
                String::new()
            }
        ),
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The strings of the array at `pointer`, escaped.
fn strings(v: &Value, pointer: &str) -> Vec<String> {
    (v.pointer(pointer).and_then(Value::as_array).into_iter())
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| printable(s, NAME_MAX))
        .collect()
}

/// `a, b, c (+2 more)`.
fn listed(names: &[String]) -> String {
    let mut out = (names.iter().take(FINALIZERS_SHOWN))
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > FINALIZERS_SHOWN {
        out.push_str(&format!(" (+{} more)", names.len() - FINALIZERS_SHOWN));
    }
    out
}

/// A Kubernetes name, safe to paste into a shell command.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= NAME_MAX
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// What holds an object that is still there: its `deletionTimestamp` and finalizers (for a
/// Namespace also `spec.finalizers` and its deletion conditions), or that nothing deleted it.
fn held(obj: &Value, r: &Resolved, namespace: &str) -> Observation {
    let name = str_at(obj, "/metadata/name");
    let deleting = str_at(obj, "/metadata/deletionTimestamp");
    let mut finalizers = strings(obj, "/metadata/finalizers");
    let namespace_kind = r.entry.group.is_empty() && r.entry.kind == "Namespace";
    if namespace_kind {
        finalizers.extend(
            strings(obj, "/spec/finalizers")
                .into_iter()
                .map(|f| format!("{f} (spec)")),
        );
    }
    let resource = if r.entry.group.is_empty() {
        r.entry.plural.clone()
    } else {
        format!("{}.{}", r.entry.plural, r.entry.group)
    };
    let ns_flag = if r.namespaced() && plain(namespace) {
        format!(" -n {namespace}")
    } else {
        String::new()
    };
    let command = |verb: &str, rest: &str| -> Option<String> {
        (plain(&resource) && plain(name))
            .then(|| format!("kubectl {verb} {resource} {name}{ns_flag}{rest}"))
    };
    if deleting.is_empty() {
        let mut state = "exists, not being deleted (no deletionTimestamp)".to_string();
        if !finalizers.is_empty() {
            state.push_str(&format!("; finalizers: {}", listed(&finalizers)));
        }
        let mut obs = Observation::new(Class::NotReady, state).cause(
            "nothing has asked the API server to delete it yet: kwait only waits for its deletion, it deletes nothing itself",
        );
        if let Some(c) = command("delete", "") {
            obs = obs.fix(format!("if it should go: {c}"));
        }
        return obs;
    }
    let ts = printable(deleting, 40);
    let state = if finalizers.is_empty() {
        format!("being deleted (deletionTimestamp {ts}), no finalizer left")
    } else {
        format!(
            "being deleted (deletionTimestamp {ts}), held by finalizers: {}",
            listed(&finalizers)
        )
    };
    let mut cause = if finalizers.is_empty() {
        format!(
            "the API server marked it for deletion at {ts} and no finalizer holds it: it should go at once (a garbage collector or the API server is behind)"
        )
    } else {
        format!(
            "the API server marked it for deletion at {ts}, but removes it only once every finalizer is gone, and each is removed by the controller that added it: {}. One that stays names a controller that is not running or cannot finish its cleanup",
            listed(&finalizers)
        )
    };
    if namespace_kind {
        // The namespace controller says what is left inside (NamespaceContentRemaining, ...).
        let conditions = (obj.pointer("/status/conditions").and_then(Value::as_array))
            .into_iter()
            .flatten()
            .filter(|c| str_at(c, "/status") == "True")
            .map(|c| {
                format!(
                    "{}: {}",
                    printable(str_at(c, "/type"), 100),
                    printable(str_at(c, "/message"), MESSAGE_MAX)
                )
            })
            .collect::<Vec<_>>();
        if !conditions.is_empty() {
            cause.push_str(&format!("; {}", conditions.join("; ")));
        }
    }
    let mut obs = Observation::new(Class::NotReady, state).cause(cause);
    if let Some(c) = command("get", " -o yaml") {
        obs = obs.fix(format!(
            "see what holds it (metadata.finalizers, status): {c}"
        ));
    }
    if !finalizers.is_empty() {
        obs = obs.fix(
            "find the controller each finalizer belongs to (its prefix names it) and why it cannot finish; remove a finalizer by hand only when you know what it guards",
        );
    }
    obs
}

impl Probe for DeletedProbe {
    fn describe(&self) -> String {
        describe(&self.kube.namespace, &self.target)
    }

    fn prepare(&mut self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match self.lookup().await {
                Err(e) if e.is_usage() => Err(e.to_string()),
                _ => Ok(()),
            }
        })
    }

    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        self.kube.bound(attempt_timeout);
        Box::pin(async move {
            let r = match self.resolve().await {
                Ok(r) => r,
                Err(c) => return c,
            };
            let client = r.client(&self.kube);
            let answer = match &self.target.select {
                JobSelect::Name(name) => {
                    let name = name.clone();
                    match client.get(&r.resource, &name).await {
                        Ok(got) => return self.judge_named(&r, &name, got),
                        Err(e) => e,
                    }
                }
                JobSelect::Selector(sel) => {
                    let sel = sel.clone();
                    match client.list(&r.resource, &sel).await {
                        Ok(list) => return self.judge_selection(&r, &sel, &list.items),
                        Err(e) => e,
                    }
                }
            };
            if answer.class == Class::NotServed {
                // The type itself went away (its CRD deleted, and its objects with it), or
                // something in the way answered 404: ask discovery again, which says gone only
                // when it answers in full.
                self.resolved = None;
                if let Err(c) = self.resolve().await {
                    return c;
                }
            }
            Check::Pending(api::observe(
                &answer,
                &Ctx {
                    kube: &client,
                    res: &r.resource,
                    rules: &self.rules,
                    role: &self.role,
                },
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::kube::Resource;
    use crate::kube::discovery::Entry;

    fn resolved(kind: &str, plural: &str, namespaced: bool) -> Resolved {
        let entry = Entry {
            group: String::new(),
            version: "v1".into(),
            plural: plural.into(),
            singular: String::new(),
            kind: kind.into(),
            short_names: Vec::new(),
            namespaced,
            preferred: true,
        };
        Resolved {
            resource: Resource {
                group: "",
                version: "v1",
                plural: "configmaps",
                kind: "ConfigMap",
            },
            entry,
        }
    }

    #[test]
    fn a_held_object_names_its_deletion_timestamp_and_every_finalizer_escaped() {
        let obj = json!({"metadata": {"name": "cfg", "uid": "u1",
            "deletionTimestamp": "2026-12-06T10:00:00Z",
            "finalizers": ["example.com/cleanup", "evil\u{1b}[31m"]}});
        let o = held(&obj, &resolved("ConfigMap", "configmaps", true), "crs");
        assert_eq!(
            o.state,
            "being deleted (deletionTimestamp 2026-12-06T10:00:00Z), held by finalizers: example.com/cleanup, evil\\u{1b}[31m"
        );
        assert!(!o.state.contains('\u{1b}'));
        assert!(
            o.fix
                .iter()
                .any(|f| f.ends_with("kubectl get configmaps cfg -n crs -o yaml")),
            "{:?}",
            o.fix
        );
    }

    #[test]
    fn an_object_nothing_deleted_says_so_and_a_terminating_namespace_says_what_is_left() {
        let obj = json!({"metadata": {"name": "cfg", "uid": "u1"}});
        let o = held(&obj, &resolved("ConfigMap", "configmaps", true), "crs");
        assert_eq!(o.state, "exists, not being deleted (no deletionTimestamp)");
        assert!(
            o.fix
                .iter()
                .any(|f| f.contains("kubectl delete configmaps cfg -n crs"))
        );
        let ns = json!({"metadata": {"name": "old", "deletionTimestamp": "2026-12-06T10:00:00Z"},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Terminating", "conditions": [
                {"type": "NamespaceContentRemaining", "status": "True", "message": "Some resources are remaining: pods. has 1 resource instances"},
                {"type": "NamespaceDeletionDiscoveryFailure", "status": "False", "message": "All resources successfully discovered"}]}});
        let o = held(&ns, &resolved("Namespace", "namespaces", false), "");
        assert_eq!(
            o.state,
            "being deleted (deletionTimestamp 2026-12-06T10:00:00Z), held by finalizers: kubernetes (spec)"
        );
        let cause = o.cause.unwrap_or_default();
        assert!(
            cause.contains("NamespaceContentRemaining: Some resources are remaining: pods"),
            "{cause}"
        );
        assert!(!cause.contains("successfully discovered"), "{cause}");
        assert!(
            o.fix
                .iter()
                .any(|f| f.ends_with("kubectl get namespaces old -o yaml")),
            "{:?}",
            o.fix
        );
    }

    #[test]
    fn a_hostile_name_or_resource_is_never_put_into_a_command() {
        let obj = json!({"metadata": {"name": "x; rm -rf /", "deletionTimestamp": "t"}});
        let o = held(&obj, &resolved("ConfigMap", "configmaps", true), "crs");
        assert!(o.fix.iter().all(|f| !f.contains("rm -rf")), "{:?}", o.fix);
    }

    #[test]
    fn many_finalizers_are_counted_beyond_the_first_eight() {
        let names: Vec<String> = (0..11).map(|i| format!("f{i}")).collect();
        assert_eq!(listed(&names), "f0, f1, f2, f3, f4, f5, f6, f7 (+3 more)");
    }
}
