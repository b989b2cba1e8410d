//! The measurements: latency trials, the idle window (requests per minute and peak RSS) and
//! the scale run.

use super::contenders::{Contender, NS, Scenario, Target, Tools};
use super::resp::RespServer;
use super::util::{Rng, Waiter, mem_available, rss_pss, tail, vm_hwm};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use testkit::netserve::{HttpServer, Reply, TcpServer, free_port};
use testkit::{Allow, ApiServer, KubeconfigOpts};

const TOKEN: &str = "bench-token";
/// How long a waiter may take to start waiting, and to exit once the object is ready.
const LIMIT: Duration = Duration::from_secs(30);
/// TCP scenario: how long after its start a waiter is taken to be waiting (its first connect
/// to the closed port is refused unseen).
const TCP_SETTLE: Duration = Duration::from_millis(300);

/// A fake API server (HTTPS, bearer token) or an HTTP server, and where its files go.
pub struct Env {
    pub api: ApiServer,
    pub http: HttpServer,
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub url: String,
    /// The TCP scenario's port (closed until the trial makes it listen) and its listener.
    pub tcp: String,
    tcp_port: u16,
    tcp_server: std::sync::Mutex<Option<TcpServer>>,
    /// The Redis stand-in.
    pub resp: RespServer,
    pub redis: String,
}

impl Env {
    pub fn new(dir: &Path) -> Env {
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
        let http = HttpServer::start(vec![Reply::status(503)]);
        let url = http.url("/health/readiness");
        let tcp_port = free_port();
        let resp = RespServer::start();
        let redis = resp.addr();
        Env {
            api,
            http,
            dir: dir.to_path_buf(),
            kubeconfig,
            url,
            tcp: format!("127.0.0.1:{tcp_port}"),
            tcp_port,
            tcp_server: std::sync::Mutex::new(None),
            resp,
            redis,
        }
    }

    fn target(&self) -> Target<'_> {
        Target {
            kubeconfig: &self.kubeconfig,
            url: &self.url,
            tcp: &self.tcp,
            redis: &self.redis,
        }
    }

    /// Requests (connections for Redis) the waiter's server has seen; `None` where they cannot
    /// be counted (connects to a closed TCP port reach no server).
    fn net_hits(&self, s: Scenario) -> Option<usize> {
        match s {
            Scenario::Http => Some(self.http.hits()),
            Scenario::Redis => Some(self.resp.hits()),
            _ => None,
        }
    }

    /// Back to not ready (HTTP 503, TCP closed, Redis LOADING).
    fn unready(&self, s: Scenario) {
        match s {
            Scenario::Http => self.http.set_replies(vec![Reply::status(503)]),
            Scenario::Tcp => {
                let server = self.tcp_server.lock().map(|mut g| g.take());
                drop(server);
            }
            Scenario::Redis => self.resp.set_ready(false),
            _ => {}
        }
    }

    /// A fresh, empty HOME for kubectl (a new pod has no discovery cache).
    fn home(&self, name: &str) -> PathBuf {
        let home = self.dir.join(format!("home-{name}"));
        let _ = std::fs::remove_dir_all(&home);
        let _ = std::fs::create_dir_all(&home);
        home
    }
}

/// One latency trial.
#[derive(Clone, Copy, Debug)]
pub struct Trial {
    /// Exec → first request received by the server.
    pub first_ms: f64,
    /// Object ready → the waiter has exited (0).
    pub reaction_ms: f64,
    /// Requests until the waiter was certainly waiting.
    pub startup_requests: usize,
}

/// Polls until the waiter is certainly waiting; returns the first request's delay after
/// `sys0`/`t_spawn` and the requests so far.
fn until_waiting(
    env: &Env,
    c: Contender,
    w: &mut Waiter,
    sys0: SystemTime,
    t_spawn: Instant,
    h0: usize,
    stderr: &Path,
) -> Result<(f64, usize), String> {
    let deadline = t_spawn + LIMIT;
    loop {
        if c.scenario.is_kube() {
            let recs = env.api.requests();
            let plural = c.scenario.plural();
            let seen = |verb: &str| recs.iter().any(|r| r.verb == verb && r.resource == plural);
            if c.waiting_verbs().iter().all(|v| seen(v)) {
                let first = recs
                    .iter()
                    .map(|r| r.time.duration_since(sys0).unwrap_or_default())
                    .min()
                    .unwrap_or_default();
                return Ok((first.as_secs_f64() * 1e3, recs.len()));
            }
        } else if let Some(hits) = env.net_hits(c.scenario) {
            if hits > h0 {
                return Ok((t_spawn.elapsed().as_secs_f64() * 1e3, 1));
            }
        } else if t_spawn.elapsed() > TCP_SETTLE {
            // A closed port: no server sees the attempts. The waiter has certainly made its
            // first one by now (both start with a connect); no "first request" figure.
            if w.exited() {
                return Err(format!("exited before it was waiting: {}", tail(stderr, 3)));
            }
            return Ok((f64::NAN, 1));
        }
        if w.exited() {
            return Err(format!("exited before it was waiting: {}", tail(stderr, 3)));
        }
        if Instant::now() > deadline {
            w.kill();
            let seen: Vec<String> = if c.scenario.is_kube() {
                let recs = env.api.requests();
                let mut v: Vec<String> = recs
                    .iter()
                    .take(10)
                    .map(|r| format!("{} {}", r.verb, r.path))
                    .collect();
                if recs.len() > 10 {
                    v.push(format!("... {} in all", recs.len()));
                }
                v
            } else {
                vec![format!("{:?} requests", env.net_hits(c.scenario))]
            };
            return Err(format!(
                "not waiting after {}s (requests seen: {}): {}",
                LIMIT.as_secs(),
                seen.join(", "),
                tail(stderr, 3)
            ));
        }
        if c.scenario.is_kube() {
            std::thread::sleep(Duration::from_millis(1));
        } else {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

fn make_ready(env: &Env, c: Contender, name: &str) {
    match c.scenario {
        Scenario::Http => env
            .http
            .set_replies(vec![Reply::json(200, r#"{"status":"healthy"}"#)]),
        Scenario::Tcp => {
            let server = TcpServer::start_after(env.tcp_port, Duration::ZERO);
            if let Ok(mut g) = env.tcp_server.lock() {
                *g = Some(server);
            }
        }
        Scenario::Redis => env.resp.set_ready(true),
        s => s.make_ready(&env.api, name),
    }
}

fn exit_error(st: Option<std::process::ExitStatus>, stderr: &Path) -> String {
    let code = st
        .and_then(|s| s.code())
        .map_or("no exit code".to_string(), |c| format!("exit {c}"));
    format!("{code}: {}", tail(stderr, 3))
}

/// Runs one trial: start the waiter, wait until it is certainly waiting, pause for `pause` (one
/// of [`pauses`]: polling loops are caught at every phase), make the object ready, and time the
/// exit.
pub fn trial(
    env: &Env,
    tools: &Tools,
    c: Contender,
    name: &str,
    pause: Duration,
) -> Result<Trial, String> {
    let stderr = env.dir.join(format!("{}.stderr", c.short()));
    let home = env.home(&c.short());
    if c.scenario.is_kube() {
        c.scenario.prepare(&env.api, name);
        env.api.reset_counters();
    } else {
        env.unready(c.scenario);
    }
    let h0 = env.net_hits(c.scenario).unwrap_or(0);
    let cmd = c
        .cmdline(tools, &env.target(), name, LIMIT.as_secs() * 2, &home)
        .command(None, Some(&stderr));
    let sys0 = SystemTime::now();
    let t_spawn = Instant::now();
    let mut w = Waiter::spawn(cmd).map_err(|e| format!("cannot start: {e}"))?;
    let (first_ms, startup_requests) = until_waiting(env, c, &mut w, sys0, t_spawn, h0, &stderr)?;
    std::thread::sleep(pause);
    let t0 = Instant::now();
    make_ready(env, c, name);
    let out = match w.wait(LIMIT) {
        Some((Some(st), at)) if st.success() => Ok(Trial {
            first_ms,
            reaction_ms: at.duration_since(t0).as_secs_f64() * 1e3,
            startup_requests,
        }),
        Some((st, _)) => Err(exit_error(st, &stderr)),
        None => Err(format!(
            "still running {}s after the object was ready",
            LIMIT.as_secs()
        )),
    };
    if !c.scenario.is_kube() {
        env.unready(c.scenario);
    }
    out
}

/// The pauses before readiness for `n` trials of one waiter: stratified over `[0, jitter)`
/// (one uniform draw in each of `n` equal slices, in random order). A polling waiter's reaction
/// is a function of the phase at which readiness comes; plain uniform draws leave the median of
/// 30 trials uncertain by about a tenth of the period (±90 ms for a 1 s loop), more than the
/// differences the network rows compare, while one draw per slice samples every phase evenly.
pub fn pauses(n: usize, jitter: Duration, rng: &mut Rng) -> Vec<Duration> {
    let mut v: Vec<Duration> = (0..n)
        .map(|i| jitter.mul_f64((i as f64 + rng.unit()) / n.max(1) as f64))
        .collect();
    for i in (1..v.len()).rev() {
        let j = ((rng.unit() * (i + 1) as f64) as usize).min(i);
        v.swap(i, j);
    }
    v
}

/// Requests per minute while waiting for something that is not there, and the peak RSS.
#[derive(Clone, Debug, Default)]
pub struct Idle {
    /// All requests per minute (discovery included) after the waiter was waiting.
    pub all_per_min: f64,
    /// Requests for the awaited resource per minute.
    pub object_per_min: f64,
    /// Requests before it was certainly waiting (start-up, discovery).
    pub startup_requests: usize,
    /// Peak RSS in bytes over the whole run (waiting, then the object appears, exit).
    pub rss: Option<u64>,
    pub rss_method: &'static str,
    pub error: Option<String>,
}

/// Runs one waiter against its own servers for `window` after it started waiting, then makes
/// the object ready and reads its peak RSS.
pub fn idle(dir: &Path, tools: &Tools, c: Contender, window: Duration) -> Idle {
    let env = Env::new(dir);
    let name = format!("absent-{}", c.short());
    let stderr = env.dir.join(format!("{}.stderr", c.short()));
    let rss_file = env.dir.join(format!("{}.rss", c.short()));
    let home = env.home(&c.short());
    if c.scenario.is_kube() {
        c.scenario.prepare(&env.api, &name);
        env.api.reset_counters();
    }
    let timeout = window.as_secs() + LIMIT.as_secs() * 3;
    let time = tools.time.as_deref().map(|t| (t, rss_file.as_path()));
    let cmd = c
        .cmdline(tools, &env.target(), &name, timeout, &home)
        .command(time, Some(&stderr));
    let mut out = Idle {
        rss_method: if time.is_some() {
            "GNU time %M (wait4 ru_maxrss)"
        } else {
            "sampled VmHWM every 20 ms"
        },
        ..Idle::default()
    };
    let h0 = env.net_hits(c.scenario).unwrap_or(0);
    let sys0 = SystemTime::now();
    let t_spawn = Instant::now();
    let mut w = match Waiter::spawn(cmd) {
        Ok(w) => w,
        Err(e) => {
            out.error = Some(format!("cannot start: {e}"));
            return out;
        }
    };
    if let Err(e) = until_waiting(&env, c, &mut w, sys0, t_spawn, h0, &stderr) {
        out.error = Some(e);
        return out;
    }
    let t_wait = Instant::now();
    let n0 = if c.scenario.is_kube() {
        env.api.requests().len()
    } else {
        env.net_hits(c.scenario).unwrap_or(0)
    };
    out.startup_requests = n0;
    let mut hwm = 0u64;
    while t_wait.elapsed() < window {
        if time.is_none() {
            hwm = hwm.max(vm_hwm(w.pid).unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(20).min(window));
    }
    let secs = t_wait.elapsed().as_secs_f64();
    if c.scenario.is_kube() {
        let recs = env.api.requests();
        let later = &recs[n0.min(recs.len())..];
        let plural = c.scenario.plural();
        out.all_per_min = later.len() as f64 * 60.0 / secs;
        out.object_per_min =
            later.iter().filter(|r| r.resource == plural).count() as f64 * 60.0 / secs;
    } else if let Some(hits) = env.net_hits(c.scenario) {
        let n = hits.saturating_sub(n0);
        out.all_per_min = n as f64 * 60.0 / secs;
        out.object_per_min = out.all_per_min;
    } else {
        out.all_per_min = f64::NAN;
        out.object_per_min = f64::NAN;
    }
    make_ready(&env, c, &name);
    match w.wait(LIMIT) {
        Some((Some(st), _)) if st.success() => {}
        Some((st, _)) => out.error = Some(exit_error(st, &stderr)),
        None => out.error = Some("did not exit after the object was ready".to_string()),
    }
    out.rss = if time.is_some() {
        std::fs::read_to_string(&rss_file)
            .ok()
            .and_then(|t| t.lines().last().and_then(|l| l.trim().parse::<u64>().ok()))
            .map(|kib| kib * 1024)
    } else {
        (hwm > 0).then_some(hwm)
    };
    out
}

/// N kwait processes waiting on one server.
#[derive(Clone, Debug, Default)]
pub struct Scale {
    pub n: usize,
    pub exit_ok: usize,
    /// Spawn of the first → every one has its watch open.
    pub start_all: Duration,
    /// Requests per second at the server over the window after all were waiting.
    pub rps: f64,
    pub window: Duration,
    /// Ready → the last one has exited.
    pub last_ms: f64,
    pub median_ms: f64,
    /// Mean RSS and PSS per process while waiting.
    pub rss_each: Option<f64>,
    pub pss_each: Option<f64>,
    pub error: Option<String>,
}

pub fn scale(dir: &Path, tools: &Tools, n: usize, window: Duration) -> Scale {
    let env = Arc::new(Env::new(dir));
    let name = "scale-target";
    let c = Contender::ALL[0];
    let home = env.home("scale");
    let mut out = Scale {
        n,
        window,
        ..Scale::default()
    };
    let timeout = window.as_secs() + 300;
    let line = c.cmdline(tools, &env.target(), name, timeout, &home);
    let t_spawn = Instant::now();
    let mut waiters = Vec::with_capacity(n);
    for i in 0..n {
        match Waiter::spawn(line.command(None, None)) {
            Ok(w) => waiters.push(w),
            Err(e) => {
                out.error = Some(format!("spawning process {i} failed: {e}"));
                return out;
            }
        }
    }
    let deadline = t_spawn + Duration::from_secs(60) + Duration::from_millis(200 * n as u64);
    loop {
        let watching = env.api.count_for("watch", "secrets");
        if watching >= n && env.api.open_watches() >= n {
            break;
        }
        let exited = waiters
            .iter_mut()
            .map(|w| w.exited())
            .filter(|x| *x)
            .count();
        if exited > 0 || Instant::now() > deadline {
            out.error = Some(format!(
                "only {watching} of {n} watches opened ({exited} processes exited early)"
            ));
            return out;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    out.start_all = t_spawn.elapsed();
    let (mut rss, mut pss, mut k) = (0u64, 0u64, 0u64);
    for w in &waiters {
        if let (Some(r), Some(p)) = rss_pss(w.pid) {
            rss += r;
            pss += p;
            k += 1;
        }
    }
    if k > 0 {
        out.rss_each = Some(rss as f64 / k as f64);
        out.pss_each = Some(pss as f64 / k as f64);
    }
    let r0 = env.api.requests().len();
    let t_w = Instant::now();
    std::thread::sleep(window);
    let r1 = env.api.requests().len();
    out.rps = (r1 - r0) as f64 / t_w.elapsed().as_secs_f64();
    let t0 = Instant::now();
    Scenario::Secret.make_ready(&env.api, name);
    let mut times = Vec::with_capacity(n);
    let limit = Duration::from_secs(60);
    for w in &mut waiters {
        let left = limit.saturating_sub(t0.elapsed());
        if let Some((Some(st), at)) = w.wait(left.max(Duration::from_millis(1)))
            && st.success()
        {
            out.exit_ok += 1;
            times.push(at.duration_since(t0).as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    out.last_ms = times.last().copied().unwrap_or(f64::NAN);
    out.median_ms = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    out
}

/// Whether `n` more kwait processes fit in memory (twice their measured RSS, plus 2 GiB).
pub fn fits(n: usize, rss_each: Option<f64>) -> Result<(), String> {
    let each = rss_each.unwrap_or(16.0 * 1024.0 * 1024.0);
    let need = n as f64 * each * 2.0 + 2.0 * 1024.0 * 1024.0 * 1024.0;
    match mem_available() {
        Some(avail) if (avail as f64) >= need => Ok(()),
        Some(avail) => Err(format!(
            "{n} processes need about {:.1} GiB, {:.1} GiB available",
            need / 1073741824.0,
            avail as f64 / 1073741824.0
        )),
        None => Err("MemAvailable unknown".to_string()),
    }
}
