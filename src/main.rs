//! kwait: wait until a Kubernetes dependency is really ready, and say why when it is not.
//!
//! parse → plan → run → exit code. Errors are printed once, here, as one line.

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
mod waiter;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::kube::{CERTIFICATES, JOBS, Kube, SECRETS, Selector};
use crate::plan::{DryRun, JobSelect, Plan, Target};
use crate::probe::Probe;
use crate::report::{Ending, Reporter};
use crate::waiter::{Settings, Wake};

/// `kwait --version`: the crate version and the commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KWAIT_COMMIT"), ")");

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    let plan = match Plan::from_cli(cli) {
        Ok(plan) => plan,
        Err(e) => return usage(&e),
    };
    if let Some(mode) = plan.dry_run {
        dry_run(&plan, mode);
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage(&format!("cannot start: {e}")),
    };
    let code = runtime.block_on(run(plan));
    // A name lookup still running on a blocking thread (a hung DNS server) must not hold the
    // exit: the signal promise is "within a second".
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    ExitCode::from(code)
}

/// Prints a usage error as one line and returns exit code 2.
fn usage(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("kwait: {e:#}");
    ExitCode::from(exit::USAGE)
}

/// Help and version go to stdout with exit 0; every other clap error becomes one line that names
/// the argument, exit 2.
fn clap_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
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
    eprintln!("kwait: {} (see 'kwait --help')", message.join(" "));
    ExitCode::from(exit::USAGE)
}

async fn run(plan: Plan) -> u8 {
    let settings = Settings {
        timeout: plan.timeout,
        interval: plan.interval,
        max_interval: plan.max_interval,
        attempt_timeout: plan.attempt_timeout,
    };
    let (mut probe, wake) = match build_probe(&plan).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("kwait: {e}");
            return exit::USAGE;
        }
    };
    let reporter = Reporter::new(&plan.output, probe.describe());
    if let Target::Http(h) = &plan.target
        && h.insecure_skip_tls_verify
    {
        reporter.warn("--insecure-skip-tls-verify: the server's certificate is not verified");
    }
    let mut summary = waiter::run(probe.as_mut(), wake, &settings, &reporter, signal()).await;
    if matches!(summary.ending, Ending::Failed | Ending::TimedOut) {
        summary.explain = tokio::time::timeout(plan.attempt_timeout, probe.explain())
            .await
            .unwrap_or_default();
    }
    reporter.finish(&summary);
    match summary.ending {
        Ending::Ready(_) => exit::READY,
        Ending::Failed => exit::FAILED,
        Ending::TimedOut => exit::TIMED_OUT,
        Ending::Interrupted(2) => exit::SIGINT,
        Ending::Interrupted(_) => exit::SIGTERM,
    }
}

/// The probe for the plan's target and, for Kubernetes objects, the watch that wakes the waiter.
async fn build_probe(plan: &Plan) -> Result<(Box<dyn Probe>, Option<Wake>), String> {
    let rules = rbac::rules(&plan.target);
    let role = rbac::role_name(&plan.target);
    let connect = || async {
        Kube::connect(&plan.kube, plan.attempt_timeout)
            .await
            .map_err(|e| e.to_string())
    };
    let watch = |kube: &Kube, res, sel| kube.watch(res, sel, plan.interval, plan.max_interval);
    Ok(match &plan.target {
        Target::Secret { name, keys } => {
            let kube = connect().await?;
            let wake = watch(&kube, &SECRETS, Selector::Name(name.clone()));
            let p = probe::secret::SecretProbe::new(kube, name.clone(), keys.clone(), rules, role);
            (Box::new(p), Some(wake))
        }
        Target::Certificate {
            name,
            secret_name,
            check_secret,
        } => {
            let kube = connect().await?;
            let wake = watch(&kube, &CERTIFICATES, Selector::Name(name.clone()));
            let p = probe::certificate::CertificateProbe::new(
                kube,
                name.clone(),
                secret_name.clone(),
                *check_secret,
                rules,
                role,
                (plan.interval, plan.max_interval),
            );
            (Box::new(p), Some(wake))
        }
        Target::Job {
            select,
            all,
            if_missing,
        } => {
            let kube = connect().await?;
            let sel = match select {
                JobSelect::Name(n) => Selector::Name(n.clone()),
                JobSelect::Selector(s) => Selector::Labels(s.clone()),
            };
            let wake = watch(&kube, &JOBS, sel);
            let p = probe::job::JobProbe::new(kube, select.clone(), *all, *if_missing, rules, role);
            (Box::new(p), Some(wake))
        }
        Target::Http(h) => {
            let p = probe::http::HttpProbe::new(h).map_err(|e| e.to_string())?;
            (Box::new(p), None)
        }
        Target::Tcp(t) => (Box::new(probe::tcp::TcpProbe::new(t)), None),
    })
}

/// Resolves to the signal number on SIGINT or SIGTERM; never if they cannot be caught.
async fn signal() -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => tokio::select! {
            _ = int.recv() => 2,
            _ = term.recv() => 15,
        },
        _ => std::future::pending().await,
    }
}

/// `--dry-run`: what would be waited for and the RBAC it needs, contacting nothing.
fn dry_run(plan: &Plan, mode: DryRun) {
    let rules = rbac::rules(&plan.target);
    let role = rbac::role_name(&plan.target);
    let namespace = plan.kube.namespace.clone().or_else(kube::pod_namespace);
    let no_secret_name = matches!(
        &plan.target,
        Target::Certificate {
            secret_name: None,
            check_secret: true,
            ..
        }
    );
    match mode {
        DryRun::Rbac => print!(
            "{}",
            rbac::role_yaml(&role, namespace.as_deref(), &rules, no_secret_name)
        ),
        DryRun::Plan => {
            let ns = namespace.as_deref().unwrap_or("<default namespace>");
            let timeout = plan.timeout.map_or_else(
                || "no timeout".to_string(),
                |t| format!("timeout {}", duration::format(t)),
            );
            println!(
                "kwait: would wait for {}, {timeout}",
                dry_run_what(&plan.target, ns)
            );
            if rules.is_empty() {
                println!("kwait: RBAC needed: none (not a Kubernetes object)");
            }
            for r in &rules {
                let names = if r.names.is_empty() {
                    String::new()
                } else {
                    format!(" named {}", r.names.join(", "))
                };
                let group = if r.group.is_empty() {
                    String::new()
                } else {
                    format!(".{}", r.group)
                };
                println!(
                    "kwait: RBAC needed: {} on {}{group}{names} in namespace {ns}{}",
                    r.verbs.join(", "),
                    r.resource,
                    if r.optional { " (optional)" } else { "" }
                );
            }
            if no_secret_name {
                println!(
                    "kwait: RBAC needed: get on the Secret named by spec.secretName (pass --secret-name to name it)"
                );
            }
        }
    }
}

fn dry_run_what(target: &Target, ns: &str) -> String {
    match target {
        Target::Secret { name, keys } if keys.is_empty() => format!("Secret {ns}/{name}"),
        Target::Secret { name, keys } => format!("Secret {ns}/{name} (keys: {})", keys.join(", ")),
        Target::Certificate { name, .. } => format!("Certificate {ns}/{name}"),
        Target::Job {
            select: JobSelect::Name(n),
            ..
        } => format!("Job {ns}/{n}"),
        Target::Job {
            select: JobSelect::Selector(s),
            all,
            ..
        } => format!(
            "{} Job in {ns} matching {s}",
            if *all { "every" } else { "the newest" }
        ),
        Target::Http(h) => format!("HTTP {}", h.url),
        Target::Tcp(t) => format!("TCP {}:{}", t.host, t.port),
    }
}
