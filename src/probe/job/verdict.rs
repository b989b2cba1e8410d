//! What a Job object says about itself: its counts, its verdict, and the judgement with its
//! state, cause and fixes.

use serde_json::Value;

use super::MESSAGE_MAX;
use crate::net::text::printable;
use crate::probe::{Check, Class, Observation};

/// The counts the Job controller writes in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// `status.active`: pods running (or pending).
    pub active: u64,
    /// `status.succeeded`.
    pub succeeded: u64,
    /// `status.failed`.
    pub failed: u64,
    /// `status.ready` (Kubernetes 1.24+): active pods whose Ready condition is true; `None`
    /// where the cluster does not write it.
    pub ready: Option<u64>,
}

/// The largest count the API can hold: Job counts are `int32`.
pub(super) const COUNT_MAX: u64 = i32::MAX as u64;

impl Counts {
    /// The counts of a Job object (absent fields are 0; invalid ones too, see [`Counts::read`]).
    pub fn of(job: &Value) -> Counts {
        Counts::read(job).unwrap_or_default()
    }

    /// The counts of a Job object, or which one is not a count (negative, fractional, beyond
    /// `int32`, not a number): `status.active is -1`.
    pub fn read(job: &Value) -> Result<Counts, String> {
        let n = |f: &str| -> Result<Option<u64>, String> {
            match job.pointer(&format!("/status/{f}")) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .filter(|n| *n <= COUNT_MAX)
                    .map(Some)
                    .ok_or_else(|| format!("status.{f} is {}", printable(&v.to_string(), 40))),
            }
        };
        Ok(Counts {
            active: n("active")?.unwrap_or(0),
            succeeded: n("succeeded")?.unwrap_or(0),
            failed: n("failed")?.unwrap_or(0),
            ready: n("ready")?,
        })
    }

    /// Pods may be stuck: none is active (the controller may be failing to create them), or
    /// fewer are ready than active. Where `ready` is not written, only the first.
    pub(super) fn looks_stuck(&self) -> bool {
        self.active == 0 || self.ready.is_some_and(|r| r < self.active)
    }
}

/// What a Job object says about itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// `Complete=True`.
    Complete(Counts),
    /// `Failed=True`, or `FailureTarget=True` (`target_only`: `Failed` not written yet).
    Failed {
        /// The condition's reason (`BackoffLimitExceeded`, `DeadlineExceeded`, ...).
        reason: String,
        /// The condition's message, on one line.
        message: String,
        /// Only `FailureTarget` is set: the controller is still terminating pods.
        target_only: bool,
        /// The counts.
        counts: Counts,
    },
    /// `SuccessCriteriaMet=True` without `Complete` yet: pods are still terminating.
    Succeeding(Counts),
    /// `spec.suspend` (or `Suspended=True`).
    Suspended(Counts),
    /// No status yet: the controller has not picked it up.
    NotStarted,
    /// Anything else: running, or waiting for pods.
    Running(Counts),
    /// A count in `status` is not a count (`status.active is -1`): the status cannot be read,
    /// so the Job is not judged.
    Invalid(String),
}

/// The condition of `type` with status `True`, if any.
pub(super) fn condition<'a>(job: &'a Value, kind: &str) -> Option<&'a Value> {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| {
            c.get("type").and_then(Value::as_str) == Some(kind)
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
}

pub(super) fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

/// Judges a Job object.
pub fn verdict(job: &Value) -> Verdict {
    let counts = match Counts::read(job) {
        Ok(c) => c,
        Err(what) => return Verdict::Invalid(what),
    };
    if condition(job, "Complete").is_some() {
        return Verdict::Complete(counts);
    }
    let failed = condition(job, "Failed").map(|c| (c, false));
    if let Some((c, target_only)) =
        failed.or_else(|| condition(job, "FailureTarget").map(|c| (c, true)))
    {
        let reason = one_line(text(c, "reason"));
        return Verdict::Failed {
            reason: if reason.is_empty() {
                "Failed".to_string()
            } else {
                reason
            },
            message: one_line(text(c, "message")),
            target_only,
            counts,
        };
    }
    if condition(job, "SuccessCriteriaMet").is_some() {
        return Verdict::Succeeding(counts);
    }
    if job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true)
        || condition(job, "Suspended").is_some()
    {
        return Verdict::Suspended(counts);
    }
    match job.get("status").and_then(Value::as_object) {
        None => Verdict::NotStarted,
        Some(s) if s.is_empty() => Verdict::NotStarted,
        Some(_) => Verdict::Running(counts),
    }
}

/// Judges the Job `ns/name`: ready when complete, failed for good when failed, pending
/// otherwise; the state carries the counts, so the waiter prints a line when they change.
pub fn judge(job: &Value, ns: &str, name: &str) -> Check {
    let object = format!("Job {ns}/{name}");
    let logs = format!("kubectl logs job/{name} -n {ns}");
    let describe = format!("kubectl describe job {name} -n {ns}");
    match verdict(job) {
        Verdict::Complete(c) => Check::Ready(format!(
            "{object} complete (succeeded {}, failed {})",
            c.succeeded, c.failed
        )),
        Verdict::Failed {
            reason,
            message,
            target_only,
            counts: c,
        } => {
            let head = if message.is_empty() {
                reason.clone()
            } else {
                format!("{reason}: {message}")
            };
            // Pods the controller saw end but has not added to the counts yet (Kubernetes
            // 1.26+ tracks them by uid first) count as what they are.
            let uncounted = |kind: &str| {
                job.pointer(&format!("/status/uncountedTerminatedPods/{kind}"))
                    .and_then(Value::as_array)
                    .map_or(0, |a| a.len() as u64)
            };
            let failed = c.failed.saturating_add(uncounted("failed"));
            let succeeded = c.succeeded.saturating_add(uncounted("succeeded"));
            // FailureTarget is written before the failed pods are counted: "failed 0" next
            // to the failed pod of the report would contradict it.
            let not_counted = target_only && failed == 0;
            let (tally, pods) = if not_counted {
                (
                    "its pods not counted yet".to_string(),
                    "the controller has not counted its failed pods yet (it writes FailureTarget first)".to_string(),
                )
            } else {
                (
                    format!("failed {failed}, succeeded {succeeded}"),
                    format!("{failed} pods failed, {succeeded} succeeded"),
                )
            };
            let state = format!("failed: {head} ({tally})");
            let why = match reason.as_str() {
                "BackoffLimitExceeded" => format!(
                    "its pods failed more often than spec.backoffLimit ({}) allows",
                    job.pointer("/spec/backoffLimit")
                        .and_then(Value::as_u64)
                        .unwrap_or(6)
                ),
                "DeadlineExceeded" => match job
                    .pointer("/spec/activeDeadlineSeconds")
                    .and_then(Value::as_u64)
                {
                    Some(s) => format!("it ran longer than spec.activeDeadlineSeconds ({s}s)"),
                    None => "it ran longer than spec.activeDeadlineSeconds".to_string(),
                },
                "PodFailurePolicy" => {
                    "a pod failure matched a FailJob rule of spec.podFailurePolicy".to_string()
                }
                "MaxFailedIndexesExceeded" => {
                    "more indexes failed than spec.maxFailedIndexes allows".to_string()
                }
                "FailedIndexes" => {
                    "some indexes failed for good (spec.backoffLimitPerIndex)".to_string()
                }
                _ => format!("the Job controller marked it Failed ({reason})"),
            };
            let target = if target_only {
                " (FailureTarget: the controller has decided and is terminating its pods)"
            } else {
                ""
            };
            Check::Failed(
                Observation::new(Class::NotReady, state)
                    .cause(format!(
                        "{object} failed{target}: {why}; {pods}. A failed Job does not run again, so kwait stops now instead of waiting for the deadline"
                    ))
                    .fix(format!("see why: {logs}"))
                    .fix(describe)
                    .fix("after fixing the cause, delete the Job and have it re-created (helm upgrade, flux reconcile, ...)"),
            )
        }
        Verdict::Succeeding(c) => Check::Pending(
            Observation::new(Class::NotReady, format!("succeeded, pods still terminating ({})", counts(c)))
                .cause(format!(
                    "{object} met its success criteria (SuccessCriteriaMet=True) but the controller has not marked it Complete yet: it is terminating its remaining pods"
                ))
                .fix(describe),
        ),
        Verdict::Suspended(c) => Check::Pending(
            Observation::new(Class::NotReady, "suspended")
                .cause(format!(
                    "{object} is suspended (spec.suspend: true; {}): no pods run until it is resumed, by a queue such as Kueue admitting it or by hand",
                    counts(c)
                ))
                .fix(format!(
                    "resume it: kubectl patch job {name} -n {ns} --type=merge -p '{{\"spec\":{{\"suspend\":false}}}}'"
                )),
        ),
        Verdict::Invalid(what) => Check::Pending(
            Observation::new(Class::Other, format!("invalid count: {what}"))
                .cause(format!(
                    "{object}'s status has a count that is not a whole number from 0 to {COUNT_MAX} ({what}); the Job controller never writes one, so kwait does not judge this status (the API server or something between may be broken)"
                ))
                .fix(format!("kubectl get job {name} -n {ns} -o yaml")),
        ),
        Verdict::NotStarted => Check::Pending(
            Observation::new(Class::NotReady, "created, not started yet (no status)")
                .cause(format!(
                    "{object} has no status yet: the Job controller has not picked it up (is kube-controller-manager running?)"
                ))
                .fix(describe),
        ),
        Verdict::Running(c) => {
            let retries = if c.failed > 0 {
                format!(
                    "; {} of its pods failed so far, and it retries up to spec.backoffLimit ({})",
                    c.failed,
                    job.pointer("/spec/backoffLimit")
                        .and_then(Value::as_u64)
                        .unwrap_or(6)
                )
            } else {
                String::new()
            };
            Check::Pending(
                Observation::new(Class::NotReady, format!("running ({})", counts(c)))
                    .cause(format!("{object} has not completed yet{retries}"))
                    .fix(format!("follow it: {logs} -f"))
                    .fix(describe),
            )
        }
    }
}

pub(super) fn counts(c: Counts) -> String {
    format!(
        "active {}, succeeded {}, failed {}",
        c.active, c.succeeded, c.failed
    )
}

pub(super) fn one_line(s: &str) -> String {
    printable(s, MESSAGE_MAX)
}
