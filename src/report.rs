//! What the user sees: progress lines, the final report (text or JSON lines) and the
//! termination message.
//!
//! Everything goes to stderr (stdout is kept for `--dry-run` output). Nothing here ever sees a
//! Secret value: probes only hand over key names.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::check::{Class, Observation};
use crate::duration::format as dur;
use crate::plan::{Format, Output};

/// The kubelet reads at most 4096 bytes of a termination message; stay under it.
const TERMINATION_LOG_LIMIT: usize = 4000;
/// Where Kubernetes looks for a container's termination message by default.
const DEFAULT_TERMINATION_LOG: &str = "/dev/termination-log";

/// How a wait ended, with what the waiter saw on the way.
#[derive(Debug, Clone)]
pub struct Summary {
    /// How it ended.
    pub ending: Ending,
    /// Time since the wait began.
    pub elapsed: Duration,
    /// Checks made.
    pub checks: u32,
    /// The last observation that was not ready, if any.
    pub last: Option<Observation>,
    /// When `last`'s state was first seen, since the wait began.
    pub since: Duration,
    /// The changes of state: (time since start, state).
    pub history: History,
    /// Extra report lines from the probe (`Probe::explain`).
    pub explain: Vec<(String, String)>,
    /// Whether a watch was established at the end (so few checks were needed).
    pub watching: bool,
    /// The API server went silent before the deadline: `last` is what it said before, and may
    /// be out of date.
    pub silence: Option<Silence>,
}

/// The API server stopped answering: the wait's last check got no answer, and no watch heard
/// from it since that check began.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Silence {
    /// When kwait last heard from the API server (a check's answer, a watch's event or
    /// bookmark), since the wait began; `None`: never.
    pub heard: Option<Duration>,
}

/// How many changes of state a report shows.
const HISTORY_SHOWN: usize = 6;

/// The changes of state a report shows: the last [`HISTORY_SHOWN`], and how many came before
/// them, as a count: a state that changes for ever (`--timeout 0`) costs no memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    recent: VecDeque<(Duration, String)>,
    earlier: usize,
}

impl History {
    /// Notes a change to `state` at `at` (since the start).
    pub fn push(&mut self, at: Duration, state: String) {
        if self.recent.len() == HISTORY_SHOWN {
            self.recent.pop_front();
            self.earlier += 1;
        }
        self.recent.push_back((at, state));
    }

    /// How many changes there were in all.
    pub fn len(&self) -> usize {
        self.earlier + self.recent.len()
    }
}

impl From<Vec<(Duration, String)>> for History {
    fn from(changes: Vec<(Duration, String)>) -> Self {
        let mut h = History::default();
        for (at, state) in changes {
            h.push(at, state);
        }
        h
    }
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// Ready, with the probe's detail.
    Ready(String),
    /// Failed for good.
    Failed,
    /// The deadline passed.
    TimedOut,
    /// A signal arrived (its number: 2 or 15).
    Interrupted(i32),
    /// No longer awaited: another target of the run failed for good.
    Cancelled,
}

/// Where [`write_out`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// `--dry-run`'s output, help and version.
    Stdout,
    /// Progress lines, the report and errors.
    Stderr,
}

/// Writes `text` (and a newline when it lacks one) to `to` in one piece, flushed. Every line kwait
/// prints goes through here, never through `print!`/`eprintln!`, which panic on a closed pipe or a
/// full disk: the caller decides whether the error matters (only `--dry-run`'s output does; a
/// closed stderr has nowhere left to be reported, so a wait carries on and exits as it would).
pub fn write_out(to: Stream, text: &str) -> std::io::Result<()> {
    let newline = if text.ends_with('\n') { "" } else { "\n" };
    match to {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            write!(out, "{text}{newline}")?;
            out.flush()
        }
        Stream::Stderr => {
            let mut err = std::io::stderr().lock();
            write!(err, "{text}{newline}")?;
            err.flush()
        }
    }
}

/// What a reporter has said of its target so far: enough for a report written without its
/// waiter's word (the watchdog's, should the run not stop in time).
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Checks made.
    pub checks: u32,
    /// The last state reported, if any.
    pub last: Option<Observation>,
    /// When `last` was first seen, since the start.
    pub since: Duration,
    /// The changes of state.
    pub history: History,
}

/// Writes progress lines and the final report.
#[derive(Debug, Clone)]
pub struct Reporter {
    format: Format,
    verbosity: i8,
    termination_log: Option<PathBuf>,
    what: String,
    /// The target's place in a run with several (0-based), for JSON lines.
    index: Option<usize>,
    /// Shared by the reporter's clones (the watchdog's fallback holds one).
    seen: std::sync::Arc<std::sync::Mutex<Seen>>,
    /// Where the lines are also recorded as Events on kwait's pod (`src/events.rs`).
    events: Option<crate::events::Handle>,
}

impl Reporter {
    /// A reporter for a wait on `what` (the probe's `describe()`).
    pub fn new(output: &Output, what: String) -> Reporter {
        let termination_log = match &output.termination_log {
            Some(p) => Some(p.clone()),
            None => default_termination_log(),
        };
        Reporter {
            format: output.format,
            verbosity: output.verbosity,
            termination_log,
            what,
            index: None,
            seen: Default::default(),
            events: None,
        }
    }

    /// This reporter, its lines also recorded as Events with `events`.
    pub fn with_events(self, events: Option<crate::events::Handle>) -> Reporter {
        Reporter { events, ..self }
    }

    /// Records `text` as an Event with `reason`, when recording.
    fn record(&self, reason: crate::events::Reason, text: &str) {
        if let Some(e) = &self.events {
            e.record(reason, text);
        }
    }

    /// What this reporter has said of its target so far.
    pub fn seen(&self) -> Seen {
        crate::net::text::lock(&self.seen).clone()
    }

    /// The reporter of target `index` in a run with several: its progress lines and its ready
    /// line; the run's one report is the [`Group`]'s.
    pub fn member(output: &Output, what: String, index: usize) -> Reporter {
        Reporter {
            termination_log: None,
            index: Some(index),
            ..Reporter::new(output, what)
        }
    }

    /// A member's ready line (in a run with several targets): the same line a single target
    /// ends with, carrying its index in JSON.
    pub fn ready(&self, s: &Summary) {
        if let Ending::Ready(detail) = &s.ending {
            let text = self.render(s);
            self.record(crate::events::Reason::Ready, &text);
            self.event(0, "ready", &text, |j| {
                j.num("elapsed_s", Some(s.elapsed.as_secs_f64()));
                j.num("checks", Some(f64::from(s.checks)));
                j.str("detail", detail);
            });
        }
    }

    /// The first line: what, and for how long.
    pub fn start(&self, timeout: Option<Duration>) {
        let limit = timeout.map_or_else(
            || "no timeout".to_string(),
            |t| format!("timeout {}", dur(t)),
        );
        let text = format!("waiting for {}, {limit}", self.what);
        self.record(crate::events::Reason::Waiting, &text);
        self.event(0, "start", &text, |j| {
            j.num("timeout_s", timeout.map(|t| t.as_secs_f64()));
        });
    }

    /// A change of the observed state.
    /// Where the user must act (RBAC, credentials, a missing CRD), the fix comes with it at once
    /// rather than only in the report at the deadline.
    pub fn state(&self, elapsed: Duration, obs: &Observation) {
        {
            let mut seen = crate::net::text::lock(&self.seen);
            seen.last = Some(obs.clone());
            seen.since = elapsed;
            seen.history.push(elapsed, obs.state.clone());
        }
        let (text, actionable) = self.state_text(obs);
        self.record(crate::events::Reason::of(obs.class), &text);
        self.event(0, "state", &text, |j| {
            j.num("elapsed_s", Some(elapsed.as_secs_f64()));
            j.str("class", class_name(obs.class));
            j.str("state", &obs.state);
            if actionable {
                j.list("fix", obs.fix.iter().map(String::as_str));
            }
        });
    }

    /// The line of a state, and whether it is one where the user must act (its fix comes with
    /// it).
    fn state_text(&self, obs: &Observation) -> (String, bool) {
        let mut text = format!("{}: {}", self.what, obs.state);
        let actionable = matches!(
            obs.class,
            Class::Forbidden | Class::Unauthorized | Class::NotServed
        );
        if actionable {
            for (i, fix) in obs.fix.iter().enumerate() {
                let label = if i == 0 {
                    "  fix       : "
                } else {
                    "              "
                };
                text.push_str(&format!("\n{label}{fix}"));
            }
        }
        (text, actionable)
    }

    /// The heartbeat while nothing changes: the state's Event counts one more.
    pub fn heartbeat(&self, elapsed: Duration, obs: Option<&Observation>) {
        if let Some(o) = obs {
            self.record(crate::events::Reason::of(o.class), &self.state_text(o).0);
        }
        let state = obs.map_or("no answer yet", |o| o.state.as_str());
        let text = format!("still waiting ({}): {}: {state}", dur(elapsed), self.what);
        self.event(0, "heartbeat", &text, |j| {
            j.num("elapsed_s", Some(elapsed.as_secs_f64()));
            j.str("state", state);
        });
    }

    /// One check, at `-v`.
    pub fn check(&self, n: u32, elapsed: Duration, result: &str) {
        crate::net::text::lock(&self.seen).checks = n;
        let text = format!("check {n} at {}: {result}", dur(elapsed));
        self.event(1, "check", &text, |j| {
            j.num("check", Some(f64::from(n)));
            j.num("elapsed_s", Some(elapsed.as_secs_f64()));
            j.str("result", result);
        });
    }

    /// A note, printed at -v only (not recorded as an Event).
    pub fn note(&self, msg: &str) {
        self.event(1, "note", msg, |j| j.str("note", msg));
    }

    /// A warning: printed unless quiet.
    pub fn warn(&self, msg: &str) {
        self.record(
            crate::events::Reason::Misconfigured,
            &format!("warning: {msg}"),
        );
        self.event(0, "warning", &format!("warning: {msg}"), |j| {
            j.str("warning", msg)
        });
    }

    /// The end of the wait: the ready line, or the report. Also writes the termination log.
    pub fn finish(&self, s: &Summary) {
        let text = self.render(s);
        if let Some(reason) = final_reason(&s.ending) {
            self.record(reason, &text);
        }
        let (event, level) = match s.ending {
            Ending::Ready(_) => ("ready", 0),
            Ending::Failed => ("failed", -1),
            Ending::TimedOut => ("timeout", -1),
            Ending::Interrupted(_) => ("interrupted", -1),
            Ending::Cancelled => ("cancelled", -1),
        };
        self.event(level, event, &text, |j| {
            j.num("elapsed_s", Some(s.elapsed.as_secs_f64()));
            j.num("checks", Some(f64::from(s.checks)));
            if let Ending::Ready(detail) = &s.ending {
                j.str("detail", detail);
            }
            if let Ending::Interrupted(sig) = s.ending {
                j.str("signal", signal_name(sig));
            }
            if !matches!(s.ending, Ending::Ready(_)) {
                j.last_seen(s);
            }
        });
        if let Some(path) = &self.termination_log {
            write_termination_log(path, &crate::net::text::scrub(&text));
        }
    }

    /// The final text: one line when ready or interrupted, the report otherwise.
    pub fn render(&self, s: &Summary) -> String {
        let took = dur(s.elapsed);
        let last_state = s
            .last
            .as_ref()
            .map_or("no answer yet", |o| o.state.as_str());
        let mut out = match &s.ending {
            Ending::Ready(detail) => return format!("kwait: ready after {took}: {detail}"),
            Ending::Interrupted(sig) => {
                return format!(
                    "kwait: interrupted by {} after {took} while waiting for {}; last seen: {last_state}",
                    signal_name(*sig),
                    self.what
                );
            }
            Ending::TimedOut => {
                format!("kwait: timed out after {took} waiting for {}\n", self.what)
            }
            Ending::Failed => format!("kwait: failed after {took}: {}\n", self.what),
            Ending::Cancelled => format!("kwait: no longer awaited after {took}: {}\n", self.what),
        };
        out.push_str(&details(s, Detail::Full));
        out.truncate(out.trim_end().len());
        out
    }

    /// Prints one event if the verbosity allows: `level` -1 always, 0 unless quiet, 1 at -v.
    fn event(&self, level: i8, event: &str, text: &str, fields: impl FnOnce(&mut JsonLine)) {
        if self.verbosity < level {
            return;
        }
        let line = match self.format {
            Format::Text => {
                if text.starts_with("kwait: ") {
                    text.to_string()
                } else {
                    format!("kwait: {text}")
                }
            }
            Format::Json => {
                let mut j = JsonLine::new(event, &self.what);
                if let Some(i) = self.index {
                    j.int("index", i);
                }
                fields(&mut j);
                j.str("message", text.strip_prefix("kwait: ").unwrap_or(text));
                j.finish()
            }
        };
        // No credential kwait holds is ever printed, whoever put it in the text (a server that
        // echoes the token back, ...). A closed stderr must not end the wait: ignore write errors.
        let line = crate::net::text::scrub(&line);
        let _ = write_out(Stream::Stderr, &line);
    }
}

/// How many targets the start line names before it counts the rest.
const START_NAMED: usize = 4;

/// Speaks for a run with several targets (joined by `--and`): the start line naming them, and
/// the one final report covering every target, which fits the termination message.
#[derive(Debug, Clone)]
pub struct Group {
    /// Prints the run's own lines (its `what` is "N targets"); writes the termination log.
    run: Reporter,
    /// What each target is, in order.
    members: Vec<String>,
}

/// How a run with several targets ended: the run's ending and each target's summary, in order.
#[derive(Debug, Clone)]
pub struct GroupSummary {
    /// Ready when all are, else the first failure, a signal, or the deadline.
    pub ending: Ending,
    /// Time since the run began.
    pub elapsed: Duration,
    /// Each target's own summary.
    pub members: Vec<Summary>,
}

impl Group {
    /// The group of `members` (their descriptions, in order).
    pub fn new(output: &Output, members: Vec<String>) -> Group {
        Group {
            run: Reporter::new(output, format!("{} targets", members.len())),
            members,
        }
    }

    /// The reporter of each member.
    pub fn reporters(&self, output: &Output) -> Vec<Reporter> {
        (self.members.iter().enumerate())
            .map(|(i, what)| {
                Reporter::member(output, what.clone(), i).with_events(self.run.events.clone())
            })
            .collect()
    }

    /// This group, its lines (and its members', see [`Group::reporters`]) also recorded as
    /// Events with `events`.
    pub fn with_events(self, events: Option<crate::events::Handle>) -> Group {
        Group {
            run: self.run.with_events(events),
            ..self
        }
    }

    /// The first line: how many targets, the first few by name, and for how long.
    pub fn start(&self, timeout: Option<Duration>) {
        let limit = timeout.map_or_else(
            || "no timeout".to_string(),
            |t| format!("timeout {}", dur(t)),
        );
        let n = self.members.len();
        let mut named = self.members[..n.min(START_NAMED)].join("; ");
        if n > START_NAMED {
            named.push_str(&format!("; and {} more", n - START_NAMED));
        }
        let text = format!("waiting for {n} targets at once, {limit}: {named}");
        self.run.record(crate::events::Reason::Waiting, &text);
        self.run.event(0, "start", &text, |j| {
            j.num("timeout_s", timeout.map(|t| t.as_secs_f64()));
            j.list("targets", self.members.iter().map(String::as_str));
        });
    }

    /// The end of the run: "all N ready", or one report on every target. Also writes the
    /// termination log.
    pub fn finish(&self, g: &GroupSummary) {
        let text = self.render(g);
        if let Some(reason) = final_reason(&g.ending) {
            self.run.record(reason, &text);
        }
        let (event, level) = match g.ending {
            Ending::Ready(_) => ("ready", 0),
            Ending::Failed => ("failed", -1),
            Ending::TimedOut => ("timeout", -1),
            Ending::Interrupted(_) | Ending::Cancelled => ("interrupted", -1),
        };
        self.run.event(level, event, &text, |j| {
            j.num("elapsed_s", Some(g.elapsed.as_secs_f64()));
            if let Ending::Interrupted(sig) = g.ending {
                j.str("signal", signal_name(sig));
            }
            let targets = (self.members.iter().zip(&g.members).enumerate())
                .map(|(i, (what, s))| member_json(i, what, s))
                .collect();
            j.0.insert("targets".into(), serde_json::Value::Array(targets));
        });
        if let Some(path) = &self.run.termination_log {
            write_termination_log(path, &crate::net::text::scrub(&text));
        }
    }

    /// The final text. Ready: one line. Otherwise a head line, then each target that is not
    /// ready (failed first) with its last state, cause and fix, then the ready ones with their
    /// time — as much detail as fits the termination message, the rest counted.
    pub fn render(&self, g: &GroupSummary) -> String {
        let n = self.members.len();
        let took = dur(g.elapsed);
        let ready = g
            .members
            .iter()
            .filter(|s| matches!(s.ending, Ending::Ready(_)))
            .count();
        let head = match &g.ending {
            Ending::Ready(_) => return format!("kwait: all {n} ready after {took}"),
            Ending::Failed => {
                let failed = g
                    .members
                    .iter()
                    .filter(|s| s.ending == Ending::Failed)
                    .count();
                format!(
                    "kwait: failed after {took}: {failed} of {n} targets failed for good; the others are no longer awaited"
                )
            }
            Ending::TimedOut => {
                format!(
                    "kwait: timed out after {took} waiting for {} of {n} targets",
                    n - ready
                )
            }
            Ending::Interrupted(_) | Ending::Cancelled => {
                let sig = match g.ending {
                    Ending::Interrupted(sig) => sig,
                    _ => 0,
                };
                format!(
                    "kwait: interrupted by {} after {took} while waiting for {} of {n} targets",
                    signal_name(sig),
                    n - ready,
                )
            }
        };
        // Not ready first (failed before the rest), then ready; each as a section.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| match g.members[i].ending {
            Ending::Failed => 0,
            Ending::Ready(_) => 2,
            _ => 1,
        });
        let section = |i: usize, detail: Option<Detail>| -> String {
            let (what, s) = (&self.members[i], &g.members[i]);
            match (&s.ending, detail) {
                (Ending::Ready(_), _) => format!("- {what}: ready after {}\n", dur(s.elapsed)),
                (_, Some(d)) => format!("- {what}{}\n{}", member_label(&s.ending), details(s, d)),
                (_, None) => {
                    let state = s
                        .last
                        .as_ref()
                        .map_or("no answer yet", |o| o.state.as_str());
                    format!(
                        "- {what}{}: {}\n",
                        member_label(&s.ending),
                        crate::net::text::cut(state, 160)
                    )
                }
            }
        };
        let fits = |text: &str| text.len() <= TERMINATION_LOG_LIMIT;
        for detail in [Some(Detail::Full), Some(Detail::Brief), None] {
            let mut out = format!("{head}\n");
            for &i in &order {
                out.push_str(&section(i, detail));
            }
            if fits(&out) {
                out.truncate(out.trim_end().len());
                return out;
            }
        }
        // Too many even in one line each: as many as fit, then a count of the rest.
        let mut out = format!("{head}\n");
        for (k, &i) in order.iter().enumerate() {
            let next = section(i, None);
            let rest = order.len() - k;
            let tail = format!(
                "- and {rest} more not shown ({} ready)\n",
                order[k..]
                    .iter()
                    .filter(|&&j| matches!(g.members[j].ending, Ending::Ready(_)))
                    .count()
            );
            if !fits(&format!("{out}{next}{tail}")) {
                out.push_str(&tail);
                break;
            }
            out.push_str(&next);
        }
        out.truncate(out.trim_end().len());
        out
    }
}

/// The Event an ending is recorded as: none after a signal (the exit must not wait).
fn final_reason(e: &Ending) -> Option<crate::events::Reason> {
    use crate::events::Reason;
    match e {
        Ending::Ready(_) => Some(Reason::Ready),
        Ending::Failed => Some(Reason::Failed),
        Ending::TimedOut => Some(Reason::TimedOut),
        Ending::Interrupted(_) | Ending::Cancelled => None,
    }
}

/// How a member's section is headed, after its description: why it is in the report.
fn member_label(e: &Ending) -> &'static str {
    match e {
        Ending::Failed => " (failed)",
        Ending::Cancelled => " (no longer awaited)",
        _ => "",
    }
}

/// One target of a run's final JSON line.
fn member_json(index: usize, what: &str, s: &Summary) -> serde_json::Value {
    let mut j = JsonLine(serde_json::Map::new());
    j.int("index", index);
    j.str("target", what);
    let ending = match &s.ending {
        Ending::Ready(_) => "ready",
        Ending::Failed => "failed",
        Ending::TimedOut => "timeout",
        Ending::Interrupted(_) => "interrupted",
        Ending::Cancelled => "cancelled",
    };
    j.str("ending", ending);
    j.num("elapsed_s", Some(s.elapsed.as_secs_f64()));
    j.num("checks", Some(f64::from(s.checks)));
    match &s.ending {
        Ending::Ready(detail) => j.str("detail", detail),
        _ => j.last_seen(s),
    }
    serde_json::Value::Object(j.0)
}

/// How much of a target's report [`details`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Detail {
    /// The last state, its cause and fix.
    Brief,
    /// Also the probe's extra lines and the history.
    Full,
}

/// A report's indented lines for one target: what it last showed (since when, after how many
/// checks), the cause and the fix, and at [`Detail::Full`] the probe's extra lines and the
/// history.
fn details(s: &Summary, detail: Detail) -> String {
    let mut out = String::new();
    let last_state = s
        .last
        .as_ref()
        .map_or("no answer yet", |o| o.state.as_str());
    let line = |out: &mut String, label: &str, text: &str| {
        let mut lines = text.lines();
        out.push_str(&format!("  {label:<10}: {}\n", lines.next().unwrap_or("")));
        for l in lines {
            out.push_str(&format!("{:14}{l}\n", ""));
        }
    };
    let checks = if s.checks == 1 {
        "1 check".to_string()
    } else {
        format!("{} checks", s.checks)
    };
    // How fresh it is: a watch that saw no change is evidence only while the API server
    // answers; once it went silent, the state is as of its last answer.
    let fresh = match s.silence {
        Some(Silence { heard: Some(h) }) => format!(
            "; the API server's last answer came {} after the start, and it has been silent since",
            dur(h)
        ),
        Some(Silence { heard: None }) => "; the API server never answered".to_string(),
        None if s.watching => ", and a watch that saw no change since".to_string(),
        None => String::new(),
    };
    line(
        &mut out,
        "last seen",
        &format!(
            "{last_state} (since {}; {checks}{fresh})",
            if s.since < Duration::from_secs(1) {
                "the start".to_string()
            } else {
                dur(s.since)
            },
        ),
    );
    if let Some(obs) = &s.last {
        if let Some(cause) = &obs.cause {
            line(&mut out, "cause", cause);
        }
        if !obs.fix.is_empty() {
            line(&mut out, "fix", &obs.fix.join("\n"));
        }
    }
    if detail < Detail::Full {
        return out;
    }
    for (label, text) in &s.explain {
        line(&mut out, label, text);
    }
    if s.history.len() > 1 {
        let shown: Vec<String> = s
            .history
            .recent
            .iter()
            .map(|(at, st)| {
                format!(
                    "{} {}",
                    dur(*at),
                    crate::net::text::cut(&crate::net::text::scrub(st), 120)
                )
            })
            .collect();
        let more = s.history.earlier;
        let mut h = shown.join("\n");
        if more > 0 {
            h = format!("({more} earlier changes)\n{h}");
        }
        line(&mut out, "history", &h);
    }
    out
}

/// `/dev/termination-log` when it exists and may be written (in a container); none elsewhere.
fn default_termination_log() -> Option<PathBuf> {
    let p = Path::new(DEFAULT_TERMINATION_LOG);
    let writable = std::fs::OpenOptions::new().append(true).open(p).is_ok();
    writable.then(|| p.to_path_buf())
}

fn write_termination_log(path: &Path, text: &str) {
    let text = truncate_bytes(text, TERMINATION_LOG_LIMIT);
    if let Err(e) = std::fs::write(path, text) {
        let _ = write_out(
            Stream::Stderr,
            &format!(
                "kwait: warning: cannot write the termination log {}: {e}",
                path.display()
            ),
        );
    }
}

fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "a signal",
    }
}

/// The stable, machine-readable name of a [`Class`] for JSON output.
pub fn class_name(c: Class) -> &'static str {
    match c {
        Class::NotReady => "not_ready",
        Class::NotFound => "not_found",
        Class::Gone => "gone",
        Class::NotServed => "not_served",
        Class::Forbidden => "forbidden",
        Class::Unauthorized => "unauthorized",
        Class::ServerError => "server_error",
        Class::Throttled => "throttled",
        Class::Unreachable => "unreachable",
        Class::Reset => "reset",
        Class::Dns => "dns",
        Class::Tls => "tls",
        Class::Timeout => "timeout",
        Class::Other => "other",
    }
}

/// One JSON object on one line, built by hand (serde_json escapes the strings).
struct JsonLine(serde_json::Map<String, serde_json::Value>);

impl JsonLine {
    fn new(event: &str, what: &str) -> Self {
        let mut j = JsonLine(serde_json::Map::new());
        j.str("time", &rfc3339(SystemTime::now()));
        j.str("event", event);
        j.str("target", what);
        j
    }
    fn str(&mut self, k: &str, v: &str) {
        self.0.insert(k.to_string(), v.into());
    }
    fn num(&mut self, k: &str, v: Option<f64>) {
        let v = v.map(|f| (f * 1000.0).round() / 1000.0);
        self.0.insert(k.to_string(), v.into());
    }
    fn int(&mut self, k: &str, v: usize) {
        self.0.insert(k.to_string(), v.into());
    }
    fn list<'a>(&mut self, k: &str, v: impl Iterator<Item = &'a str>) {
        self.0
            .insert(k.to_string(), v.map(serde_json::Value::from).collect());
    }
    /// What a target that is not ready last showed: class, state, since when, cause, fix and
    /// the probe's extra lines.
    fn last_seen(&mut self, s: &Summary) {
        let Some(last) = &s.last else { return };
        self.str("class", class_name(last.class));
        self.str("state", &last.state);
        self.num("since_s", Some(s.since.as_secs_f64()));
        if let Some(silence) = s.silence {
            self.0.insert("api_server_silent".to_string(), true.into());
            self.num("last_heard_s", silence.heard.map(|h| h.as_secs_f64()));
        }
        if let Some(c) = &last.cause {
            self.str("cause", c);
        }
        self.list("fix", last.fix.iter().map(String::as_str));
        for (k, v) in &s.explain {
            self.str(&k.replace(' ', "_"), v);
        }
    }

    fn finish(self) -> String {
        serde_json::Value::Object(self.0).to_string()
    }
}

/// `2026-11-22T02:18:43.123Z` (see [`crate::duration::format_rfc3339`]).
fn rfc3339(t: SystemTime) -> String {
    crate::duration::format_rfc3339(t, 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn reporter() -> Reporter {
        Reporter {
            format: Format::Text,
            verbosity: 0,
            termination_log: None,
            what: "Secret crs/litellm-api-user (keys: API_KEY)".into(),
            index: None,
            seen: Default::default(),
            events: None,
        }
    }

    #[test]
    fn timeout_report_names_state_cause_and_fix() {
        let obs = Observation::new(Class::Forbidden, "forbidden: User \"u\" cannot get secrets")
            .cause("the service account may not read it")
            .fix("kubectl create role a")
            .fix("kubectl create rolebinding b");
        let s = Summary {
            ending: Ending::TimedOut,
            elapsed: Duration::from_secs(300),
            checks: 150,
            last: Some(obs),
            since: Duration::ZERO,
            history: vec![(Duration::ZERO, "forbidden: ...".into())].into(),
            explain: vec![],
            watching: false,
            silence: None,
        };
        assert_eq!(
            reporter().render(&s),
            "kwait: timed out after 5m0s waiting for Secret crs/litellm-api-user (keys: API_KEY)\n\
             \x20 last seen : forbidden: User \"u\" cannot get secrets (since the start; 150 checks)\n\
             \x20 cause     : the service account may not read it\n\
             \x20 fix       : kubectl create role a\n\
             \x20             kubectl create rolebinding b"
        );
    }

    // Regression (issue 22): a watch that saw no change was named as evidence though the API
    // server had gone silent; the last seen line now says how fresh the state is.
    #[test]
    fn a_silent_api_server_makes_the_last_seen_line_say_when_it_last_answered() {
        let silent = |silence, watching| Summary {
            ending: Ending::TimedOut,
            elapsed: Duration::from_secs(10),
            checks: 2,
            last: Some(Observation::new(Class::NotFound, "not found")),
            since: Duration::ZERO,
            history: Default::default(),
            explain: vec![],
            watching,
            silence,
        };
        let text = reporter().render(&silent(
            Some(Silence {
                heard: Some(Duration::from_millis(1500)),
            }),
            false,
        ));
        assert!(
            text.contains("  last seen : not found (since the start; 2 checks; the API server's last answer came 1.5s after the start, and it has been silent since)"),
            "{text}"
        );
        let text = reporter().render(&silent(None, true));
        assert!(
            text.contains("(since the start; 2 checks, and a watch that saw no change since)"),
            "{text}"
        );
        let mut j = JsonLine::new("timeout", "x");
        j.last_seen(&silent(
            Some(Silence {
                heard: Some(Duration::from_millis(1500)),
            }),
            false,
        ));
        let json = j.finish();
        assert!(
            json.contains("\"api_server_silent\":true") && json.contains("\"last_heard_s\":1.5"),
            "{json}"
        );
    }

    /// Regression: every change of state was kept for the report, which shows 6: a state
    /// that changed for ever (`--timeout 0`) grew the history without end.
    #[test]
    fn a_history_of_endless_changes_keeps_six_and_counts_the_rest() {
        let mut h = History::default();
        for i in 0..10_000u64 {
            h.push(Duration::from_secs(i), format!("state {i}"));
        }
        assert_eq!(h.len(), 10_000);
        assert_eq!(h.recent.len(), HISTORY_SHOWN);
        let s = Summary {
            ending: Ending::TimedOut,
            elapsed: Duration::from_secs(10_000),
            checks: 10_000,
            last: Some(Observation::new(Class::NotReady, "state 9999")),
            since: Duration::from_secs(9_999),
            history: h,
            explain: vec![],
            watching: false,
            silence: None,
        };
        let text = reporter().render(&s);
        assert!(text.contains("(9994 earlier changes)"), "{text}");
        assert!(text.contains("state 9994\n"), "{text}");
        assert!(!text.contains("state 9993"), "{text}");
    }

    #[test]
    fn ready_line_has_elapsed_time() {
        let s = Summary {
            ending: Ending::Ready("Secret crs/x has key API_KEY".into()),
            elapsed: Duration::from_millis(41_230),
            checks: 3,
            last: None,
            since: Duration::ZERO,
            history: History::default(),
            explain: vec![],
            watching: false,
            silence: None,
        };
        assert_eq!(
            reporter().render(&s),
            "kwait: ready after 41.2s: Secret crs/x has key API_KEY"
        );
    }

    #[test]
    fn termination_log_is_cut_on_a_char_boundary() {
        let s = "é".repeat(3000);
        let t = truncate_bytes(&s, TERMINATION_LOG_LIMIT);
        assert!(t.len() <= TERMINATION_LOG_LIMIT && t.len() >= TERMINATION_LOG_LIMIT - 1);
    }

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_314_723_123);
        assert_eq!(rfc3339(t), "2026-11-22T02:32:03.123Z");
    }
}
