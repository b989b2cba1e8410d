//! kwait: wait until a Kubernetes dependency is really ready, and say why when it is not.
//!
//! signals first (the watchdog), then parse → plan → run (targets → waiter) → exit code.
//! Usage errors are printed once, here, as one line.

mod backoff;
mod check;
mod cli;
mod duration;
mod events;
mod exit;
mod kube;
mod net;
mod plan;
mod probe;
mod rbac;
mod report;
mod run;
mod targets;
mod version;
mod waiter;
mod watchdog;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::cli::CliError;
use crate::plan::{DryRun, Plan};
use crate::report::{Stream, write_out};
use crate::watchdog::Watchdog;

fn main() -> ExitCode {
    // The deadline counts from here, and signals are caught from here on: as PID 1 (an init
    // container without an init process) a signal without a handler is ignored by the kernel.
    let started = Instant::now();
    let watchdog = Watchdog::start(started);
    let cli = match cli::parse(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(CliError::Clap(e)) => return clap_error(e),
        Err(e) => return usage(&e),
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
    let code = runtime.block_on(run::run(plan, started, &watchdog));
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
    let name = cli::bin_name(std::env::args_os().next().as_deref());
    usage(&format!("{} (see '{name} --help')", message.join(" ")))
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
