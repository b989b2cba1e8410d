//! Several dependencies in one pod: one kwait with `--and` against three kwait init
//! containers run one after another, as the kubelet runs init containers.
//!
//! The pod waits for a Secret (`app-token`, key `API_KEY`), a Job (`migrate`) and an HTTP
//! endpoint (503 → 200), listed in that order. The pod starts at t0: either one
//! `kwait ... --and ... --and ...` is spawned, or `kwait wait-secret` is spawned and each next
//! `kwait` is spawned the moment the one before exited 0; the main container starts when the
//! (last) kwait exits. The dependencies become ready on a timeline that does not depend on the
//! waiters (same for both ways of waiting): `LEAD` plus a random pause after t0, and never
//! before what was started at t0 is certainly waiting, one every `gap` (default `GAP`), in the
//! listed order or reversed (the first-listed ready last, so the sequence still has two
//! process starts to pay after it). Measured: last dependency ready → main container start,
//! and the requests at both servers per pod start.

use super::contenders::{NS, Scenario, Tools};
use super::run::Env;
use super::util::{Cmdline, Rng, Waiter, fmt_ms, fmt_num, fmt_ratio, tail};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use testkit::netserve::Reply;

/// The names the report shows (every trial adds a suffix, so no trial sees another's objects).
pub const SECRET: &str = "app-token";
pub const KEY: &str = "API_KEY";
pub const JOB: &str = "migrate";
/// t0 → the first dependency may become ready (plus a random pause in `[0, jitter)`).
pub const LEAD: Duration = Duration::from_secs(1);
/// Between two dependencies becoming ready, by default: longer than kwait's HTTP polling
/// period (1 s to 1.05 s by default), so that, as with real dependencies (seconds to minutes
/// apart), one kwait has seen an endpoint that became ready before the next dependency does.
/// With shorter gaps the figure is mostly where kwait's HTTP poll falls (`--chain-gap`).
pub const GAP: Duration = Duration::from_millis(2500);
/// How long one kwait process may run; it gets `--timeout` twice this.
const LIMIT: Duration = Duration::from_secs(30);

/// One dependency of the pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dep {
    Secret,
    Job,
    Http,
}

impl Dep {
    /// As the pod lists them (the order of the init containers, and of the `--and` segments).
    pub const LISTED: [Dep; 3] = [Dep::Secret, Dep::Job, Dep::Http];

    fn title(self) -> &'static str {
        match self {
            Dep::Secret => "Secret",
            Dep::Job => "Job",
            Dep::Http => "HTTP",
        }
    }

    fn is_kube(self) -> bool {
        self != Dep::Http
    }
}

/// In which order the dependencies become ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// As listed: Secret, Job, HTTP.
    Listed,
    /// Reversed: HTTP, Job, Secret (the first-listed is ready last).
    Reversed,
}

impl Order {
    pub const ALL: [Order; 2] = [Order::Listed, Order::Reversed];

    pub fn deps(self) -> [Dep; 3] {
        let mut d = Dep::LISTED;
        if self == Order::Reversed {
            d.reverse();
        }
        d
    }

    fn label(self) -> String {
        let names: Vec<&str> = self.deps().iter().map(|d| d.title()).collect();
        let how = match self {
            Order::Listed => "as listed",
            Order::Reversed => "reversed",
        };
        format!("{} ({how})", names.join(", "))
    }
}

/// How the pod waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One init container: `kwait A --and B --and C`.
    One,
    /// Three init containers, each started when the one before exited 0.
    Sequential,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::One, Mode::Sequential];

    fn label(self) -> &'static str {
        match self {
            Mode::One => "one kwait with `--and`",
            Mode::Sequential => "three kwait init containers, one after another",
        }
    }

    fn processes(self) -> usize {
        match self {
            Mode::One => 1,
            Mode::Sequential => Dep::LISTED.len(),
        }
    }

    fn short(self) -> &'static str {
        match self {
            Mode::One => "one",
            Mode::Sequential => "seq",
        }
    }
}

/// The readiness timeline's pace.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Between two dependencies becoming ready.
    pub gap: Duration,
    /// The longest random pause after `LEAD` before the first becomes ready.
    pub jitter: Duration,
}

/// When each dependency becomes ready, from the start of the timeline.
pub fn timeline(order: Order, gap: Duration) -> Vec<(Dep, Duration)> {
    order
        .deps()
        .iter()
        .enumerate()
        .map(|(i, &d)| (d, gap * i as u32))
        .collect()
}

/// The object names of one trial.
#[derive(Clone, Debug)]
pub struct Names {
    pub secret: String,
    pub job: String,
}

impl Names {
    fn shown() -> Names {
        Names {
            secret: SECRET.to_string(),
            job: JOB.to_string(),
        }
    }

    fn trial(tag: &str) -> Names {
        Names {
            secret: format!("{SECRET}-{tag}"),
            job: format!("{JOB}-{tag}"),
        }
    }
}

/// The kwait arguments that wait for one dependency (one init container's command, one
/// `--and` segment).
fn segment(dep: Dep, names: &Names, url: &str) -> Vec<String> {
    let v: Vec<&str> = match dep {
        Dep::Secret => vec!["wait-secret", &names.secret, "--key", KEY],
        Dep::Job => vec!["wait-job", &names.job],
        Dep::Http => vec!["wait-http", url],
    };
    v.into_iter().map(str::to_string).collect()
}

/// The global options before the first command: the cluster for Kubernetes targets (an
/// HTTP-only init container needs none), and the one deadline.
fn globals(kube: bool, kubeconfig: &Path, timeout_s: u64) -> Vec<String> {
    let mut g = Vec::new();
    if kube {
        g.push("--kubeconfig".to_string());
        g.push(kubeconfig.to_string_lossy().into_owned());
        g.push("-n".to_string());
        g.push(NS.to_string());
    }
    g.push("--timeout".to_string());
    g.push(format!("{timeout_s}s"));
    g
}

/// The processes the pod runs one after another before its main container.
pub fn commands(
    mode: Mode,
    kwait: &Path,
    kubeconfig: &Path,
    url: &str,
    names: &Names,
    timeout_s: u64,
) -> Vec<Cmdline> {
    match mode {
        Mode::One => {
            let mut args = globals(true, kubeconfig, timeout_s);
            for (i, &d) in Dep::LISTED.iter().enumerate() {
                if i > 0 {
                    args.push("--and".to_string());
                }
                args.extend(segment(d, names, url));
            }
            vec![Cmdline::new(kwait).args(args)]
        }
        Mode::Sequential => Dep::LISTED
            .iter()
            .map(|&d| {
                Cmdline::new(kwait)
                    .args(globals(d.is_kube(), kubeconfig, timeout_s))
                    .args(segment(d, names, url))
            })
            .collect(),
    }
}

/// Nearest-rank percentile (`p` in (0, 1]) of samples; None when there are none.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

/// Median (mean of the two middle samples when even).
pub fn median(samples: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// One pod start.
#[derive(Clone, Copy, Debug)]
pub struct ChainTrial {
    /// The last dependency ready → the main container starts (the last kwait exited 0).
    pub after_last_ms: f64,
    /// Pod start → main container start.
    pub total_ms: f64,
    /// Requests at the API server (all: resource requests and anything else).
    pub api_requests: usize,
    /// Requests at the HTTP server.
    pub http_requests: usize,
}

/// One way of waiting under one readiness order.
#[derive(Clone, Debug)]
pub struct Case {
    pub order: Order,
    pub mode: Mode,
    pub trials: Vec<ChainTrial>,
    pub failures: Vec<String>,
}

impl Case {
    fn col(&self, f: impl Fn(&ChainTrial) -> f64) -> Vec<f64> {
        self.trials.iter().map(f).collect()
    }
    fn after_last(&self) -> Vec<f64> {
        self.col(|t| t.after_last_ms)
    }
}

/// Everything the section reports.
#[derive(Clone, Debug)]
pub struct Chain {
    pub trials: usize,
    pub pace: Pace,
    pub cases: Vec<Case>,
    /// The command lines (shown names), one per process, per mode.
    pub commands: Vec<(Mode, Vec<String>)>,
    pub error: Option<String>,
}

/// Whether what was started at t0 is certainly waiting for every dependency it waits for:
/// the API server saw its GET and its watch of each object, the HTTP server a request.
fn waiting(env: &Env, deps: &[Dep], names: &Names, h0: usize) -> bool {
    let recs = env.api.requests();
    deps.iter().all(|&d| {
        let (plural, name) = match d {
            Dep::Secret => ("secrets", &names.secret),
            Dep::Job => ("jobs", &names.job),
            Dep::Http => return env.http.hits() > h0,
        };
        ["get", "watch"].iter().all(|verb| {
            recs.iter().any(|r| {
                r.verb == *verb && r.resource == plural && r.name.as_deref() == Some(name.as_str())
            })
        })
    })
}

fn make_ready(env: &Env, dep: Dep, names: &Names) {
    match dep {
        Dep::Secret => Scenario::Secret.make_ready(&env.api, &names.secret),
        Dep::Job => Scenario::Job.make_ready(&env.api, &names.job),
        Dep::Http => env
            .http
            .set_replies(vec![Reply::json(200, r#"{"status":"healthy"}"#)]),
    }
}

/// Sleeps until `at`, in slices, giving up (false) when `stop` is set.
fn sleep_until(at: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= at {
            return true;
        }
        std::thread::sleep((at - now).min(Duration::from_millis(20)));
    }
}

/// One trial's readiness timeline.
struct Timeline<'a> {
    env: &'a Env,
    order: Order,
    /// What the process started at t0 waits for.
    gate: &'a [Dep],
    names: &'a Names,
    /// HTTP requests before t0.
    h0: usize,
    t0: Instant,
    /// t0 → the first dependency may become ready.
    pause: Duration,
    gap: Duration,
}

/// Runs the readiness timeline of one trial: waits until what was started at t0 is waiting, then
/// makes each dependency ready at its time. Returns the instant the last one was made ready.
fn run_timeline(tl: &Timeline<'_>, stop: &AtomicBool) -> Result<Instant, String> {
    let Timeline {
        env,
        order,
        gate,
        names,
        h0,
        t0,
        pause,
        gap,
    } = *tl;
    while !waiting(env, gate, names, h0) {
        if stop.load(Ordering::Relaxed) {
            return Err("the waiting ended before the dependencies were ready".to_string());
        }
        if t0.elapsed() > LIMIT {
            return Err(format!(
                "not waiting {}s after the pod start (API requests seen: {}, HTTP: {})",
                LIMIT.as_secs(),
                env.api.requests().len(),
                env.http.hits().saturating_sub(h0)
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = (t0 + pause).max(Instant::now());
    let mut last = start;
    for (dep, offset) in timeline(order, gap) {
        if !sleep_until(start + offset, stop) {
            return Err(format!(
                "the waiting ended before the {} was ready",
                dep.title()
            ));
        }
        last = Instant::now();
        make_ready(env, dep, names);
    }
    Ok(last)
}

/// Runs the processes one after another; returns the instant the last exited 0.
fn run_chain(env: &Env, cmds: &[Cmdline], tag: &str) -> Result<Instant, String> {
    let mut end = None;
    for (i, line) in cmds.iter().enumerate() {
        let stderr = env.dir.join(format!("chain-{tag}-{i}.stderr"));
        let mut w = Waiter::spawn(line.command(None, Some(&stderr)))
            .map_err(|e| format!("cannot start: {e}"))?;
        match w.wait(LIMIT) {
            Some((Some(st), at)) if st.success() => end = Some(at),
            Some((st, _)) => {
                let code = st
                    .and_then(|s| s.code())
                    .map_or("no exit code".to_string(), |c| format!("exit {c}"));
                return Err(format!("process {} {code}: {}", i + 1, tail(&stderr, 3)));
            }
            None => {
                return Err(format!(
                    "process {} still running after {}s",
                    i + 1,
                    LIMIT.as_secs()
                ));
            }
        }
    }
    end.ok_or_else(|| "no process to run".to_string())
}

/// One pod start: prepare the objects, start the waiting at t0, run the readiness timeline
/// beside it, and time the main container's start.
pub fn trial(
    env: &Env,
    tools: &Tools,
    mode: Mode,
    order: Order,
    tag: &str,
    pace: Pace,
    rng: &mut Rng,
) -> Result<ChainTrial, String> {
    let names = Names::trial(tag);
    Scenario::Job.prepare(&env.api, &names.job);
    env.http.set_replies(vec![Reply::status(503)]);
    env.api.reset_counters();
    let h0 = env.http.hits();
    let cmds = commands(
        mode,
        &tools.kwait,
        &env.kubeconfig,
        &env.url,
        &names,
        LIMIT.as_secs() * 2,
    );
    // what the process started at t0 waits for
    let gate: &[Dep] = match mode {
        Mode::One => &Dep::LISTED,
        Mode::Sequential => &Dep::LISTED[..1],
    };
    let pause = LEAD + pace.jitter.mul_f64(rng.unit());
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    let (chain, last_ready) = std::thread::scope(|s| {
        let tl = Timeline {
            env,
            order,
            gate,
            names: &names,
            h0,
            t0,
            pause,
            gap: pace.gap,
        };
        let stop = &stop;
        let timeline = s.spawn(move || run_timeline(&tl, stop));
        let chain = run_chain(env, &cmds, &format!("{}-{tag}", mode.short()));
        stop.store(true, Ordering::Relaxed);
        let last = timeline
            .join()
            .unwrap_or_else(|_| Err("the timeline thread panicked".to_string()));
        (chain, last)
    });
    env.http.set_replies(vec![Reply::status(503)]);
    let end = chain?;
    let last_ready = last_ready?;
    if end < last_ready {
        return Err(
            "the main container would have started before the last dependency was ready"
                .to_string(),
        );
    }
    Ok(ChainTrial {
        after_last_ms: end.duration_since(last_ready).as_secs_f64() * 1e3,
        total_ms: end.duration_since(t0).as_secs_f64() * 1e3,
        api_requests: env.api.requests().len(),
        http_requests: env.http.hits().saturating_sub(h0),
    })
}

/// The whole section: a warm-up pod start per mode (not counted; no pause, no gap), then
/// `trials` rounds over every order and mode.
pub fn run(
    dir: &Path,
    tools: &Tools,
    trials: usize,
    pace: Pace,
    rng: &mut Rng,
    say: &dyn Fn(&str),
) -> Chain {
    let env = Env::new(dir);
    let commands = Mode::ALL
        .iter()
        .map(|&m| {
            let lines = commands(
                m,
                &tools.kwait,
                &env.kubeconfig,
                &env.url,
                &Names::shown(),
                LIMIT.as_secs() * 2,
            );
            (m, lines.iter().map(Cmdline::display).collect())
        })
        .collect();
    let mut out = Chain {
        trials,
        pace,
        cases: Order::ALL
            .iter()
            .flat_map(|&order| {
                Mode::ALL.iter().map(move |&mode| Case {
                    order,
                    mode,
                    trials: Vec::new(),
                    failures: Vec::new(),
                })
            })
            .collect(),
        commands,
        error: None,
    };
    for mode in Mode::ALL {
        let tag = format!("warm-{}", mode.short());
        let warm = Pace {
            gap: Duration::ZERO,
            jitter: Duration::ZERO,
        };
        if let Err(e) = trial(&env, tools, mode, Order::Listed, &tag, warm, rng) {
            say(&format!(
                "chain: the warm-up ({}) failed: {e}",
                mode.label()
            ));
            out.error = Some(format!("the warm-up ({}) failed: {e}", mode.label()));
            return out;
        }
    }
    say(&format!(
        "chain: {trials} pod starts per order and way of waiting (3 dependencies, {} s apart)",
        fmt_num(pace.gap.as_secs_f64())
    ));
    for i in 0..trials {
        for (k, case) in out.cases.iter_mut().enumerate() {
            let tag = format!("{}-{k}-{i}", case.mode.short());
            match trial(&env, tools, case.mode, case.order, &tag, pace, rng) {
                Ok(t) => case.trials.push(t),
                Err(e) => {
                    say(&format!(
                        "chain {} / {} trial {i}: {e}",
                        case.order.label(),
                        case.mode.label()
                    ));
                    case.failures.push(e);
                }
            }
        }
        if (i + 1) % 5 == 0 || i + 1 == trials {
            say(&format!("chain: {}/{trials} rounds", i + 1));
        }
    }
    out
}

fn cell(x: Option<f64>) -> String {
    x.map_or("n/a".to_string(), fmt_ms)
}

fn count(x: Option<f64>) -> String {
    x.map_or("n/a".to_string(), fmt_num)
}

impl Chain {
    /// The Markdown section.
    pub fn markdown(&self, w: &mut String) {
        let _ = writeln!(
            w,
            "## 7. Several dependencies: one kwait with `--and` vs three init containers\n"
        );
        let _ = writeln!(
            w,
            "A pod waits for a Secret `{SECRET}` (key `{KEY}`), a Job `{JOB}` and an HTTP \
             endpoint (503 → 200), listed in that order. **One kwait**: one process waits for \
             the three at once and the main container starts when it exits 0. **Three init \
             containers**: `kwait wait-secret`, then `kwait wait-job`, then `kwait wait-http`, \
             each started the moment the one before exited 0, as the kubelet runs init \
             containers; the main container starts when the last exits 0. The pod starts at t0; \
             the dependencies become ready on a timeline that is the same for both: {} s plus a \
             random pause in [0, {} s) after t0 (and not before the process started at t0 is \
             certainly waiting: the API server saw its GET and watch, the HTTP server a \
             request), one every {} s, in the listed order or reversed (the first-listed ready \
             last). **last ready → main start**: from the last dependency becoming ready to the \
             main container's start, median and p90 (nearest rank) over {} pod starts each; \
             requests: median per pod start, at the API server (all requests) and at the HTTP \
             server.\n",
            fmt_num(LEAD.as_secs_f64()),
            fmt_num(self.pace.jitter.as_secs_f64()),
            fmt_num(self.pace.gap.as_secs_f64()),
            self.trials
        );
        if let Some(e) = &self.error {
            let _ = writeln!(w, "FAILED: {e}\n");
            return;
        }
        let _ = writeln!(
            w,
            "| readiness order | waiting | pod starts ok | last ready → main start p50 | p90 | pod start → main start p50 | API requests | HTTP requests | kwait processes |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|");
        for c in &self.cases {
            let after = c.after_last();
            let _ = writeln!(
                w,
                "| {} | {} | {}/{} | {} | {} | {} | {} | {} | {} |",
                c.order.label(),
                c.mode.label(),
                c.trials.len(),
                c.trials.len() + c.failures.len(),
                cell(median(&after)),
                cell(percentile(&after, 0.9)),
                cell(median(&c.col(|t| t.total_ms))),
                count(median(&c.col(|t| t.api_requests as f64))),
                count(median(&c.col(|t| t.http_requests as f64))),
                c.mode.processes(),
            );
        }
        let _ = writeln!(w);
        for order in Order::ALL {
            let p50 = |mode: Mode| {
                self.cases
                    .iter()
                    .find(|c| c.order == order && c.mode == mode)
                    .and_then(|c| median(&c.after_last()))
            };
            let _ = writeln!(
                w,
                "- {}: last ready → main start p50, one kwait / three init containers: {}",
                order.label(),
                fmt_ratio(p50(Mode::One), p50(Mode::Sequential))
            );
        }
        let _ = writeln!(w);
        let notes = [
            "**A lower bound for the init containers.** This simulates the sequence with processes: the next kwait is spawned the instant the one before exits. A kubelet also creates and starts a container for every init container (the image present: typically hundreds of milliseconds to seconds, plus its status sync), none of which is counted here, so the sequence's figures are a lower bound; with one kwait there is one such start in all, before the dependencies matter.",
            "**Reversed order** shows the cost of the sequence itself: when the first-listed dependency is ready last, the next init containers only start then, each paying a process start, a TLS connection and a first check (already ready) before the main container can start; one kwait has been waiting for all three since t0 and has seen the HTTP endpoint ready at a poll before the Secret appears (the gap is longer than kwait's HTTP polling period, 1 s to 1.05 s by default).",
            "**Listed order** is mostly HTTP polling for both: the HTTP endpoint is ready last and has no watch, so both notice it at their next poll, which comes 1 s to 1.05 s after the one before for both (the default period does not grow): half a period at the median either way, so the two ways are close here, and the order in which the polls happen to fall decides a single pod start. A kubelet's container start for the wait-http init container, when shorter than the gap before the endpoint is ready, would not change that.",
            "**Dependencies ready closer together than kwait's HTTP polling period** (`--chain-gap 0.3`): one kwait notices an HTTP endpoint that became ready *before* the last Kubernetes object only at its next poll, up to a period (1.05 s by default) later, while a wait-http init container started after the others checks it at once; then this simulated sequence (without the kubelet's container starts) can start the main container sooner.",
            "Requests: the init containers each open their own connection and, for a Kubernetes object, GET and watch it (a wait-job whose Job is already complete only GETs it); one kwait GETs and watches each object over one connection, and polls the HTTP endpoint from t0, so it may make more HTTP requests when the endpoint is ready last.",
        ];
        for n in notes {
            let _ = writeln!(w, "- {n}");
        }
        let _ = writeln!(
            w,
            "\nCommands (the names of this run; every pod start adds a suffix to the object names):\n"
        );
        for (mode, lines) in &self.commands {
            let _ = writeln!(w, "- {}:", mode.label());
            for l in lines {
                let _ = writeln!(w, "  - `{l}`");
            }
        }
        let _ = writeln!(w);
        for c in &self.cases {
            if let Some(e) = c.failures.first() {
                let _ = writeln!(
                    w,
                    "- {} / {}: {} of {} pod starts failed (first: {e})",
                    c.order.label(),
                    c.mode.label(),
                    c.failures.len(),
                    c.failures.len() + c.trials.len()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversed_order_makes_the_first_listed_dependency_ready_last() {
        let ms = |v: Vec<(Dep, Duration)>| -> Vec<(Dep, u128)> {
            v.into_iter().map(|(d, t)| (d, t.as_millis())).collect()
        };
        assert_eq!(
            ms(timeline(Order::Listed, GAP)),
            [(Dep::Secret, 0), (Dep::Job, 2500), (Dep::Http, 5000)]
        );
        assert_eq!(
            ms(timeline(Order::Reversed, GAP)),
            [(Dep::Http, 0), (Dep::Job, 2500), (Dep::Secret, 5000)]
        );
        assert_eq!(Order::Reversed.label(), "HTTP, Job, Secret (reversed)");
    }

    #[test]
    fn one_kwait_joins_the_three_init_containers_commands_with_and() {
        let (kwait, kc) = (Path::new("/bin/kwait"), Path::new("/tmp/kc"));
        let names = Names::shown();
        let url = "http://127.0.0.1:9/health";
        let seq = commands(Mode::Sequential, kwait, kc, url, &names, 60);
        let args: Vec<String> = seq.iter().map(|c| c.args.join(" ")).collect();
        assert_eq!(
            args,
            [
                "--kubeconfig /tmp/kc -n bench --timeout 60s wait-secret app-token --key API_KEY",
                "--kubeconfig /tmp/kc -n bench --timeout 60s wait-job migrate",
                "--timeout 60s wait-http http://127.0.0.1:9/health",
            ]
        );
        let one = commands(Mode::One, kwait, kc, url, &names, 60);
        assert_eq!(one.len(), 1);
        assert_eq!(
            one[0].args.join(" "),
            "--kubeconfig /tmp/kc -n bench --timeout 60s wait-secret app-token --key API_KEY \
             --and wait-job migrate --and wait-http http://127.0.0.1:9/health"
        );
        assert!(seq.iter().chain(&one).all(|c| c.program == kwait));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.9), Some(9.0));
        assert_eq!(median(&v), Some(5.5));
        assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0], 0.9), Some(4.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(percentile(&[], 0.9), None);
    }
}
