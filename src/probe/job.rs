//! `wait-job (NAME | -l SELECTOR)`: ready when the Job completed; failed at once when it failed.
//!
//! The judgement follows the Job controller of Kubernetes 1.31+ and older clusters alike:
//! `Complete=True` is ready (1.31+ writes `SuccessCriteriaMet=True` first, while pods are still
//! terminating: that is not ready yet); `Failed=True`, or `FailureTarget=True` (1.31+: the
//! controller decided and is terminating pods), is a failure for good. The failed count alone
//! means nothing: a Job whose pods failed before one succeeded is complete.
//!
//! A Job is not there for one of two reasons the API cannot tell apart: it was not created yet,
//! or it ran and was deleted (`ttlSecondsAfterFinished`, a Helm hook-delete-policy). The probe
//! remembers what it saw, so "deleted after it was seen" is told apart from "never found";
//! `--if-missing wait|succeed|fail` says what a missing Job means. `wait` keeps waiting in
//! both cases (a deleted Job may be re-created), and says so in the state.
//!
//! A Job whose pods cannot run (ImagePullBackOff, CrashLoopBackOff, Unschedulable, a missing
//! Secret, or no pod at all because the controller's pod creation is refused) shows nothing of
//! it in its own status. While a Job has no pod active, or fewer ready than active, its pods are
//! read (the optional `list pods` permission) once at once and then at most once per
//! [`POD_LOOK_EVERY`], and once more for the report; the state and the report name what they
//! found. A status count that is not a count is reported as invalid, never read as 0.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::api::{self, Ctx};
use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::kube::{ApiError, EVENTS, JOBS, Kube, PODS};
use crate::net::text::printable;
use crate::plan::{IfMissing, JobSelect};
use crate::rbac::Rule;

/// The state of a Job that was seen and then deleted.
pub const DELETED: &str = "deleted after it was seen (ttlSecondsAfterFinished?)";

/// Longest condition or termination message kept in a state or report line.
const MESSAGE_MAX: usize = 300;

/// Waits for a Job, or for the newest (or every) Job matching a label selector.
#[derive(Debug)]
pub struct JobProbe {
    kube: Kube,
    rules: Vec<Rule>,
    role: String,
    tracker: Tracker,
}

impl JobProbe {
    /// A probe for the Job(s) `select` finds in the client's namespace.
    pub fn new(
        kube: Kube,
        select: JobSelect,
        all: bool,
        if_missing: IfMissing,
        rules: Vec<Rule>,
        role: String,
    ) -> Self {
        let tracker = Tracker::new(&kube.namespace, select, all, if_missing);
        JobProbe {
            kube,
            rules,
            role,
            tracker,
        }
    }
}

impl Probe for JobProbe {
    fn describe(&self) -> String {
        self.tracker.describe()
    }

    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        self.kube.bound(attempt_timeout);
        Box::pin(async move {
            let got = match &self.tracker.select {
                JobSelect::Name(name) => self
                    .kube
                    .get(&JOBS, name)
                    .await
                    .map(|job| job.into_iter().collect::<Vec<_>>()),
                JobSelect::Selector(labels) => self.kube.list(&JOBS, labels).await.map(|l| l.items),
            };
            match got {
                Ok(items) => {
                    let mut check = self.tracker.observe(&items);
                    // A Job that may be stuck: its pods say why (rate-limited, see POD_LOOK_EVERY).
                    if let Some(q) = self.tracker.look_due(Instant::now()) {
                        let (pods, by) = self.read_pods(&q.selectors).await;
                        self.tracker.looked(q, &pods, by, Instant::now());
                        self.read_events_if_due().await;
                        check = self.tracker.observe(&items);
                    }
                    // No watch covers the pods: while the Job may be stuck, look again when the
                    // next look is due, even if the Job itself does not change.
                    if let Check::Pending(obs) = &mut check
                        && self.tracker.may_be_stuck()
                    {
                        obs.recheck = Some(POD_LOOK_EVERY);
                    }
                    check
                }
                Err(e) => Check::Pending(api::observe(
                    &e,
                    &Ctx {
                        kube: &self.kube,
                        res: &JOBS,
                        rules: &self.rules,
                        role: &self.role,
                    },
                )),
            }
        })
    }

    /// The last failed pod of the failed Job (or, after a timeout, of a Job whose pods failed):
    /// its container, exit code, reason and termination message; and, for a Job that may be
    /// stuck, the pod that does not run and why (or that it has no pod at all). One LIST of
    /// pods serves both where it is the same Job.
    fn explain(&mut self) -> BoxFuture<'_, Vec<(String, String)>> {
        Box::pin(async move {
            let mut lines = Vec::new();
            let mut read: Option<(String, Result<Vec<Value>, ApiError>)> = None;
            if let Some(job) = self.tracker.culprit.clone() {
                let selectors = self.tracker.query(&job).map_or_else(
                    || {
                        vec![
                            format!("batch.kubernetes.io/job-name={job}"),
                            format!("job-name={job}"),
                        ]
                    },
                    |q| q.selectors,
                );
                let pods = if self.tracker.pods_forbidden {
                    Err(forbidden())
                } else {
                    self.read_pods(&selectors).await.0
                };
                let text = match &pods {
                    Ok(items) if items.is_empty() => {
                        format!("no pods of Job {job} are left to read (they were deleted)")
                    }
                    Ok(items) => failed_pod(items).unwrap_or_else(|| {
                        format!(
                            "none of the {} pods of Job {job} shows a failed container",
                            items.len()
                        )
                    }),
                    Err(e) if e.class == Class::Forbidden => {
                        self.tracker.pods_forbidden = true;
                        format!("pod details were not readable: {PODS_FORBIDDEN}")
                    }
                    Err(e) => format!(
                        "pod details were not readable: {}",
                        printable(&e.message, MESSAGE_MAX)
                    ),
                };
                lines.push(("failed pod".to_string(), text));
                read = Some((job, pods));
            }
            if let Some(q) = self
                .tracker
                .stuck
                .clone()
                .and_then(|j| self.tracker.query(&j))
            {
                let (pods, by) = match read {
                    Some((job, pods)) if job == q.job => (pods, None),
                    _ if self.tracker.pods_forbidden => (Err(forbidden()), None),
                    _ => self.read_pods(&q.selectors).await,
                };
                self.tracker.looked(q, &pods, by, Instant::now());
                self.read_events_if_due().await;
                if let Some(line) = self.tracker.pods_line() {
                    lines.push(("pods".to_string(), line));
                }
            }
            lines
        })
    }
}

impl JobProbe {
    /// The pods found by the first of `selectors` that finds any, and that selector.
    async fn read_pods(
        &self,
        selectors: &[String],
    ) -> (Result<Vec<Value>, ApiError>, Option<String>) {
        for sel in selectors {
            match self.kube.list(&PODS, sel).await {
                Ok(l) if l.items.is_empty() => {}
                Ok(l) => return (Ok(l.items), Some(sel.clone())),
                Err(e) => return (Err(e), None),
            }
        }
        (Ok(Vec::new()), None)
    }

    /// After a look that found no pod of a started Job: the Job's FailedCreate events, which
    /// name why the controller cannot create its pods (one LIST per look, so rate-limited
    /// like the look; never again once refused, see [`Tracker::events_due`]).
    async fn read_events_if_due(&mut self) {
        let Some(job) = self.tracker.events_due() else {
            return;
        };
        let fields = format!(
            "involvedObject.kind=Job,involvedObject.name={job},involvedObject.namespace={},reason=FailedCreate",
            self.kube.namespace
        );
        let events = self
            .kube
            .list_fields(&EVENTS, &fields)
            .await
            .map(|l| l.items);
        self.tracker.events_read(&events);
    }
}

/// A listing of pods known to be forbidden, without asking again.
fn forbidden() -> ApiError {
    ApiError {
        class: Class::Forbidden,
        code: Some(403),
        message: PODS_FORBIDDEN.to_string(),
        retry_after: None,
    }
}

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
const COUNT_MAX: u64 = i32::MAX as u64;

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
    fn looks_stuck(&self) -> bool {
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
fn condition<'a>(job: &'a Value, kind: &str) -> Option<&'a Value> {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| {
            c.get("type").and_then(Value::as_str) == Some(kind)
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
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
            let state = format!(
                "failed: {head} (failed {}, succeeded {})",
                c.failed, c.succeeded
            );
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
                        "{object} failed{target}: {why}; {} pods failed, {} succeeded. A failed Job does not run again, so kwait stops now instead of waiting for the deadline",
                        c.failed, c.succeeded
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

fn counts(c: Counts) -> String {
    format!(
        "active {}, succeeded {}, failed {}",
        c.active, c.succeeded, c.failed
    )
}

fn one_line(s: &str) -> String {
    printable(s, MESSAGE_MAX)
}

/// Where a Job sorts among the matches: by creationTimestamp, then by name with numbers
/// compared as numbers (`migrate-r10` after `migrate-r9`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    created: String,
    name: String,
}

impl Key {
    fn of(job: &Value) -> Key {
        let meta = |f: &str| {
            job.pointer(&format!("/metadata/{f}"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Key {
            created: meta("creationTimestamp"),
            // Printed in every state line: escaped (a server's LIST chose it), as long as a
            // valid name may be.
            name: printable(&meta("name"), 253),
        }
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        // RFC 3339 in UTC with whole seconds, as the API server writes it: text order is time order.
        self.created
            .cmp(&other.created)
            .then_with(|| natural(&self.name, &other.name))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares names with runs of digits compared as numbers.
fn natural(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (digits(a), digits(b));
                let trim = |s: &'_ [u8]| -> usize { s.iter().take_while(|c| **c == b'0').count() };
                let (na, nb) = (&a[trim(&a[..da])..da], &b[trim(&b[..db])..db]);
                let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if o != Ordering::Equal {
                    return o;
                }
                (a, b) = (&a[da..], &b[db..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

/// What was last seen of one Job.
#[derive(Debug, Clone)]
struct Seen {
    state: String,
    done: bool,
    /// `metadata.uid` (empty when absent).
    uid: String,
    /// Label selectors that find its pods, best first (see [`pod_selectors`]).
    selectors: Vec<String>,
    /// Its counts, where they were valid.
    counts: Option<Counts>,
}

/// The probe's judgement and memory, apart from the network so it can be tested on JSON:
/// which Jobs were seen (to tell "deleted after it was seen" from "never found"), which one
/// counted last, and which one's pods explain a failure.
#[derive(Debug)]
pub struct Tracker {
    ns: String,
    select: JobSelect,
    all: bool,
    if_missing: IfMissing,
    seen: BTreeMap<String, Seen>,
    counted: Option<Key>,
    culprit: Option<String>,
    /// The Job of the last judgement that is running but may be stuck (no pod active, or fewer
    /// ready than active): whose pods to look at.
    stuck: Option<String>,
    /// The last look at that Job's pods.
    look: Option<Look>,
    /// Listing pods was forbidden (an optional permission): not asked again.
    pods_forbidden: bool,
    /// Listing events was forbidden (an optional permission): not asked again.
    events_forbidden: bool,
}

impl Tracker {
    /// A tracker that has seen nothing yet.
    pub fn new(ns: &str, select: JobSelect, all: bool, if_missing: IfMissing) -> Self {
        Tracker {
            ns: ns.to_string(),
            select,
            all,
            if_missing,
            seen: BTreeMap::new(),
            counted: None,
            culprit: None,
            stuck: None,
            look: None,
            pods_forbidden: false,
            events_forbidden: false,
        }
    }

    /// What is being waited for.
    pub fn describe(&self) -> String {
        let policy = match self.if_missing {
            IfMissing::Wait => "",
            IfMissing::Succeed => " (--if-missing succeed)",
            IfMissing::Fail => " (--if-missing fail)",
        };
        match &self.select {
            JobSelect::Name(n) => format!("Job {}/{n}{policy}", self.ns),
            JobSelect::Selector(s) => format!(
                "{} Job in {} matching {s}{policy}",
                if self.all { "every" } else { "the newest" },
                self.ns
            ),
        }
    }

    /// Judges what one GET (zero or one Job) or LIST (the matching Jobs) returned.
    pub fn observe(&mut self, items: &[Value]) -> Check {
        self.stuck = None;
        let mut jobs: Vec<(Key, &Value)> = items.iter().map(|j| (Key::of(j), j)).collect();
        jobs.sort_by(|a, b| b.0.cmp(&a.0)); // newest first
        if self.all {
            self.observe_all(&jobs)
        } else {
            self.observe_one(&jobs)
        }
    }

    fn note(&mut self, name: &str, job: &Value, check: &Check) {
        let (state, done) = match check {
            Check::Ready(_) => ("complete".to_string(), true),
            Check::Pending(o) | Check::Failed(o) => (o.state.clone(), false),
        };
        let uid = uid_of(job);
        let selectors = match self.seen.get(name) {
            // Keep the selector that found its pods.
            Some(s) if s.uid == uid && s.selectors.len() == 1 => s.selectors.clone(),
            _ => pod_selectors(job, name),
        };
        let counts = Counts::read(job).ok();
        self.seen.insert(
            name.to_string(),
            Seen {
                state,
                done,
                uid,
                selectors,
                counts,
            },
        );
        if matches!(check, Check::Failed(_)) || Counts::of(job).failed > 0 {
            self.culprit = Some(name.to_string());
        }
    }

    /// By name, or the newest match of a selector.
    fn observe_one(&mut self, jobs: &[(Key, &Value)]) -> Check {
        let newest = jobs.first();
        // The Job that counted last time is gone, and nothing newer replaced it.
        if let Some(prev) = self.counted.clone()
            && !jobs.iter().any(|(k, _)| k.name == prev.name)
            && newest.is_none_or(|(k, _)| *k < prev)
        {
            return self.missing(&[prev.name]);
        }
        let Some((key, job)) = newest else {
            return self.missing(&[]);
        };
        let check = self.with_pods(&key.name, job, judge(job, &self.ns, &key.name));
        self.note(&key.name, job, &check);
        self.counted = Some(key.clone());
        let JobSelect::Selector(sel) = &self.select else {
            return check;
        };
        let n = jobs.len();
        let which = if n == 1 {
            format!("the only Job matching {sel}")
        } else {
            format!("the newest of {n} matching {sel}")
        };
        let prefix = if n == 1 {
            key.name.clone()
        } else {
            format!("{} (newest of {n})", key.name)
        };
        match check {
            Check::Ready(detail) => Check::Ready(format!("{detail}, {which}")),
            Check::Pending(mut o) => {
                o.state = format!("{prefix} {}", o.state);
                Check::Pending(o)
            }
            Check::Failed(mut o) => {
                o.state = format!("{prefix} {}", o.state);
                Check::Failed(o)
            }
        }
    }

    /// `--all`: every matching Job must complete; any failed one fails the wait.
    fn observe_all(&mut self, jobs: &[(Key, &Value)]) -> Check {
        let sel = match &self.select {
            JobSelect::Selector(s) => s.clone(),
            JobSelect::Name(n) => format!("metadata.name={n}"),
        };
        let mut done = Vec::new();
        let mut waiting = Vec::new();
        let mut failed: Option<Observation> = None;
        for (key, job) in jobs {
            let check = self.with_pods(&key.name, job, judge(job, &self.ns, &key.name));
            self.note(&key.name, job, &check);
            match check {
                Check::Ready(_) => done.push(key.name.clone()),
                Check::Pending(o) => waiting.push(format!("{} {}", key.name, o.state)),
                Check::Failed(mut o) => {
                    if failed.is_none() {
                        o.state = format!("{} {}", key.name, o.state);
                        failed = Some(o);
                        self.culprit = Some(key.name.clone());
                    }
                }
            }
        }
        if let Some(o) = failed {
            return Check::Failed(o);
        }
        let vanished: Vec<String> = self
            .seen
            .iter()
            .filter(|(n, s)| !s.done && !jobs.iter().any(|(k, _)| &k.name == *n))
            .map(|(n, _)| n.clone())
            .collect();
        if jobs.is_empty() && vanished.is_empty() {
            return self.missing(&[]);
        }
        let mut class = Class::NotReady;
        let mut note = String::new();
        if !vanished.is_empty() {
            match self.if_missing {
                IfMissing::Wait => {
                    class = Class::Gone;
                    waiting.extend(vanished.iter().map(|n| format!("{n} {DELETED}")));
                }
                IfMissing::Succeed => {
                    note = format!(
                        "; {} {DELETED}, treated as done (--if-missing succeed)",
                        vanished.join(", ")
                    );
                    done.extend(vanished.iter().cloned());
                }
                IfMissing::Fail => return self.missing(&vanished),
            }
        }
        let total = done.len() + waiting.len();
        if waiting.is_empty() {
            return Check::Ready(format!(
                "all {total} Jobs in {} matching {sel} complete: {}{note}",
                self.ns,
                done.join(", ")
            ));
        }
        let shown = waiting.len().min(3);
        let mut list = waiting[..shown].join(", ");
        if waiting.len() > shown {
            list.push_str(&format!(" and {} more", waiting.len() - shown));
        }
        let mut obs = Observation::new(
            class,
            format!("{} of {total} complete; waiting for {list}", done.len()),
        )
        .cause(format!(
            "--all: every Job in {} matching {sel} must complete; not yet: {}",
            self.ns,
            waiting.join(", ")
        ))
        .fix(format!("kubectl get jobs -l '{sel}' -n {}", self.ns));
        if class == Class::Gone {
            obs = obs
                .fix("a Job deleted after it was seen most likely finished and was removed by ttlSecondsAfterFinished or a Helm hook-delete-policy; if that means done, say so: --if-missing succeed");
        }
        Check::Pending(obs)
    }

    /// A running Job's judgement, with what the last look at its pods found where that look
    /// still applies (same Job, same counts): the stuck pod in the state, or "no pod created".
    /// Also notes the first Job that may be stuck, for [`Tracker::look_due`].
    fn with_pods(&mut self, name: &str, job: &Value, check: Check) -> Check {
        let Check::Pending(mut o) = check else {
            return check;
        };
        let Verdict::Running(counts) = verdict(job) else {
            return Check::Pending(o);
        };
        if !counts.looks_stuck() {
            return Check::Pending(o);
        }
        if self.stuck.is_none() {
            self.stuck = Some(name.to_string());
        }
        let uid = uid_of(job);
        let Some(look) = self
            .look
            .as_ref()
            .filter(|l| l.job == name && l.uid == uid && l.counts == counts)
        else {
            return Check::Pending(o);
        };
        let ns = &self.ns;
        match &look.found {
            Found::Stuck(p) => {
                o.state = format!("{}; {}", o.state, p.short());
                let cause = o.cause.take().unwrap_or_default();
                o.cause = Some(format!("{cause}; {}", p.long()));
                o.fix.insert(0, p.fix(ns));
            }
            Found::NoPods if counts.active == 0 && counts.failed == 0 => {
                if let Some(Events::FailedCreate(msg)) = &look.events {
                    o.state = format!("{}; no pod created: FailedCreate: {msg}", o.state);
                    o.cause = Some(format!(
                        "Job {ns}/{name} started but no pod of it exists: the Job controller's pod creation is refused (event FailedCreate): {msg}"
                    ));
                    o.fix.insert(0, failed_create_events(ns, name));
                    if let Some(fix) = failed_create_fix(ns, msg) {
                        o.fix.insert(0, fix);
                    }
                } else {
                    o.state = format!("{}; no pod created (FailedCreate?)", o.state);
                    o.cause = Some(no_pod_cause(ns, name));
                    o.fix.insert(0, failed_create_events(ns, name));
                }
            }
            _ => {}
        }
        Check::Pending(o)
    }

    /// Whether the last judgement found a running Job that may be stuck (its pods are looked
    /// at, at most once per [`POD_LOOK_EVERY`]).
    pub fn may_be_stuck(&self) -> bool {
        self.stuck.is_some()
    }

    /// The Job whose pods are due for a look: one that may be stuck, when there was no look
    /// yet or the last one is [`POD_LOOK_EVERY`] old, and listing pods is not forbidden.
    pub fn look_due(&self, now: Instant) -> Option<PodQuery> {
        if self.pods_forbidden
            || self
                .look
                .as_ref()
                .is_some_and(|l| now.saturating_duration_since(l.at) < POD_LOOK_EVERY)
        {
            return None;
        }
        self.query(self.stuck.as_deref()?)
            .filter(|q| !q.selectors.is_empty())
    }

    /// What to ask to read the pods of Job `name` as last seen.
    fn query(&self, name: &str) -> Option<PodQuery> {
        let seen = self.seen.get(name)?;
        Some(PodQuery {
            job: name.to_string(),
            uid: seen.uid.clone(),
            counts: seen.counts.unwrap_or_default(),
            selectors: seen.selectors.clone(),
        })
    }

    /// Records what reading the pods of `q.job` returned (`by`: the selector that found them).
    pub fn looked(
        &mut self,
        q: PodQuery,
        pods: &Result<Vec<Value>, ApiError>,
        by: Option<String>,
        now: Instant,
    ) {
        let found = match pods {
            Ok(pods) if pods.is_empty() => Found::NoPods,
            Ok(pods) => match stuck_pod(pods) {
                Some(p) => Found::Stuck(p),
                None => Found::Fine(pods.len()),
            },
            Err(e) if e.class == Class::Forbidden => {
                self.pods_forbidden = true;
                Found::Unreadable(PODS_FORBIDDEN.to_string())
            }
            Err(e) => Found::Unreadable(printable(&e.message, MESSAGE_MAX)),
        };
        if let (Some(by), Some(seen)) = (by, self.seen.get_mut(&q.job)) {
            seen.selectors = vec![by];
        }
        self.look = Some(Look {
            job: q.job,
            uid: q.uid,
            counts: q.counts,
            at: now,
            found,
            events: self
                .events_forbidden
                .then(|| Events::Unreadable(EVENTS_FORBIDDEN.to_string())),
        });
    }

    /// The Job whose FailedCreate events are due for a read: the last look found no pod of a
    /// started Job with none active or failed, its events were not read for that look yet, and
    /// listing events is not forbidden. At most one read per look.
    pub fn events_due(&self) -> Option<String> {
        let look = self.look.as_ref()?;
        (!self.events_forbidden
            && look.events.is_none()
            && look.found == Found::NoPods
            && look.counts.active == 0
            && look.counts.failed == 0
            && label_ok(&look.job))
        .then(|| look.job.clone())
    }

    /// Records what listing the FailedCreate events of the last look's Job returned.
    pub fn events_read(&mut self, events: &Result<Vec<Value>, ApiError>) {
        let Some(look) = self.look.as_mut() else {
            return;
        };
        look.events = Some(match events {
            Ok(items) => newest_failed_create(items, &self.ns, &look.job, &look.uid)
                .map_or(Events::None, Events::FailedCreate),
            Err(e) if e.class == Class::Forbidden => {
                self.events_forbidden = true;
                Events::Unreadable(EVENTS_FORBIDDEN.to_string())
            }
            Err(e) => Events::Unreadable(printable(&e.message, MESSAGE_MAX)),
        });
    }

    /// The report's line on the pods of the Job that may be stuck, from the last look.
    fn pods_line(&self) -> Option<String> {
        let look = self.look.as_ref()?;
        let (ns, job) = (&self.ns, &look.job);
        Some(match &look.found {
            Found::Stuck(p) => p.long(),
            Found::NoPods if look.counts.active == 0 && look.counts.failed == 0 => {
                match &look.events {
                    Some(Events::FailedCreate(msg)) => format!(
                        "no pod of Job {ns}/{job} exists: the Job controller's pod creation is refused: FailedCreate: {msg}; see: {}",
                        failed_create_events(ns, job)
                    ),
                    Some(Events::Unreadable(why)) => format!(
                        "{}; see: {}; its events were not readable: {why}",
                        no_pod_cause(ns, job),
                        failed_create_events(ns, job)
                    ),
                    Some(Events::None) | None => format!(
                        "{}; see: {}",
                        no_pod_cause(ns, job),
                        failed_create_events(ns, job)
                    ),
                }
            }
            Found::NoPods => format!("no pod of Job {ns}/{job} exists right now"),
            Found::Fine(n) => format!(
                "none of the {n} pods of Job {ns}/{job} is stuck (image pull, crash loop, scheduling, missing Secret or ConfigMap)"
            ),
            Found::Unreadable(why) => format!("pod states were not readable: {why}"),
        })
    }

    /// Nothing to judge: `gone` names the Jobs that were seen and are deleted now (empty:
    /// none was ever found). `--if-missing` decides.
    fn missing(&self, gone: &[String]) -> Check {
        let ns = &self.ns;
        let (what, get, events) = match &self.select {
            JobSelect::Name(n) => (
                format!("Job {ns}/{n}"),
                format!("kubectl get job {n} -n {ns} -o yaml"),
                format!(
                    "kubectl get events -n {ns} --field-selector involvedObject.kind=Job,involvedObject.name={n}"
                ),
            ),
            JobSelect::Selector(s) => (
                format!("no Job in {ns} matches {s}"),
                format!("kubectl get jobs -l '{s}' -n {ns} -o yaml"),
                match gone {
                    [one] => format!(
                        "kubectl get events -n {ns} --field-selector involvedObject.kind=Job,involvedObject.name={one}"
                    ),
                    _ => format!(
                        "kubectl get events -n {ns} --field-selector involvedObject.kind=Job"
                    ),
                },
            ),
        };
        let by_name = matches!(self.select, JobSelect::Name(_));
        let owners = format!(
            "find what creates it: its CronJob (kubectl get cronjobs -n {ns}), Helm release (helm history RELEASE -n {ns}) or Flux HelmRelease (kubectl get helmreleases -A)"
        );
        let events =
            format!("events outlive a deleted Job by about an hour (look for Completed): {events}");
        if gone.is_empty() {
            let subject = if by_name {
                format!("{what} does not exist")
            } else {
                what.clone()
            };
            return match self.if_missing {
                IfMissing::Succeed => Check::Ready(if by_name {
                    format!("{what} not found; treated as done (--if-missing succeed)")
                } else {
                    format!("{what}; treated as done (--if-missing succeed)")
                }),
                IfMissing::Fail => Check::Failed(
                    Observation::new(Class::NotFound, match &self.select {
                        JobSelect::Name(_) => "not found (--if-missing fail)".to_string(),
                        JobSelect::Selector(s) => format!("no Job matches {s} (--if-missing fail)"),
                    })
                    .cause(format!(
                        "{subject}, and --if-missing fail makes a missing Job a failure"
                    ))
                    .fix(format!("check: {get}"))
                    .fix(events)
                    .fix(owners),
                ),
                IfMissing::Wait => Check::Pending(
                    Observation::new(Class::NotFound, match &self.select {
                        JobSelect::Name(_) => "not found".to_string(),
                        JobSelect::Selector(s) => format!("no Job matches {s} yet"),
                    })
                    .cause(format!(
                        "{} does not exist: either it was not created yet, or it already completed and was removed by ttlSecondsAfterFinished (or a Helm hook-delete-policy) before kwait first looked; the API cannot tell these apart",
                        if by_name { what.clone() } else { format!("a Job matching {}", selector_of(&self.select)) }
                    ))
                    .fix(format!("check: {get}"))
                    .fix(events)
                    .fix(owners)
                    .fix("if a missing Job means it already ran, say so: --if-missing succeed"),
                ),
            };
        }
        let names = gone.join(", ");
        let last: Vec<String> = gone
            .iter()
            .filter_map(|n| self.seen.get(n).map(|s| format!("{n}: {}", s.state)))
            .collect();
        let seen_as = if last.is_empty() {
            String::new()
        } else {
            format!(" (last seen {})", last.join("; "))
        };
        let prefix = if by_name {
            String::new()
        } else {
            format!("{names} ")
        };
        let object = if by_name {
            what.clone()
        } else {
            format!("Job {ns}/{names}")
        };
        match self.if_missing {
            IfMissing::Succeed => Check::Ready(format!(
                "{object} {DELETED}; treated as done (--if-missing succeed)"
            )),
            IfMissing::Fail => Check::Failed(
                Observation::new(Class::Gone, format!("{prefix}{DELETED} (--if-missing fail)"))
                    .cause(format!(
                        "{object} existed{seen_as} and was deleted before kwait saw it complete, and --if-missing fail makes a missing Job a failure"
                    ))
                    .fix(events),
            ),
            IfMissing::Wait => Check::Pending(
                Observation::new(
                    Class::Gone,
                    if by_name {
                        format!("{DELETED}; waiting in case it is re-created")
                    } else {
                        format!("{prefix}{DELETED}; waiting for a newer matching Job")
                    },
                )
                .cause(format!(
                    "{object} existed{seen_as} and was deleted before kwait saw it complete: most likely it finished and ttlSecondsAfterFinished or a Helm hook-delete-policy removed it, or it was replaced or deleted by hand. kwait keeps waiting (--if-missing wait) in case it is re-created"
                ))
                .fix(format!("check: {get}"))
                .fix(events)
                .fix("if a deleted Job means it already ran, say so with --if-missing succeed, or keep it longer (a larger ttlSecondsAfterFinished)"),
            ),
        }
    }
}

fn selector_of(select: &JobSelect) -> &str {
    match select {
        JobSelect::Name(n) | JobSelect::Selector(n) => n,
    }
}

/// How often, at most, the pods of a Job that may be stuck are listed while waiting (the
/// report at the end lists them once more). A Job's status does not change while its pod is in
/// ImagePullBackOff, so only its pods tell; reading them on every check would double the
/// requests of a long wait, once a minute adds at most one LIST a minute, and only while the
/// Job has no pod active or fewer ready than active.
pub const POD_LOOK_EVERY: Duration = Duration::from_secs(60);

/// Container waiting reasons that mean the pod will not run by itself soon.
const STUCK_REASONS: &[&str] = &[
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
const PODS_FORBIDDEN: &str = "listing pods is forbidden (optional: grant list on pods to see why the Job's pods do not run, or how they failed)";

/// The report's word when listing events is forbidden.
const EVENTS_FORBIDDEN: &str = "listing events is forbidden (optional: grant list on events to name why the Job creates no pod)";

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
struct Look {
    job: String,
    uid: String,
    counts: Counts,
    at: Instant,
    found: Found,
    /// What the Job's FailedCreate events said, where they were read for this look.
    events: Option<Events>,
}

/// What the FailedCreate events of a Job without pods said.
#[derive(Debug, Clone, PartialEq)]
enum Events {
    /// The newest one's message, on one line and cut short.
    FailedCreate(String),
    /// There was none.
    None,
    /// They could not be read: why.
    Unreadable(String),
}

/// The message of the newest FailedCreate event of Job `ns/job` (`uid`: its `metadata.uid`;
/// events of an earlier Job of the same name are left out), on one line and cut short.
fn newest_failed_create(events: &[Value], ns: &str, job: &str, uid: &str) -> Option<String> {
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
fn event_time(e: &Value) -> String {
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
fn failed_create_fix(ns: &str, msg: &str) -> Option<String> {
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

#[derive(Debug, Clone, PartialEq)]
enum Found {
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
    fn short(&self) -> String {
        let mut s = format!("pod {} {}", self.pod, self.reason);
        if !self.message.is_empty() {
            s.push_str(&format!(": {}", printable(&self.message, 120)));
        }
        s
    }

    /// For the cause and the report: `P container C REASON: MESSAGE`.
    fn long(&self) -> String {
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

    fn fix(&self, ns: &str) -> String {
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
fn no_pod_cause(ns: &str, job: &str) -> String {
    format!(
        "Job {ns}/{job} started but no pod of it exists: most likely the Job controller's pod creation is refused (event FailedCreate: an exceeded ResourceQuota, PodSecurity admission, a LimitRange, a missing ServiceAccount)"
    )
}

fn failed_create_events(ns: &str, job: &str) -> String {
    format!(
        "kubectl get events -n {ns} --field-selector involvedObject.kind=Job,involvedObject.name={job},reason=FailedCreate"
    )
}

fn uid_of(job: &Value) -> String {
    job.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// A label key or value (or a name) as the API validates them; anything else from the server
/// is not put in a selector.
fn label_ok(s: &str) -> bool {
    s.len() <= 316
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
}

/// Label selectors that find the pods of `job` (named `name`), best first: the Job's own
/// `spec.selector.matchLabels`, which the API server fills in (`batch.kubernetes.io/controller-uid`
/// on 1.27+, `controller-uid` before) and which is exactly what the Job controller counts;
/// where it is missing, the controller-uid labels, then the job-name labels.
fn pod_selectors(job: &Value, name: &str) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A Job as the API returns it, with `status`.
    fn job(name: &str, created: &str, status: Value) -> Value {
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": "crs",
                "uid": "5b8c1f7e-1e63-4a52-a3a0-0c6f1d0c2a11",
                "creationTimestamp": created,
                "labels": {"app.kubernetes.io/component": "migrations"},
            },
            "spec": {
                "backoffLimit": 2,
                "completions": 1,
                "parallelism": 1,
                "suspend": false,
                "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": "app:1"}]}},
            },
            "status": status,
        })
    }

    fn cond(kind: &str, reason: &str, message: &str) -> Value {
        json!({
            "type": kind, "status": "True", "reason": reason, "message": message,
            "lastProbeTime": "2025-05-01T10:00:09Z", "lastTransitionTime": "2025-05-01T10:00:09Z",
        })
    }

    /// Status of a Job that succeeded on Kubernetes 1.31+.
    fn complete_131(failed: u64) -> Value {
        json!({
            "startTime": "2025-05-01T10:00:00Z", "completionTime": "2025-05-01T10:00:09Z",
            "succeeded": 1, "failed": failed, "terminating": 0, "ready": 0,
            "uncountedTerminatedPods": {},
            "conditions": [
                cond("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
                cond("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
            ],
        })
    }

    fn failed_131(reason: &str, message: &str) -> Value {
        json!({
            "startTime": "2025-05-01T10:00:00Z",
            "failed": 3, "terminating": 0, "ready": 0, "uncountedTerminatedPods": {},
            "conditions": [cond("FailureTarget", reason, message), cond("Failed", reason, message)],
        })
    }

    fn pending_state(c: &Check) -> &str {
        match c {
            Check::Pending(o) => &o.state,
            other => panic!("not pending: {other:?}"),
        }
    }

    fn failed_obs(c: &Check) -> &Observation {
        match c {
            Check::Failed(o) => o,
            other => panic!("not failed: {other:?}"),
        }
    }

    #[test]
    fn complete_is_ready() {
        let j = job("migrate", "2025-05-01T10:00:00Z", complete_131(0));
        assert_eq!(
            judge(&j, "crs", "migrate"),
            Check::Ready("Job crs/migrate complete (succeeded 1, failed 0)".into())
        );
    }

    #[test]
    fn failed_then_succeeded_is_ready() {
        // Two pods failed, the third succeeded: the failed count alone means nothing.
        let j = job("migrate", "2025-05-01T10:00:00Z", complete_131(2));
        assert_eq!(
            judge(&j, "crs", "migrate"),
            Check::Ready("Job crs/migrate complete (succeeded 1, failed 2)".into())
        );
    }

    #[test]
    fn each_failure_reason_fails_at_once_with_reason_message_and_counts() {
        let cases = [
            (
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                "more often than spec.backoffLimit (2)",
            ),
            (
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
                "spec.activeDeadlineSeconds",
            ),
            (
                "PodFailurePolicy",
                "Container migrate for pod crs/migrate-x7k2p failed with exit code 42 matching FailJob rule at index 0",
                "FailJob rule of spec.podFailurePolicy",
            ),
            (
                "MaxFailedIndexesExceeded",
                "Job has exceeded the specified maximal number of failed indexes",
                "spec.maxFailedIndexes",
            ),
            (
                "FailedIndexes",
                "Job has failed indexes",
                "spec.backoffLimitPerIndex",
            ),
        ];
        for (reason, message, why) in cases {
            let j = job(
                "migrate",
                "2025-05-01T10:00:00Z",
                failed_131(reason, message),
            );
            let c = judge(&j, "crs", "migrate");
            let o = failed_obs(&c);
            assert_eq!(o.class, Class::NotReady);
            assert_eq!(
                o.state,
                format!("failed: {reason}: {message} (failed 3, succeeded 0)")
            );
            let cause = o.cause.as_deref().unwrap_or_default();
            assert!(cause.contains(why), "{reason}: {cause}");
            assert!(!cause.contains("FailureTarget"), "{cause}");
            assert_eq!(o.fix[0], "see why: kubectl logs job/migrate -n crs");
            assert_eq!(o.fix[1], "kubectl describe job migrate -n crs");
        }
    }

    #[test]
    fn failure_target_alone_fails_at_once() {
        let status = json!({
            "startTime": "2025-05-01T10:00:00Z", "active": 0, "failed": 1, "terminating": 1,
            "conditions": [cond("FailureTarget", "PodFailurePolicy", "Container migrate for pod crs/migrate-abc failed with exit code 42 matching FailJob rule at index 0")],
        });
        let j = job("migrate", "2025-05-01T10:00:00Z", status);
        let c = judge(&j, "crs", "migrate");
        let o = failed_obs(&c);
        assert!(
            o.state
                .starts_with("failed: PodFailurePolicy: Container migrate for pod crs/migrate-abc failed with exit code 42"),
            "{}",
            o.state
        );
        assert!(o.state.ends_with("(failed 1, succeeded 0)"), "{}", o.state);
        assert!(
            o.cause
                .as_deref()
                .unwrap_or_default()
                .contains("FailureTarget")
        );
    }

    #[test]
    fn old_style_conditions_without_success_criteria_or_failure_target() {
        let done = json!({
            "startTime": "2021-05-01T10:00:00Z", "completionTime": "2021-05-01T10:00:09Z", "succeeded": 1,
            "conditions": [cond("Complete", "", "")],
        });
        assert_eq!(
            judge(&job("m", "2021-05-01T10:00:00Z", done), "crs", "m"),
            Check::Ready("Job crs/m complete (succeeded 1, failed 0)".into())
        );
        let failed = json!({
            "startTime": "2021-05-01T10:00:00Z", "failed": 7,
            "conditions": [cond("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")],
        });
        let c = judge(&job("m", "2021-05-01T10:00:00Z", failed), "crs", "m");
        assert_eq!(
            failed_obs(&c).state,
            "failed: BackoffLimitExceeded: Job has reached the specified backoff limit (failed 7, succeeded 0)"
        );
        // A Failed condition without reason or message still says something.
        let bare = json!({"failed": 1, "conditions": [{"type": "Failed", "status": "True"}]});
        let c = judge(&job("m", "", bare), "crs", "m");
        assert_eq!(
            failed_obs(&c).state,
            "failed: Failed (failed 1, succeeded 0)"
        );
    }

    #[test]
    fn false_conditions_are_ignored() {
        let status = json!({
            "active": 1, "startTime": "2025-05-01T10:00:00Z",
            "conditions": [{"type": "Failed", "status": "False"}, {"type": "Complete", "status": "False"}, {"type": "Suspended", "status": "False", "reason": "JobResumed"}],
        });
        assert_eq!(
            pending_state(&judge(&job("m", "", status), "crs", "m")),
            "running (active 1, succeeded 0, failed 0)"
        );
    }

    #[test]
    fn running_shows_the_counts() {
        let status = json!({"startTime": "2025-05-01T10:00:00Z", "active": 1, "failed": 1, "ready": 1, "terminating": 0});
        let c = judge(&job("m", "", status), "crs", "m");
        assert_eq!(
            pending_state(&c),
            "running (active 1, succeeded 0, failed 1)"
        );
        let Check::Pending(o) = &c else { panic!() };
        assert!(
            o.cause
                .as_deref()
                .unwrap_or_default()
                .contains("retries up to spec.backoffLimit (2)")
        );
    }

    #[test]
    fn success_criteria_met_without_complete_is_not_ready_yet() {
        let status = json!({
            "startTime": "2025-05-01T10:00:00Z", "active": 0, "succeeded": 1, "terminating": 1,
            "conditions": [cond("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods")],
        });
        assert_eq!(
            pending_state(&judge(&job("m", "", status), "crs", "m")),
            "succeeded, pods still terminating (active 0, succeeded 1, failed 0)"
        );
    }

    #[test]
    fn suspended_is_pending() {
        let mut j = job(
            "m",
            "",
            json!({"conditions": [cond("Suspended", "JobSuspended", "Job suspended")]}),
        );
        assert_eq!(pending_state(&judge(&j, "crs", "m")), "suspended");
        // Created suspended (Kueue): spec.suspend and no status yet.
        j["spec"]["suspend"] = json!(true);
        j["status"] = json!({});
        assert_eq!(pending_state(&judge(&j, "crs", "m")), "suspended");
    }

    #[test]
    fn no_status_yet_is_pending() {
        let mut j = job("m", "2025-05-01T10:00:00Z", json!({}));
        assert_eq!(
            pending_state(&judge(&j, "crs", "m")),
            "created, not started yet (no status)"
        );
        j.as_object_mut().map(|o| o.remove("status"));
        assert_eq!(
            pending_state(&judge(&j, "crs", "m")),
            "created, not started yet (no status)"
        );
    }

    #[test]
    fn long_multi_line_messages_are_cut_to_one_line() {
        let msg = format!("line one\nline two {}", "x".repeat(1000));
        let j = job("m", "", failed_131("PodFailurePolicy", &msg));
        let o = failed_obs(&judge(&j, "crs", "m")).clone();
        assert!(!o.state.contains('\n'));
        assert!(o.state.len() < 400, "{}", o.state.len());
        assert!(
            o.state
                .starts_with("failed: PodFailurePolicy: line one line two xxx")
        );
    }

    fn by_name(policy: IfMissing) -> Tracker {
        Tracker::new("crs", JobSelect::Name("migrate".into()), false, policy)
    }

    fn running() -> Value {
        json!({"startTime": "2025-05-01T10:00:00Z", "active": 1})
    }

    #[test]
    fn never_found_is_not_found_with_the_ttl_hint() {
        let mut t = by_name(IfMissing::Wait);
        let c = t.observe(&[]);
        let Check::Pending(o) = &c else {
            panic!("{c:?}")
        };
        assert_eq!((o.class, o.state.as_str()), (Class::NotFound, "not found"));
        let cause = o.cause.as_deref().unwrap_or_default();
        assert!(cause.contains("ttlSecondsAfterFinished"), "{cause}");
        assert_eq!(o.fix[0], "check: kubectl get job migrate -n crs -o yaml");
        assert!(
            o.fix
                .iter()
                .any(|f| f.contains("CronJob") && f.contains("HelmRelease"))
        );
        assert!(o.fix.iter().any(|f| f.contains("--if-missing succeed")));
        assert_eq!(t.describe(), "Job crs/migrate");
    }

    #[test]
    fn seen_then_deleted_says_ttl_and_keeps_waiting() {
        let mut t = by_name(IfMissing::Wait);
        let j = job("migrate", "2025-05-01T10:00:00Z", running());
        assert_eq!(
            pending_state(&t.observe(std::slice::from_ref(&j))),
            "running (active 1, succeeded 0, failed 0)"
        );
        let c = t.observe(&[]);
        let Check::Pending(o) = &c else {
            panic!("{c:?}")
        };
        assert_eq!(o.class, Class::Gone);
        assert_eq!(
            o.state,
            "deleted after it was seen (ttlSecondsAfterFinished?); waiting in case it is re-created"
        );
        assert!(
            o.cause
                .as_deref()
                .unwrap_or_default()
                .contains("last seen migrate: running (active 1")
        );
        // Re-created and completed: ready.
        let again = job("migrate", "2025-05-01T10:05:00Z", complete_131(0));
        assert!(matches!(t.observe(&[again]), Check::Ready(_)));
    }

    #[test]
    fn if_missing_succeed_treats_a_missing_job_as_done() {
        let mut t = by_name(IfMissing::Succeed);
        assert_eq!(
            t.observe(&[]),
            Check::Ready(
                "Job crs/migrate not found; treated as done (--if-missing succeed)".into()
            )
        );
        let mut t = by_name(IfMissing::Succeed);
        t.observe(&[job("migrate", "2025-05-01T10:00:00Z", running())]);
        assert_eq!(
            t.observe(&[]),
            Check::Ready(
                "Job crs/migrate deleted after it was seen (ttlSecondsAfterFinished?); treated as done (--if-missing succeed)"
                    .into()
            )
        );
        assert_eq!(t.describe(), "Job crs/migrate (--if-missing succeed)");
    }

    #[test]
    fn if_missing_fail_fails_a_missing_job() {
        let mut t = by_name(IfMissing::Fail);
        let c = t.observe(&[]);
        let o = failed_obs(&c);
        assert_eq!(
            (o.class, o.state.as_str()),
            (Class::NotFound, "not found (--if-missing fail)")
        );
        let mut t = by_name(IfMissing::Fail);
        t.observe(&[job("migrate", "2025-05-01T10:00:00Z", running())]);
        let c = t.observe(&[]);
        let o = failed_obs(&c);
        assert_eq!(o.class, Class::Gone);
        assert_eq!(o.state, format!("{DELETED} (--if-missing fail)"));
    }

    fn by_selector(all: bool, policy: IfMissing) -> Tracker {
        Tracker::new(
            "crs",
            JobSelect::Selector("app.kubernetes.io/component=migrations".into()),
            all,
            policy,
        )
    }

    #[test]
    fn selector_picks_the_newest_by_creation_time_and_says_which() {
        let mut t = by_selector(false, IfMissing::Wait);
        let jobs = [
            job(
                "migrate-r9",
                "2025-05-01T10:00:00Z",
                failed_131("BackoffLimitExceeded", "old"),
            ),
            job("migrate-r11", "2025-05-03T10:00:00Z", running()),
            job("migrate-r10", "2025-05-02T10:00:00Z", complete_131(0)),
        ];
        assert_eq!(
            pending_state(&t.observe(&jobs)),
            "migrate-r11 (newest of 3) running (active 1, succeeded 0, failed 0)"
        );
        let mut jobs = jobs.to_vec();
        jobs[1]["status"] = complete_131(1);
        assert_eq!(
            t.observe(&jobs),
            Check::Ready(
                "Job crs/migrate-r11 complete (succeeded 1, failed 1), the newest of 3 matching app.kubernetes.io/component=migrations"
                    .into()
            )
        );
        assert_eq!(
            t.describe(),
            "the newest Job in crs matching app.kubernetes.io/component=migrations"
        );
    }

    #[test]
    fn selector_ties_on_creation_time_are_broken_by_name_with_numbers_as_numbers() {
        let mut t = by_selector(false, IfMissing::Wait);
        let jobs = [
            job("migrate-r9", "2025-05-01T10:00:00Z", running()),
            job("migrate-r10", "2025-05-01T10:00:00Z", json!({})),
        ];
        assert!(pending_state(&t.observe(&jobs)).starts_with("migrate-r10 (newest of 2) created"));
        assert_eq!(natural("a-010", "a-9"), Ordering::Greater);
        assert_eq!(natural("a-1", "a-1"), Ordering::Equal);
        assert_eq!(natural("a", "a-1"), Ordering::Less);
    }

    #[test]
    fn selector_with_no_match_is_pending_not_an_error() {
        let mut t = by_selector(false, IfMissing::Wait);
        let c = t.observe(&[]);
        let Check::Pending(o) = &c else {
            panic!("{c:?}")
        };
        assert_eq!(o.class, Class::NotFound);
        assert_eq!(
            o.state,
            "no Job matches app.kubernetes.io/component=migrations yet"
        );
        assert!(o.fix[0].contains(
            "kubectl get jobs -l 'app.kubernetes.io/component=migrations' -n crs -o yaml"
        ));
    }

    #[test]
    fn selector_failed_newest_names_the_job() {
        let mut t = by_selector(false, IfMissing::Wait);
        let jobs = [
            job("migrate-r1", "2025-05-01T10:00:00Z", complete_131(0)),
            job(
                "migrate-r2",
                "2025-05-02T10:00:00Z",
                failed_131(
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                ),
            ),
        ];
        let c = t.observe(&jobs);
        assert_eq!(
            failed_obs(&c).state,
            "migrate-r2 (newest of 2) failed: DeadlineExceeded: Job was active longer than specified deadline (failed 3, succeeded 0)"
        );
        assert_eq!(t.culprit.as_deref(), Some("migrate-r2"));
    }

    #[test]
    fn selector_newest_deleted_with_only_older_ones_left_is_the_ttl_state() {
        let mut t = by_selector(false, IfMissing::Wait);
        let old = job("migrate-r1", "2025-05-01T10:00:00Z", complete_131(0));
        let new = job("migrate-r2", "2025-05-02T10:00:00Z", running());
        t.observe(&[old.clone(), new]);
        // r2 gone: the older, complete r1 must not count instead.
        let c = t.observe(std::slice::from_ref(&old));
        let Check::Pending(o) = &c else {
            panic!("{c:?}")
        };
        assert_eq!(o.class, Class::Gone);
        assert_eq!(
            o.state,
            "migrate-r2 deleted after it was seen (ttlSecondsAfterFinished?); waiting for a newer matching Job"
        );
        // Nothing left at all: the same.
        assert_eq!(pending_state(&t.observe(&[])), o.state);
        // A newer Job arrives: it counts.
        let r3 = job("migrate-r3", "2025-05-03T10:00:00Z", complete_131(0));
        assert!(
            matches!(t.observe(&[old, r3]), Check::Ready(d) if d.starts_with("Job crs/migrate-r3 complete"))
        );
    }

    #[test]
    fn all_requires_every_job_and_fails_on_any() {
        let mut t = by_selector(true, IfMissing::Wait);
        let mut jobs = vec![
            job("seed-a", "2025-05-01T10:00:00Z", complete_131(0)),
            job("seed-b", "2025-05-01T10:00:01Z", running()),
            job(
                "seed-c",
                "2025-05-01T10:00:02Z",
                json!({"conditions": [cond("Suspended", "JobSuspended", "")]}),
            ),
        ];
        assert_eq!(
            pending_state(&t.observe(&jobs)),
            "1 of 3 complete; waiting for seed-c suspended, seed-b running (active 1, succeeded 0, failed 0)"
        );
        jobs[1]["status"] = complete_131(0);
        jobs[2]["status"] = complete_131(0);
        assert!(
            matches!(t.observe(&jobs), Check::Ready(d) if d.starts_with("all 3 Jobs in crs matching app.kubernetes.io/component=migrations complete: "))
        );
        jobs[1]["status"] = failed_131(
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        );
        let c = t.observe(&jobs);
        assert!(
            failed_obs(&c)
                .state
                .starts_with("seed-b failed: BackoffLimitExceeded")
        );
        assert_eq!(
            t.describe(),
            "every Job in crs matching app.kubernetes.io/component=migrations"
        );
    }

    #[test]
    fn all_with_a_job_deleted_before_it_completed() {
        let jobs = [
            job("seed-a", "2025-05-01T10:00:00Z", complete_131(0)),
            job("seed-b", "2025-05-01T10:00:01Z", running()),
        ];
        let mut t = by_selector(true, IfMissing::Wait);
        t.observe(&jobs);
        let c = t.observe(&jobs[..1]);
        let Check::Pending(o) = &c else {
            panic!("{c:?}")
        };
        assert_eq!(o.class, Class::Gone);
        assert_eq!(
            o.state,
            format!("1 of 2 complete; waiting for seed-b {DELETED}")
        );
        // A Job seen complete and then deleted is fine.
        let mut t = by_selector(true, IfMissing::Wait);
        let mut both = jobs.to_vec();
        t.observe(&both);
        assert_eq!(
            pending_state(&t.observe(&both[1..])),
            "0 of 1 complete; waiting for seed-b running (active 1, succeeded 0, failed 0)"
        );
        both[1]["status"] = complete_131(0);
        assert!(
            matches!(t.observe(&both[1..]), Check::Ready(d) if d.ends_with("complete: seed-b"))
        );
        let mut t = by_selector(true, IfMissing::Succeed);
        t.observe(&jobs);
        assert!(
            matches!(t.observe(&jobs[..1]), Check::Ready(d) if d.contains("seed-b deleted after it was seen"))
        );
    }

    fn pod(name: &str, created: &str, status: Value) -> Value {
        json!({"metadata": {"name": name, "creationTimestamp": created, "labels": {"batch.kubernetes.io/job-name": "migrate"}}, "status": status})
    }

    fn terminated(code: i64, reason: &str, message: &str, at: &str) -> Value {
        json!({"exitCode": code, "reason": reason, "message": message, "startedAt": "2025-05-01T10:00:01Z", "finishedAt": at})
    }

    #[test]
    fn the_last_failed_pod_is_described() {
        let pods = [
            pod(
                "migrate-a1",
                "2025-05-01T10:00:00Z",
                json!({"phase": "Failed", "containerStatuses": [
                    {"name": "migrate", "state": {"terminated": terminated(3, "Error", "relation \"users\" does not exist\n", "2025-05-01T10:00:05Z")}}
                ]}),
            ),
            pod(
                "migrate-x7k2p",
                "2025-05-01T10:00:06Z",
                json!({"phase": "Failed", "containerStatuses": [
                    {"name": "migrate", "state": {"terminated": terminated(3, "Error", "relation \"users\" does not exist", "2025-05-01T10:00:12Z")}}
                ]}),
            ),
            pod(
                "migrate-ok",
                "2025-05-01T10:00:13Z",
                json!({"phase": "Succeeded", "containerStatuses": [
                    {"name": "migrate", "state": {"terminated": terminated(0, "Completed", "", "2025-05-01T10:00:20Z")}}
                ]}),
            ),
        ];
        assert_eq!(
            failed_pod(&pods).as_deref(),
            Some(
                "migrate-x7k2p container migrate exited 3 (Error): relation \"users\" does not exist"
            )
        );
    }

    #[test]
    fn failed_pod_from_a_restarted_container_an_init_container_or_an_eviction() {
        let restarted = pod(
            "m-1",
            "2025-05-01T10:00:00Z",
            json!({"phase": "Running", "containerStatuses": [
                {"name": "migrate", "state": {"running": {}}, "lastState": {"terminated": terminated(137, "OOMKilled", "", "2025-05-01T10:00:05Z")}}
            ]}),
        );
        assert_eq!(
            failed_pod(std::slice::from_ref(&restarted)).as_deref(),
            Some("m-1 container migrate exited 137 (OOMKilled)")
        );
        let init = pod(
            "m-2",
            "2025-05-01T10:00:00Z",
            json!({"phase": "Failed", "initContainerStatuses": [
                {"name": "wait-db", "state": {"terminated": terminated(1, "Error", "db down", "2025-05-01T10:00:09Z")}}
            ]}),
        );
        assert_eq!(
            failed_pod(&[restarted.clone(), init]).as_deref(),
            Some("m-2 container wait-db exited 1 (Error): db down")
        );
        let evicted = pod(
            "m-3",
            "2025-05-01T10:00:30Z",
            json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}),
        );
        assert_eq!(
            failed_pod(&[evicted]).as_deref(),
            Some("m-3 failed (Evicted): The node was low on resource: memory.")
        );
        assert_eq!(failed_pod(&[]), None);
    }

    #[test]
    fn culprit_is_a_failed_job_or_one_whose_pods_failed() {
        let mut t = by_name(IfMissing::Wait);
        t.observe(&[job("migrate", "2025-05-01T10:00:00Z", running())]);
        assert_eq!(t.culprit, None);
        t.observe(&[job(
            "migrate",
            "2025-05-01T10:00:00Z",
            json!({"active": 1, "failed": 1}),
        )]);
        assert_eq!(t.culprit.as_deref(), Some("migrate"));
    }

    fn waiting_pod(name: &str, created: &str, reason: &str, message: &str) -> Value {
        json!({"metadata": {"name": name, "creationTimestamp": created}, "status": {"phase": "Pending", "containerStatuses": [
            {"name": "migrate", "ready": false, "state": {"waiting": {"reason": reason, "message": message}}}
        ]}})
    }

    fn stuck_state(t: &mut Tracker, jobs: &[Value], pods: Result<Vec<Value>, ApiError>) -> Check {
        t.observe(jobs);
        let q = t.look_due(Instant::now()).expect("a look is due");
        t.looked(q, &pods, None, Instant::now());
        t.observe(jobs)
    }

    #[test]
    fn image_pull_back_off_and_crash_loops_are_named_in_the_state() {
        let j = job(
            "migrate",
            "2025-05-01T10:00:00Z",
            json!({"startTime": "2025-05-01T10:00:00Z", "active": 1, "ready": 0}),
        );
        for (reason, message, fix) in [
            (
                "ImagePullBackOff",
                "Back-off pulling image \"app:nope\"",
                "imagePullSecrets",
            ),
            ("ErrImagePull", "rpc error: not found", "imagePullSecrets"),
            (
                "CrashLoopBackOff",
                "back-off 5m0s restarting failed container",
                "--previous",
            ),
            (
                "CreateContainerConfigError",
                "secret \"db\" not found",
                "Secret or ConfigMap",
            ),
        ] {
            let mut t = by_name(IfMissing::Wait);
            let pods = vec![
                waiting_pod(
                    "migrate-old",
                    "2025-05-01T09:00:00Z",
                    "ImagePullBackOff",
                    "old",
                ),
                waiting_pod("migrate-x7k2p", "2025-05-01T10:00:01Z", reason, message),
            ];
            let c = stuck_state(&mut t, std::slice::from_ref(&j), Ok(pods));
            let Check::Pending(o) = &c else {
                panic!("{c:?}")
            };
            assert_eq!(
                o.state,
                format!(
                    "running (active 1, succeeded 0, failed 0); pod migrate-x7k2p {reason}: {message}"
                )
            );
            let cause = o.cause.as_deref().unwrap_or_default();
            assert!(
                cause.contains(&format!(
                    "migrate-x7k2p container migrate {reason}: {message}"
                )),
                "{cause}"
            );
            assert!(o.fix[0].contains(fix), "{:?}", o.fix);
            assert_eq!(
                t.pods_line().as_deref(),
                Some(format!("migrate-x7k2p container migrate {reason}: {message}").as_str())
            );
        }
    }

    #[test]
    fn an_unschedulable_pod_is_named_with_the_scheduler_message() {
        let j = job(
            "migrate",
            "",
            json!({"startTime": "2025-05-01T10:00:00Z", "active": 1, "ready": 0}),
        );
        let pod = json!({"metadata": {"name": "migrate-q"}, "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/3 nodes are available: 3 Insufficient cpu.\u{1b}[2J"}
        ]}});
        let mut t = by_name(IfMissing::Wait);
        let c = stuck_state(&mut t, std::slice::from_ref(&j), Ok(vec![pod]));
        assert_eq!(
            pending_state(&c),
            "running (active 1, succeeded 0, failed 0); pod migrate-q Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.\\u{1b}[2J"
        );
    }

    #[test]
    fn a_started_job_without_any_pod_says_failed_create() {
        let j = job(
            "migrate",
            "",
            json!({"startTime": "2025-05-01T10:00:00Z", "active": 0, "ready": 0}),
        );
        let mut t = by_name(IfMissing::Wait);
        let c = stuck_state(&mut t, std::slice::from_ref(&j), Ok(vec![]));
        let Check::Pending(o) = &c else {
            panic!("{c:?}")
        };
        assert_eq!(
            o.state,
            "running (active 0, succeeded 0, failed 0); no pod created (FailedCreate?)"
        );
        assert!(o.fix[0].contains("reason=FailedCreate"), "{:?}", o.fix);
        assert!(t.pods_line().unwrap_or_default().contains("ResourceQuota"));
        // The pod is created: the counts change, and the finding no longer applies.
        let j = job(
            "migrate",
            "",
            json!({"startTime": "2025-05-01T10:00:00Z", "active": 1, "ready": 1}),
        );
        assert_eq!(
            pending_state(&t.observe(std::slice::from_ref(&j))),
            "running (active 1, succeeded 0, failed 0)"
        );
    }

    fn failed_create(name: &str, uid: &str, at: &str, message: &str) -> Value {
        json!({
            "metadata": {"name": name, "namespace": "crs", "creationTimestamp": at},
            "involvedObject": {"kind": "Job", "name": "migrate", "namespace": "crs", "uid": uid},
            "reason": "FailedCreate", "type": "Warning", "lastTimestamp": at,
            "message": message,
        })
    }

    #[test]
    fn the_newest_failed_create_event_names_why_a_started_job_has_no_pod() {
        let j = job(
            "migrate",
            "",
            json!({"startTime": "2025-05-01T10:00:00Z", "active": 0, "ready": 0}),
        );
        let uid = "5b8c1f7e-1e63-4a52-a3a0-0c6f1d0c2a11";
        let mut t = by_name(IfMissing::Wait);
        stuck_state(&mut t, std::slice::from_ref(&j), Ok(vec![]));
        assert_eq!(t.events_due().as_deref(), Some("migrate"));
        let quota = "Error creating: pods \"migrate-x\" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=4, limited: cpu=4";
        let mut newest = failed_create("e2", uid, "2025-05-01T10:05:00Z", quota);
        // eventTime (events.k8s.io/v1 writers) with a fraction, and no lastTimestamp.
        newest["eventTime"] = json!("2025-05-01T10:05:00.250000Z");
        newest["lastTimestamp"] = Value::Null;
        let events = vec![
            failed_create("e1", uid, "2025-05-01T10:00:00Z", "older \u{1b}[31m"),
            newest,
            // A Job of the same name before this one: not about it.
            failed_create("e0", "other-uid", "2025-05-01T11:00:00Z", "old Job"),
        ];
        t.events_read(&Ok(events));
        assert_eq!(t.events_due(), None, "one read per look");
        let c = t.observe(std::slice::from_ref(&j));
        let Check::Pending(o) = &c else {
            panic!("{c:?}")
        };
        assert_eq!(
            o.state,
            format!(
                "running (active 0, succeeded 0, failed 0); no pod created: FailedCreate: {quota}"
            )
        );
        assert!(o.fix[0].contains("resourcequota"), "{:?}", o.fix);
        let line = t.pods_line().unwrap_or_default();
        assert!(line.contains(&format!("FailedCreate: {quota}")), "{line}");
        // PodSecurity: its own fix; an escape sequence is shown escaped.
        let denied = "Error creating: pods \"migrate-y\" is forbidden: violates PodSecurity \"restricted:latest\": runAsNonRoot != true \u{1b}[2J";
        t.look = None; // the next look, a minute later
        stuck_state(&mut t, std::slice::from_ref(&j), Ok(vec![]));
        t.events_read(&Ok(vec![failed_create(
            "e3",
            uid,
            "2025-05-01T10:06:00Z",
            denied,
        )]));
        let c = t.observe(std::slice::from_ref(&j));
        let Check::Pending(o) = &c else {
            panic!("{c:?}")
        };
        assert!(!o.state.contains('\u{1b}'), "{}", o.state);
        assert!(
            o.fix[0].contains("pod-security.kubernetes.io/enforce"),
            "{:?}",
            o.fix
        );
        // No event: the hint stays a question.
        t.look = None; // the next look, a minute later
        stuck_state(&mut t, std::slice::from_ref(&j), Ok(vec![]));
        t.events_read(&Ok(vec![]));
        assert!(
            pending_state(&t.observe(std::slice::from_ref(&j)))
                .ends_with("no pod created (FailedCreate?)")
        );
    }

    #[test]
    fn events_refused_are_never_asked_again_and_the_report_says_so() {
        let j = job(
            "migrate",
            "",
            json!({"startTime": "2025-05-01T10:00:00Z", "active": 0, "ready": 0}),
        );
        let mut t = by_name(IfMissing::Wait);
        stuck_state(&mut t, std::slice::from_ref(&j), Ok(vec![]));
        t.events_read(&Err(ApiError {
            class: Class::Forbidden,
            code: Some(403),
            message: "events is forbidden".into(),
            retry_after: None,
        }));
        assert!(
            pending_state(&t.observe(std::slice::from_ref(&j)))
                .ends_with("no pod created (FailedCreate?)")
        );
        let line = t.pods_line().unwrap_or_default();
        assert!(
            line.contains("its events were not readable: listing events is forbidden"),
            "{line}"
        );
        // The next look (a minute later) reads the pods again, but not the events.
        let q = t
            .look_due(Instant::now() + POD_LOOK_EVERY)
            .expect("a look is due");
        t.looked(q, &Ok(vec![]), None, Instant::now());
        assert_eq!(t.events_due(), None);
        assert!(
            t.pods_line()
                .unwrap_or_default()
                .contains("listing events is forbidden")
        );
        // A Job with pods active is not asked about at all.
        let mut t = by_name(IfMissing::Wait);
        let busy = job("migrate", "", json!({"active": 1, "ready": 0}));
        stuck_state(&mut t, std::slice::from_ref(&busy), Ok(vec![]));
        assert_eq!(t.events_due(), None);
    }

    #[test]
    fn pods_are_read_only_for_a_job_that_may_be_stuck_and_at_most_once_a_minute() {
        let mut t = by_name(IfMissing::Wait);
        let now = Instant::now();
        // All active pods ready: nothing to look at.
        let fine = job("migrate", "", json!({"active": 2, "ready": 2}));
        t.observe(std::slice::from_ref(&fine));
        assert_eq!(t.look_due(now), None);
        // No `ready` written (before 1.24) with pods active: no look either.
        t.observe(&[job("migrate", "", json!({"active": 1}))]);
        assert_eq!(t.look_due(now), None);
        // Not ready: due now, then not before a minute has passed.
        let stuck = job("migrate", "", json!({"active": 2, "ready": 1}));
        t.observe(std::slice::from_ref(&stuck));
        let q = t.look_due(now).unwrap();
        assert_eq!(
            q.selectors,
            [
                "batch.kubernetes.io/controller-uid=5b8c1f7e-1e63-4a52-a3a0-0c6f1d0c2a11",
                "controller-uid=5b8c1f7e-1e63-4a52-a3a0-0c6f1d0c2a11",
                "batch.kubernetes.io/job-name=migrate",
                "job-name=migrate"
            ]
        );
        t.looked(q, &Ok(vec![]), Some("job-name=migrate".into()), now);
        assert_eq!(t.look_due(now + Duration::from_secs(59)), None);
        let q = t.look_due(now + POD_LOOK_EVERY).unwrap();
        // The selector that found pods is kept.
        assert_eq!(q.selectors, ["job-name=migrate"]);
        // Forbidden: never asked again; the report says why.
        let denied = ApiError {
            class: Class::Forbidden,
            code: Some(403),
            message: "pods is forbidden".into(),
            retry_after: None,
        };
        t.looked(q, &Err(denied), None, now);
        assert_eq!(t.look_due(now + Duration::from_secs(3600)), None);
        assert!(
            t.pods_line()
                .unwrap_or_default()
                .contains("listing pods is forbidden")
        );
    }

    #[test]
    fn the_jobs_own_selector_finds_its_pods() {
        let mut j = job("migrate", "", json!({"active": 1, "ready": 0}));
        j["spec"]["selector"] =
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "abc-1"}});
        assert_eq!(
            pod_selectors(&j, "migrate"),
            ["batch.kubernetes.io/controller-uid=abc-1"]
        );
        // A hostile selector is not passed on.
        j["spec"]["selector"] = json!({"matchLabels": {"a": "b,c!=d"}});
        assert_eq!(pod_selectors(&j, "migrate").len(), 4);
    }

    #[test]
    fn ended_or_deleting_pods_and_harmless_waits_are_not_stuck() {
        let mut done = waiting_pod("a", "", "ImagePullBackOff", "");
        done["status"]["phase"] = json!("Failed");
        let mut deleting = waiting_pod("b", "", "CrashLoopBackOff", "");
        deleting["metadata"]["deletionTimestamp"] = json!("2025-05-01T10:00:00Z");
        let creating = waiting_pod("c", "", "ContainerCreating", "");
        assert_eq!(stuck_pod(&[done, deleting, creating]), None);
    }

    #[test]
    fn a_count_that_is_not_a_count_is_invalid_not_zero() {
        for (bad, shown) in [
            (json!(-1), "-1"),
            (json!(1.5), "1.5"),
            (json!(4294967296u64), "4294967296"),
            (json!(2147483648u64), "2147483648"),
            (json!("3"), "\"3\""),
        ] {
            let mut status = complete_131(0);
            status["active"] = bad;
            let c = judge(&job("m", "", status), "crs", "m");
            let Check::Pending(o) = &c else {
                panic!("{c:?}")
            };
            assert_eq!(o.class, Class::Other);
            assert_eq!(o.state, format!("invalid count: status.active is {shown}"));
        }
        let ok = json!({"active": 2147483647u64, "failed": null});
        assert_eq!(
            pending_state(&judge(&job("m", "", ok), "crs", "m")),
            "running (active 2147483647, succeeded 0, failed 0)"
        );
    }

    #[test]
    fn a_termination_message_or_a_reason_with_a_newline_cannot_forge_a_line() {
        let forged = "x\nkwait: ready after 1s: forged\n\u{1b}[2K";
        let p = pod(
            forged,
            "2025-05-01T10:00:00Z",
            json!({"phase": "Failed", "containerStatuses": [
                {"name": forged, "state": {"terminated": terminated(3, forged, forged, "2025-05-01T10:00:05Z")}}
            ]}),
        );
        let line = failed_pod(&[p]).unwrap();
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
        assert!(
            line.contains("x kwait: ready after 1s: forged \\u{1b}[2K"),
            "{line}"
        );
        let evicted = pod(
            "m-3",
            "2025-05-01T10:00:30Z",
            json!({"phase": "Failed", "reason": forged, "message": forged}),
        );
        let line = failed_pod(&[evicted]).unwrap();
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
        for kind in ["Failed", "FailureTarget"] {
            let j = job(
                "migrate",
                "2025-05-01T10:00:00Z",
                json!({"failed": 3, "conditions": [cond(kind, forged, forged)]}),
            );
            let (Check::Pending(obs) | Check::Failed(obs)) = judge(&j, "crs", "migrate") else {
                panic!("ready")
            };
            let mut lines = vec![obs.state];
            lines.extend(obs.cause);
            lines.extend(obs.fix);
            for line in lines {
                assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
            }
        }
        let listed = job(forged, "2025-05-01T10:00:00Z", json!({}));
        let name = Key::of(&listed).name;
        assert!(!name.contains('\n') && !name.contains('\u{1b}'), "{name:?}");
    }
}
