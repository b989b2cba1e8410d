//! HTTP behind a Service (issue #26): `kwait wait-http URL --service web` against
//! `kwait wait-http URL` and a curl loop.
//!
//! The API server holds Service `web` and one EndpointSlice for it whose only endpoint is not
//! ready; a loopback HTTP server answers 503, as a Service's address does while no ready
//! endpoint is behind it. One trial: the waiter starts and is certainly waiting (its first
//! HTTP request; with `--service` also its watch of endpointslices), then `SETTLE` plus a
//! stratified random pause later, at **T**, the slice's endpoint turns ready in the API (a
//! merge patch: one MODIFIED event on the waiter's watch, as the EndpointSlice controller
//! writes it), and at T + `LAG` the HTTP server starts answering 200: `LAG` stands for
//! kube-proxy programming its rules after the slice changed. Measured: exit 0 − T, the HTTP
//! requests per minute while waiting (after the first one, up to the last before T) and the
//! API requests per wait.

use super::contenders::{Contender, NS, Scenario, Target, Tools, Who as Loop};
use super::util::{Cmdline, Rng, Waiter, fmt_ms, fmt_num, fmt_ratio, tail};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use testkit::netserve::{HttpServer, Reply};
use testkit::{Allow, ApiServer, KubeconfigOpts};

/// The Service's name.
pub const SERVICE: &str = "web";
const SLICE: &str = "web-7x2kq";
const TOKEN: &str = "bench-token";
/// The slice's endpoint turned ready → the HTTP server answers 200: kube-proxy's lag.
pub const LAG: Duration = Duration::from_millis(30);
/// After the waiter is certainly waiting and before the random pause: every waiter has been
/// waiting for a while when the endpoint turns ready (its requests per minute are counted
/// over this time too).
const SETTLE: Duration = Duration::from_secs(2);
/// How long a waiter may take to start waiting, and to exit once the endpoint is ready.
const LIMIT: Duration = Duration::from_secs(30);

/// Who waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// `kwait wait-http URL --service web`.
    KwaitService,
    /// `kwait wait-http URL`.
    Kwait,
    /// `until curl -fsS -o /dev/null URL; do sleep 1; done`.
    CurlLoop,
}

impl Who {
    pub const ALL: [Who; 3] = [Who::KwaitService, Who::Kwait, Who::CurlLoop];

    pub fn label(self) -> &'static str {
        match self {
            Who::KwaitService => "kwait wait-http URL --service web",
            Who::Kwait => "kwait wait-http URL",
            Who::CurlLoop => "curl loop (sleep 1)",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Who::KwaitService => "kwait-service",
            Who::Kwait => "kwait",
            Who::CurlLoop => "curl",
        }
    }

    /// Why it cannot run here, if it cannot.
    fn missing(self, tools: &Tools) -> Option<String> {
        match self {
            Who::CurlLoop => Contender {
                who: Loop::CurlLoop,
                scenario: Scenario::Http,
            }
            .missing(tools),
            Who::KwaitService | Who::Kwait => None,
        }
    }
}

/// The fake API server with the Service and its slice, the HTTP server behind it.
struct Env {
    api: ApiServer,
    http: HttpServer,
    dir: PathBuf,
    kubeconfig: PathBuf,
    url: String,
}

fn service() -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE},
           "spec": {"type": "ClusterIP", "selector": {"app": SERVICE},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
}

/// The slice's endpoints: one pod, ready or not, as the EndpointSlice controller writes it.
fn endpoints(ready: bool) -> Value {
    json!([{"addresses": ["10.244.0.17"],
            "conditions": {"ready": ready, "serving": ready, "terminating": false},
            "targetRef": {"kind": "Pod", "name": "web-5d8f7c9b4-qx2lm", "namespace": NS,
                          "uid": "3f0c2a9e-web-0"}}])
}

fn slice() -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": SLICE,
                        "labels": {"kubernetes.io/service-name": SERVICE,
                                   "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
           "addressType": "IPv4",
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
           "endpoints": endpoints(false)})
}

impl Env {
    fn new(dir: &Path) -> Env {
        std::fs::create_dir_all(dir).expect("bench: create work directory");
        let api = ApiServer::builder().tls(true).auth(true).start();
        api.add_token(TOKEN, "system:serviceaccount:bench:default", Allow::All);
        let kubeconfig = api.write_kubeconfig(
            dir,
            KubeconfigOpts {
                token: Some(TOKEN),
                namespace: Some(NS),
                context: "bench",
                ..Default::default()
            },
        );
        api.create("services", NS, service());
        api.create("endpointslices", NS, slice());
        let http = HttpServer::start(vec![Reply::status(503)]);
        let url = http.url("/healthz");
        Env {
            api,
            http,
            dir: dir.to_path_buf(),
            kubeconfig,
            url,
        }
    }

    fn set_ready(&self, ready: bool) {
        self.api.patch(
            "endpointslices",
            NS,
            SLICE,
            json!({"endpoints": endpoints(ready)}),
        );
    }

    fn cmdline(&self, who: Who, tools: &Tools, timeout_s: u64) -> Cmdline {
        let target = Target {
            kubeconfig: &self.kubeconfig,
            url: &self.url,
            tcp: "",
            redis: "",
        };
        let home = self.dir.join("home");
        match who {
            Who::KwaitService => tools
                .kwait_env
                .iter()
                .fold(Cmdline::new(&tools.kwait), |c, (k, v)| c.env(k, v.clone()))
                .args(["--kubeconfig", &self.kubeconfig.to_string_lossy(), "-n", NS])
                .args(["wait-http", &self.url, "--service", SERVICE, "--timeout"])
                .arg(format!("{timeout_s}s")),
            Who::Kwait => Contender {
                who: Loop::Kwait,
                scenario: Scenario::Http,
            }
            .cmdline(tools, &target, "", timeout_s, &home),
            Who::CurlLoop => Contender {
                who: Loop::CurlLoop,
                scenario: Scenario::Http,
            }
            .cmdline(tools, &target, "", timeout_s, &home),
        }
    }
}

/// One wait.
#[derive(Clone, Debug)]
pub struct Trial {
    /// T (the endpoint turned ready in the API) → exit 0.
    pub reaction_ms: f64,
    /// HTTP requests after the first one, up to the last one before T.
    pub http_requests: usize,
    /// From the first HTTP request to the last one before T.
    pub waited: Duration,
    /// API requests of the whole wait.
    pub api_requests: usize,
    /// Those requests: verb, path and status.
    pub api_seen: Vec<String>,
}

fn trial(env: &Env, tools: &Tools, who: Who, tag: &str, pause: Duration) -> Result<Trial, String> {
    env.set_ready(false);
    env.http.set_replies(vec![Reply::status(503)]);
    env.api.reset_counters();
    let stderr = env.dir.join(format!("{}-{tag}.stderr", who.short()));
    let cmd = env
        .cmdline(who, tools, LIMIT.as_secs() * 2)
        .command(None, Some(&stderr));
    let h0 = env.http.hits();
    let t_spawn = Instant::now();
    let mut w = Waiter::spawn(cmd).map_err(|e| format!("cannot start: {e}"))?;
    // certainly waiting: its first HTTP request, and with --service its watch of the slices
    let watching = || {
        who != Who::KwaitService
            || env
                .api
                .requests()
                .iter()
                .any(|r| r.verb == "watch" && r.resource == "endpointslices")
    };
    let (t_wait, h_wait) = loop {
        let h = env.http.hits();
        if h > h0 && watching() {
            break (Instant::now(), h);
        }
        if w.exited() {
            return Err(format!(
                "exited before it was waiting: {}",
                tail(&stderr, 3)
            ));
        }
        if t_spawn.elapsed() > LIMIT {
            w.kill();
            return Err(format!(
                "not waiting after {}s ({} HTTP requests, {} API requests): {}",
                LIMIT.as_secs(),
                h - h0,
                env.api.requests().len(),
                tail(&stderr, 3)
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    // the waiting requests' instants (sampled every 200 µs), up to T
    let mut seen = vec![t_wait];
    let mut h_seen = h_wait;
    let until = t_wait + SETTLE + pause;
    while Instant::now() < until {
        let h = env.http.hits();
        if h > h_seen {
            seen.extend(std::iter::repeat_n(Instant::now(), h - h_seen));
            h_seen = h;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    if w.exited() {
        return Err(format!(
            "exited while the endpoint was not ready: {}",
            tail(&stderr, 3)
        ));
    }
    let t0 = Instant::now();
    env.set_ready(true);
    if let Some(rest) = LAG.checked_sub(t0.elapsed()) {
        std::thread::sleep(rest);
    }
    env.http
        .set_replies(vec![Reply::json(200, r#"{"status":"ok"}"#)]);
    let out = match w.wait(LIMIT) {
        Some((Some(st), at)) if st.success() => {
            let recs = env.api.requests();
            Ok(Trial {
                reaction_ms: at.duration_since(t0).as_secs_f64() * 1e3,
                http_requests: seen.len() - 1,
                waited: seen[seen.len() - 1].duration_since(seen[0]),
                api_requests: recs.len(),
                api_seen: recs
                    .iter()
                    .map(|r| format!("{} {} → {}", r.verb, r.path, r.status))
                    .collect(),
            })
        }
        Some((st, _)) => Err(format!(
            "exit {}: {}",
            st.and_then(|s| s.code())
                .map_or("?".to_string(), |c| c.to_string()),
            tail(&stderr, 3)
        )),
        None => Err(format!(
            "still waiting {}s after the endpoint was ready: {}",
            LIMIT.as_secs(),
            tail(&stderr, 3)
        )),
    };
    env.http.set_replies(vec![Reply::status(503)]);
    out
}

/// One waiter's figures.
#[derive(Clone, Debug)]
pub struct Row {
    pub who: Who,
    pub trials: Vec<Trial>,
    pub failures: Vec<String>,
    pub skipped: Option<String>,
    pub command: String,
}

impl Row {
    fn reactions(&self) -> Vec<f64> {
        self.trials.iter().map(|t| t.reaction_ms).collect()
    }

    /// HTTP requests per minute while waiting, pooled over the trials: requests after the
    /// first one over the time from the first to the last one before T (whole polling periods:
    /// a window that starts at a request and ends at T would count a fraction of a period
    /// as none).
    fn per_minute(&self) -> Option<f64> {
        let secs: f64 = self.trials.iter().map(|t| t.waited.as_secs_f64()).sum();
        let n: usize = self.trials.iter().map(|t| t.http_requests).sum();
        (secs > 0.0).then(|| n as f64 * 60.0 / secs)
    }

    fn api_requests(&self) -> Option<f64> {
        super::chain::median(
            &self
                .trials
                .iter()
                .map(|t| t.api_requests as f64)
                .collect::<Vec<_>>(),
        )
    }
}

/// The whole section.
#[derive(Clone, Debug)]
pub struct ServiceSection {
    pub trials: usize,
    pub jitter: Duration,
    pub rows: Vec<Row>,
}

/// A warm-up per waiter (not counted; a waiter that fails it is left out with the reason),
/// then `trials` rounds over the waiters, trial `i` of every waiter with the same pause.
pub fn run(
    dir: &Path,
    tools: &Tools,
    trials: usize,
    jitter: Duration,
    rng: &mut Rng,
    say: &dyn Fn(&str),
) -> ServiceSection {
    let env = Env::new(dir);
    let mut rows: Vec<Row> = Who::ALL
        .iter()
        .map(|&who| Row {
            who,
            trials: Vec::new(),
            failures: Vec::new(),
            skipped: who.missing(tools),
            command: env.cmdline(who, tools, LIMIT.as_secs() * 2).display(),
        })
        .collect();
    for r in rows.iter_mut().filter(|r| r.skipped.is_none()) {
        if let Err(e) = trial(&env, tools, r.who, "warm", Duration::ZERO) {
            say(&format!(
                "service: {}: left out, the warm-up run failed: {e}",
                r.who.label()
            ));
            r.skipped = Some(format!("the warm-up run failed: {e}"));
        }
    }
    say(&format!(
        "service: {trials} trials per waiter, endpoint ready → HTTP 200 after {} ms",
        LAG.as_millis()
    ));
    let schedule = super::run::pauses(trials, jitter, rng);
    for (i, pause) in schedule.iter().enumerate() {
        for r in rows.iter_mut().filter(|r| r.skipped.is_none()) {
            match trial(&env, tools, r.who, &i.to_string(), *pause) {
                Ok(t) => r.trials.push(t),
                Err(e) => {
                    say(&format!("service: {} trial {i}: {e}", r.who.label()));
                    r.failures.push(e);
                }
            }
        }
    }
    ServiceSection {
        trials,
        jitter,
        rows,
    }
}

impl ServiceSection {
    /// The Markdown section.
    pub fn markdown(&self, w: &mut String) {
        let _ = writeln!(
            w,
            "## 13. HTTP behind a Service: `wait-http --service` vs `wait-http` vs a curl loop\n"
        );
        let _ = writeln!(
            w,
            "The fake API server holds Service `{SERVICE}` and one EndpointSlice for it whose \
             only endpoint is not ready; a loopback HTTP server answers 503 (the Service's \
             address while no ready endpoint is behind it). Each waiter starts and is certainly \
             waiting (its first HTTP request; with `--service` also its watch of \
             endpointslices), then {:.1} s plus a random pause in [0, {:.1} s) (stratified, the \
             same for every waiter) later, at **T**, the endpoint turns ready in the API (a merge \
             patch of the slice: a real MODIFIED event on kwait's watch), and the HTTP server \
             answers 200 from **T + {} ms**: that fixed d stands for kube-proxy programming its \
             rules after the slice changed. Per waiter ({} trials, round-robin, a warm-up run \
             first): **reaction** = exit 0 − T (median and p90, nearest rank; it cannot be \
             below d), the **HTTP requests per minute while waiting** (after the first one, up \
             to the last one before T, over the time between them, pooled over the trials) and the \
             **API requests per wait** (median).\n",
            SETTLE.as_secs_f64(),
            self.jitter.as_secs_f64(),
            LAG.as_millis(),
            self.trials,
        );
        let _ = writeln!(
            w,
            "| waiter | trials ok | reaction p50 | p90 | HTTP requests/min while waiting | API requests per wait |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|");
        for r in &self.rows {
            if let Some(why) = &r.skipped {
                let _ = writeln!(w, "| {} | SKIPPED: {why} | | | | |", r.who.label());
                continue;
            }
            let col = r.reactions();
            let _ = writeln!(
                w,
                "| {} | {}/{} | {} | {} | {} | {} |",
                r.who.label(),
                r.trials.len(),
                r.trials.len() + r.failures.len(),
                super::chain::median(&col).map_or("n/a".to_string(), fmt_ms),
                super::chain::percentile(&col, 0.9).map_or("n/a".to_string(), fmt_ms),
                r.per_minute().map_or("n/a".to_string(), fmt_num),
                r.api_requests().map_or("n/a".to_string(), fmt_num),
            );
        }
        let _ = writeln!(w);
        let med = |who: Who| {
            self.rows
                .iter()
                .find(|r| r.who == who && r.skipped.is_none())
                .and_then(|r| super::chain::median(&r.reactions()))
        };
        let _ = writeln!(
            w,
            "- reaction p50, `--service` / without: {}; `--service` / curl loop: {}.",
            fmt_ratio(med(Who::KwaitService), med(Who::Kwait)),
            fmt_ratio(med(Who::KwaitService), med(Who::CurlLoop)),
        );
        let _ = writeln!(
            w,
            "- With `--service` kwait checks at once when the Service's ready endpoints change \
             and again about 50, 100, 200 and 400 ms later: with d = {} ms its check at once \
             should still see 503 and the one about 50 ms later 200. Without it, and for the loop, \
             the endpoint is seen at the next poll (about 1 s apart): about half a period by \
             construction. Readiness is still the HTTP answer alone; the API requests are its \
             LISTs and watch of endpointslices (below).",
            LAG.as_millis()
        );
        for r in &self.rows {
            if let Some(e) = r.failures.first() {
                let _ = writeln!(
                    w,
                    "- {}: {} of {} trials failed (first: {e})",
                    r.who.label(),
                    r.failures.len(),
                    r.trials.len() + r.failures.len()
                );
            }
        }
        let _ = writeln!(w, "\nCommands (ports and paths of this run):\n");
        for r in &self.rows {
            let _ = writeln!(w, "- {}: `{}`", r.who.label(), r.command);
        }
        for r in &self.rows {
            if let Some(t) = r.trials.first().filter(|t| !t.api_seen.is_empty()) {
                let _ = writeln!(
                    w,
                    "\nThe API requests of the first counted wait of {}:\n",
                    r.who.label()
                );
                for line in &t.api_seen {
                    let _ = writeln!(w, "- `{line}`");
                }
            }
        }
    }
}
