//! A Job's pods: how to find them, which one does not run and why, which one failed and how.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::events::Events;
use super::verdict::{Counts, one_line, text};
use crate::net::text::printable;

/// How often, at most, the pods of a Job that may be stuck are listed while waiting (the
/// report at the end lists them once more). A Job's status does not change while its pod is in
/// ImagePullBackOff, so only its pods tell; reading them on every check would double the
/// requests of a long wait, once a minute adds at most one LIST a minute, and only while the
/// Job has no pod active or fewer ready than active.
pub const POD_LOOK_EVERY: Duration = Duration::from_secs(60);

/// Container waiting reasons that mean the pod will not run by itself soon.
pub(super) const STUCK_REASONS: &[&str] = &[
    "ImagePullBackOff",
    "ErrImagePull",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// The report's word when listing pods is forbidden.
pub(super) const PODS_FORBIDDEN: &str = "listing pods is forbidden (optional: grant list on pods to see why the Job's pods do not run, or how they failed)";

/// Which pods to read: those of Job `job` (`uid`, `counts` as last seen), by the first of
/// `selectors` that finds any.
#[derive(Debug, Clone, PartialEq)]
pub struct PodQuery {
    /// The Job's name.
    pub job: String,
    /// The Job's `metadata.uid`.
    pub uid: String,
    /// The Job's counts when it was judged.
    pub counts: Counts,
    /// Label selectors, best first.
    pub selectors: Vec<String>,
}

/// What the last look at a Job's pods found, and for which state of the Job.
#[derive(Debug, Clone)]
pub(super) struct Look {
    pub(super) job: String,
    pub(super) uid: String,
    pub(super) counts: Counts,
    pub(super) at: Instant,
    pub(super) found: Found,
    /// What the Job's FailedCreate events said, where they were read for this look.
    pub(super) events: Option<Events>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Found {
    /// A pod that does not run, and why.
    Stuck(StuckPod),
    /// No pod carries the Job's labels.
    NoPods,
    /// This many pods, none stuck.
    Fine(usize),
    /// The pods could not be read: why.
    Unreadable(String),
}

/// Why one of a Job's pods does not run: a container waiting for a reason in
/// [`STUCK_REASONS`], or `PodScheduled=False` (`Unschedulable`, `SchedulingGated`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckPod {
    /// The pod.
    pub pod: String,
    /// The container, for a container's waiting reason.
    pub container: Option<String>,
    /// `ImagePullBackOff`, `Unschedulable`, ...
    pub reason: String,
    /// The kubelet's or scheduler's message, on one line.
    pub message: String,
}

impl StuckPod {
    /// For the state: `pod P REASON: MESSAGE` (the message cut short).
    pub(super) fn short(&self) -> String {
        let mut s = format!("pod {} {}", self.pod, self.reason);
        if !self.message.is_empty() {
            s.push_str(&format!(": {}", printable(&self.message, 120)));
        }
        s
    }

    /// For the cause and the report: `P container C REASON: MESSAGE`.
    pub(super) fn long(&self) -> String {
        let mut s = self.pod.clone();
        if let Some(c) = &self.container {
            s.push_str(&format!(" container {c}"));
        }
        s.push_str(&format!(" {}", self.reason));
        if !self.message.is_empty() {
            s.push_str(&format!(": {}", self.message));
        }
        s
    }

    pub(super) fn fix(&self, ns: &str) -> String {
        let pod = &self.pod;
        let describe = format!("kubectl describe pod {pod} -n {ns}");
        match self.reason.as_str() {
            "ImagePullBackOff" | "ErrImagePull" | "ErrImageNeverPull" | "InvalidImageName" => {
                format!(
                    "the image cannot be pulled: check its name and tag, and imagePullSecrets for a private registry: {describe}"
                )
            }
            "CrashLoopBackOff" => {
                format!(
                    "the container keeps crashing; see why: kubectl logs {pod} -n {ns} --previous"
                )
            }
            "CreateContainerConfigError" => format!(
                "a Secret or ConfigMap (or a key in one) that the pod uses is missing: {describe}"
            ),
            "Unschedulable" => format!(
                "no node can take the pod (resources, nodeSelector, affinity, taints, a PersistentVolumeClaim): {describe}"
            ),
            _ => describe,
        }
    }
}

/// The cause when a started Job has no pod at all.
pub(super) fn no_pod_cause(ns: &str, job: &str) -> String {
    format!(
        "Job {ns}/{job} started but no pod of it exists: most likely the Job controller's pod creation is refused (event FailedCreate: an exceeded ResourceQuota, PodSecurity admission, a LimitRange, a missing ServiceAccount)"
    )
}

pub(super) fn uid_of(job: &Value) -> String {
    job.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// A label key or value (or a name) as the API validates them; anything else from the server
/// is not put in a selector.
pub(super) fn label_ok(s: &str) -> bool {
    s.len() <= 316
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
}

/// Label selectors that find the pods of `job` (named `name`), best first: the Job's own
/// `spec.selector.matchLabels`, which the API server fills in (`batch.kubernetes.io/controller-uid`
/// on 1.27+, `controller-uid` before) and which is exactly what the Job controller counts;
/// where it is missing, the controller-uid labels, then the job-name labels.
pub(super) fn pod_selectors(job: &Value, name: &str) -> Vec<String> {
    let labels: Vec<(String, &str)> = job
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    if !labels.is_empty()
        && labels
            .iter()
            .all(|(k, v)| label_ok(k) && label_ok(v) && !k.is_empty())
    {
        let sel: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        return vec![sel.join(",")];
    }
    let mut out = Vec::new();
    let uid = uid_of(job);
    if !uid.is_empty() && label_ok(&uid) {
        out.push(format!("batch.kubernetes.io/controller-uid={uid}"));
        out.push(format!("controller-uid={uid}"));
    }
    if label_ok(name) && !name.is_empty() {
        out.push(format!("batch.kubernetes.io/job-name={name}"));
        out.push(format!("job-name={name}"));
    }
    out
}

/// The newest pod that does not run by itself (see [`StuckPod`]); pods that ended or are
/// being deleted do not count.
pub fn stuck_pod(pods: &[Value]) -> Option<StuckPod> {
    let mut best: Option<(&str, StuckPod)> = None;
    for pod in pods {
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        let status = pod.get("status").unwrap_or(&Value::Null);
        if matches!(text(status, "phase"), "Succeeded" | "Failed") {
            continue;
        }
        let name = pod.get("metadata").map_or("?", |m| text(m, "name"));
        let waiting = ["initContainerStatuses", "containerStatuses"]
            .iter()
            .filter_map(|l| status.get(*l).and_then(Value::as_array))
            .flatten()
            .find_map(|cs| {
                let w = cs.pointer("/state/waiting")?;
                let reason = STUCK_REASONS.iter().find(|r| **r == text(w, "reason"))?;
                Some(StuckPod {
                    pod: printable(name, 253),
                    container: Some(printable(text(cs, "name"), 63)),
                    reason: (*reason).to_string(),
                    message: one_line(text(w, "message")),
                })
            });
        let unscheduled = || {
            status
                .get("conditions")
                .and_then(Value::as_array)?
                .iter()
                .find(|c| text(c, "type") == "PodScheduled" && text(c, "status") == "False")
                .and_then(|c| {
                    let reason = ["Unschedulable", "SchedulingGated"]
                        .into_iter()
                        .find(|r| *r == text(c, "reason"))?;
                    Some(StuckPod {
                        pod: printable(name, 253),
                        container: None,
                        reason: reason.to_string(),
                        message: one_line(text(c, "message")),
                    })
                })
        };
        let Some(found) = waiting.or_else(unscheduled) else {
            continue;
        };
        let created = pod
            .pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .unwrap_or("");
        if best.as_ref().is_none_or(|(b, _)| created >= *b) {
            best = Some((created, found));
        }
    }
    best.map(|(_, p)| p)
}

/// The latest failure among a Job's pods: `POD container C exited N (REASON): MESSAGE`, from
/// the container's current or previous termination; a pod failed without a terminated
/// container (evicted, deadline) as `POD failed (REASON): MESSAGE`.
pub fn failed_pod(pods: &[Value]) -> Option<String> {
    let mut best: Option<(String, String)> = None; // (finishedAt, text)
    let mut offer = |at: &str, text: String| {
        if best.as_ref().is_none_or(|(b, _)| at >= b.as_str()) {
            best = Some((at.to_string(), text));
        }
    };
    for pod in pods {
        let name = printable(
            pod.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("?"),
            253,
        );
        let mut found = false;
        for list in ["initContainerStatuses", "containerStatuses"] {
            let statuses = pod
                .pointer(&format!("/status/{list}"))
                .and_then(Value::as_array);
            for cs in statuses.into_iter().flatten() {
                for which in ["/lastState/terminated", "/state/terminated"] {
                    let Some(t) = cs.pointer(which) else { continue };
                    let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
                    if code == 0 {
                        continue;
                    }
                    found = true;
                    let mut s = format!(
                        "{name} container {} exited {code}",
                        printable(text(cs, "name"), 253)
                    );
                    let reason = one_line(text(t, "reason"));
                    if !reason.is_empty() {
                        s.push_str(&format!(" ({reason})"));
                    }
                    // A termination message is whatever the container wrote (newlines, ESC).
                    let msg = one_line(text(t, "message"));
                    if !msg.is_empty() {
                        s.push_str(&format!(": {msg}"));
                    }
                    let at = text(t, "finishedAt");
                    offer(at, s);
                }
            }
        }
        if !found && pod.pointer("/status/phase").and_then(Value::as_str) == Some("Failed") {
            let status = pod.get("status").unwrap_or(&Value::Null);
            let mut s = format!("{name} failed");
            let reason = one_line(text(status, "reason"));
            if !reason.is_empty() {
                s.push_str(&format!(" ({reason})"));
            }
            let msg = one_line(text(status, "message"));
            if !msg.is_empty() {
                s.push_str(&format!(": {msg}"));
            }
            let at = pod
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .unwrap_or("");
            offer(at, s);
        }
    }
    best.map(|(_, t)| t)
}
