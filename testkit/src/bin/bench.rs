//! The benchmark: `cargo run --release -p testkit --bin bench`.
//!
//! Builds kwait (release, like the demo), then measures it side by side with what people use
//! today — `kubectl wait`, a k8s-wait-for style `kubectl get` loop, a curl loop — against the
//! same in-process testkit API server and the same loopback HTTP server, and writes
//! `bench/RESULTS.md` (the table, the machine, the versions and the command); the table is
//! also printed.
//!
//! ```text
//! bench [--quick] [--trials N] [--scale N[,N...]] [--window SECS] [--jitter SECS]
//!       [--chain-trials N] [--chain-gap SECS] [--rollout-trials N] [--pg-trials N]
//!       [--service-trials N] [--only S[,S...]] [--into PATH] [--skip S[,S...]] [--out PATH]
//!       [--kwait PATH] [--kubectl PATH]
//! ```
//! Full run (default): 30 trials, scale 200 then 1000 (when memory allows), 60 s window,
//! 10 pod starts per case of the several-dependencies section, 10 waits per row of the rollout
//! section, 10 server starts of the postgres section, 10 waits per waiter of the service
//! section, out `bench/RESULTS.md`, about 20 minutes.
//! `--quick`: 6 trials, scale 100, 12 s window, 3 pod starts, 3 waits, 2 server starts, 3
//! service waits, out `target/bench/RESULTS-quick.md`, about 4 minutes. Explicit flags
//! override both.
//! `--only chain,rollout,postgres` (any of them) runs those sections alone and splices each
//! between its `<!-- section:NAME -->` markers in `bench/RESULTS.md` (`--into PATH`; with
//! `--quick`, `target/bench/RESULTS-quick.md`), or writes them to a new file with `--out`.
//! `--skip` leaves sections out of the full run.
//! `--only http,tcp,redis` (scenarios) runs the full run's trials for those scenarios alone,
//! without the sections.

#[path = "../bench/brokers.rs"]
mod brokers;
#[path = "../bench/chain.rs"]
mod chain;
#[path = "../bench/contenders.rs"]
mod contenders;
#[path = "../bench/postgres.rs"]
mod postgres;
#[path = "../bench/report.rs"]
mod report;
#[path = "../bench/resp.rs"]
mod resp;
#[path = "../bench/rollout.rs"]
mod rollout;
#[path = "../bench/run.rs"]
mod run;
#[path = "../bench/service.rs"]
mod service;
#[path = "../bench/splice.rs"]
mod splice;
#[path = "../bench/util.rs"]
mod util;

use contenders::{Contender, Tools};
use report::{Report, Row, Size};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use util::{Rng, first_line, fmt_elapsed, which};

const USAGE: &str = "usage: bench [--quick] [--trials N] [--scale N[,N...]] [--window SECS] \
[--jitter SECS] [--chain-trials N] [--chain-gap SECS] [--rollout-trials N] [--pg-trials N] \
[--service-trials N] [--only NAME[,NAME...]] [--into PATH] [--skip SECTION[,SECTION...]] [--out PATH] [--kwait PATH] \
[--kubectl PATH] [--kwait-env K=V]...
sections (run alone and spliced into RESULTS.md): chain, rollout, postgres, brokers, service
scenarios (a full run restricted to their trials, without the sections): secret, job, http, tcp, redis";
/// The sections `--only` and `--skip` name.
const SECTIONS: [&str; 5] = ["chain", "rollout", "postgres", "brokers", "service"];

fn sections(flag: &str, v: &str) -> Result<Vec<String>, String> {
    let list: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if list.is_empty() {
        return Err(format!("{flag}: no section named"));
    }
    match list.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
        Some(bad) => Err(format!(
            "{flag}: unknown section {bad:?} (known: {})",
            SECTIONS.join(", ")
        )),
        None => Ok(list),
    }
}

#[derive(Debug)]
struct Opts {
    quick: bool,
    trials: Option<usize>,
    scale: Option<Vec<usize>>,
    window: Option<f64>,
    jitter: Option<f64>,
    /// Pod starts per case of the several-dependencies section.
    chain_trials: Option<usize>,
    /// Between two dependencies becoming ready in that section.
    chain_gap: Option<f64>,
    /// Waits per waiter and case in the rollout section.
    rollout_trials: Option<usize>,
    /// Server starts in the postgres section.
    pg_trials: Option<usize>,
    /// Waits per waiter in the HTTP-behind-a-Service section.
    service_trials: Option<usize>,
    /// `--only S,...`: those sections alone, spliced into `into` (or written to `--out`).
    only: Vec<String>,
    /// Where `--only` splices its sections (default `bench/RESULTS.md`).
    into: Option<PathBuf>,
    /// Sections the full run leaves out.
    skip: Vec<String>,
    out: Option<PathBuf>,
    kwait: Option<PathBuf>,
    kubectl: Option<String>,
    /// `--only` naming scenarios: the full run's trials restricted to them (empty: all).
    scenarios: Vec<String>,
    /// `--kwait-env K=V`: set for every kwait run (e.g. `KWAIT_MAX_INTERVAL=2s`, the old
    /// network default, to measure "before" with the same binary).
    kwait_env: Vec<(String, String)>,
    args: Vec<String>,
}

fn parse(args: Vec<String>) -> Result<Opts, String> {
    let mut o = Opts {
        quick: false,
        trials: None,
        scale: None,
        window: None,
        jitter: None,
        chain_trials: None,
        chain_gap: None,
        rollout_trials: None,
        pg_trials: None,
        service_trials: None,
        only: Vec::new(),
        into: None,
        skip: Vec::new(),
        out: None,
        kwait: None,
        kubectl: None,
        scenarios: Vec::new(),
        kwait_env: Vec::new(),
        args: args.clone(),
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let num = |v: String| -> Result<f64, String> {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("{flag}: not a number: {v:?}"))
        };
        match flag.as_str() {
            "--quick" => o.quick = true,
            "--trials" => {
                let n = num(value()?)? as usize;
                if n == 0 {
                    return Err("--trials must be at least 1".into());
                }
                o.trials = Some(n);
            }
            "--scale" => {
                let v = value()?;
                let list = v
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| format!("--scale: not a list of counts: {v:?}"))?;
                o.scale = Some(list.into_iter().filter(|n| *n > 0).collect());
            }
            "--window" => o.window = Some(num(value()?)?.max(0.5)),
            "--jitter" => o.jitter = Some(num(value()?)?),
            "--chain-trials" => {
                let n = num(value()?)? as usize;
                if n == 0 {
                    return Err("--chain-trials must be at least 1".into());
                }
                o.chain_trials = Some(n);
            }
            "--chain-gap" => o.chain_gap = Some(num(value()?)?),
            "--rollout-trials" | "--pg-trials" | "--service-trials" => {
                let n = num(value()?)? as usize;
                if n == 0 {
                    return Err(format!("{flag} must be at least 1"));
                }
                match flag.as_str() {
                    "--pg-trials" => o.pg_trials = Some(n),
                    "--service-trials" => o.service_trials = Some(n),
                    _ => o.rollout_trials = Some(n),
                }
            }
            "--only" => {
                // Sections run alone (spliced into RESULTS.md); scenarios restrict a full run.
                let v = value()?;
                for s in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if SECTIONS.contains(&s) {
                        o.only.push(s.to_string());
                    } else if Contender::ALL.iter().any(|c| c.scenario.key() == s) {
                        o.scenarios.push(s.to_string());
                    } else {
                        return Err(format!(
                            "--only: unknown section or scenario {s:?} (sections: {}; scenarios: secret, job, http, tcp, redis)",
                            SECTIONS.join(", ")
                        ));
                    }
                }
                if !o.only.is_empty() && !o.scenarios.is_empty() {
                    return Err("--only: name sections or scenarios, not both".into());
                }
                if o.only.is_empty() && o.scenarios.is_empty() {
                    return Err("--only: no section or scenario named".into());
                }
            }
            "--skip" => o.skip = sections(&flag, &value()?)?,
            "--into" => o.into = Some(PathBuf::from(value()?)),
            "--out" => o.out = Some(PathBuf::from(value()?)),
            "--kwait" => o.kwait = Some(PathBuf::from(value()?)),
            "--kubectl" => o.kubectl = Some(value()?),
            "--kwait-env" => {
                let v = value()?;
                let (k, val) = v
                    .split_once('=')
                    .filter(|(k, _)| k.starts_with("KWAIT_"))
                    .ok_or_else(|| format!("--kwait-env: expected KWAIT_NAME=VALUE, got {v:?}"))?;
                o.kwait_env.push((k.to_string(), val.to_string()));
            }
            "-h" | "--help" => return Err(String::new()),
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    Ok(o)
}

fn say(msg: &str) {
    eprintln!("bench: {msg}");
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `<target>` from `<target>/<profile>/bench`.
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().and_then(Path::parent).map(Path::to_path_buf))
        .unwrap_or_else(|| workspace().join("target"))
}

/// `<target>/release/kwait`, built with `$CARGO build --release --locked -p kwait --bin kwait`.
fn build_kwait() -> Result<PathBuf, String> {
    let target = target_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    say("building kwait (cargo build --release --locked -p kwait --bin kwait) ...");
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "kwait",
            "--bin",
            "kwait",
        ])
        .arg("--manifest-path")
        .arg(workspace().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", cargo.to_string_lossy()))?;
    if !status.success() {
        return Err(format!("building kwait failed ({status})"));
    }
    let kwait = target.join("release").join("kwait");
    kwait
        .is_file()
        .then_some(kwait.clone())
        .ok_or_else(|| format!("{} not found after the build", kwait.display()))
}

fn file_size(p: &Path) -> Option<u64> {
    std::fs::metadata(p).ok().map(|m| m.len())
}

fn sizes(tools: &Tools) -> Vec<Size> {
    let mut out = vec![Size {
        what: "kwait (measured binary)".to_string(),
        path: Some(tools.kwait.clone()),
        bytes: file_size(&tools.kwait),
        note: "the binary every kwait row ran".to_string(),
    }];
    let musl = target_dir().join("x86_64-unknown-linux-musl/release/kwait");
    out.push(Size {
        what: "kwait static musl".to_string(),
        bytes: file_size(&musl),
        note: if musl.is_file() {
            "built by scripts/image.sh".to_string()
        } else {
            "not built in this checkout (scripts/image.sh builds it)".to_string()
        },
        path: Some(musl),
    });
    let image = image_sizes();
    out.push(Size {
        what: "kwait OCI image layer, gzip".to_string(),
        path: None,
        bytes: image.map(|(gz, _)| gz),
        note: match image {
            Some((_, raw)) => {
                format!("from target/image/sizes (scripts/image.sh); uncompressed {raw} bytes")
            }
            None => "see packaging (scripts/image.sh); not built here".to_string(),
        },
    });
    if let Some(k) = &tools.kubectl {
        let real = std::fs::canonicalize(k).unwrap_or_else(|_| k.clone());
        out.push(Size {
            what: "kubectl".to_string(),
            bytes: file_size(&real),
            path: Some(real),
            note: "the binary the kubectl rows ran".to_string(),
        });
    }
    out
}

/// The image layer sizes (gzip, uncompressed) that scripts/image.sh writes to
/// `$KWAIT_IMAGE_DIR/sizes` (default `target/image/sizes`).
fn image_sizes() -> Option<(u64, u64)> {
    let dir = std::env::var_os("KWAIT_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/image"));
    let text = std::fs::read_to_string(dir.join("sizes")).ok()?;
    let mut it = text.split_whitespace().map(|t| t.parse::<u64>().ok());
    Some((it.next()??, it.next()??))
}

/// The 1-minute load average.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

fn machine() -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, v)| v.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = util::proc_kb("/proc/meminfo", "MemTotal").map_or("?".to_string(), |b| {
        format!("{:.1} GiB", b as f64 / 1073741824.0)
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|s| s.trim_matches('"').to_string())
        .unwrap_or_default();
    vec![
        format!("machine: {cpu}, {cores} cores available, {mem} RAM"),
        format!("system: {os}, Linux {kernel}"),
    ]
}

fn versions(tools: &Tools) -> Vec<String> {
    let v = |p: &Path, args: &[&str]| first_line(p, args).unwrap_or_else(|| "?".to_string());
    let mut out = vec![format!(
        "kwait: {} (`{}`)",
        v(&tools.kwait, &["--version"]),
        tools.kwait.display()
    )];
    match &tools.kubectl {
        Some(k) => out.push(format!(
            "kubectl: {} (`{}`)",
            v(k, &["version", "--client"]),
            k.display()
        )),
        None => out.push("kubectl: not found (kubectl rows SKIPPED)".to_string()),
    }
    if let Some(b) = &tools.bash {
        out.push(format!("bash: {}", v(b, &["--version"])));
    }
    if let Some(c) = &tools.curl {
        out.push(format!("curl: {}", v(c, &["--version"])));
    }
    if let Some(c) = &tools.redis_cli {
        out.push(format!("redis-cli: {}", v(c, &["--version"])));
    }
    match &tools.time {
        Some(t) => out.push(format!("GNU time: `{}`", t.display())),
        None => out.push(
            "GNU time: not found (peak RSS sampled from /proc VmHWM; `apt-get install time` for wait4 figures)"
                .to_string(),
        ),
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    if let Some(p) = which(&rustc) {
        out.push(format!("rustc: {}", v(&p, &["-V"])));
    }
    out.push("API server: testkit (in-process, HTTPS, bearer token, 2 tokio workers)".to_string());
    out
}

fn now_utc() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "date unknown".to_string())
}

fn main() -> ExitCode {
    let started = Instant::now();
    let load_start = loadavg();
    let opts = match parse(std::env::args().skip(1).collect()) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("bench: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if e.is_empty() { 0 } else { 2 });
        }
    };
    let trials = opts.trials.unwrap_or(if opts.quick { 6 } else { 30 });
    let scale = opts.scale.clone().unwrap_or(if opts.quick {
        vec![100]
    } else {
        vec![200, 1000]
    });
    let window =
        Duration::from_secs_f64(opts.window.unwrap_or(if opts.quick { 12.0 } else { 60.0 }));
    let jitter = Duration::from_secs_f64(opts.jitter.unwrap_or(2.0));
    // the several-dependencies section: 10 pod starts per case (3 quick), never more than
    // --trials; the random pause before the first dependency is ready at most 1 s
    let chain_trials = opts
        .chain_trials
        .unwrap_or_else(|| trials.min(if opts.quick { 3 } else { 10 }));
    let chain_pace = chain::Pace {
        gap: opts.chain_gap.map_or(chain::GAP, Duration::from_secs_f64),
        jitter: jitter.min(Duration::from_secs(1)),
    };
    let rollout_trials = opts
        .rollout_trials
        .unwrap_or_else(|| trials.min(if opts.quick { 3 } else { 10 }));
    let pg_trials = opts
        .pg_trials
        .unwrap_or_else(|| trials.min(if opts.quick { 2 } else { 10 }));
    let service_trials = opts
        .service_trials
        .unwrap_or_else(|| trials.min(if opts.quick { 3 } else { 10 }));
    if opts.into.is_some() && (opts.only.is_empty() || opts.out.is_some()) {
        eprintln!("bench: --into goes with --only and without --out");
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let out_path = opts.out.clone().unwrap_or_else(|| {
        if opts.quick {
            target_dir().join("bench").join("RESULTS-quick.md")
        } else {
            workspace().join("bench").join("RESULTS.md")
        }
    });

    // ----- tools ------------------------------------------------------------------------
    let kwait = match &opts.kwait {
        Some(p) => match std::fs::canonicalize(p) {
            Ok(p) => p,
            Err(e) => {
                say(&format!("--kwait {}: {e}", p.display()));
                return ExitCode::from(2);
            }
        },
        None => match build_kwait() {
            Ok(p) => p,
            Err(e) => {
                say(&e);
                return ExitCode::from(2);
            }
        },
    };
    let kubectl = which(opts.kubectl.as_deref().unwrap_or("kubectl")).filter(|k| {
        Command::new(k)
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let time = which("time").filter(|t| {
        Command::new(t)
            .args(["-f", "%M", "true"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let tools = Tools {
        kwait,
        kubectl,
        bash: which("bash"),
        curl: which("curl"),
        redis_cli: which("redis-cli"),
        kwait_env: opts.kwait_env.clone(),
        time,
    };
    let mut notes = Vec::new();
    if tools.kubectl.is_none() {
        say("SKIPPED: kubectl not found: the kubectl wait and k8s-wait-for rows are left out");
        notes.push("kubectl not found: its rows are SKIPPED.".to_string());
    }
    if tools.time.is_none() {
        say("GNU time not found (apt-get install time): peak RSS is sampled from /proc VmHWM");
    }

    let work = std::env::temp_dir().join(format!("kwait-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let command = if opts.args.is_empty() {
        "cargo run --release -p testkit --bin bench".to_string()
    } else {
        format!(
            "cargo run --release -p testkit --bin bench -- {}",
            opts.args.join(" ")
        )
    };
    let run_section = |name: &str, rng: &mut Rng| -> String {
        let mut md = String::new();
        match name {
            "chain" => chain::run(
                &work.join("chain"),
                &tools,
                chain_trials,
                chain_pace,
                rng,
                &say,
            )
            .markdown(&mut md),
            "rollout" => rollout::run(
                &work.join("rollout"),
                &tools,
                rollout_trials,
                jitter,
                rng,
                &say,
            )
            .markdown(&mut md),
            "brokers" => brokers::run(
                &work.join("brokers"),
                &tools,
                pg_trials,
                (pg_trials / 2).max(1),
                rng,
                &say,
            )
            .markdown(&mut md),
            "service" => service::run(
                &work.join("service"),
                &tools,
                service_trials,
                jitter,
                rng,
                &say,
            )
            .markdown(&mut md),
            _ => postgres::run(&work.join("postgres"), &tools, pg_trials, rng, &say)
                .markdown(&mut md),
        }
        md
    };
    if !opts.only.is_empty() {
        let mut rng = Rng::new();
        let mut done = Vec::new();
        for name in &opts.only {
            let section_started = Instant::now();
            let load = loadavg();
            let md = run_section(name, &mut rng);
            let info = splice::RunInfo {
                command: command.clone(),
                date: now_utc(),
                elapsed: fmt_elapsed(section_started.elapsed()),
                machine: [
                    machine(),
                    vec![format!(
                        "load average (1 min) at the start / end of this section: {load} / {}",
                        loadavg()
                    )],
                    versions(&tools),
                ]
                .concat(),
            };
            done.push((name.clone(), splice::after_heading(&md, &info.markdown())));
        }
        let _ = std::fs::remove_dir_all(&work);
        return write_sections(&opts, &done, started);
    }
    // Named scenarios are a run of their trials alone: the sections are not scenarios.
    let skipped = |name: &str| !opts.scenarios.is_empty() || opts.skip.iter().any(|s| s == name);

    // ----- latency trials ---------------------------------------------------------------
    let mut rows: Vec<Row> = Contender::ALL
        .iter()
        .filter(|c| {
            opts.scenarios.is_empty() || opts.scenarios.iter().any(|s| s == c.scenario.key())
        })
        .map(|&c| Row {
            c,
            cmd: String::new(),
            trials: Vec::new(),
            failures: Vec::new(),
            idle: None,
            skipped: c.missing(&tools),
        })
        .collect();
    let env = run::Env::new(&work.join("trials"));
    let mut rng = Rng::new();
    for r in &mut rows {
        r.cmd =
            r.c.cmdline(
                &tools,
                &contenders::Target {
                    kubeconfig: &env.kubeconfig,
                    url: &env.url,
                    tcp: &env.tcp,
                    redis: &env.redis,
                },
                "NAME",
                60,
                Path::new("$FRESH_HOME"),
            )
            .display();
        if r.skipped.is_some() {
            continue;
        }
        // warm-up (page cache, first TLS): not counted; a waiter that cannot do it is left out
        let name = format!("warm-{}", r.c.short());
        if let Err(e) = run::trial(&env, &tools, r.c, &name, Duration::ZERO) {
            say(&format!(
                "{}: left out, the warm-up run failed: {e}",
                r.c.label()
            ));
            r.skipped = Some(format!("the warm-up run failed: {e}"));
            notes.push(format!("{} left out: warm-up run failed: {e}", r.c.label()));
        }
    }
    say(&format!(
        "latency: {trials} trials per waiter, round-robin, random pause [0, {:.1} s) before readiness (stratified, the same for every waiter)",
        jitter.as_secs_f64()
    ));
    // One schedule for every waiter (common random numbers): trial i of each waiter comes at
    // the same phase, so a ratio of two medians compares the waiters, not their luck of draw.
    let schedule = run::pauses(trials, jitter, &mut rng);
    for i in 0..trials {
        for r in rows.iter_mut().filter(|r| r.skipped.is_none()) {
            let name = format!("{}-{i}", r.c.short());
            let pause = schedule.get(i).copied().unwrap_or_default();
            match run::trial(&env, &tools, r.c, &name, pause) {
                Ok(t) => r.trials.push(t),
                Err(e) => {
                    say(&format!("{} trial {i}: {e}", r.c.label()));
                    r.failures.push(e);
                }
            }
        }
        if (i + 1) % 5 == 0 || i + 1 == trials {
            say(&format!("latency: {}/{trials} rounds", i + 1));
        }
    }
    drop(env);
    let chain = (!skipped("chain")).then(|| {
        chain::run(
            &work.join("chain"),
            &tools,
            chain_trials,
            chain_pace,
            &mut rng,
            &say,
        )
    });
    let extra: Vec<(&'static str, String)> = ["rollout", "postgres", "brokers", "service"]
        .into_iter()
        .filter(|n| !skipped(n))
        .map(|n| (n, run_section(n, &mut rng)))
        .collect();
    for r in &rows {
        if let Some(e) = r.failures.first() {
            notes.push(format!(
                "{}: {} of {} trials failed (first: {e})",
                r.c.label(),
                r.failures.len(),
                trials
            ));
        }
    }

    // ----- idle window (all waiters at once, each on its own servers) -------------------
    say(&format!(
        "idle: every waiter waits {:.0} s for something that is not there (in parallel)",
        window.as_secs_f64()
    ));
    let idles: Vec<(usize, run::Idle)> = std::thread::scope(|s| {
        let handles: Vec<_> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.skipped.is_none())
            .map(|(i, r)| {
                let dir = work.join(format!("idle-{}", r.c.short()));
                let tools = &tools;
                let c = r.c;
                (i, s.spawn(move || run::idle(&dir, tools, c, window)))
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|(i, h)| h.join().ok().map(|x| (i, x)))
            .collect()
    });
    for (i, idle) in idles {
        if let Some(e) = &idle.error {
            say(&format!("{} idle run: {e}", rows[i].c.label()));
            notes.push(format!("{} idle run failed: {e}", rows[i].c.label()));
        }
        rows[i].idle = Some(idle);
    }
    if let Some(m) = rows
        .iter()
        .filter_map(|r| r.idle.as_ref())
        .map(|i| i.rss_method)
        .next()
    {
        notes.push(format!("peak RSS method: {m}."));
    }

    // ----- scale ------------------------------------------------------------------------
    let mut scales = Vec::new();
    let mut rss_each = None;
    for (k, &n) in scale.iter().enumerate() {
        if k > 0
            && let Err(why) = run::fits(n, rss_each)
        {
            say(&format!("scale {n}: skipped ({why})"));
            notes.push(format!("scale N={n} not run: {why}."));
            continue;
        }
        say(&format!("scale: {n} kwait processes on one API server"));
        let sc = run::scale(&work.join(format!("scale-{n}")), &tools, n, window);
        if let Some(e) = &sc.error {
            say(&format!("scale {n}: {e}"));
        } else {
            say(&format!(
                "scale {n}: {}/{n} exit 0, last reaction {}",
                sc.exit_ok,
                util::fmt_ms(sc.last_ms)
            ));
        }
        rss_each = sc.rss_each.or(rss_each);
        scales.push(sc);
    }
    let scale_note = if scale.is_empty() {
        "scale not run (--scale empty).".to_string()
    } else {
        format!(
            "scale: N = {} requested; {} run.",
            scale
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            scales
                .iter()
                .map(|s| s.n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    notes.push(scale_note);
    let _ = std::fs::remove_dir_all(&work);
    if let Some(k) = &tools.kubectl
        && first_line(k, &["version", "--client"]).is_some_and(|v| v.contains("dispatcher"))
    {
        notes.push(
            "this machine's kubectl is the Google Cloud SDK dispatcher build (`-dispatcher`): \
             the first request of every kubectl run is `GET /version?timeout=5s` (the \
             dispatcher choosing which kubectl version to run); it is counted with kubectl's \
             start-up requests (discovery)."
                .to_string(),
        );
    }
    notes.push(
        "`kubectl get` (the k8s-wait-for loop) and `kubectl wait --for=create` GET the \
         namespace after each 404 (for their error message): those requests are in \"all\", \
         not in \"object\". `kubectl wait --for=create` polls; `--for=condition` lists, then \
         watches."
            .to_string(),
    );
    notes.push(
        "HTTP, TCP and Redis have no watch: kwait polls every 1 s to 1.05 s by default (the \
         first retry after 1 s, then uniform in [1 s, 1.05 s]), the shell loops every 1 s plus \
         their tool's start-up; their reaction is about half a polling period by construction."
            .to_string(),
    );
    notes.push(
        "TCP: the awaited port is closed until the trial opens it, so no server sees the \
         attempts: there is no \"exec → first request\" figure, and requests per minute are \
         not counted (kwait wait-tcp polls on the same backoff as wait-http). Redis: a loopback \
         stand-in answers -LOADING, then PONG; its counts are connections (one per check)."
            .to_string(),
    );
    if !opts.kwait_env.is_empty() {
        notes.push(format!(
            "every kwait run had {} set (--kwait-env).",
            opts.kwait_env
                .iter()
                .map(|(k, v)| format!("`{k}={v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    // ----- report -----------------------------------------------------------------------
    let report = Report {
        command,
        date: now_utc(),
        elapsed: fmt_elapsed(started.elapsed()),
        machine: {
            let mut m = machine();
            m.push(format!(
                "load average (1 min) at the start / end of the run: {load_start} / {} \
                 (the machine is shared; other jobs may have been running)",
                loadavg()
            ));
            m
        },
        versions: versions(&tools),
        trials,
        window_s: window.as_secs_f64(),
        jitter_s: jitter.as_secs_f64(),
        sizes: sizes(&tools),
        rows,
        scale: scales,
        chain,
        sections: extra,
        notes,
    };
    write_report(&out_path, &report.markdown(), started)
}

/// `--only`: the sections spliced into `--into` (default `bench/RESULTS.md`; with `--quick`
/// `target/bench/RESULTS-quick.md`), or written alone to `--out`.
fn write_sections(opts: &Opts, done: &[(String, String)], started: Instant) -> ExitCode {
    if let Some(out) = &opts.out {
        let mut doc = "# kwait benchmark: some sections\n\nThe full benchmark \
                       (`cargo run --release -p testkit --bin bench`) has these sections too.\n"
            .to_string();
        for (name, md) in done {
            match splice::splice(&doc, name, md) {
                Ok(d) => doc = d,
                Err(e) => {
                    say(&e);
                    return ExitCode::from(1);
                }
            }
        }
        return write_report(out, &doc, started);
    }
    let into = opts.into.clone().unwrap_or_else(|| {
        if opts.quick {
            target_dir().join("bench").join("RESULTS-quick.md")
        } else {
            workspace().join("bench").join("RESULTS.md")
        }
    });
    let mut doc =
        std::fs::read_to_string(&into).unwrap_or_else(|_| "# kwait benchmark\n".to_string());
    for (name, md) in done {
        match splice::splice(&doc, name, md) {
            Ok(d) => doc = d,
            Err(e) => {
                say(&format!("{}: {e}", into.display()));
                for (_, md) in done {
                    println!("{md}");
                }
                return ExitCode::from(1);
            }
        }
    }
    for (_, md) in done {
        println!("{md}");
    }
    if let Some(dir) = into.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&into, &doc) {
        say(&format!("cannot write {}: {e}", into.display()));
        return ExitCode::from(1);
    }
    say(&format!(
        "spliced {} into {} in {}",
        done.iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        into.display(),
        fmt_elapsed(started.elapsed())
    ));
    ExitCode::SUCCESS
}

/// Writes the report (and prints it).
fn write_report(out_path: &Path, md: &str, started: Instant) -> ExitCode {
    if let Some(dir) = out_path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(out_path, md) {
        say(&format!("cannot write {}: {e}", out_path.display()));
        println!("{md}");
        return ExitCode::from(1);
    }
    println!("{md}");
    say(&format!(
        "wrote {} in {}",
        out_path.display(),
        fmt_elapsed(started.elapsed())
    ));
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn only_and_skip_take_a_list_of_known_sections() {
        let o = parse(args("--only rollout,postgres --into /tmp/R.md")).unwrap();
        assert_eq!(o.only, ["rollout", "postgres"]);
        assert_eq!(o.into.as_deref(), Some(Path::new("/tmp/R.md")));
        let o = parse(args("--skip=chain --pg-trials 3 --rollout-trials 4")).unwrap();
        assert_eq!(
            (o.skip.as_slice(), o.pg_trials, o.rollout_trials),
            (&["chain".to_string()][..], Some(3), Some(4))
        );
        assert!(
            parse(args("--only scale"))
                .unwrap_err()
                .contains("unknown section or scenario \"scale\"")
        );
        let o = parse(args("--only http,tcp")).unwrap();
        assert_eq!(
            (o.only.len(), o.scenarios.as_slice()),
            (0, &["http".to_string(), "tcp".to_string()][..])
        );
        assert!(parse(args("--only chain,http")).is_err());
        assert!(parse(args("--only ,")).is_err());
        assert!(parse(args("--pg-trials 0")).is_err());
        let o = parse(args("--only service --service-trials 2")).unwrap();
        assert_eq!(
            (o.only.as_slice(), o.service_trials),
            (&["service".to_string()][..], Some(2))
        );
        assert!(parse(args("--service-trials 0")).is_err());
    }
}
