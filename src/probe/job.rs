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

use std::time::{Duration, Instant};

use serde_json::Value;

use super::api::{self, Ctx};
use super::{BoxFuture, Check, Class, Probe};
use crate::kube::{ApiError, EVENTS, JOBS, Kube, PODS};
use crate::net::text::printable;
use crate::plan::{IfMissing, JobSelect};
use crate::rbac::Rule;

mod events;
mod pods;
mod tracker;
mod verdict;

pub use pods::failed_pod;
pub use tracker::Tracker;
pub use verdict::judge;

use pods::{POD_LOOK_EVERY, PODS_FORBIDDEN};

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
                    // A missing Job: its events may say how it ended before it was deleted.
                    if let Some(q) = self.tracker.ending_due(Instant::now()) {
                        let fields = format!(
                            "involvedObject.kind=Job,involvedObject.name={},involvedObject.namespace={}",
                            q.0, self.kube.namespace
                        );
                        let events = self
                            .kube
                            .list_fields(&EVENTS, &fields)
                            .await
                            .map(|l| l.items);
                        self.tracker.ending_read(q, &events, Instant::now());
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

#[cfg(test)]
mod tests;
