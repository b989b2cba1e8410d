//! A Job's FailedCreate events: why the controller cannot create its pods.

use serde_json::Value;

use super::MESSAGE_MAX;
use super::verdict::text;
use crate::net::text::printable;

/// The report's word when listing events is forbidden.
pub(super) const EVENTS_FORBIDDEN: &str = "listing events is forbidden (optional: grant list on events to name why the Job creates no pod)";

/// What the FailedCreate events of a Job without pods said.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Events {
    /// The newest one's message, on one line and cut short.
    FailedCreate(String),
    /// There was none.
    None,
    /// They could not be read: why.
    Unreadable(String),
}

/// The message of the newest FailedCreate event of Job `ns/job` (`uid`: its `metadata.uid`;
/// events of an earlier Job of the same name are left out), on one line and cut short.
pub(super) fn newest_failed_create(
    events: &[Value],
    ns: &str,
    job: &str,
    uid: &str,
) -> Option<String> {
    let about = |e: &Value, f: &str| {
        e.pointer(&format!("/involvedObject/{f}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    events
        .iter()
        .filter(|e| {
            text(e, "reason") == "FailedCreate"
                && about(e, "kind") == "Job"
                && about(e, "name") == job
                && [ns, ""].contains(&about(e, "namespace").as_str())
                && (uid.is_empty() || [uid, ""].contains(&about(e, "uid").as_str()))
        })
        .max_by_key(|e| event_time(e))
        .map(|e| {
            let m = printable(text(e, "message"), MESSAGE_MAX);
            if m.is_empty() {
                "(no message)".to_string()
            } else {
                m
            }
        })
}

/// When an event last happened, as text that sorts in time order: the latest of
/// `lastTimestamp`, `series.lastObservedTime`, `eventTime` and `metadata.creationTimestamp`
/// (RFC 3339 in UTC, with or without a fraction: the `Z` is dropped so a fraction sorts after
/// the whole second).
pub(super) fn event_time(e: &Value) -> String {
    [
        "/lastTimestamp",
        "/series/lastObservedTime",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .filter_map(|p| e.pointer(p).and_then(Value::as_str))
    .map(|t| t.trim_end_matches('Z').to_string())
    .max()
    .unwrap_or_default()
}

/// What to do about a FailedCreate message of a common kind (the API server's wording of
/// an exceeded ResourceQuota, a PodSecurity admission denial, a missing ServiceAccount).
pub(super) fn failed_create_fix(ns: &str, msg: &str) -> Option<String> {
    if msg.contains("exceeded quota") {
        Some(format!(
            "a ResourceQuota is used up: see kubectl describe resourcequota -n {ns}; lower the Job's resource requests, raise the quota, or free it"
        ))
    } else if msg.contains("PodSecurity") {
        Some(format!(
            "PodSecurity admission refuses the pod: make its securityContext meet the namespace's level (see its pod-security.kubernetes.io/enforce label: kubectl get namespace {ns} --show-labels)"
        ))
    } else if msg.contains("serviceaccount") || msg.contains("service account") {
        Some(format!(
            "the pod's ServiceAccount does not exist: kubectl get serviceaccounts -n {ns}"
        ))
    } else {
        None
    }
}
pub(super) fn failed_create_events(ns: &str, job: &str) -> String {
    format!(
        "kubectl get events -n {ns} --field-selector involvedObject.kind=Job,involvedObject.name={job},reason=FailedCreate"
    )
}
