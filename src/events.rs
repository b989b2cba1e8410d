//! Events on kwait's own Pod, so that `kubectl describe pod` says why it waits while it waits
//! (the termination message appears only at the end).
//!
//! With the downward API's `POD_NAME` and `POD_NAMESPACE` (and `POD_UID`) in the environment,
//! the lines the reporter prints become events.k8s.io/v1 Events regarding the Pod
//! (`reportingController: kwait`, `reportingInstance` the pod name, `action: Waiting`): the
//! start and each target's new state (`Waiting`, Normal), a forbidden read or a configuration
//! problem with its fix at once (`Forbidden`, `Misconfigured`, Warning), and the end (`Ready`;
//! `Failed`, `TimedOut`, Warning). The note is the printed text on one line: escaped, scrubbed of
//! every credential kwait holds, at most 1 KiB (the API's limit).
//!
//! Bounded and cheap, whatever happens:
//! - one Event per distinct (reason, note): the same line again (a heartbeat, a state that comes
//!   back) adds to that Event's `series` (count, lastObservedTime) by a PATCH, at most once per
//!   [`SERIES_EVERY`] per Event, and once more at the end;
//! - at most [`MAX_EVENTS`] new Event objects per run, the last of them kept for the ending.
//!   Series patches are not counted: they add no object, and [`SERIES_EVERY`] bounds their rate
//!   (with at most [`MAX_EVENTS`] Events, at most one patch a second and a half on average);
//! - [`Handle::record`] never waits and never fails: it notes the line in a book of at most
//!   [`MAX_EVENTS`] entries and wakes the one writer task, which gives each write
//!   [`WRITE_BUDGET`]; the first failure is said once (a warning line), then nothing more, and a
//!   refusal (403, 401, the events API not served) ends the recording;
//! - at the end, the pending writes get at most [`FLUSH_BUDGET`]; after a signal, none.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::check::Class;
use crate::duration::format_rfc3339;
use crate::kube::{ApiError, Kube};
use crate::net::text::{lock, printable, scrub};
use crate::plan::KubeSettings;

/// The most new Event objects one run writes.
pub const MAX_EVENTS: usize = 20;
/// The longest one write (a create or a series patch) may take before it is given up.
pub const WRITE_BUDGET: Duration = Duration::from_secs(2);
/// The longest the end of a run waits for the pending writes (the final Event among them).
pub const FLUSH_BUDGET: Duration = Duration::from_secs(1);
/// The shortest time between two series patches of one Event (the heartbeat's period: a
/// state that lasts shows in `describe` as `(xN over T)`, brought up to date every 30 s).
pub const SERIES_EVERY: Duration = Duration::from_secs(30);
/// `reportingController`.
pub const CONTROLLER: &str = "kwait";
/// `action`: what kwait does regarding its pod.
const ACTION: &str = "Waiting";
/// The API's limit of a note, in bytes.
const NOTE_MAX: usize = 1024;
/// The API's limit of `reportingInstance`.
const INSTANCE_MAX: usize = 128;
/// The longest object name (a DNS subdomain).
const NAME_MAX: usize = 253;

/// Why no Events are recorded, or why recording them failed.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// Not in a pod that tells kwait its name.
    #[error(
        "no Events recorded: POD_NAME and POD_NAMESPACE are not set (set them from the downward API's metadata.name and metadata.namespace)"
    )]
    NoPod,
    /// The downward API's values are not names.
    #[error("no Events recorded: {0} {1:?} is not a valid name")]
    BadPod(&'static str, String),
    /// No client for the API server.
    #[error("no Events recorded: {0}")]
    Connect(String),
    /// A write failed: said once, then silence.
    #[error("cannot record Events on pod {pod} (the wait goes on without them): {message}{hint}")]
    Write {
        pod: String,
        message: String,
        hint: String,
    },
}

/// kwait's own Pod, from the downward API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// `POD_NAME`.
    pub name: String,
    /// `POD_NAMESPACE`: where the Events are written.
    pub namespace: String,
    /// `POD_UID`, when given.
    pub uid: Option<String>,
}

impl Pod {
    /// The pod from `POD_NAME`, `POD_NAMESPACE` and `POD_UID`.
    pub fn from_env() -> Result<Pod, EventsError> {
        Pod::from_vars(|k| std::env::var(k).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Pod, EventsError> {
        let get = |k: &str| {
            var(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let (Some(name), Some(namespace)) = (get("POD_NAME"), get("POD_NAMESPACE")) else {
            return Err(EventsError::NoPod);
        };
        let dns = |s: &str, max: usize| {
            s.len() <= max
                && s.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        };
        if !dns(&name, NAME_MAX) {
            return Err(EventsError::BadPod("POD_NAME", printable(&name, 100)));
        }
        if !dns(&namespace, 63) || namespace.contains('.') {
            return Err(EventsError::BadPod(
                "POD_NAMESPACE",
                printable(&namespace, 100),
            ));
        }
        let uid = get("POD_UID");
        if let Some(u) = &uid
            && !(u.len() <= 64 && u.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
        {
            return Err(EventsError::BadPod("POD_UID", printable(u, 100)));
        }
        Ok(Pod {
            name,
            namespace,
            uid,
        })
    }
}

/// Where `--dry-run` grants the Events rule: the pod's namespace when it is known here
/// (`POD_NAMESPACE`, else the service-account mount of a pod), else the run's own namespace,
/// assumed (and said).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacScope {
    /// The namespace; `None` when not even the run's is known.
    pub namespace: Option<String>,
    /// Not the pod's (unknown here) but the run's.
    pub assumed: bool,
}

/// The scope of the Events rule for a run with `settings`, contacting nothing.
pub fn rbac_scope(settings: &KubeSettings) -> RbacScope {
    let pod = std::env::var("POD_NAMESPACE")
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .or_else(crate::kube::pod_namespace);
    match pod {
        Some(ns) => RbacScope {
            namespace: Some(ns),
            assumed: false,
        },
        None => RbacScope {
            namespace: crate::kube::default_namespace(settings),
            assumed: true,
        },
    }
}

impl RbacScope {
    fn shown(&self) -> String {
        match &self.namespace {
            Some(ns) => printable(ns, 63),
            None => "<default namespace>".into(),
        }
    }

    /// A YAML comment before the Role that holds the rule, when its namespace is assumed.
    pub fn comment(&self) -> String {
        if !self.assumed {
            return String::new();
        }
        format!(
            "# events: kwait records Events in its pod's own namespace, not known here (POD_NAMESPACE is unset);\n\
             # this Role assumes {}: grant the events rule in the pod's namespace, or pass --no-events\n",
            self.shown()
        )
    }

    /// `--dry-run`'s lines for the rule.
    pub fn lines(&self) -> String {
        let mut out = format!(
            "kwait: RBAC for Events on kwait's pod (optional; --no-events drops it): create, patch on events.events.k8s.io in namespace {}\n",
            self.shown()
        );
        if self.assumed {
            out.push_str(
                "kwait: note: Events go to the pod's own namespace, not known here (POD_NAMESPACE is unset): the run's namespace is assumed\n",
            );
        }
        out
    }
}

/// An Event's reason; its type follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The start, a target's new state (Normal).
    Waiting,
    /// A read was refused: the fix is RBAC (Warning).
    Forbidden,
    /// The credentials or the command line need a fix (Warning).
    Misconfigured,
    /// Every target is ready (Normal), or one target of several.
    Ready,
    /// A target failed for good (Warning).
    Failed,
    /// The deadline passed (Warning).
    TimedOut,
}

impl Reason {
    /// The reason of a state of class `class`.
    pub fn of(class: Class) -> Reason {
        match class {
            Class::Forbidden => Reason::Forbidden,
            Class::Unauthorized => Reason::Misconfigured,
            _ => Reason::Waiting,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Reason::Waiting => "Waiting",
            Reason::Forbidden => "Forbidden",
            Reason::Misconfigured => "Misconfigured",
            Reason::Ready => "Ready",
            Reason::Failed => "Failed",
            Reason::TimedOut => "TimedOut",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Reason::Waiting | Reason::Ready => "Normal",
            _ => "Warning",
        }
    }

    /// An ending: it may take the last of the [`MAX_EVENTS`].
    fn ends(self) -> bool {
        matches!(self, Reason::Ready | Reason::Failed | Reason::TimedOut)
    }
}

/// A printed text as an Event's note: without `kwait: `, every credential kwait holds removed,
/// one printable line (the report's lines joined by `; `, their labels' padding dropped), at
/// most [`NOTE_MAX`] bytes.
pub fn note(text: &str) -> String {
    let text = text.strip_prefix("kwait: ").unwrap_or(text);
    let text = scrub(text);
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let l = printable(l, NOTE_MAX);
            // `last seen : x`, `fix       : y` (padded labels) read `last seen: x`, `fix: y`.
            match l.split_once(" : ") {
                Some((label, rest))
                    if label.bytes().all(|c| c.is_ascii_lowercase() || c == b' ') =>
                {
                    format!("{}: {rest}", label.trim_end())
                }
                _ => l,
            }
        })
        .filter(|l| !l.is_empty())
        .collect();
    let mut note = lines.join("; ");
    if note.len() > NOTE_MAX {
        let mut end = NOTE_MAX - '…'.len_utf8();
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push('…');
    }
    note
}

/// Prints a warning line (the run's reporter, without recording it as an Event).
pub type Warn = Arc<dyn Fn(&str) + Send + Sync>;

/// Where the reporter records: cheap to clone, never waits.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("events::Handle").finish_non_exhaustive()
    }
}

impl Handle {
    /// Records the printed `text` with `reason`: a new Event, or one more of the Event with the
    /// same reason and note. Beyond [`MAX_EVENTS`] distinct ones (the last kept for an ending),
    /// nothing.
    pub fn record(&self, reason: Reason, text: &str) {
        let note = note(text);
        if note.is_empty() {
            return;
        }
        let now = SystemTime::now();
        {
            let mut book = lock(&self.shared.book);
            if book.stopped || book.closing {
                return;
            }
            match (book.entries.iter_mut()).find(|e| e.reason == reason && e.note == note) {
                Some(e) => {
                    e.count = e.count.saturating_add(1);
                    e.last = now;
                }
                None => {
                    let room = if reason.ends() {
                        MAX_EVENTS
                    } else {
                        MAX_EVENTS - 1
                    };
                    if book.entries.len() >= room {
                        return;
                    }
                    book.entries.push(Entry {
                        reason,
                        note,
                        first: now,
                        last: now,
                        count: 1,
                        written: 0,
                        name: String::new(),
                        status: Status::Pending,
                        next_patch: Instant::now(),
                    });
                }
            }
        }
        self.shared.wake.notify_one();
    }
}

/// The one writer task and its handle.
pub struct Recorder {
    handle: Handle,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Starts recording Events regarding `pod` through `kube`'s connection (or, in a run with
    /// no Kubernetes target, a client of its own from `settings`, made by the writer task, so
    /// that nothing here waits). `warn` says the first failed write; `note` (at -v) why there
    /// is no client.
    pub fn start(
        pod: Pod,
        kube: Option<&Kube>,
        settings: &KubeSettings,
        attempt_timeout: Duration,
        warn: Warn,
        note: Warn,
    ) -> Recorder {
        let shared = Arc::new(Shared {
            book: Mutex::new(Book::default()),
            wake: Notify::new(),
        });
        let kube = kube.map(|k| k.for_target(Some(&pod.namespace)));
        let settings = settings.clone();
        let writer_shared = shared.clone();
        let task = tokio::spawn(async move {
            let kube = match kube {
                Some(k) => k,
                None => match Kube::connect(&settings, attempt_timeout).await {
                    Ok(k) => k.for_target(Some(&pod.namespace)),
                    Err(e) => {
                        lock(&writer_shared.book).stopped = true;
                        note(&EventsError::Connect(e.to_string()).to_string());
                        return;
                    }
                },
            };
            let writer = Writer {
                shared: writer_shared,
                kube,
                pod,
                warn,
                warned: false,
                last_nanos: 0,
            };
            writer.run().await;
        });
        Recorder {
            handle: Handle { shared },
            task,
        }
    }

    /// Where the reporters record.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Writes what is pending (the final Event, the series not yet brought up to date) within
    /// `budget`, then stops; whatever is left is dropped.
    pub async fn flush(mut self, budget: Duration) {
        lock(&self.handle.shared.book).closing = true;
        self.handle.shared.wake.notify_one();
        if tokio::time::timeout(budget, &mut self.task).await.is_err() {
            self.task.abort();
        }
    }
}

/// What the reporters and the writer share.
struct Shared {
    book: Mutex<Book>,
    wake: Notify,
}

/// Every Event of the run (at most [`MAX_EVENTS`]).
#[derive(Default)]
struct Book {
    entries: Vec<Entry>,
    /// The run is ending: write what is pending, ignoring [`SERIES_EVERY`], then stop.
    closing: bool,
    /// Recording was refused: nothing more is written.
    stopped: bool,
}

/// One Event: its line, how many times it was seen, and what the API server has of it.
struct Entry {
    reason: Reason,
    note: String,
    first: SystemTime,
    last: SystemTime,
    count: u32,
    /// The count the API server has (0: not created).
    written: u32,
    name: String,
    status: Status,
    /// No series patch before this.
    next_patch: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Not written yet.
    Pending,
    /// Written: repeats become series patches.
    Created,
    /// Its create failed, or it is gone (expired): not written again.
    Dropped,
}

/// The writer's next step.
enum Work {
    Create(usize, u32),
    Patch(usize, u32),
    Wait(Option<Instant>),
    Done,
}

impl Book {
    fn next(&self, now: Instant) -> Work {
        if self.stopped {
            return Work::Done;
        }
        if let Some(i) = self
            .entries
            .iter()
            .position(|e| e.status == Status::Pending)
        {
            return Work::Create(i, self.entries[i].count);
        }
        let behind = |e: &&Entry| e.status == Status::Created && e.count > e.written;
        let due = (self.entries.iter().enumerate())
            .find(|(_, e)| behind(e) && (self.closing || e.next_patch <= now));
        if let Some((i, e)) = due {
            return Work::Patch(i, e.count);
        }
        if self.closing {
            return Work::Done;
        }
        Work::Wait(
            self.entries
                .iter()
                .filter(behind)
                .map(|e| e.next_patch)
                .min(),
        )
    }
}

/// The one task that writes.
struct Writer {
    shared: Arc<Shared>,
    kube: Kube,
    pod: Pod,
    warn: Warn,
    warned: bool,
    /// The time part of the last Event name, so that two names never meet.
    last_nanos: u128,
}

impl Writer {
    async fn run(mut self) {
        loop {
            let work = lock(&self.shared.book).next(Instant::now());
            match work {
                Work::Done => return,
                Work::Wait(until) => {
                    let woken = self.shared.wake.notified();
                    match until {
                        Some(t) => {
                            tokio::select! {
                                _ = woken => {}
                                _ = tokio::time::sleep_until(t) => {}
                            }
                        }
                        None => woken.await,
                    }
                }
                Work::Create(i, count) => {
                    let name = self.name();
                    let body = {
                        let book = lock(&self.shared.book);
                        self.event(&book.entries[i], &name, count)
                    };
                    let done = within(self.kube.create_event(&body)).await;
                    self.wrote(i, count, done, Some(name));
                }
                Work::Patch(i, count) => {
                    let (name, patch) = {
                        let book = lock(&self.shared.book);
                        let e = &book.entries[i];
                        (e.name.clone(), json!({ "series": series(count, e.last) }))
                    };
                    let done = within(self.kube.patch_event(&name, &patch)).await;
                    self.wrote(i, count, done, None);
                }
            }
        }
    }

    /// Notes how a write of entry `i` with `count` went.
    fn wrote(&mut self, i: usize, count: u32, done: Result<(), ApiError>, created: Option<String>) {
        let failed = {
            let mut book = lock(&self.shared.book);
            let Some(e) = book.entries.get_mut(i) else {
                return;
            };
            match done {
                Ok(()) => {
                    e.written = count;
                    e.status = Status::Created;
                    e.next_patch = Instant::now() + SERIES_EVERY;
                    if let Some(name) = created {
                        e.name = name;
                    }
                    None
                }
                // Expired (Events live an hour) or deleted: its series ends here.
                Err(err) if created.is_none() && err.class == Class::NotFound => {
                    e.status = Status::Dropped;
                    None
                }
                Err(err) => {
                    e.status = Status::Dropped;
                    let refused = matches!(
                        err.class,
                        Class::Forbidden | Class::Unauthorized | Class::NotServed
                    );
                    book.stopped |= refused;
                    Some(err)
                }
            }
        };
        if let Some(err) = failed
            && !std::mem::replace(&mut self.warned, true)
        {
            (self.warn)(&self.failure(&err).to_string());
        }
    }

    fn failure(&self, err: &ApiError) -> EventsError {
        let ns = &self.pod.namespace;
        let hint = match err.class {
            Class::Forbidden => format!(
                "; grant create and patch on events.events.k8s.io in namespace {ns} (kwait --dry-run=rbac prints the Role), or pass --no-events"
            ),
            Class::NotServed => {
                "; this API server does not serve events.k8s.io/v1 (pass --no-events)".into()
            }
            _ => String::new(),
        };
        EventsError::Write {
            pod: format!("{ns}/{}", self.pod.name),
            message: err.message.clone(),
            hint,
        }
    }

    /// A new Event's name, as client-go makes them: the pod's name and the time in hex.
    fn name(&mut self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        self.last_nanos = now.max(self.last_nanos + 1);
        let suffix = format!(".{:x}", self.last_nanos);
        let mut base = self.pod.name.clone();
        base.truncate(NAME_MAX - suffix.len());
        format!("{}{suffix}", base.trim_end_matches(['-', '.']))
    }

    /// The Event of `e` as first written, `count` times seen.
    fn event(&self, e: &Entry, name: &str, count: u32) -> Value {
        let mut regarding = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "name": self.pod.name,
            "namespace": self.pod.namespace,
        });
        if let (Some(uid), Some(r)) = (&self.pod.uid, regarding.as_object_mut()) {
            r.insert("uid".into(), uid.clone().into());
        }
        let mut instance = self.pod.name.clone();
        instance.truncate(INSTANCE_MAX);
        let mut event = json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": { "name": name, "namespace": self.pod.namespace },
            "eventTime": format_rfc3339(e.first, 6),
            "reportingController": CONTROLLER,
            "reportingInstance": instance,
            "action": ACTION,
            "reason": e.reason.name(),
            "type": e.reason.kind(),
            "note": e.note,
            "regarding": regarding,
        });
        // Seen again before it could be written: a series from the start (the API wants a
        // series' count to be at least 2).
        if count > 1
            && let Some(o) = event.as_object_mut()
        {
            o.insert("series".into(), series(count, e.last));
        }
        event
    }
}

fn series(count: u32, last: SystemTime) -> Value {
    json!({ "count": count, "lastObservedTime": format_rfc3339(last, 6) })
}

/// `write`, or an error when it takes longer than [`WRITE_BUDGET`].
async fn within(write: impl Future<Output = Result<(), ApiError>>) -> Result<(), ApiError> {
    match tokio::time::timeout(WRITE_BUDGET, write).await {
        Ok(done) => done,
        Err(_) => Err(ApiError {
            class: Class::Timeout,
            code: None,
            message: format!(
                "the API server did not answer within {}",
                crate::duration::format(WRITE_BUDGET)
            ),
            retry_after: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(vars: &[(&str, &str)]) -> Result<Pod, EventsError> {
        Pod::from_vars(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn the_pod_comes_from_the_downward_api_or_not_at_all() {
        assert!(matches!(pod(&[]), Err(EventsError::NoPod)));
        assert!(matches!(
            pod(&[("POD_NAME", "web-0")]),
            Err(EventsError::NoPod)
        ));
        assert!(matches!(
            pod(&[("POD_NAME", "web-0"), ("POD_NAMESPACE", "a.b")]),
            Err(EventsError::BadPod("POD_NAMESPACE", _))
        ));
        assert!(matches!(
            pod(&[("POD_NAME", "Web\n"), ("POD_NAMESPACE", "crs")]),
            Err(EventsError::BadPod("POD_NAME", _))
        ));
        let p = pod(&[
            ("POD_NAME", "web-0"),
            ("POD_NAMESPACE", "crs"),
            ("POD_UID", "4f1c0f2e-0000-4000-8000-000000000001"),
        ])
        .unwrap();
        assert_eq!(p.name, "web-0");
        assert_eq!(
            p.uid.as_deref(),
            Some("4f1c0f2e-0000-4000-8000-000000000001")
        );
    }

    #[test]
    fn a_report_becomes_one_line_under_the_api_limit() {
        let text = "kwait: timed out after 5m0s waiting for Secret crs/x\n  \
                    last seen : forbidden (since the start; 3 checks)\n  \
                    fix       : kubectl create role kwait-x --verb=get,watch\n              \
                    kubectl create rolebinding kwait-x --role=kwait-x";
        assert_eq!(
            note(text),
            "timed out after 5m0s waiting for Secret crs/x; last seen: forbidden (since the start; 3 checks); \
             fix: kubectl create role kwait-x --verb=get,watch; kubectl create rolebinding kwait-x --role=kwait-x"
        );
        let long = format!("Secret crs/x: {}", "é\u{1b}[31m".repeat(400));
        let n = note(&long);
        assert!(n.len() <= NOTE_MAX, "{}", n.len());
        assert!(n.ends_with('…') && !n.contains('\u{1b}'), "{n}");
    }

    #[test]
    fn at_most_twenty_events_and_the_last_is_kept_for_the_ending() {
        let h = Handle {
            shared: Arc::new(Shared {
                book: Mutex::new(Book::default()),
                wake: Notify::new(),
            }),
        };
        for i in 0..100 {
            h.record(Reason::Waiting, &format!("Secret crs/x: state {i}"));
            h.record(Reason::Waiting, &format!("Secret crs/x: state {i}"));
        }
        h.record(Reason::TimedOut, "timed out");
        h.record(Reason::TimedOut, "timed out again");
        let book = lock(&h.shared.book);
        assert_eq!(book.entries.len(), MAX_EVENTS);
        assert_eq!(book.entries[0].count, 2);
        assert_eq!(book.entries[MAX_EVENTS - 1].reason, Reason::TimedOut);
    }

    #[test]
    fn a_repeat_is_a_series_patch_once_written_and_due() {
        let mut book = Book::default();
        let now = Instant::now();
        book.entries.push(Entry {
            reason: Reason::Waiting,
            note: "a".into(),
            first: SystemTime::now(),
            last: SystemTime::now(),
            count: 1,
            written: 0,
            name: String::new(),
            status: Status::Pending,
            next_patch: now,
        });
        assert!(matches!(book.next(now), Work::Create(0, 1)));
        let e = &mut book.entries[0];
        (e.status, e.written, e.count) = (Status::Created, 1, 3);
        e.next_patch = now + SERIES_EVERY;
        // Not due yet: wait until it is.
        assert!(matches!(book.next(now), Work::Wait(Some(t)) if t == now + SERIES_EVERY));
        assert!(matches!(book.next(now + SERIES_EVERY), Work::Patch(0, 3)));
        // The end writes it at once, then stops.
        book.closing = true;
        assert!(matches!(book.next(now), Work::Patch(0, 3)));
        book.entries[0].written = 3;
        assert!(matches!(book.next(now), Work::Done));
    }
}
