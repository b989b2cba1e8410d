//! One run: one deadline for every target, the connection to the API server made once, every
//! target awaited at once (each with its own check, watch and backoff), the first failure
//! cancelling the rest, and one summary for the reporter.
//!
//! A run with one target prints exactly what kwait always printed; with several (`--and`), the
//! start line names them, each target's lines carry its description, and the [`Group`]'s one
//! report covers them all.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::check::{Class, Observation};
use crate::duration;
use crate::exit;
use crate::kube::Kube;
use crate::net::text::lock;
use crate::plan::{Output, Plan, Target};
use crate::probe::Probe;
use crate::report::{Ending, Group, GroupSummary, Reporter, Stream, Summary, write_out};
use crate::targets::{self, Built};
use crate::waiter::{self, Settings, Wakes};
use crate::watchdog::Watchdog;

/// How long after the deadline the report's extra lines (`Probe::explain`: the latest
/// CertificateRequest, the failed pod) may still be read: the whole run stays within
/// `--timeout` + 1 s.
pub const EXPLAIN_SLICE: Duration = Duration::from_millis(500);

/// The state the report names when the run ends while still connecting.
const CONNECTING: &str =
    "still connecting to the API server (reading the kubeconfig, getting credentials)";

/// The state the watchdog names when it must report for a run that did not stop in time.
const BUSY: &str = "not known: the wait was busy and did not stop in time";

/// Who speaks for the run: one target's reporter, or the group's.
#[derive(Clone)]
enum Voice {
    One(Reporter),
    Many(Group, Vec<Reporter>),
}

impl Voice {
    fn new(output: &Output, whats: Vec<String>) -> Voice {
        if whats.len() == 1 {
            let what = whats.into_iter().next().unwrap_or_default();
            Voice::One(Reporter::new(output, what))
        } else {
            let group = Group::new(output, whats);
            let members = group.reporters(output);
            Voice::Many(group, members)
        }
    }

    /// This voice, its lines also recorded as Events on kwait's pod (`src/events.rs`).
    fn with_events(self, events: Option<crate::events::Handle>) -> Voice {
        match self {
            Voice::One(r) => Voice::One(r.with_events(events)),
            Voice::Many(g, members) => Voice::Many(
                g.with_events(events.clone()),
                (members.into_iter())
                    .map(|r| r.with_events(events.clone()))
                    .collect(),
            ),
        }
    }

    fn start(&self, timeout: Option<Duration>) {
        match self {
            Voice::One(r) => r.start(timeout),
            Voice::Many(g, _) => g.start(timeout),
        }
    }

    /// The reporter of target `i`.
    fn member(&self, i: usize) -> &Reporter {
        match self {
            Voice::One(r) => r,
            Voice::Many(_, members) => &members[i.min(members.len() - 1)],
        }
    }

    fn finish(&self, ending: &Ending, elapsed: Duration, members: &[Summary]) {
        match self {
            Voice::One(r) => {
                if let Some(s) = members.first() {
                    r.finish(s);
                }
            }
            Voice::Many(g, _) => g.finish(&GroupSummary {
                ending: ending.clone(),
                elapsed,
                members: members.to_vec(),
            }),
        }
    }

    /// What the watchdog prints should it have to end the run itself: each target as its
    /// waiter ended, else what its reporter last said of it, else `state`.
    fn fallback(
        &self,
        count: usize,
        state: &'static str,
        ended: Ended,
    ) -> crate::watchdog::Fallback {
        let voice = self.clone();
        Arc::new(move |ending: &Ending, elapsed: Duration| {
            let members = voice.members_now(count, ending, elapsed, state, &ended);
            voice.finish(ending, elapsed, &members);
        })
    }

    /// The summaries of a run ended without its waiters' word (see [`Voice::fallback`]).
    fn members_now(
        &self,
        count: usize,
        ending: &Ending,
        elapsed: Duration,
        state: &str,
        ended: &Ended,
    ) -> Vec<Summary> {
        let ended = lock(ended).clone();
        (0..count)
            .map(|i| match ended.get(i).cloned().flatten() {
                Some(s) => s,
                None => {
                    let seen = self.member(i).seen();
                    match seen.last {
                        Some(last) => Summary {
                            checks: seen.checks,
                            last: Some(last),
                            since: seen.since,
                            history: seen.history,
                            ..stopped(ending.clone(), elapsed, state)
                        },
                        None => stopped(ending.clone(), elapsed, state),
                    }
                }
            })
            .collect()
    }
}

/// The summaries of the targets whose waiters have ended, by index: shared with the watchdog's
/// fallback, which reports them as they ended.
type Ended = Arc<std::sync::Mutex<Vec<Option<Summary>>>>;

/// A target's summary when the run ended without its waiter's word.
fn stopped(ending: Ending, elapsed: Duration, state: &str) -> Summary {
    Summary {
        ending,
        elapsed,
        checks: 0,
        last: Some(Observation::new(Class::Timeout, state)),
        since: Duration::ZERO,
        history: Default::default(),
        explain: Vec::new(),
        watching: false,
        silence: None,
    }
}

/// Runs `plan` (not a dry run) and returns the exit code. The deadline counts from `started`.
pub async fn run(plan: Plan, started: std::time::Instant, watchdog: &Watchdog) -> u8 {
    let started = Instant::from_std(started);
    let deadline = plan.timeout.map(|t| started + t);
    watchdog.deadline(deadline.map(Instant::into_std));
    let count = plan.targets.len();
    // Until connected, the report names each target with the namespace expected before
    // anything is read (as --dry-run does).
    let expected: Vec<String> = (plan.targets.iter())
        .zip(targets::expected_namespaces(&plan))
        .map(|(t, ns)| {
            targets::describe(&t.target, ns.as_deref().unwrap_or("<default namespace>"))
                .unwrap_or_default()
        })
        .collect();
    let ended: Ended = Arc::new(std::sync::Mutex::new(vec![None; count]));
    let early = Voice::new(&plan.output, expected);
    watchdog.report_as(early.fallback(count, CONNECTING, ended.clone()));
    let before_start = |ending: Ending| {
        let cause = if ending == Ending::TimedOut {
            "reading the kubeconfig and getting credentials (an exec credential plugin?) did not finish before the deadline"
        } else {
            "the run ended before the API server was reached"
        };
        let member = Summary {
            last: Some(Observation::new(Class::Timeout, CONNECTING).cause(cause)),
            ..stopped(ending.clone(), started.elapsed(), CONNECTING)
        };
        let members = vec![member; count];
        watchdog.end(&ending, || {
            early.finish(&ending, started.elapsed(), &members)
        })
    };
    // Connecting (reading the kubeconfig, running a credential plugin) counts against the
    // deadline and gives way to a signal. One connection serves every Kubernetes target.
    let kube = if plan.targets.iter().any(|t| t.target.needs_kube()) {
        let connected = tokio::select! {
            biased;
            sig = watchdog.signal() => return before_start(Ending::Interrupted(sig)),
            c = until(deadline, Kube::connect(&plan.kube, plan.attempt_timeout)) => match c {
                Some(c) => c,
                None => return before_start(Ending::TimedOut),
            },
        };
        match connected {
            Ok(k) => Some(k),
            Err(e) => return usage(&e),
        }
    } else {
        None
    };
    let mut built = Vec::with_capacity(count);
    let mut shared = targets::Shared::default();
    for t in &plan.targets {
        match targets::build(&plan, t, kube.as_ref(), &mut shared) {
            Ok(b) => built.push(b),
            Err(e) => return usage(&e),
        }
    }
    // Once before waiting (a type found through discovery): a name that can never resolve
    // (ambiguous) is a usage error; anything transient is left to the checks.
    let attempt = plan.attempt_timeout;
    let prepared = futures_util::future::join_all(built.iter_mut().map(|b| async move {
        tokio::time::timeout(attempt, b.probe.prepare())
            .await
            .unwrap_or(Ok(()))
    }));
    let prepared = tokio::select! {
        biased;
        sig = watchdog.signal() => return before_start(Ending::Interrupted(sig)),
        p = until(deadline, prepared) => match p {
            Some(p) => p,
            None => return before_start(Ending::TimedOut),
        },
    };
    if let Some(Err(e)) = prepared.into_iter().find(Result::is_err) {
        return usage(&e);
    }
    let recorder = events_recorder(&plan, kube.as_ref());
    let voice = Voice::new(&plan.output, built.iter().map(|b| b.what.clone()).collect())
        .with_events(recorder.as_ref().map(crate::events::Recorder::handle));
    watchdog.report_as(voice.fallback(count, BUSY, ended.clone()));
    voice.start(plan.timeout);
    for (i, t) in plan.targets.iter().enumerate() {
        let insecure = match &t.target {
            Target::Http(h) => h.tls.is_insecure(),
            Target::Postgres(p) => p.tls.is_insecure(),
            Target::Redis(r) => r.tls.is_insecure(),
            Target::Nats(n) => n.tls.is_insecure(),
            Target::Rabbitmq(r) => r.tls.is_insecure(),
            Target::Mysql(m) => m.tls.is_insecure(),
            _ => false,
        };
        if insecure {
            voice
                .member(i)
                .warn("--insecure-skip-tls-verify: the server's certificate is not verified");
        }
        if let Some(note) = targets::namespace_unused(&plan, t) {
            voice.member(i).warn(&note);
        }
    }

    // Every target at once. The first that fails for good cancels the others; a signal stops
    // them all; each ends at the deadline by itself.
    let (cancel, cancelled) = watch::channel(false);
    let mut probes: Vec<Box<dyn Probe>> = Vec::with_capacity(count);
    let mut wakes: Vec<Wakes> = Vec::with_capacity(count);
    for Built {
        probe, wake, hint, ..
    } in built
    {
        probes.push(probe);
        wakes.push(Wakes { watch: wake, hint });
    }
    {
        let mut waits: FuturesUnordered<_> = probes
            .iter_mut()
            .zip(wakes)
            .zip(&plan.targets)
            .enumerate()
            .map(|(i, ((probe, wake), t))| {
                let settings = Settings {
                    started,
                    timeout: plan.timeout,
                    interval: plan.interval,
                    max_interval: t.max_interval,
                    attempt_timeout: plan.attempt_timeout,
                };
                let signal = watchdog.signal();
                let mut cancelled = cancelled.clone();
                let stop = async move {
                    tokio::select! {
                        sig = signal => Ending::Interrupted(sig),
                        _ = cancelled.wait_for(|c| *c) => Ending::Cancelled,
                    }
                };
                let reporter = voice.member(i).clone();
                async move {
                    let s = waiter::run(probe.as_mut(), wake, &settings, &reporter, stop).await;
                    (i, s)
                }
            })
            .collect();
        while let Some((i, s)) = waits.next().await {
            match s.ending {
                Ending::Failed => {
                    cancel.send_replace(true);
                }
                Ending::Ready(_) if count > 1 => voice.member(i).ready(&s),
                _ => {}
            }
            // Kept where the watchdog's fallback finds it too.
            if let Some(slot) = lock(&ended).get_mut(i) {
                *slot = Some(s);
            }
        }
    }
    // A copy: the fallback may still need them while the report's extra lines are read.
    let ended_now = lock(&ended).clone();
    let mut summaries: Vec<Summary> = ended_now
        .into_iter()
        .map(|s| s.unwrap_or_else(|| stopped(Ending::Cancelled, started.elapsed(), BUSY)))
        .collect();
    let mut ending = group_ending(&summaries);

    if matches!(ending, Ending::Failed | Ending::TimedOut) {
        // The report's extra lines, for the targets that failed or ran out of time: best
        // effort, all at once, and bounded (after the deadline only a small slice is left).
        let budget = match deadline {
            Some(d) => plan
                .attempt_timeout
                .min(d.saturating_duration_since(Instant::now()) + EXPLAIN_SLICE),
            None => plan.attempt_timeout,
        };
        let not_read = vec![(
            "details".to_string(),
            format!(
                "not read: the report's extra details (the latest request, the failed pod) got no answer within {}{}",
                duration::format(budget),
                if budget < plan.attempt_timeout {
                    " left after the deadline"
                } else {
                    " (--attempt-timeout)"
                },
            ),
        )];
        let explains =
            futures_util::future::join_all(probes.iter_mut().zip(&summaries).map(|(probe, s)| {
                let wanted = matches!(s.ending, Ending::Failed | Ending::TimedOut);
                let not_read = not_read.clone();
                async move {
                    if !wanted {
                        return Vec::new();
                    }
                    tokio::time::timeout(budget, probe.explain())
                        .await
                        .unwrap_or(not_read)
                }
            }));
        tokio::select! {
            biased;
            sig = watchdog.signal() => ending = Ending::Interrupted(sig),
            lines = explains => {
                for (s, lines) in summaries.iter_mut().zip(lines) {
                    if matches!(s.ending, Ending::Failed | Ending::TimedOut) {
                        s.explain = lines;
                        s.elapsed = started.elapsed();
                    }
                }
            }
        }
        if let Ending::Interrupted(_) = ending
            && let [only] = summaries.as_mut_slice()
        {
            only.ending = ending.clone();
        }
    }
    let elapsed = started.elapsed();
    let code = watchdog.end(&ending, || voice.finish(&ending, elapsed, &summaries));
    // The final Event and the series not yet brought up to date: a short flush, none after a
    // signal (the exit must stay within a second), and a signal cuts it short.
    if let Some(r) = recorder
        && !matches!(ending, Ending::Interrupted(_))
    {
        tokio::select! {
            biased;
            _ = watchdog.signal() => {}
            _ = r.flush(crate::events::FLUSH_BUDGET) => {}
        }
    }
    code
}

/// The recorder of Events on kwait's own pod, unless `--no-events` or not in a pod that says
/// its name (said at -v). Its warnings are printed, never recorded.
fn events_recorder(plan: &Plan, kube: Option<&Kube>) -> Option<crate::events::Recorder> {
    use crate::events::{Pod, Recorder};
    if !plan.events {
        return None;
    }
    let pod = match Pod::from_env() {
        Ok(p) => p,
        Err(e) => {
            Reporter::new(&plan.output, "events".into()).note(&e.to_string());
            return None;
        }
    };
    let say = Reporter::new(
        &plan.output,
        format!("Events on pod {}/{}", pod.namespace, pod.name),
    );
    let (warn, note) = (say.clone(), say);
    Some(Recorder::start(
        pod,
        kube,
        &plan.kube,
        plan.attempt_timeout,
        Arc::new(move |m: &str| warn.warn(m)),
        Arc::new(move |m: &str| note.note(m)),
    ))
}

/// How the run ended, from its targets' endings: a signal above all, then a failure, then the
/// deadline; ready when every target is (with the one target's detail, for a single target).
fn group_ending(members: &[Summary]) -> Ending {
    let any = |f: fn(&Ending) -> bool| members.iter().map(|s| &s.ending).find(|e| f(e));
    if let Some(e) = any(|e| matches!(e, Ending::Interrupted(_))) {
        return e.clone();
    }
    if any(|e| *e == Ending::Failed).is_some() {
        return Ending::Failed;
    }
    if let Some(e) = any(|e| !matches!(e, Ending::Ready(_))) {
        return match e {
            Ending::Cancelled => Ending::Failed,
            _ => Ending::TimedOut,
        };
    }
    match members {
        [only] => only.ending.clone(),
        _ => Ending::Ready(String::new()),
    }
}

/// Prints a setup error (bad configuration) as one line; exit code 2.
fn usage(e: &dyn std::fmt::Display) -> u8 {
    let _ = write_out(Stream::Stderr, &format!("kwait: {e}"));
    exit::USAGE
}

/// `fut`, or `None` at `deadline`.
async fn until<T>(deadline: Option<Instant>, fut: impl Future<Output = T>) -> Option<T> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, fut).await.ok(),
        None => Some(fut.await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Format;

    fn ending(e: Ending) -> Summary {
        stopped(e, Duration::ZERO, "x")
    }

    #[test]
    fn a_signal_outranks_a_failure_which_outranks_the_deadline() {
        let ready = || ending(Ending::Ready("r".into()));
        assert_eq!(
            group_ending(&[
                ready(),
                ending(Ending::Failed),
                ending(Ending::Interrupted(15))
            ]),
            Ending::Interrupted(15)
        );
        assert_eq!(
            group_ending(&[
                ending(Ending::TimedOut),
                ending(Ending::Failed),
                ending(Ending::Cancelled)
            ]),
            Ending::Failed
        );
        assert_eq!(
            group_ending(&[ready(), ending(Ending::TimedOut)]),
            Ending::TimedOut
        );
        assert_eq!(
            group_ending(&[ready(), ready()]),
            Ending::Ready(String::new())
        );
        assert_eq!(group_ending(&[ready()]), Ending::Ready("r".into()));
    }

    /// Regression: the watchdog's report (a run that did not stop in time) said "not known"
    /// of every target, even one whose waiter had ended ready or had reported its state.
    #[test]
    fn the_watchdog_report_keeps_what_each_target_showed() {
        let output = Output {
            format: Format::Text,
            verbosity: -1,
            termination_log: Some("/dev/null".into()),
        };
        let voice = Voice::new(&output, vec!["a".into(), "b".into(), "c".into()]);
        let ended: Ended = Arc::new(std::sync::Mutex::new(vec![None; 3]));
        // a: reported a state, then checked on; b: its waiter ended ready; c: said nothing.
        let a = voice.member(0);
        a.check(1, Duration::from_secs(1), "not found");
        a.state(
            Duration::from_secs(1),
            &Observation::new(Class::NotFound, "not found").cause("Secret x does not exist yet"),
        );
        a.check(4, Duration::from_secs(4), "not found");
        let ready = Summary {
            ending: Ending::Ready("has key K".into()),
            checks: 2,
            ..stopped(Ending::Cancelled, Duration::from_secs(2), "")
        };
        lock(&ended)[1] = Some(ready);
        let elapsed = Duration::from_secs(5);
        let members = voice.members_now(3, &Ending::TimedOut, elapsed, BUSY, &ended);

        let last = members[0].last.as_ref().map(|o| o.state.as_str());
        assert_eq!(last, Some("not found"));
        assert_eq!(
            (
                members[0].checks,
                members[0].since,
                members[0].history.len()
            ),
            (4, Duration::from_secs(1), 1)
        );
        assert_eq!(members[0].ending, Ending::TimedOut);
        assert_eq!(members[1].ending, Ending::Ready("has key K".into()));
        assert_eq!(
            members[2].last.as_ref().map(|o| o.state.as_str()),
            Some(BUSY)
        );
        // The report names a's state and b as ready, and "not known" only for c.
        let Voice::Many(group, _) = &voice else {
            panic!("three targets make a group");
        };
        let text = group.render(&GroupSummary {
            ending: Ending::TimedOut,
            elapsed,
            members,
        });
        assert!(text.contains("not found"), "{text}");
        assert_eq!(text.matches("not known").count(), 1, "{text}");
    }
}
