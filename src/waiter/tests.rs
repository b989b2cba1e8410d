use super::*;
use crate::plan::{Format, Output};
use crate::probe::BoxFuture;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use tokio::sync::{Notify, watch};

/// A probe that answers from a script and records when it was asked.
struct Scripted {
    answers: VecDeque<Check>,
    asked: Arc<Mutex<Vec<Duration>>>,
    start: Instant,
}

impl Probe for Scripted {
    fn describe(&self) -> String {
        "Scripted thing".into()
    }
    fn check(&mut self, _t: Duration) -> BoxFuture<'_, Check> {
        self.asked.lock().unwrap().push(self.start.elapsed());
        let a = self
            .answers
            .pop_front()
            .unwrap_or_else(|| Check::Pending(Observation::new(Class::NotFound, "not found")));
        Box::pin(async move { a })
    }
}

fn pending(state: &str) -> Check {
    Check::Pending(Observation::new(Class::NotFound, state))
}

fn quiet() -> Reporter {
    Reporter::new(
        &Output {
            format: Format::Text,
            verbosity: -1,
            termination_log: Some("/dev/null".into()),
        },
        "Scripted thing".into(),
    )
}

fn settings(timeout: u64) -> Settings {
    Settings {
        started: Instant::now(),
        timeout: Some(Duration::from_secs(timeout)),
        interval: Duration::from_secs(1),
        max_interval: Duration::from_secs(30),
        attempt_timeout: Duration::from_secs(10),
    }
}

/// Runs without a watch or a signal, with a `timeout_s` deadline.
async fn run_plain(p: &mut dyn Probe, timeout_s: u64) -> Summary {
    run(
        p,
        None,
        &settings(timeout_s),
        &quiet(),
        std::future::pending(),
    )
    .await
}

/// Runs with a watch's wake-ups, a 300 s deadline and no signal.
async fn run_watched(p: &mut dyn Probe, wake: Wake) -> Summary {
    run_watched_with(p, wake, &settings(300)).await
}

/// Runs with a watch's wake-ups, `settings` and no signal.
async fn run_watched_with(p: &mut dyn Probe, wake: Wake, settings: &Settings) -> Summary {
    run(p, Some(wake), settings, &quiet(), std::future::pending()).await
}

/// No window of [`KUBE_CHECK_WINDOW`] holds more than [`KUBE_CHECK_BURST`] checks.
fn assert_kube_budget(asked: &[Duration]) {
    for w in asked.windows(KUBE_CHECK_BURST + 1) {
        assert!(w[KUBE_CHECK_BURST] - w[0] >= KUBE_CHECK_WINDOW, "{asked:?}");
    }
}

fn scripted(answers: Vec<Check>) -> (Scripted, Arc<Mutex<Vec<Duration>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let p = Scripted {
        answers: answers.into(),
        asked: asked.clone(),
        start: Instant::now(),
    };
    (p, asked)
}

/// A watch whose health starts `healthy`: its sender (keep it alive for as long as the
/// watch should be), the notify it pokes, and the wake-up the waiter gets.
fn watch_wake(healthy: bool) -> (watch::Sender<bool>, Arc<Notify>, Wake) {
    let (tx, rx) = watch::channel(healthy);
    let notify = Arc::new(Notify::new());
    let wake = Wake {
        notify: notify.clone(),
        healthy: rx,
        talk: Arc::default(),
    };
    (tx, notify, wake)
}

/// Runs a pending-then-ready probe under a healthy watch that pokes once, `at` after the
/// start; returns the summary and when the probe was asked.
async fn asked_with_one_poke(at: Duration) -> (Summary, Vec<Duration>) {
    let (tx, notify, wake) = watch_wake(true);
    let (mut p, asked) = scripted(vec![pending("not found"), Check::Ready("ok".into())]);
    tokio::spawn(async move {
        tokio::time::sleep(at).await;
        notify.notify_one();
    });
    let s = run_watched(&mut p, wake).await;
    drop(tx);
    let asked = asked.lock().unwrap().clone();
    (s, asked)
}

#[tokio::test(start_paused = true)]
async fn ready_after_pending_checks_with_growing_delays() {
    let (mut p, asked) = scripted(vec![
        pending("not found"),
        pending("not found"),
        pending("not found"),
        Check::Ready("there".into()),
    ]);
    let s = run_plain(&mut p, 300).await;
    assert_eq!(s.ending, Ending::Ready("there".into()));
    assert_eq!(s.checks, 4);
    let asked = asked.lock().unwrap().clone();
    let gaps: Vec<_> = asked.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[0] >= Duration::from_secs(1) && gaps[0] <= Duration::from_secs(1),
        "{gaps:?}"
    );
    assert!(
        gaps[1] >= Duration::from_secs(1) && gaps[1] <= Duration::from_secs(2),
        "{gaps:?}"
    );
    assert!(
        gaps[2] >= Duration::from_secs(1) && gaps[2] <= Duration::from_secs(4),
        "{gaps:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn times_out_at_the_deadline_with_the_last_state() {
    let (mut p, _) = scripted(vec![pending("not found")]);
    let s = run_plain(&mut p, 60).await;
    assert_eq!(s.ending, Ending::TimedOut);
    assert_eq!(s.elapsed, Duration::from_secs(60));
    assert_eq!(s.last.unwrap().state, "not found");
    // 1 s, then doubling to the 30 s cap: a handful of checks, not one a second.
    assert!(s.checks >= 4 && s.checks <= 12, "{}", s.checks);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let mut throttled = Observation::new(Class::Throttled, "throttled");
    throttled.retry_after = Some(Duration::from_secs(7));
    let (mut p, asked) = scripted(vec![Check::Pending(throttled), Check::Ready("ok".into())]);
    run_plain(&mut p, 60).await;
    let asked = asked.lock().unwrap().clone();
    assert!(asked[1] - asked[0] >= Duration::from_secs(7), "{asked:?}");
}

#[tokio::test(start_paused = true)]
async fn an_endless_retry_after_is_capped_at_an_hour_not_a_clock_overflow() {
    let mut throttled = Observation::new(Class::Throttled, "throttled");
    throttled.retry_after = Some(Duration::MAX);
    let (mut p, asked) = scripted(vec![Check::Pending(throttled), Check::Ready("ok".into())]);
    let s = run_plain(&mut p, 3 * 3600).await;
    assert_eq!(s.ending, Ending::Ready("ok".into()));
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked[1] - asked[0], Duration::from_secs(3600), "{asked:?}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_check_ends_at_once() {
    let (mut p, _) = scripted(vec![
        pending("running"),
        Check::Failed(Observation::new(
            Class::NotReady,
            "failed: BackoffLimitExceeded",
        )),
    ]);
    let s = run_plain(&mut p, 300).await;
    assert_eq!(s.ending, Ending::Failed);
    assert_eq!(s.last.unwrap().state, "failed: BackoffLimitExceeded");
    assert_eq!(s.history.len(), 2);
}

/// Regression (issue 13, item 12): with the watch proven alive, a safety GET every
/// --max-interval was waste; the watch's pokes (each change, each renewal) are enough.
#[tokio::test(start_paused = true)]
async fn a_healthy_watch_stops_polling_and_its_poke_checks_at_once() {
    let (s, asked) = asked_with_one_poke(Duration::from_secs(40)).await;
    assert_eq!(s.ending, Ending::Ready("ok".into()));
    // First check at 0, nothing of its own (no 1 s backoff, no 30 s safety re-check), then
    // the poke at 40 s.
    assert_eq!(asked[1], Duration::from_secs(40), "{asked:?}");
}

/// Regression: with no safety re-check while the watch is healthy, a Job whose pod went into
/// ImagePullBackOff after the first look kept saying "running" until the watch's renewal:
/// the pods are no watch's business, so the probe asks for a look within `recheck`.
#[tokio::test(start_paused = true)]
async fn a_check_that_read_what_no_watch_covers_is_repeated_within_its_recheck() {
    let (tx, _, wake) = watch_wake(true);
    let mut stuck = Observation::new(Class::NotReady, "running (active 1)");
    stuck.recheck = Some(Duration::from_secs(60));
    let (mut p, asked) = scripted(vec![Check::Pending(stuck), Check::Ready("ok".into())]);
    let s = run_watched(&mut p, wake).await;
    drop(tx);
    assert_eq!(s.ending, Ending::Ready("ok".into()));
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked[1], Duration::from_secs(60), "{asked:?}");
}

/// Regression: a 401 after a token expired, while the watch opened with the old token was
/// still healthy, waited for the 30 s safety re-check instead of retrying.
#[tokio::test(start_paused = true)]
async fn a_failed_check_is_retried_on_the_backoff_even_with_a_healthy_watch() {
    let (tx, _, wake) = watch_wake(true);
    let (mut p, asked) = scripted(vec![
        Check::Pending(Observation::new(Class::Unauthorized, "unauthorized (401)")),
        Check::Ready("ok".into()),
    ]);
    let s = run_watched(&mut p, wake).await;
    drop(tx);
    assert_eq!(s.ending, Ending::Ready("ok".into()));
    let asked = asked.lock().unwrap().clone();
    assert!(asked[1] <= Duration::from_secs(1), "{asked:?}");
}

/// Runs a pending-then-ready probe whose watch health starts `initially` and flips after
/// `flip_after`; returns when the probe was asked.
async fn asked_with_health_flip(initially: bool, flip_after: Duration) -> Vec<Duration> {
    let (tx, _, wake) = watch_wake(initially);
    let (mut p, asked) = scripted(vec![pending("not found"), Check::Ready("ok".into())]);
    tokio::spawn(async move {
        tokio::time::sleep(flip_after).await;
        let _ = tx.send(!initially);
        tokio::time::sleep(Duration::from_secs(600)).await;
    });
    run_watched(&mut p, wake).await;
    asked.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn a_watch_established_after_the_first_check_cancels_the_next_poll() {
    let asked = asked_with_health_flip(false, Duration::from_millis(100)).await;
    // No poll of its own: the only other check is the one that confirms the state before
    // the deadline (300 s), as every watched target's last check.
    let reserve = confirm_reserve(Duration::from_secs(300), Duration::from_secs(10));
    assert_eq!(
        asked,
        [Duration::ZERO, Duration::from_secs(300) - reserve],
        "{asked:?}"
    );
}

/// Pokes `wake` every `every` until `until`, then stops.
fn poke_every(notify: Arc<Notify>, every: Duration, until: Duration) {
    tokio::spawn(async move {
        let start = Instant::now();
        while start.elapsed() < until {
            notify.notify_one();
            tokio::time::sleep(every).await;
        }
    });
}

/// Regression (issue 13, item 10): a watch churning the object 1000×/s caused 7,514 GETs in
/// 10 s. Pokes are coalesced to at most two checks a second over time, whatever their rate.
#[tokio::test(start_paused = true)]
async fn a_thousand_pokes_a_second_cost_at_most_two_checks_a_second() {
    let (_tx, notify, wake) = watch_wake(true);
    let (mut p, asked) = scripted(vec![]);
    poke_every(notify, Duration::from_millis(1), Duration::from_secs(10));
    let settings = Settings {
        interval: Duration::from_millis(100),
        ..settings(10)
    };
    let s = run_watched_with(&mut p, wake, &settings).await;
    assert_eq!(s.ending, Ending::TimedOut);
    let asked = asked.lock().unwrap().clone();
    // Two per second for 10 s, and one more burst at the deadline's edge.
    assert!(
        asked.len() <= 20 + KUBE_CHECK_BURST,
        "{} checks: {asked:?}",
        asked.len()
    );
    assert!(asked.len() >= 15, "{} checks: {asked:?}", asked.len());
    assert_kube_budget(&asked);
}

/// Regression (issue 13, item 11, the waiter's side): `KWAIT_INTERVAL=1ns` sent 2,078 GETs
/// in 3 s. Whatever the interval, a watched (Kubernetes) target is checked at most twice a
/// second, even while its watch is down and the backoff carries the wait.
#[tokio::test(start_paused = true)]
async fn a_watched_target_is_never_checked_more_than_twice_a_second_whatever_the_interval() {
    let (_tx, _, wake) = watch_wake(false);
    let (mut p, asked) = scripted(vec![]);
    let settings = Settings {
        interval: Duration::from_nanos(1),
        max_interval: Duration::from_nanos(1),
        ..settings(10)
    };
    run_watched_with(&mut p, wake, &settings).await;
    let asked = asked.lock().unwrap().clone();
    assert!(
        asked.len() <= 20 + KUBE_CHECK_BURST,
        "{} checks",
        asked.len()
    );
    assert_kube_budget(&asked);
}

/// The budget must not delay the reaction: one change after a quiet spell is checked at
/// once (the ~2 ms reaction is what users feel).
#[tokio::test(start_paused = true)]
async fn a_single_poke_after_quiet_is_checked_at_once() {
    let (_, asked) = asked_with_one_poke(Duration::from_millis(5003)).await;
    assert_eq!(asked, vec![Duration::ZERO, Duration::from_millis(5003)]);
}

/// Regression (bench section 8, issue 15): a rollout's status changes 200 ms apart after the
/// first GET; with two checks a second the last one was checked ~800 ms late. Each of a few
/// quick changes is checked at once.
#[tokio::test(start_paused = true)]
async fn a_rollouts_few_quick_changes_are_each_checked_at_once() {
    let (tx, notify, wake) = watch_wake(true);
    let (mut p, asked) = scripted(vec![
        pending("1 of 3 updated"),
        pending("2 of 3 updated"),
        pending("3 of 3 updated, 2 available"),
        Check::Ready("rolled out".into()),
    ]);
    tokio::spawn(async move {
        for at in [100, 200, 200] {
            tokio::time::sleep(Duration::from_millis(at)).await;
            notify.notify_one();
        }
    });
    run_watched(&mut p, wake).await;
    drop(tx);
    let asked = asked.lock().unwrap().clone();
    let ms: Vec<u128> = asked.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [0, 100, 300, 500]);
}

/// Regression (bench after issue 13): with one check per 500 ms, a Secret created right
/// after the first GET waited up to 500 ms (reaction p99 477 ms instead of ~3 ms). The
/// window allows a second check at once.
#[tokio::test(start_paused = true)]
async fn a_poke_right_after_the_first_check_is_checked_at_once() {
    let (_, asked) = asked_with_one_poke(Duration::from_millis(100)).await;
    assert_eq!(asked, vec![Duration::ZERO, Duration::from_millis(100)]);
}

/// A poke past the burst within the window is not lost: it is checked when the window allows.
#[tokio::test(start_paused = true)]
async fn a_check_past_the_burst_waits_for_the_window_and_is_not_lost() {
    let (tx, notify, wake) = watch_wake(true);
    let mut answers: Vec<Check> = (0..KUBE_CHECK_BURST).map(|_| pending("not yet")).collect();
    answers.push(Check::Ready("ok".into()));
    let (mut p, asked) = scripted(answers);
    tokio::spawn(async move {
        for _ in 0..KUBE_CHECK_BURST {
            tokio::time::sleep(Duration::from_millis(100)).await;
            notify.notify_one();
        }
    });
    let s = run_watched(&mut p, wake).await;
    drop(tx);
    assert_eq!(s.ending, Ending::Ready("ok".into()));
    let asked = asked.lock().unwrap().clone();
    let mut want: Vec<Duration> = (0..KUBE_CHECK_BURST as u64)
        .map(|i| Duration::from_millis(100 * i))
        .collect();
    want.push(KUBE_CHECK_WINDOW);
    assert_eq!(asked, want);
}

#[tokio::test(start_paused = true)]
async fn a_broken_watch_falls_back_to_backoff() {
    let asked = asked_with_health_flip(true, Duration::from_secs(5)).await;
    // The break at 5 s brings the next check forward from ~30 s to within the backoff.
    assert!(asked[1] <= Duration::from_secs(6), "{asked:?}");
}

#[tokio::test(start_paused = true)]
async fn a_signal_interrupts_the_sleep() {
    let (mut p, _) = scripted(vec![pending("not found")]);
    let sig = async {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        Ending::Interrupted(15)
    };
    let s = run(&mut p, None, &settings(300), &quiet(), sig).await;
    assert_eq!(s.ending, Ending::Interrupted(15));
    assert_eq!(s.elapsed, Duration::from_millis(2500));
}

#[tokio::test(start_paused = true)]
async fn a_stalled_check_counts_as_an_attempt_timeout() {
    struct Stall;
    impl Probe for Stall {
        fn describe(&self) -> String {
            "stall".into()
        }
        fn check(&mut self, _t: Duration) -> BoxFuture<'_, Check> {
            Box::pin(std::future::pending())
        }
    }
    let s = run(
        &mut Stall,
        None,
        &settings(25),
        &quiet(),
        std::future::pending(),
    )
    .await;
    assert_eq!(s.ending, Ending::TimedOut);
    assert_eq!(s.last.unwrap().class, Class::Timeout);
    assert_eq!(s.elapsed, Duration::from_secs(25));
}

/// Answers from a script, then stalls for ever.
struct ThenStall(VecDeque<Check>);

impl Probe for ThenStall {
    fn describe(&self) -> String {
        "then stall".into()
    }
    fn check(&mut self, _t: Duration) -> BoxFuture<'_, Check> {
        match self.0.pop_front() {
            Some(a) => Box::pin(async move { a }),
            None => Box::pin(std::future::pending()),
        }
    }
}

async fn run_attempt(p: &mut dyn Probe, timeout: Duration, attempt: Duration) -> Summary {
    let settings = Settings {
        timeout: Some(timeout),
        attempt_timeout: attempt,
        ..settings(0)
    };
    run(p, None, &settings, &quiet(), std::future::pending()).await
}

// Regression (CI, tests/http.rs a_stalled_server_is_an_attempt_timeout): the last check, cut
// to the 88 ms left before the deadline, replaced "attempt timed out" with a cause that
// blamed "--attempt-timeout 88ms", a value the user never gave.
#[tokio::test(start_paused = true)]
async fn a_check_cut_short_by_the_deadline_keeps_the_last_whole_observation() {
    let ms = Duration::from_millis;
    let s = run_attempt(&mut ThenStall(VecDeque::new()), ms(2000), ms(300)).await;
    assert_eq!(s.ending, Ending::TimedOut);
    assert_eq!(s.elapsed, ms(2000));
    let last = s.last.unwrap();
    assert_eq!(last.state, "no answer within the attempt timeout");
    assert!(last.cause.unwrap().contains("longer than 300ms"));

    // What a whole check saw stays the last word, whatever the cut check did.
    let answers = VecDeque::from([Check::Pending(Observation::new(
        Class::ServerError,
        "answered 503",
    ))]);
    let s = run_attempt(&mut ThenStall(answers), ms(2000), ms(10_000)).await;
    assert_eq!(s.ending, Ending::TimedOut);
    assert_eq!(s.last.unwrap().state, "answered 503");
    assert_eq!(s.checks, 2);
}

#[tokio::test(start_paused = true)]
async fn a_single_check_cut_short_by_the_deadline_blames_the_deadline() {
    let ms = Duration::from_millis;
    let s = run_attempt(&mut ThenStall(VecDeque::new()), ms(1000), ms(10_000)).await;
    assert_eq!(s.ending, Ending::TimedOut);
    let last = s.last.unwrap();
    assert_eq!(last.state, "no answer before the deadline");
    assert!(
        last.cause
            .unwrap()
            .contains("1s left before --timeout ran out")
    );
}

mod silence {
    use super::*;

    /// A watched target whose API server answers "not found" and then freezes: every check
    /// after `answers` hangs, and its watch stays open but sends nothing (`heard` stays as the
    /// test sets it). Returns the summary and when the probe was asked.
    async fn frozen(answers: usize, heard: Option<Duration>) -> (Summary, Vec<Duration>) {
        let (tx, _notify, wake) = watch_wake(true);
        let start = Instant::now();
        let talk = wake.talk.clone();
        // The watch hears from the server (a bookmark) once, `heard` after the start.
        if let Some(at) = heard {
            let talk = talk.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(start + at).await;
                talk.note_heard();
            });
        }
        let mut p = Freezing {
            answers,
            asked: Vec::new(),
            start,
            talk,
        };
        let settings = Settings {
            started: start,
            ..settings(10)
        };
        let s = run(
            &mut p,
            Some(wake),
            &settings,
            &quiet(),
            std::future::pending(),
        )
        .await;
        drop(tx);
        (s, p.asked)
    }

    struct Freezing {
        answers: usize,
        asked: Vec<Duration>,
        start: Instant,
        talk: Arc<crate::kube::Talk>,
    }

    impl Probe for Freezing {
        fn describe(&self) -> String {
            "Secret crs/s".into()
        }
        fn check(&mut self, _t: Duration) -> BoxFuture<'_, Check> {
            self.asked.push(self.start.elapsed());
            self.talk.note_sent();
            if self.asked.len() > self.answers {
                return Box::pin(std::future::pending());
            }
            self.talk.note_heard();
            let obs = Observation::new(Class::NotFound, "not found")
                .cause("Secret crs/s does not exist yet: whatever creates it has not run")
                .fix("find what creates it");
            Box::pin(async move { Check::Pending(obs) })
        }
    }

    // Regression (issue 22): with the API server frozen for the end of the wait, the report
    // said "not found (since the start; 1 check, and a watch that saw no change since)" and
    // blamed the Secret's creator: the watch saw nothing because nothing could arrive.
    #[tokio::test(start_paused = true)]
    async fn a_frozen_api_server_is_named_with_the_time_last_heard_not_the_objects_creator() {
        let (s, asked) = frozen(1, None).await;
        assert_eq!(s.ending, Ending::TimedOut);
        // The last check's time is reserved inside --timeout: the wait ends on time.
        assert_eq!(s.elapsed, Duration::from_secs(10));
        let reserve = confirm_reserve(Duration::from_secs(10), Duration::from_secs(10));
        assert_eq!(asked, [Duration::ZERO, Duration::from_secs(10) - reserve]);
        assert_eq!(
            s.silence,
            Some(Silence {
                heard: Some(Duration::ZERO)
            })
        );
        assert!(!s.watching);
        let last = s.last.unwrap();
        assert_eq!(last.state, "not found");
        assert_eq!(last.class, Class::NotFound);
        let cause = last.cause.unwrap();
        assert!(cause.starts_with("the API server went silent: kwait last heard from it 0ms after the start, 10s before the wait ended"), "{cause}");
        assert!(!cause.contains("whatever creates it"), "{cause}");
        assert!(last.fix[0].contains("/readyz"), "{:?}", last.fix);
    }

    #[tokio::test(start_paused = true)]
    async fn the_watch_hearing_from_the_server_counts_as_an_answer() {
        // A bookmark 9.5 s in, after the last check began: the API server is alive (only the
        // GET is slow), so it is not called silent, and the last check's state stands.
        let (s, asked) = frozen(1, Some(Duration::from_millis(9500))).await;
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert_eq!(s.silence, None);
        let last = s.last.unwrap();
        assert!(last.cause.unwrap().contains("whatever creates it"));
        // Heard before the last check began: silent since then.
        let (s, _) = frozen(1, Some(Duration::from_secs(4))).await;
        assert_eq!(
            s.silence,
            Some(Silence {
                heard: Some(Duration::from_secs(4))
            })
        );
        let cause = s.last.unwrap().cause.unwrap();
        assert!(cause.contains("4s after the start, 6s before"), "{cause}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_answering_api_server_leaves_the_objects_own_state_and_cause() {
        let (s, asked) = frozen(usize::MAX, None).await;
        assert_eq!(s.ending, Ending::TimedOut);
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert_eq!(s.silence, None);
        assert!(s.watching);
        let last = s.last.unwrap();
        assert_eq!(
            last.cause.as_deref(),
            Some("Secret crs/s does not exist yet: whatever creates it has not run")
        );
        assert_eq!(last.fix, ["find what creates it"]);
    }

    #[test]
    fn the_last_checks_reserve_is_a_tenth_of_the_timeout_within_bounds() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(confirm_reserve(s(10), s(10)), s(1));
        assert_eq!(confirm_reserve(s(300), s(10)), s(10));
        assert_eq!(confirm_reserve(s(1), s(10)), ms(200));
        assert_eq!(confirm_reserve(ms(300), s(10)), ms(150));
        assert_eq!(confirm_reserve(s(10), ms(500)), ms(500));
    }
}

/// Runs a network-style target (1 s steady period, no watch) with a `--service` hint poked at
/// each of `pokes` after the start, for `timeout_s`; returns when the probe was asked.
async fn asked_with_hints(pokes: Vec<Duration>, timeout_s: u64) -> Vec<Duration> {
    let hint = Arc::new(Notify::new());
    let (mut p, asked) = scripted(vec![]);
    let h = hint.clone();
    tokio::spawn(async move {
        let start = Instant::now();
        for at in pokes {
            tokio::time::sleep_until(start + at).await;
            h.notify_one();
        }
    });
    let settings = Settings {
        max_interval: Duration::from_secs(1),
        ..settings(timeout_s)
    };
    let wakes = Wakes {
        watch: None,
        hint: Some(hint),
    };
    run(&mut p, wakes, &settings, &quiet(), std::future::pending()).await;
    asked.lock().unwrap().clone()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `--service`: a change of the Service's ready endpoints is checked at once and again 50,
/// 100, 200 and 400 ms after it (kube-proxy catches up a little after the slice changes),
/// then the steady period carries on from the last of them.
#[tokio::test(start_paused = true)]
async fn a_hint_checks_at_once_then_on_the_follow_ups_then_on_the_steady_period() {
    let asked = asked_with_hints(vec![ms(2300)], 5).await;
    let expected: Vec<Duration> = [0, 1000, 2000, 2300, 2350, 2400, 2500, 2700, 3700, 4700]
        .into_iter()
        .map(ms)
        .collect();
    assert_eq!(asked, expected);
}

/// Without a hint nothing changes: the steady period alone.
#[tokio::test(start_paused = true)]
async fn without_a_hint_a_network_target_keeps_its_steady_period() {
    let asked = asked_with_hints(vec![], 5).await;
    let expected: Vec<Duration> = (0..5).map(|s| ms(1000 * s)).collect();
    assert_eq!(asked, expected);
}

/// A hint that comes again during its follow-ups starts them over from the new change.
#[tokio::test(start_paused = true)]
async fn a_second_hint_during_the_follow_ups_starts_them_over() {
    let asked = asked_with_hints(vec![ms(1500), ms(1620)], 4).await;
    let expected: Vec<Duration> = [
        0, 1000, 1500, 1550, 1600, 1620, 1670, 1720, 1820, 2020, 3020,
    ]
    .into_iter()
    .map(ms)
    .collect();
    assert_eq!(asked, expected);
}

/// A Service whose endpoints flap (a hint every 10 ms) costs at most HINT_BURST hinted checks
/// in any KUBE_CHECK_WINDOW beside the steady period: never a hot loop.
#[tokio::test(start_paused = true)]
async fn flapping_endpoints_cost_a_bounded_number_of_checks() {
    let pokes: Vec<Duration> = (1..1000).map(|i| ms(10 * i)).collect();
    let asked = asked_with_hints(pokes, 10).await;
    // 10 steady checks, plus at most HINT_BURST per 2.5 s window of hinted ones (4 windows).
    assert!(
        asked.len() <= 10 + 4 * HINT_BURST,
        "{} checks: {asked:?}",
        asked.len()
    );
    assert!(
        asked.len() > 10,
        "the hints were not checked at all: {asked:?}"
    );
}

/// Regression (tests/requests.rs saw a gap under 900 ms with a 1 s --interval now and then): a
/// polled Kubernetes target whose regular check fell just before the confirming point was
/// asked again at that point, less than --interval later. An answered check that began less
/// than --interval before it now confirms; the checks keep their period and one still falls in
/// the last stretch before the deadline.
#[tokio::test(start_paused = true)]
async fn a_check_just_before_the_confirming_point_confirms_and_is_not_repeated_at_once() {
    let (_tx, _, wake) = watch_wake(false);
    let (mut p, asked) = scripted(vec![]);
    let settings = Settings {
        interval: Duration::from_millis(700),
        max_interval: Duration::from_millis(700),
        ..settings(10)
    };
    // --timeout 10s, --attempt-timeout 10s: the confirming point is at 9 s; the checks at 0,
    // 0.7, ..., 8.4 s, the next due at 9.1 s.
    let s = run_watched_with(&mut p, wake, &settings).await;
    assert_eq!(s.ending, Ending::TimedOut);
    let asked = asked.lock().unwrap().clone();
    let gaps: Vec<Duration> = asked.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_millis(700)),
        "{asked:?}"
    );
    assert!(
        asked
            .last()
            .is_some_and(|l| *l >= Duration::from_millis(8400)),
        "{asked:?}"
    );
}

/// The same rule must not let an early check confirm: with a 20 s --interval and a 5 s
/// --timeout, the first check (at 0 s) is far from the confirming point (4.5 s), which still
/// asks once more.
#[tokio::test(start_paused = true)]
async fn a_long_interval_does_not_let_the_first_check_confirm() {
    let (_tx, _, wake) = watch_wake(false);
    let (mut p, asked) = scripted(vec![]);
    let settings = Settings {
        interval: Duration::from_secs(20),
        max_interval: Duration::from_secs(30),
        ..settings(5)
    };
    run_watched_with(&mut p, wake, &settings).await;
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked, vec![Duration::ZERO, Duration::from_millis(4500)]);
}
