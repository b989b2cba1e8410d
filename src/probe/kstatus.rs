//! Whether any Kubernetes object is ready, by the rules of kstatus
//! (sigs.k8s.io/cli-utils/pkg/kstatus/status, restated here in our own words; a few stricter on
//! purpose, listed in README's wait-ready table), as small pure functions over the object's
//! JSON. `wait-ready` calls [`judge`] on every object it reads; `--condition` and `--json-path
//! --equals` replace it with [`judge_condition`] and [`judge_json_path`].
//!
//! Order of the rules (the first that decides wins):
//! 1. generic ([`generic`]): being deleted → not ready; `status.observedGeneration` behind
//!    `metadata.generation` → not ready ("waiting for the controller to observe generation N");
//!    `Reconciling=True` → not ready; `Stalled=True` → **failed** (exit 1) with its message
//!    (not ready when the Stalled condition's own `observedGeneration` is older than the spec's);
//! 2. the built-in types ([`workload`] for Deployment, StatefulSet, DaemonSet, ReplicaSet;
//!    [`pod`]; [`other`] for PVC, PV, Service, CRD, PodDisruptionBudget, APIService; a Job is
//!    judged by `wait-job`'s own [`job::judge`](super::job::judge));
//! 3. any other type: its `Ready` condition, where it has one, must be `True` and of the current
//!    generation (its own `observedGeneration`, else the status's, as kubectl reads it) (Flux HelmRelease, Kustomization, cert-manager, Crossplane ...); its message is
//!    shown. A custom resource without any status is not ready yet (its controller has not
//!    reported); one with a status but no `Ready` condition is ready (as kstatus).
//!
//! With `-l SELECTOR [--any]`, [`judge_selection`] folds the judgements of every matched object.
//!
//! The answer is a [`Check`]: `Ready(text)` completes "ready after 1.2s: ...", `Pending` and
//! `Failed` carry an [`Observation`] whose state line changes only when the object does. Every
//! piece of text that came from the server passes through [`printable`] before it is kept.

// Until `wait-ready` calls it (the lead wires the command line on top of this module).

mod generic;
mod other;
mod pod;
mod select;
mod workload;

use serde_json::Value;

use super::{Check, Class, Observation};
use crate::net::text::printable;

pub use generic::{judge_condition, judge_json_path};
pub use select::judge_selection;

/// Longest condition, container or scheduler message kept in a state line.
const MESSAGE_MAX: usize = 300;
/// Longest name kept (a DNS subdomain).
const NAME_MAX: usize = 253;

/// Judges any object by the kstatus rules (see the module comment).
pub fn judge(obj: &Value) -> Check {
    let o = Obj::of(obj);
    if let Some(c) = generic::rules(&o) {
        return c;
    }
    let core = matches!(
        o.group,
        "" | "apps" | "batch" | "policy" | "apiextensions.k8s.io"
    );
    match (o.group, o.kind.as_str()) {
        ("apps" | "extensions", "Deployment") => workload::deployment(&o),
        ("apps", "StatefulSet") => workload::statefulset(&o),
        ("apps" | "extensions", "DaemonSet") => workload::daemonset(&o),
        ("apps" | "extensions", "ReplicaSet") => workload::replicaset(&o),
        ("", "Pod") => pod::judge(&o),
        ("", "PersistentVolumeClaim") => other::pvc(&o, None),
        ("", "PersistentVolume") => other::pv(&o),
        ("", "Service") => other::service(&o),
        ("batch", "Job") => super::job::judge(
            obj,
            &printable(o.ns, NAME_MAX),
            &printable(o.name, NAME_MAX),
        ),
        ("policy", "PodDisruptionBudget") => other::pdb(&o),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => other::crd(&o),
        ("apiregistration.k8s.io", "APIService") => other::apiservice(&o),
        _ => generic::ready_condition(&o, core),
    }
}

/// Judges a PersistentVolumeClaim knowing its StorageClass (read by the probe where it may be):
/// a Pending claim of a `WaitForFirstConsumer` class says it waits for a pod to use it. Not used
/// by `wait-ready` yet: reading the class is cluster-scoped (a ClusterRole for a namespaced wait).
#[cfg(test)]
pub fn judge_pvc(pvc: &Value, storage_class: Option<&Value>) -> Check {
    let o = Obj::of(pvc);
    generic::rules(&o).unwrap_or_else(|| other::pvc(&o, storage_class))
}

/// The parts of an object every rule reads, escaped once.
struct Obj<'a> {
    v: &'a Value,
    /// `apps`, or "" for the core group.
    group: &'a str,
    /// The kind, escaped.
    kind: String,
    /// The namespace as sent ("" when cluster-scoped), for commands and the Job judgement.
    ns: &'a str,
    /// The name as sent.
    name: &'a str,
}

impl<'a> Obj<'a> {
    fn of(v: &'a Value) -> Obj<'a> {
        let api = str_at(v, "/apiVersion");
        let group = api.rsplit_once('/').map_or("", |(g, _)| g);
        Obj {
            v,
            group,
            kind: printable(str_at(v, "/kind"), NAME_MAX),
            ns: str_at(v, "/metadata/namespace"),
            name: str_at(v, "/metadata/name"),
        }
    }

    /// `Deployment crs/web`.
    fn what(&self) -> String {
        let name = printable(self.name, NAME_MAX);
        if self.ns.is_empty() {
            format!("{} {name}", self.kind)
        } else {
            format!("{} {}/{name}", self.kind, printable(self.ns, NAME_MAX))
        }
    }

    /// `-n crs` for a command line, or nothing for a cluster-scoped object.
    fn ns_flag(&self) -> String {
        if self.ns.is_empty() {
            String::new()
        } else {
            format!(" -n {}", printable(self.ns, NAME_MAX))
        }
    }

    /// `kubectl describe deployment web -n crs`.
    fn describe_cmd(&self) -> String {
        format!(
            "kubectl describe {} {}{}",
            self.kind.to_ascii_lowercase(),
            printable(self.name, NAME_MAX),
            self.ns_flag()
        )
    }

    fn int(&self, pointer: &str, default: i64) -> i64 {
        self.v
            .pointer(pointer)
            .and_then(Value::as_i64)
            .unwrap_or(default)
    }

    fn str(&self, pointer: &str) -> &'a str {
        str_at(self.v, pointer)
    }

    /// The condition of `type`, if any.
    fn condition(&self, kind: &str) -> Option<Cond<'a>> {
        self.find_condition(|t| t == kind)
    }

    /// The first condition whose type is `kind` without regard to case, as `kubectl wait
    /// --for=condition=` compares them (`ready` finds `Ready`).
    fn condition_any_case(&self, kind: &str) -> Option<Cond<'a>> {
        self.find_condition(|t| t.eq_ignore_ascii_case(kind))
    }

    fn find_condition(&self, matches: impl Fn(&str) -> bool) -> Option<Cond<'a>> {
        self.v
            .pointer("/status/conditions")
            .and_then(Value::as_array)?
            .iter()
            .find(|c| matches(str_at(c, "/type")))
            .map(|c| Cond {
                kind: str_at(c, "/type"),
                status: str_at(c, "/status"),
                reason: str_at(c, "/reason"),
                message: str_at(c, "/message"),
                observed: c.get("observedGeneration").and_then(Value::as_i64),
            })
    }

    /// `metadata.generation`, where set.
    fn generation(&self) -> Option<i64> {
        self.v
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
    }

    /// `status.observedGeneration`, where set.
    fn status_observed(&self) -> Option<i64> {
        self.v
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
    }

    /// `(judged, current)` when condition `c` judged an older generation than the spec's: the
    /// generation a condition judged is its own `observedGeneration`, else the status's (as
    /// `kubectl wait` reads it); `None` when it is current or nothing says.
    fn behind(&self, c: &Cond<'_>) -> Option<(i64, i64)> {
        let judged = c.observed.or_else(|| self.status_observed())?;
        let current = self.generation()?;
        (judged < current).then_some((judged, current))
    }

    /// Pending when condition `c` judged an older generation than the spec's ([`Self::behind`]):
    /// "Ready condition is of generation 1, waiting for generation 2".
    fn judged_behind(&self, c: &Cond<'_>) -> Option<Check> {
        let (seen, g) = self.behind(c)?;
        let kind = printable(c.kind, 100);
        Some(self.pending(
            format!("{kind} condition is of generation {seen}, waiting for generation {g}"),
            format!(
                "{} reports {} for generation {seen} of its spec, and the spec is at generation {g}: its controller has not judged the latest change yet",
                self.what(),
                c.line(&kind)
            ),
        ))
    }

    fn pending(&self, state: String, cause: String) -> Check {
        Check::Pending(
            Observation::new(Class::NotReady, state)
                .cause(cause)
                .fix(self.describe_cmd()),
        )
    }

    fn ready(&self, text: impl std::fmt::Display) -> Check {
        Check::Ready(format!("{} {text}", self.what()))
    }
}

/// One entry of `status.conditions`, as sent.
#[derive(Debug, Clone, Copy)]
struct Cond<'a> {
    /// The type as sent (`Ready`).
    kind: &'a str,
    status: &'a str,
    reason: &'a str,
    message: &'a str,
    observed: Option<i64>,
}

impl Cond<'_> {
    /// `Ready=False (InstallFailed): the message`, escaped.
    fn line(&self, kind: &str) -> String {
        let mut s = format!("{kind}={}", printable(self.status, 20));
        if !self.reason.is_empty() {
            s.push_str(&format!(" ({})", printable(self.reason, 100)));
        }
        if !self.message.is_empty() {
            s.push_str(&format!(": {}", printable(self.message, MESSAGE_MAX)));
        }
        s
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests;
