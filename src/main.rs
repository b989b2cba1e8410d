//! kwait: wait until a Kubernetes dependency is really ready, and say why when it is not.
//!
//! signals first, then parse → plan → targets → waiter → exit code. Errors are printed once,
//! here, as one line.

mod backoff;
mod check;
mod cli;
mod duration;
mod exit;
mod kube;
mod net;
mod plan;
mod probe;
mod rbac;
mod report;
mod targets;
mod waiter;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::sync::watch;

use crate::check::{Class, Observation};
use crate::cli::Cli;
use crate::net::text::lock;
use crate::plan::{DryRun, Plan, Target};
use crate::report::{Ending, Reporter, Stream, Summary, write_out};
use crate::waiter::Settings;

/// `kwait --version`: the crate version and the commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KWAIT_COMMIT"), ")");

/// How long after the deadline the report's extra lines (`Probe::explain`: the latest
/// CertificateRequest, the failed pod) may still be read: the whole run stays within
/// `--timeout` + 1 s.
const EXPLAIN_SLICE: Duration = Duration::from_millis(500);

/// How long the watchdog gives the normal path to end after a signal before it prints the
/// report and exits itself (the promise is "within a second").
const SIGNAL_GRACE: Duration = Duration::from_millis(700);

/// How long after the deadline the watchdog gives the normal path (which reads the report's
/// extra lines for up to [`EXPLAIN_SLICE`]) before it reports the timeout and exits itself.
const DEADLINE_GRACE: Duration = Duration::from_millis(900);

fn main() -> ExitCode {
    // The deadline counts from here, and signals are caught from here on: as PID 1 (an init
    // container without an init process) a signal without a handler is ignored by the kernel.
    let started = Instant::now();
    let watchdog = Watchdog::start(started);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    let plan = match Plan::from_cli(cli) {
        Ok(plan) => plan,
        Err(e) => return usage(&e),
    };
    if let Some(mode) = plan.dry_run {
        return dry_run(&plan, mode);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage(&format!("cannot start: {e}")),
    };
    let code = runtime.block_on(run(plan, started, &watchdog));
    // A name lookup still running on a blocking thread (a hung DNS server) must not hold the
    // exit: the signal promise is "within a second".
    runtime.shutdown_timeout(Duration::from_millis(100));
    ExitCode::from(code)
}

/// Prints a usage error as one line and returns exit code 2.
fn usage(e: &dyn std::fmt::Display) -> ExitCode {
    let _ = write_out(Stream::Stderr, &format!("kwait: {e:#}"));
    ExitCode::from(exit::USAGE)
}

/// Help and version go to stdout with exit 0; every other clap error becomes one line that names
/// the argument, exit 2.
fn clap_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = write_out(Stream::Stdout, &e.render().to_string());
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = write_out(Stream::Stderr, &e.render().to_string());
        return ExitCode::from(exit::USAGE);
    }
    // clap's message spans lines (the missing arguments, a tip, the usage): keep the part before
    // the first blank line, on one line.
    let text = e.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    let message: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    usage(&format!("{} (see 'kwait --help')", message.join(" ")))
}

/// `--dry-run`: what would be waited for and the RBAC it needs, contacting nothing. Output that
/// cannot be written (a full disk, a closed pipe) did not do what was asked: exit 2 with the
/// reason on stderr.
fn dry_run(plan: &Plan, mode: DryRun) -> ExitCode {
    let text = match targets::dry_run(plan, mode) {
        Ok(text) => text,
        Err(e) => return usage(&e),
    };
    match write_out(Stream::Stdout, &text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage(&format!("cannot write the --dry-run output to stdout: {e}")),
    }
}

async fn run(plan: Plan, started: Instant, watchdog: &Watchdog) -> u8 {
    let started = tokio::time::Instant::from_std(started);
    let deadline = plan.timeout.map(|t| started + t);
    watchdog.deadline(deadline.map(tokio::time::Instant::into_std));
    let settings = Settings {
        started,
        timeout: plan.timeout,
        interval: plan.interval,
        max_interval: plan.max_interval,
        attempt_timeout: plan.attempt_timeout,
    };
    // Until connected, the report names the target with the namespace expected before
    // anything is read (as --dry-run does).
    let expected = targets::expected_namespace(&plan);
    let what = targets::describe(
        &plan.target,
        expected.as_deref().unwrap_or("<default namespace>"),
    );
    let early = Reporter::new(&plan.output, what.unwrap_or_default());
    watchdog.report_as(&early, CONNECTING);
    // Connecting (reading the kubeconfig, running a credential plugin) counts against the
    // deadline and gives way to a signal.
    let built = tokio::select! {
        biased;
        sig = watchdog.signal() => return watchdog.end(&early, summary_before_start(Ending::Interrupted(sig), started)),
        b = until(deadline, targets::build(&plan)) => match b {
            Some(b) => b,
            None => return watchdog.end(&early, summary_before_start(Ending::TimedOut, started)),
        },
    };
    let targets::Built {
        mut probe,
        wake,
        what,
    } = match built {
        Ok(b) => b,
        Err(e) => {
            let _ = write_out(Stream::Stderr, &format!("kwait: {e}"));
            return exit::USAGE;
        }
    };
    let reporter = Reporter::new(&plan.output, what);
    watchdog.report_as(
        &reporter,
        "not known: the wait was busy and did not stop in time",
    );
    if let Target::Http(h) = &plan.target
        && h.insecure_skip_tls_verify
    {
        reporter.warn("--insecure-skip-tls-verify: the server's certificate is not verified");
    }
    if let Target::Redis(r) = &plan.target
        && r.insecure_skip_tls_verify
    {
        reporter.warn("--insecure-skip-tls-verify: the server's certificate is not verified");
    }
    let mut summary = waiter::run(
        probe.as_mut(),
        wake,
        &settings,
        &reporter,
        watchdog.signal(),
    )
    .await;
    if matches!(summary.ending, Ending::Failed | Ending::TimedOut) {
        // Best effort, and bounded: after the deadline only a small slice is left for it.
        let budget = match deadline {
            Some(d) => plan
                .attempt_timeout
                .min(d.saturating_duration_since(tokio::time::Instant::now()) + EXPLAIN_SLICE),
            None => plan.attempt_timeout,
        };
        tokio::select! {
            biased;
            sig = watchdog.signal() => summary.ending = Ending::Interrupted(sig),
            lines = tokio::time::timeout(budget, probe.explain()) => {
                summary.explain = lines.unwrap_or_else(|_| vec![(
                    "details".to_string(),
                    format!(
                        "not read: the report's extra details (the latest request, the failed pod) got no answer within {}{}",
                        duration::format(budget),
                        if budget < plan.attempt_timeout { " left after the deadline" } else { " (--attempt-timeout)" },
                    ),
                )]);
            }
        }
        summary.elapsed = started.elapsed();
    }
    watchdog.end(&reporter, summary)
}

/// The state the report names when the run ends while still connecting.
const CONNECTING: &str =
    "still connecting to the API server (reading the kubeconfig, getting credentials)";

/// A summary for a run that ended before the waiter started (while connecting).
fn summary_before_start(ending: Ending, started: tokio::time::Instant) -> Summary {
    let cause = if ending == Ending::TimedOut {
        "reading the kubeconfig and getting credentials (an exec credential plugin?) did not finish before the deadline"
    } else {
        "the run ended before the API server was reached"
    };
    Summary {
        ending,
        elapsed: started.elapsed(),
        checks: 0,
        last: Some(Observation::new(Class::Timeout, CONNECTING).cause(cause)),
        since: Duration::ZERO,
        history: Default::default(),
        explain: Vec::new(),
        watching: false,
    }
}

/// `fut`, or `None` at `deadline`.
async fn until<T>(
    deadline: Option<tokio::time::Instant>,
    fut: impl Future<Output = T>,
) -> Option<T> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// The exit code for how a run ended.
fn code(ending: &Ending) -> u8 {
    match ending {
        Ending::Ready(_) => exit::READY,
        Ending::Failed => exit::FAILED,
        Ending::TimedOut => exit::TIMED_OUT,
        Ending::Interrupted(2) => exit::SIGINT,
        Ending::Interrupted(_) => exit::SIGTERM,
    }
}

/// SIGINT and SIGTERM from the first millisecond, and the last line of defence for the
/// deadline. A thread of its own catches the signals (so that nothing the main thread does, not
/// even a blocking credential plugin, can hold them back) and tells the run, which ends and
/// reports; should the run not have ended [`SIGNAL_GRACE`] later (or [`DEADLINE_GRACE`] after
/// the deadline), the watchdog prints the report itself and exits.
struct Watchdog {
    /// The signal number, once one arrived.
    signal: watch::Receiver<Option<i32>>,
    /// The deadline, once the plan is known.
    deadline: watch::Sender<Option<Instant>>,
    shared: Arc<Shared>,
}

/// What the watchdog thread and the run share.
struct Shared {
    started: Instant,
    /// Who reports, and the state to name should the watchdog have to.
    report: Mutex<Option<(Reporter, &'static str)>>,
    /// Set by whichever of the run and the watchdog prints the final report first.
    finished: AtomicBool,
}

impl Watchdog {
    /// Starts the thread and returns once the signal handlers are installed (or could not be:
    /// then no signal is caught, as before).
    fn start(started: Instant) -> Watchdog {
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
    fn deadline(&self, d: Option<Instant>) {
        self.deadline.send_replace(d);
    }

    /// Who reports should the watchdog have to, and what state it then names.
    fn report_as(&self, reporter: &Reporter, state: &'static str) {
        *lock(&self.shared.report) = Some((reporter.clone(), state));
    }

    /// Resolves to the signal number on SIGINT or SIGTERM; never if they cannot be caught.
    fn signal(&self) -> impl Future<Output = i32> + 'static {
        let mut rx = self.signal.clone();
        async move {
            match rx.wait_for(Option::is_some).await {
                Ok(sig) => sig.unwrap_or(15),
                Err(_) => std::future::pending().await,
            }
        }
    }

    /// Prints the final report (unless the watchdog already did and is exiting) and returns
    /// the exit code.
    fn end(&self, reporter: &Reporter, summary: Summary) -> u8 {
        if !self.shared.finished.swap(true, Ordering::SeqCst) {
            reporter.finish(&summary);
        }
        code(&summary.ending)
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
        Some((reporter, state)) => reporter.finish(&Summary {
            ending: ending.clone(),
            elapsed,
            checks: 0,
            last: Some(Observation::new(Class::Timeout, state)),
            since: Duration::ZERO,
            history: Default::default(),
            explain: Vec::new(),
            watching: false,
        }),
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
    std::process::exit(i32::from(code(&ending)));
}
