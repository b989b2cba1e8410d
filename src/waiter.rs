//! The one retry loop every kind shares: the deadline, jittered exponential backoff,
//! `Retry-After`, wake-ups from a watch, the heartbeat, and the history for the report.
//!
//! Correctness comes from the probe's check (a GET); speed comes from [`Wake`]: a watch that
//! pokes the loop the moment the object changes. While the watch is healthy (proven alive by
//! events or bookmarks within its idle timeout) the loop does not poll at all: the watch pokes
//! it on every change and once more at each renewal (every few minutes). When the watch is not
//! healthy, the backoff carries on alone. Wake-ups are coalesced: at most
//! [`KUBE_CHECK_BURST`] checks in any [`KUBE_CHECK_WINDOW`], however fast the watch pokes, so a
//! change right after the first GET (or after a quiet spell) is still reacted to at once.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::{Instant, sleep_until, timeout};

use crate::backoff::{Backoff, Budget, MAX_RETRY_AFTER};
use crate::check::{Check, Class, Observation};
pub use crate::kube::Wake;
use crate::probe::Probe;
use crate::report::{Ending, History, Reporter, Silence, Summary};

/// How often "still waiting" is printed while nothing changes.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// A watched (Kubernetes) target is checked at most [`KUBE_CHECK_BURST`] times in any window of
/// this length: 2 requests a second over time, whatever the watch's event rate or `--interval`.
pub const KUBE_CHECK_WINDOW: Duration = Duration::from_millis(2500);

/// How many checks a window allows. Five, not one or two: the object often changes right after
/// the first GET (the Secret the wait was started for appears), and a rollout writes a few
/// status changes within a second (bench section 8: with two a second, the last one waited up
/// to ~800 ms); each must be reacted to at once. A churning object still costs two GETs a second
/// over time.
pub const KUBE_CHECK_BURST: usize = 5;

/// How long the loop sleeps, while the watch is healthy and the object was seen, before
/// looking again on its own: never in practice (the watch's renewal pokes first), but a
/// bounded instant keeps the clock arithmetic finite.
const WATCHED_SLEEP: Duration = Duration::from_secs(24 * 3600);

/// How much longer than `--attempt-timeout` a check may run before the waiter stops it.
const CHECK_SLACK: Duration = Duration::from_millis(250);

/// The shortest time reserved before the deadline for a Kubernetes target's last check (see
/// [`confirm_reserve`]).
const CONFIRM_FLOOR: Duration = Duration::from_millis(200);

/// How long before the deadline a Kubernetes target is checked one last time, whatever its
/// watch said: a tenth of `--timeout` (at least [`CONFIRM_FLOOR`], at most half of it), and
/// never more than `--attempt-timeout`. A watch that is open but silent is no evidence (a
/// frozen API server sends nothing either), so the report's "last seen" is confirmed by an
/// answer, or says that the API server went silent; the check's time is taken from inside
/// `--timeout`, so the run still ends by its deadline.
fn confirm_reserve(timeout: Duration, attempt: Duration) -> Duration {
    attempt
        .min((timeout / 10).max(CONFIRM_FLOOR))
        .min(timeout / 2)
}

/// When a check is due after a hint that the target may have become reachable (`--service`:
/// the Service's set of ready endpoints changed), counted from the hint: at once, then again as
/// kube-proxy (or whatever routes to the endpoints) catches up with the change, which takes a
/// few to a few hundred milliseconds after the EndpointSlice changes. After the last, the
/// steady period carries on.
pub const FOLLOW_UPS: [Duration; 5] = [
    Duration::ZERO,
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
];

/// At most this many checks that hints asked for in any [`KUBE_CHECK_WINDOW`]: the follow-ups of
/// two changes in full (two replicas turning ready a moment apart), and no more than 4 extra
/// checks a second over time however often the endpoints flap.
pub const HINT_BURST: usize = 2 * FOLLOW_UPS.len();

/// What wakes the loop besides its own clock.
#[derive(Debug, Default)]
pub struct Wakes {
    /// A watch of the object itself (Kubernetes targets): the loop polls only when it is not
    /// healthy.
    pub watch: Option<Wake>,
    /// A hint that a network target may have become reachable (`--service`): the loop checks
    /// on [`FOLLOW_UPS`] after each, and keeps its steady period.
    pub hint: Option<Arc<Notify>>,
}

impl From<Option<Wake>> for Wakes {
    fn from(watch: Option<Wake>) -> Self {
        Wakes { watch, hint: None }
    }
}

/// The loop's timing.
#[derive(Debug, Clone)]
pub struct Settings {
    /// When the run began (the process start): `timeout` and every elapsed time count from here,
    /// so that time spent connecting (an exec credential plugin...) counts against the deadline.
    pub started: Instant,
    /// Overall limit from `started`; `None` = wait for ever.
    pub timeout: Option<Duration>,
    /// First delay, and the floor of every delay.
    pub interval: Duration,
    /// Longest delay; also the safety re-check period while the watch is healthy.
    pub max_interval: Duration,
    /// Longest time one check may take.
    pub attempt_timeout: Duration,
}

/// The waiter's own word for a check that did not come back within its budget (with some
/// slack): `cut` when the deadline, not `--attempt-timeout`, set that budget.
fn attempt_timed_out(budget: Duration, cut: bool) -> Observation {
    let budget = crate::duration::format(budget);
    if cut {
        Observation::new(Class::Timeout, "no answer before the deadline").cause(format!(
            "the check got no answer in the {budget} left before --timeout ran out; the server or the network is slow or stalled"
        ))
    } else {
        Observation::new(Class::Timeout, "no answer within the attempt timeout").cause(format!(
            "one check took longer than {budget} (--attempt-timeout); the server or the network is slow or stalled"
        ))
    }
}

/// Waits for `probe` until it is ready, failed, the deadline passes or `stop` resolves (to how
/// the wait ends: a signal, or the group's cancellation when another target failed). Prints
/// progress through `reporter` (the start line is the caller's); returns what happened.
pub async fn run(
    probe: &mut dyn Probe,
    wakes: impl Into<Wakes>,
    settings: &Settings,
    reporter: &Reporter,
    stop: impl Future<Output = Ending>,
) -> Summary {
    let start = settings.started;
    let deadline = settings.timeout.map(|t| start + t);
    tokio::pin!(stop);
    let mut backoff = Backoff::new(settings.interval, settings.max_interval);
    let mut last: Option<Observation> = None;
    let mut since = Duration::ZERO;
    let mut checks = 0u32;
    let mut history = History::default();
    let mut next_heartbeat = start + HEARTBEAT;
    let Wakes { watch: wake, hint } = wakes.into();
    // The checks a hint still asks for, and when the last hinted checks began (at most
    // HINT_BURST in any KUBE_CHECK_WINDOW, however often the hint comes).
    let mut follow_ups: VecDeque<Instant> = VecDeque::new();
    let mut hinted = Budget::new(HINT_BURST, KUBE_CHECK_WINDOW);
    let (notify, mut healthy, talk) = match wake {
        Some(w) => (Some(w.notify), Some(w.healthy), Some(w.talk)),
        None => (None, None, None),
    };
    let watch_ok = |h: &Option<watch::Receiver<bool>>| h.as_ref().is_some_and(|h| *h.borrow());
    // A watched target is a Kubernetes object: its checks keep to the request budget (the
    // start times of its last KUBE_CHECK_BURST checks).
    let budgeted = notify.is_some();
    let mut recent = Budget::new(KUBE_CHECK_BURST, KUBE_CHECK_WINDOW);
    // A Kubernetes target is checked once more at `confirm_at` (see `confirm_reserve`), unless
    // a check starts in that last stretch anyway.
    let reserve = settings.timeout.map_or(Duration::ZERO, |t| {
        confirm_reserve(t, settings.attempt_timeout)
    });
    let confirm_at = deadline.filter(|_| budgeted).map(|d| d - reserve);
    let mut confirmed = false;
    // When the last check began, if it got no answer.
    let mut unanswered: Option<Instant> = None;
    let summary = |ending, checks, last: Option<Observation>, since, history| Summary {
        ending,
        elapsed: start.elapsed(),
        checks,
        last,
        since,
        history,
        explain: Vec::new(),
        watching: false,
        silence: None,
    };

    let mut s = async {
        loop {
            // One check, bounded by the attempt timeout and the deadline.
            let now = Instant::now();
            let slack = settings.attempt_timeout + CHECK_SLACK;
            let (budget, limit) = match deadline {
                Some(d) if d <= now => {
                    return summary(Ending::TimedOut, checks, last, since, history);
                }
                Some(d) => (settings.attempt_timeout.min(d - now), slack.min(d - now)),
                None => (settings.attempt_timeout, slack),
            };
            // The deadline, not --attempt-timeout, bounds this check.
            let cut = budget < settings.attempt_timeout;
            // The last check before the deadline, which confirms (or not) what was last seen.
            let confirming = confirm_at.is_some_and(|c| now >= c);
            confirmed |= confirming;
            checks += 1;
            if budgeted {
                recent.spend(now);
            }
            // A check a hint asked for: it counts against the hints' budget.
            if follow_ups.front().is_some_and(|f| *f <= now) {
                hinted.spend(now);
            }
            // This check serves every follow-up due by now.
            while follow_ups.front().is_some_and(|f| *f <= now) {
                follow_ups.pop_front();
            }
            let check = tokio::select! {
                biased;
                ending = &mut stop => return summary(ending, checks, last, since, history),
                // A little slack, so that a probe that times its own I/O out by `budget` reports
                // its own, more precise cause first.
                c = timeout(limit, probe.check(budget)) => c.unwrap_or_else(|_| {
                    Check::Pending(attempt_timed_out(budget, cut))
                }),
            };
            unanswered = match &check {
                Check::Pending(o) if !o.class.is_answer() => Some(now),
                _ => None,
            };
            // A check that the deadline cut short, or the last one before it, that got no
            // answer tells nothing new of the object: the report keeps what the last whole
            // check saw (and never blames --attempt-timeout for the few milliseconds that were
            // left), and says that the server went silent.
            if (cut || confirming)
                && last.is_some()
                && matches!(&check, Check::Pending(o) if o.class == Class::Timeout)
            {
                let what = if confirming {
                    "no answer to the last check before the deadline"
                } else {
                    "cut short by the deadline"
                };
                reporter.check(checks, start.elapsed(), what);
                return summary(Ending::TimedOut, checks, last, since, history);
            }
            let elapsed = start.elapsed();
            let obs = match check {
                Check::Ready(detail) => {
                    reporter.check(checks, elapsed, "ready");
                    return summary(Ending::Ready(detail), checks, last, since, history);
                }
                Check::Failed(obs) => {
                    reporter.check(checks, elapsed, &obs.state);
                    if last.as_ref().is_none_or(|l| l.state != obs.state) {
                        history.push(elapsed, obs.state.clone());
                        since = elapsed;
                    }
                    return summary(Ending::Failed, checks, Some(obs), since, history);
                }
                Check::Pending(obs) => obs,
            };
            reporter.check(checks, elapsed, &obs.state);
            if last.as_ref().is_none_or(|l| l.state != obs.state) {
                reporter.state(elapsed, &obs);
                history.push(elapsed, obs.state.clone());
                since = elapsed;
                backoff.reset();
                next_heartbeat = Instant::now() + HEARTBEAT;
            }
            let retry_after = obs.retry_after.unwrap_or_default().min(MAX_RETRY_AFTER);
            // The watch only says when the object changes; a check that could not see the
            // object (401, 5xx, a reset...) is retried on the backoff even while it is healthy.
            let seen = matches!(obs.class, Class::NotReady | Class::NotFound | Class::Gone);
            let watched_sleep = obs.recheck.map_or(WATCHED_SLEEP, |r| r.min(WATCHED_SLEEP));
            last = Some(obs);

            // Sleep until the next check: none of our own while the watch is healthy and the
            // object was seen, the backoff otherwise; earlier when the watch pokes us, but
            // never before the request budget allows (KUBE_CHECK_BURST per KUBE_CHECK_WINDOW).
            let checked_at = Instant::now();
            let allowed = recent.allowed(checked_at);
            let earliest = (checked_at + retry_after).max(allowed);
            let pick = |healthy: bool, backoff: &mut Backoff| {
                let base = if healthy && seen {
                    watched_sleep
                } else {
                    backoff.next_delay()
                };
                (checked_at + base.max(retry_after)).max(allowed)
            };
            let mut next = pick(watch_ok(&healthy), &mut backoff);
            // Follow-ups still due (those that passed during the check make one check now).
            if let Some(f) = follow_ups.front() {
                next = next.min((*f).max(hinted.allowed(checked_at)).max(earliest));
            }
            // A check that got an answer and began less than --interval (and within the
            // reserve) before the confirming point is as recent as the confirming check would
            // be: it confirms, and the target is never asked twice within --interval for it.
            let near = settings.interval.min(reserve);
            if unanswered.is_none() && confirm_at.is_some_and(|c| now + near >= c) {
                confirmed = true;
            }
            // The last check before the deadline, if still to come (within the request budget
            // too: a check that recent needs no confirming).
            let confirm = confirm_at.filter(|_| !confirmed).map(|c| c.max(allowed));
            // A poke came in before `earliest`: the check is due at `earliest`.
            let mut poked = false;
            loop {
                let mut until = next.min(next_heartbeat);
                if let Some(d) = deadline {
                    until = until.min(d);
                }
                if let Some(c) = confirm {
                    until = until.min(c);
                }
                tokio::select! {
                    biased;
                    ending = &mut stop => return summary(ending, checks, last, since, history),
                    _ = notified(hint.as_deref()) => {
                        // The target may have become reachable: check now and on the follow-ups.
                        let now = Instant::now();
                        follow_ups = FOLLOW_UPS.iter().map(|d| now + *d).collect();
                        next = next.min(now.max(hinted.allowed(now)).max(earliest));
                    }
                    _ = notified(notify.as_deref()), if !poked => {
                        if Instant::now() >= earliest {
                            break;
                        }
                        // Coalesced: every poke until `earliest` makes this one check.
                        poked = true;
                        next = next.min(earliest);
                    }
                    alive = health_changed(healthy.as_mut()) => {
                        if !alive {
                            healthy = None; // the watch is gone for good: polling alone from now on
                        }
                        // Established: the watch covers us, so no check of our own remains.
                        // Lost: events may have been missed, so bring the next check forward.
                        next = if watch_ok(&healthy) {
                            pick(true, &mut backoff)
                        } else {
                            pick(false, &mut backoff).min(next)
                        };
                        if poked {
                            next = next.min(earliest);
                        }
                    }
                    _ = sleep_until(until) => {
                        let now = Instant::now();
                        if deadline.is_some_and(|d| now >= d) {
                            return summary(Ending::TimedOut, checks, last, since, history);
                        }
                        // The last check before the deadline is due, whatever the watch says.
                        if now >= next || confirm.is_some_and(|c| now >= c) {
                            break;
                        }
                        if now >= next_heartbeat {
                            reporter.heartbeat(start.elapsed(), last.as_ref());
                            next_heartbeat = now + HEARTBEAT;
                        }
                    }
                }
            }
        }
    }
    .await;
    s.watching = watch_ok(&healthy);
    // Silent: the wait's last check got no answer, though a request went out since it began
    // (not, say, a credential plugin that never finished), nothing was heard from the API
    // server since (an answer to any request, a watch's event or bookmark would have been),
    // and the report would otherwise show a state it gave before it went silent as current.
    let heard = talk.as_ref().and_then(|t| t.heard());
    if let Some(talk) = &talk
        && s.ending == Ending::TimedOut
        && let Some(asked) = unanswered
        && talk.sent().is_some_and(|sent| sent >= asked)
        && heard.is_none_or(|h| h < asked)
        && let Some(last) = s.last.as_mut()
        && last.class.is_answer()
    {
        let heard = heard.map(|h| h.saturating_duration_since(start));
        *last = silent(last, heard, s.elapsed);
        s.silence = Some(Silence { heard });
        s.watching = false;
    }
    s
}

/// What was last seen, its cause now the API server's silence: kwait last heard from it
/// `heard` after the start (`None`: never), and the wait ended `elapsed` after the start.
fn silent(last: &Observation, heard: Option<Duration>, elapsed: Duration) -> Observation {
    let when = match heard {
        Some(h) => format!(
            "kwait last heard from it {} after the start, {} before the wait ended",
            crate::duration::format(h),
            crate::duration::format(elapsed.saturating_sub(h))
        ),
        None => "kwait never heard from it".to_string(),
    };
    let mut fix = vec![
        "check the API server: kubectl get --raw='/readyz?verbose' (and its logs, or the control plane's health with the provider)".to_string(),
        "once it answers again, run the wait again; a longer --timeout rides out a short outage".to_string(),
    ];
    fix.extend(last.fix.iter().cloned());
    Observation {
        cause: Some(format!(
            "the API server went silent: {when}; the last check before the deadline got no answer, and no watch brought an event or a bookmark since. The state above is from before the silence and may be out of date: the API server (overloaded, restarting, or cut off from etcd or the network) is what to look at first"
        )),
        fix,
        ..last.clone()
    }
}

/// Resolves when the watch pokes; never without a watch.
async fn notified(notify: Option<&Notify>) {
    match notify {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    }
}

/// Resolves when the watch's health changes (`true`) or its sender is gone (`false`); never
/// without a watch.
async fn health_changed(healthy: Option<&mut watch::Receiver<bool>>) -> bool {
    match healthy {
        Some(h) => h.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
