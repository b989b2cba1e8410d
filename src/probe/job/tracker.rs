//! The probe's memory of the Jobs it saw: which one counts, which ones were deleted, whose
//! pods to look at and what that look found.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use super::events::{
    EVENTS_FORBIDDEN, Ended, Events, failed_create_events, failed_create_fix, newest_ending,
    newest_failed_create,
};
use super::pods::{
    Found, Look, POD_LOOK_EVERY, PODS_FORBIDDEN, PodQuery, label_ok, no_pod_cause, pod_selectors,
    stuck_pod, uid_of,
};
use super::verdict::{Counts, Verdict, judge, verdict};
use super::{DELETED, MESSAGE_MAX};
use crate::kube::ApiError;
use crate::net::text::printable;
use crate::plan::{IfMissing, JobSelect};
use crate::probe::{Check, Class, Observation};

/// Where a Job sorts among the matches: by creationTimestamp, then by name with numbers
/// compared as numbers (`migrate-r10` after `migrate-r9`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    created: String,
    pub(super) name: String,
}

impl Key {
    pub(super) fn of(job: &Value) -> Key {
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
pub(super) fn natural(a: &str, b: &str) -> Ordering {
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
pub(super) struct Seen {
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
    pub(super) ns: String,
    pub(super) select: JobSelect,
    pub(super) all: bool,
    pub(super) if_missing: IfMissing,
    pub(super) seen: BTreeMap<String, Seen>,
    pub(super) counted: Option<Key>,
    pub(super) culprit: Option<String>,
    /// The Job of the last judgement that is running but may be stuck (no pod active, or fewer
    /// ready than active): whose pods to look at.
    pub(super) stuck: Option<String>,
    /// The last look at that Job's pods.
    pub(super) look: Option<Look>,
    /// Listing pods was forbidden (an optional permission): not asked again.
    pub(super) pods_forbidden: bool,
    /// Listing events was forbidden (an optional permission): not asked again.
    pub(super) events_forbidden: bool,
    /// The Job the last judgement found missing (by name, or the one deleted match of a
    /// selector), and its uid as last seen (empty when never seen): whose ending events to read.
    pub(super) missing_job: Option<(String, String)>,
    /// What the last read of a missing Job's ending events found.
    pub(super) ending: Option<EndingRead>,
}

/// A read of the events that say how a missing Job ended (see [`Tracker::ending_due`]).
#[derive(Debug, Clone)]
pub(super) struct EndingRead {
    /// The Job, and its uid as last seen (empty when never seen).
    pub(super) job: String,
    pub(super) uid: String,
    pub(super) at: Instant,
    /// The newest ending event, none, or why the events could not be read.
    pub(super) found: Result<Option<Ended>, String>,
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
            missing_job: None,
            ending: None,
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
        self.missing_job = None;
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
    pub(super) fn query(&self, name: &str) -> Option<PodQuery> {
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

    /// The missing Job whose ending events are due for a read: the last judgement found it
    /// missing, listing events is not forbidden, and they were not read for it yet or the last
    /// read is [`POD_LOOK_EVERY`] old (a Job not created yet costs one LIST a minute at most).
    pub fn ending_due(&self, now: Instant) -> Option<(String, String)> {
        let (job, uid) = self.missing_job.clone()?;
        let fresh = self.ending.as_ref().is_some_and(|r| {
            r.job == job && r.uid == uid && now.saturating_duration_since(r.at) < POD_LOOK_EVERY
        });
        (!self.events_forbidden && !fresh && label_ok(&job)).then_some((job, uid))
    }

    /// Records what listing the events of missing Job `job` (`uid` as last seen) returned.
    pub fn ending_read(
        &mut self,
        (job, uid): (String, String),
        events: &Result<Vec<Value>, ApiError>,
        now: Instant,
    ) {
        let found = match events {
            Ok(items) => Ok(newest_ending(items, &self.ns, &job, &uid)),
            Err(e) if e.class == Class::Forbidden => {
                self.events_forbidden = true;
                Err(EVENTS_FORBIDDEN.to_string())
            }
            Err(e) => Err(printable(&e.message, MESSAGE_MAX)),
        };
        self.ending = Some(EndingRead {
            job,
            uid,
            at: now,
            found,
        });
    }

    /// The report's line on the pods of the Job that may be stuck, from the last look.
    pub(super) fn pods_line(&self) -> Option<String> {
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
    pub(super) fn missing(&mut self, gone: &[String]) -> Check {
        let named = match (&self.select, gone) {
            (_, [one]) => Some(one.clone()),
            (JobSelect::Name(n), []) => Some(n.clone()),
            _ => None,
        };
        self.missing_job = named.map(|n| {
            let uid = self.seen.get(&n).map(|s| s.uid.clone()).unwrap_or_default();
            (n, uid)
        });
        // How it ended, where its events (read for this very Job) say so.
        let ended = self.ending.as_ref().and_then(|r| {
            let (job, uid) = self.missing_job.as_ref()?;
            (r.job == *job && r.uid == *uid)
                .then(|| r.found.clone().ok().flatten())
                .flatten()
        });
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
                    .cause(match &ended {
                        Some(e) => format!(
                            "{subject}, and --if-missing fail makes a missing Job a failure; its events say a Job of this name {} and was deleted since (ttlSecondsAfterFinished or a Helm hook-delete-policy?)",
                            e.words()
                        ),
                        None => format!(
                            "{subject}, and --if-missing fail makes a missing Job a failure"
                        ),
                    })
                    .fix(format!("check: {get}"))
                    .fix(events)
                    .fix(owners),
                ),
                IfMissing::Wait => Check::Pending(
                    Observation::new(Class::NotFound, match &self.select {
                        JobSelect::Name(_) => "not found".to_string(),
                        JobSelect::Selector(s) => format!("no Job matches {s} yet"),
                    })
                    .cause(match &ended {
                        Some(e) => format!(
                            "{what} does not exist, but its events tell: a Job of this name {} and was deleted since, most likely by ttlSecondsAfterFinished (or a Helm hook-delete-policy) before kwait first looked. That may be an earlier run, so kwait waits on (--if-missing wait) in case it is created again",
                            e.words()
                        ),
                        None => format!(
                            "{} does not exist: either it was not created yet, or it already completed and was removed by ttlSecondsAfterFinished (or a Helm hook-delete-policy) before kwait first looked; the API cannot tell these apart",
                            if by_name { what.clone() } else { format!("a Job matching {}", selector_of(&self.select)) }
                        ),
                    })
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
                        "{object} existed{seen_as} and was deleted before kwait saw it complete{}, and --if-missing fail makes a missing Job a failure",
                        ended.as_ref().map_or(String::new(), |e| format!(" (its events say it {})", e.words()))
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
                .cause(match &ended {
                    Some(e) => format!(
                        "{object} existed{seen_as} and was deleted before kwait saw it complete; its events say it {}, so ttlSecondsAfterFinished or a Helm hook-delete-policy removed it after it ended. kwait keeps waiting (--if-missing wait) in case it is re-created",
                        e.words()
                    ),
                    None => format!(
                        "{object} existed{seen_as} and was deleted before kwait saw it complete: most likely it finished and ttlSecondsAfterFinished or a Helm hook-delete-policy removed it, or it was replaced or deleted by hand. kwait keeps waiting (--if-missing wait) in case it is re-created"
                    ),
                })
                .fix(format!("check: {get}"))
                .fix(events)
                .fix("if a deleted Job means it already ran, say so with --if-missing succeed, or keep it longer (a larger ttlSecondsAfterFinished)"),
            ),
        }
    }
}

pub(super) fn selector_of(select: &JobSelect) -> &str {
    match select {
        JobSelect::Name(n) | JobSelect::Selector(n) => n,
    }
}
