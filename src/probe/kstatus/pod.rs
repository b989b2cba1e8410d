//! A Pod: ready when its `Ready` condition is `True`, or when it `Succeeded`; `Failed` ends the
//! wait (exit 1) naming the container that failed. While it is not ready the state names the
//! first thing holding it: a container in `CrashLoopBackOff` (whatever the conditions say),
//! else the scheduler's message (`Unschedulable`), else the first container not ready with its
//! waiting reason (`ImagePullBackOff`, `CreateContainerConfigError`, ...) and message. A crash-looping container is not a failure
//! for good (kstatus calls it failed): the next restart may succeed before the deadline.

use serde_json::Value;

use super::{Check, Class, MESSAGE_MAX, NAME_MAX, Obj, Observation, printable, str_at};
use crate::probe::job::failed_pod;

pub(super) fn judge(o: &Obj<'_>) -> Check {
    let phase = o.str("/status/phase");
    let name = printable(o.name, NAME_MAX);
    match phase {
        "Succeeded" => return o.ready("completed (Succeeded)"),
        "Failed" => {
            let reason = printable(o.str("/status/reason"), 100);
            let detail = failed_pod(std::slice::from_ref(o.v));
            let state = match (&detail, reason.is_empty()) {
                (Some(d), _) => format!("failed: {d}"),
                (None, false) => format!("failed ({reason})"),
                (None, true) => "failed".to_string(),
            };
            return Check::Failed(
                Observation::new(Class::NotReady, state)
                    .cause(format!(
                        "{} ended in phase Failed{}: it does not run again, so kwait stops now instead of waiting for the deadline",
                        o.what(),
                        with(&reason, o.str("/status/message"))
                    ))
                    .fix(format!("see why: kubectl logs {name}{} --all-containers", o.ns_flag()))
                    .fix(o.describe_cmd()),
            );
        }
        _ => {}
    }
    if let Some(c) = o.condition("Ready").filter(|c| c.status == "True") {
        // A Ready of an older generation (a resized or re-imaged pod's kubelet has not
        // reported on the change yet) is not ready.
        return o.judged_behind(&c).unwrap_or_else(|| o.ready("ready"));
    }
    let holding = not_ready(o.v);
    // A crash loop is named first: it is the cause the user must act on, whatever else the
    // conditions say (a PodScheduled=False left from before the pod was placed).
    let crashing = holding.iter().position(|h| h.reason == "CrashLoopBackOff");
    if let Some(c) = o
        .condition("PodScheduled")
        .filter(|c| c.status == "False" && !c.reason.is_empty() && crashing.is_none())
    {
        let reason = printable(c.reason, 100);
        let message = printable(c.message, MESSAGE_MAX);
        let (state, cause) = if message.is_empty() {
            (
                reason.to_ascii_lowercase(),
                format!("the scheduler cannot place {} ({reason})", o.what()),
            )
        } else {
            (
                format!("{}: {message}", reason.to_ascii_lowercase()),
                format!(
                    "the scheduler cannot place {} ({reason}): {message}",
                    o.what()
                ),
            )
        };
        return Check::Pending(
            Observation::new(Class::NotReady, state)
            .cause(cause)
            .fix("check the pod's resource requests, node selectors, affinities, tolerations and PersistentVolumeClaims against the nodes")
            .fix(o.describe_cmd()),
        );
    }
    if let Some(holding) = holding.into_iter().nth(crashing.unwrap_or(0)) {
        let mut obs = Observation::new(Class::NotReady, format!("not ready: {}", holding.line))
            .cause(format!("{} is not ready: {}", o.what(), holding.line));
        if let Some(fix) = holding.fix(&name, &o.ns_flag()) {
            obs = obs.fix(fix);
        }
        return Check::Pending(obs.fix(o.describe_cmd()));
    }
    let state = match phase {
        "" => "no phase yet (not seen by the scheduler or kubelet)".to_string(),
        "Running" => "running, not ready".to_string(),
        p => format!("{}, not ready", printable(p, 40)),
    };
    let ready = o
        .condition("Ready")
        .map(|c| format!("; {}", c.line("Ready")))
        .unwrap_or_default();
    o.pending(state, format!("{} is not ready{ready}", o.what()))
}

/// A container holding a pod back.
struct Holding {
    line: String,
    container: String,
    reason: String,
}

impl Holding {
    fn fix(&self, pod: &str, ns: &str) -> Option<String> {
        let c = &self.container;
        match self.reason.as_str() {
            "CrashLoopBackOff" | "Error" | "terminated" => Some(format!(
                "see why it exits: kubectl logs {pod} -c {c}{ns} --previous"
            )),
            "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" => Some(
                "check the image name and tag, and the pull secret (imagePullSecrets) for a private registry"
                    .to_string(),
            ),
            "CreateContainerConfigError" => Some(
                "a Secret or ConfigMap (or a key) the container refers to is missing".to_string(),
            ),
            "running" => Some(format!(
                "its readiness probe fails: kubectl logs {pod} -c {c}{ns}"
            )),
            _ => None,
        }
    }
}

/// Every container holding the pod back, in start order (init containers first).
fn not_ready(pod: &Value) -> Vec<Holding> {
    let mut out = Vec::new();
    let lists = [
        ("init container", "initContainerStatuses"),
        ("container", "containerStatuses"),
    ];
    for (label, list) in lists {
        let statuses = pod
            .pointer(&format!("/status/{list}"))
            .and_then(Value::as_array);
        for cs in statuses.into_iter().flatten() {
            let name = printable(str_at(cs, "/name"), 63);
            let restarts = cs.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
            let restarted = if restarts > 0 {
                format!(", restarted {restarts} times")
            } else {
                String::new()
            };
            if let Some(w) = cs.pointer("/state/waiting") {
                let reason = printable(str_at(w, "/reason"), 100);
                let inner = format!(
                    "{}{restarted}",
                    with(&reason, str_at(w, "/message")).trim_start_matches(": ")
                );
                let inner = inner.trim_start_matches(", ");
                out.push(Holding {
                    line: if inner.is_empty() {
                        format!("{label} {name} waiting")
                    } else {
                        format!("{label} {name} waiting ({inner})")
                    },
                    container: name,
                    reason,
                });
                continue;
            }
            if let Some(t) = cs.pointer("/state/terminated") {
                let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
                // A finished init container, or a sidecar-less pod's completed one, is done.
                if code == 0 {
                    continue;
                }
                let reason = printable(str_at(t, "/reason"), 100);
                out.push(Holding {
                    line: format!(
                        "{label} {name} terminated (exit code {code}{})",
                        with(&reason, str_at(t, "/message"))
                    ),
                    container: name,
                    reason: "terminated".to_string(),
                });
                continue;
            }
            if cs.get("ready").and_then(Value::as_bool) != Some(true) && label == "container" {
                out.push(Holding {
                    line: format!("{label} {name} running, not ready{restarted}"),
                    container: name,
                    reason: "running".to_string(),
                });
            }
        }
    }
    out
}

/// `: REASON: message` (escaped), or what of it there is.
fn with(reason: &str, message: &str) -> String {
    let message = printable(message, MESSAGE_MAX);
    match (reason.is_empty(), message.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(": {reason}"),
        (true, false) => format!(": {message}"),
        (false, false) => format!(": {reason}: {message}"),
    }
}
