//! SIGINT and SIGTERM from the first millisecond, and the last line of defence for the
//! deadline: a thread of its own that tells the run, and reports and exits itself should the
//! run not end in time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::duration;
use crate::exit;
use crate::net::text::lock;
use crate::report::{Ending, Stream, write_out};

/// How long the watchdog gives the normal path to end after a signal before it prints the
/// report and exits itself (the promise is "within a second").
const SIGNAL_GRACE: Duration = Duration::from_millis(700);

/// How long after the deadline the watchdog gives the normal path (which reads the report's
/// extra lines for up to `run::EXPLAIN_SLICE`) before it reports the timeout and exits itself.
const DEADLINE_GRACE: Duration = Duration::from_millis(900);

/// Prints the final report for an ending the watchdog decided (a signal, the deadline), with
/// the time since the start, when the run itself could not.
pub type Fallback = Arc<dyn Fn(&Ending, Duration) + Send + Sync>;

/// SIGINT and SIGTERM from the first millisecond, and the last line of defence for the
/// deadline. A thread of its own catches the signals (so that nothing the main thread does, not
/// even a blocking credential plugin, can hold them back) and tells the run, which ends and
/// reports; should the run not have ended [`SIGNAL_GRACE`] later (or [`DEADLINE_GRACE`] after
/// the deadline), the watchdog prints the report itself and exits.
pub struct Watchdog {
    /// The signal number, once one arrived.
    signal: watch::Receiver<Option<i32>>,
    /// The deadline, once the plan is known.
    deadline: watch::Sender<Option<Instant>>,
    shared: Arc<Shared>,
}

/// What the watchdog thread and the run share.
struct Shared {
    started: Instant,
    /// Who reports should the watchdog have to.
    report: Mutex<Option<Fallback>>,
    /// Set by whichever of the run and the watchdog prints the final report first.
    finished: AtomicBool,
}

impl Watchdog {
    /// Starts the thread and returns once the signal handlers are installed (or could not be:
    /// then no signal is caught, as before).
    pub fn start(started: Instant) -> Watchdog {
        let (sig_tx, signal) = watch::channel(None);
        let (deadline, deadline_rx) = watch::channel(None);
        let shared = Arc::new(Shared {
            started,
            report: Mutex::new(None),
            finished: AtomicBool::new(false),
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("kwait-signals".into())
            .spawn(move || watch_thread(thread_shared, sig_tx, deadline_rx, ready_tx));
        if spawned.is_ok() {
            let _ = ready_rx.recv();
        }
        Watchdog {
            signal,
            deadline,
            shared,
        }
    }

    /// Tells the watchdog the deadline.
    pub fn deadline(&self, d: Option<Instant>) {
        self.deadline.send_replace(d);
    }

    /// Who reports should the watchdog have to.
    pub fn report_as(&self, fallback: Fallback) {
        *lock(&self.shared.report) = Some(fallback);
    }

    /// Resolves to the signal number on SIGINT or SIGTERM; never if they cannot be caught.
    pub fn signal(&self) -> impl Future<Output = i32> + 'static {
        let mut rx = self.signal.clone();
        async move {
            match rx.wait_for(Option::is_some).await {
                Ok(sig) => sig.unwrap_or(15),
                Err(_) => std::future::pending().await,
            }
        }
    }

    /// Prints the final report with `print` (unless the watchdog already did and is exiting)
    /// and returns the exit code of `ending`.
    pub fn end(&self, ending: &Ending, print: impl FnOnce()) -> u8 {
        if !self.shared.finished.swap(true, Ordering::SeqCst) {
            print();
        }
        exit::of(ending)
    }
}

/// The watchdog thread: a runtime of its own for the signal streams and the deadline.
fn watch_thread(
    shared: Arc<Shared>,
    sig_tx: watch::Sender<Option<i32>>,
    mut deadline_rx: watch::Receiver<Option<Instant>>,
    ready: std::sync::mpsc::Sender<()>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        let _ = ready.send(());
        return;
    };
    rt.block_on(async move {
        let streams = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        );
        let _ = ready.send(());
        let (Ok(mut int), Ok(mut term)) = streams else {
            return;
        };
        let mut deadline_open = true;
        let ending = loop {
            let deadline = *deadline_rx.borrow_and_update();
            let backstop = async {
                match deadline {
                    Some(d) => {
                        tokio::time::sleep_until(tokio::time::Instant::from_std(d + DEADLINE_GRACE))
                            .await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = int.recv() => break Ending::Interrupted(2),
                _ = term.recv() => break Ending::Interrupted(15),
                changed = deadline_rx.changed(), if deadline_open => deadline_open = changed.is_ok(),
                _ = backstop => break Ending::TimedOut,
            }
        };
        if let Ending::Interrupted(sig) = ending {
            sig_tx.send_replace(Some(sig));
            // The run ends and reports on its own within milliseconds; only when it does not
            // (its thread is blocked) does the watchdog report and exit.
            if lock(&shared.report).is_some() {
                tokio::time::sleep(SIGNAL_GRACE).await;
            }
        }
        take_over(&shared, ending);
    });
}

/// The run did not end in time: report what it was doing, and exit.
fn take_over(shared: &Shared, ending: Ending) {
    if shared.finished.swap(true, Ordering::SeqCst) {
        // The run is printing its own report and exiting.
        return;
    }
    let elapsed = shared.started.elapsed();
    match lock(&shared.report).clone() {
        Some(report) => report(&ending, elapsed),
        None => {
            let _ = write_out(
                Stream::Stderr,
                &format!(
                    "kwait: interrupted after {} before the wait began",
                    duration::format(elapsed)
                ),
            );
        }
    }
    std::process::exit(i32::from(exit::of(&ending)));
}
