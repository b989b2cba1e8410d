//! A Job's events: why the controller cannot create its pods (FailedCreate), and how a Job
//! that is gone ended (Completed, or the reason it failed), which outlive the Job by about an
//! hour (the API server's `--event-ttl`).

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
    newest(events, ns, job, uid, |r| r == "FailedCreate").map(|e| {
        let m = printable(text(e, "message"), MESSAGE_MAX);
        if m.is_empty() {
            "(no message)".to_string()
        } else {
            m
        }
    })
}

/// A field of the object an event is about (`involvedObject.FIELD`), or "".
fn involved<'a>(e: &'a Value, field: &str) -> &'a str {
    e.get("involvedObject").map_or("", |o| text(o, field))
}

/// The newest event about Job `ns/job` whose reason `reason` accepts; `uid` non-empty: only
/// events of that Job (not of an earlier or later Job of the same name).
fn newest<'a>(
    events: &'a [Value],
    ns: &str,
    job: &str,
    uid: &str,
    reason: impl Fn(&str) -> bool,
) -> Option<&'a Value> {
    events
        .iter()
        .filter(|e| {
            reason(text(e, "reason"))
                && involved(e, "kind") == "Job"
                && involved(e, "name") == job
                && [ns, ""].contains(&involved(e, "namespace"))
                && (uid.is_empty() || [uid, ""].contains(&involved(e, "uid")))
        })
        .max_by_key(|e| event_time(e))
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

/// The reasons the Job controller gives the event it records when a Job fails: the reason of
/// its `Failed` condition.
const FAILED_REASONS: &[&str] = &[
    "BackoffLimitExceeded",
    "DeadlineExceeded",
    "PodFailurePolicy",
    "FailedIndexes",
    "MaxFailedIndexesExceeded",
];

/// How a Job ended, as its newest ending event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ended {
    /// It completed (event `Completed`); else it failed for `reason`.
    pub(super) completed: bool,
    /// The event's reason (`Completed`, `BackoffLimitExceeded`, ...).
    pub(super) reason: String,
    /// Its message, on one line and cut short.
    pub(super) message: String,
    /// When it happened, as the event says (RFC 3339), or empty.
    pub(super) at: String,
    /// The Job's `metadata.uid` the event is about, or empty.
    pub(super) uid: String,
}

/// The newest event of Job `ns/job` that says how it ended (`Completed`, or a failure reason of
/// [`FAILED_REASONS`]); `uid` non-empty: only events of that Job (not of an earlier or later
/// Job of the same name).
pub(super) fn newest_ending(events: &[Value], ns: &str, job: &str, uid: &str) -> Option<Ended> {
    newest(events, ns, job, uid, |r| {
        r == "Completed" || FAILED_REASONS.contains(&r)
    })
    .map(|e| {
        let reason = text(e, "reason");
        Ended {
            completed: reason == "Completed",
            reason: reason.to_string(),
            message: printable(text(e, "message"), MESSAGE_MAX),
            // Printed only when it is a time as the API server writes it.
            at: happened_at(e)
                .filter(|t| {
                    !t.is_empty()
                        && t.len() <= 40
                        && t.bytes()
                            .all(|b| b.is_ascii_digit() || b"-:T.".contains(&b))
                })
                .map(|t| format!("{t}Z"))
                .unwrap_or_default(),
            uid: printable(involved(e, "uid"), 64),
        }
    })
}

/// When an event says it (last) happened, without the `Z`: the first of `lastTimestamp`,
/// `series.lastObservedTime`, `eventTime` and `metadata.creationTimestamp` (when it was
/// recorded) that is there.
fn happened_at(e: &Value) -> Option<String> {
    [
        "/lastTimestamp",
        "/series/lastObservedTime",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| e.pointer(p).and_then(Value::as_str))
    .map(|t| t.trim_end_matches('Z').to_string())
}

impl Ended {
    /// `completed at T (event Completed: Job completed)` or `failed at T (event
    /// BackoffLimitExceeded: MESSAGE)`.
    pub(super) fn words(&self) -> String {
        let how = if self.completed {
            "completed"
        } else {
            "failed"
        };
        let at = if self.at.is_empty() {
            String::new()
        } else {
            format!(" at {}", self.at)
        };
        let msg = if self.message.is_empty() {
            String::new()
        } else {
            format!(": {}", self.message)
        };
        format!("{how}{at} (event {}{msg})", self.reason)
    }
}
