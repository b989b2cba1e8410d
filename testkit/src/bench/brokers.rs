//! NATS, MariaDB, RabbitMQ (issue #25): `kwait wait-nats`, `wait-mysql`, `wait-rabbitmq`
//! against the shell loops they replace, on real Debian servers started after the waiters.
//!
//! One trial: the server is down; both waiters start (as init containers start beside the
//! server's pod); after a random 3–4 s the server starts; the bench notes **the server's own
//! readiness** from its own log line, polled every 5 ms (nats-server "Server is ready", mariadbd
//! "ready for connections", RabbitMQ "Server startup complete"). Measured per waiter: its exit 0
//! relative to that instant, and its requests per minute while the server was not ready.
//!
//! Requests are counted by a counting TCP relay in front of the server, one per waiter (its own
//! port): every connection the waiter opens is counted, then relayed to the server or, while
//! the server is down, closed at once (the waiter sees an end of stream instead of a refused
//! connection). `rabbitmq-diagnostics check_port_connectivity` does not connect to the address
//! it is given but asks the node over Erlang distribution, so its loop counts its own attempts
//! (one line per try into a file).
//!
//! The servers run as in tests/common/{nats,mysql,rabbitmq}.rs: free loopback ports, a scratch
//! directory, `--user=mysql` for mariadbd as root, RabbitMQ with its own epmd and
//! `/usr/lib/rabbitmq/bin/*`.

use super::contenders::Tools;
use super::util::{Cmdline, Rng, Waiter, fmt_ms, fmt_num, fmt_ratio, fmt_signed_ms, tail};
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a waiter may run.
const LIMIT: Duration = Duration::from_secs(120);
/// The server starts `DOWN` plus a random part in `[0, DOWN_JITTER)` after the waiters.
const DOWN: Duration = Duration::from_secs(3);
const DOWN_JITTER: Duration = Duration::from_secs(1);
/// The readiness poll's period.
const POLL: Duration = Duration::from_millis(5);
const PASSWORD: &str = "bench-s3cret";
const MARIADBD: &str = "/usr/sbin/mariadbd";
const RABBIT_BIN: &str = "/usr/lib/rabbitmq/bin";

/// The three servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Nats,
    Maria,
    Rabbit,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Nats, Kind::Maria, Kind::Rabbit];

    fn name(self) -> &'static str {
        match self {
            Kind::Nats => "NATS",
            Kind::Maria => "MariaDB",
            Kind::Rabbit => "RabbitMQ",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Kind::Nats => "nats",
            Kind::Maria => "mariadb",
            Kind::Rabbit => "rabbitmq",
        }
    }

    fn kwait_label(self) -> &'static str {
        match self {
            Kind::Nats => "kwait wait-nats",
            Kind::Maria => "kwait wait-mysql",
            Kind::Rabbit => "kwait wait-rabbitmq",
        }
    }

    fn loop_label(self) -> &'static str {
        match self {
            Kind::Nats => "bash CONNECT+PING loop (sleep 1)",
            Kind::Maria => "mariadb-admin ping loop (sleep 1)",
            Kind::Rabbit => "rabbitmq-diagnostics check_port_connectivity loop (sleep 1)",
        }
    }

    fn ready_line(self) -> &'static str {
        match self {
            Kind::Nats => "Server is ready",
            Kind::Maria => "ready for connections",
            Kind::Rabbit => "Server startup complete",
        }
    }
}

// ----- a counting relay ---------------------------------------------------------------------

/// A loopback TCP relay that counts the connections it accepts and forwards them to the
/// server's port (or closes them at once while nothing listens there).
struct Relay {
    port: u16,
    hits: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    fn start(backend: u16) -> Result<Relay, String> {
        let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("relay bind: {e}"))?;
        let port = l.local_addr().map_err(|e| e.to_string())?.port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        let to: SocketAddr = ([127, 0, 0, 1], backend).into();
        std::thread::Builder::new()
            .name(format!("relay-{port}"))
            .spawn(move || {
                for conn in l.incoming() {
                    if s.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(client) = conn else { continue };
                    if let Ok(mut v) = h.lock() {
                        v.push(Instant::now());
                    }
                    let Ok(server) = TcpStream::connect_timeout(&to, Duration::from_secs(1)) else {
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    pipe(&client, &server);
                    pipe(&server, &client);
                }
            })
            .map_err(|e| format!("relay thread: {e}"))?;
        Ok(Relay { port, hits, stop })
    }

    fn clear(&self) {
        if let Ok(mut v) = self.hits.lock() {
            v.clear();
        }
    }

    /// Connections accepted in `[from, to)`.
    fn count(&self, from: Instant, to: Instant) -> usize {
        self.hits
            .lock()
            .map(|v| v.iter().filter(|&&t| t >= from && t < to).count())
            .unwrap_or(0)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies `from` to `to` on a thread of its own, then shuts `to`'s write side.
fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut a), Ok(mut b)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let _ = std::io::copy(&mut a, &mut b);
            let _ = b.shutdown(std::net::Shutdown::Write);
        });
}

// ----- the servers --------------------------------------------------------------------------

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn exec(c: &mut Command, what: &str) -> Result<String, String> {
    let out = c.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn free_port() -> u16 {
    testkit::netserve::free_port()
}

/// One server of a kind in a scratch directory, started and stopped per trial.
struct Server {
    kind: Kind,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    /// RabbitMQ: its epmd (kept across trials), node name and environment.
    epmd: Option<Child>,
    node: String,
    env: Vec<(String, String)>,
    root: bool,
}

impl Server {
    fn log_path(&self) -> PathBuf {
        self.dir.join(match self.kind {
            Kind::Nats => "nats.log",
            Kind::Maria => "err.log",
            Kind::Rabbit => "rabbit.log",
        })
    }

    fn log_tail(&self) -> String {
        tail(&self.log_path(), 3)
    }

    /// The scratch directory, the data directory, the user `app` (password `PASSWORD`).
    fn prepare(kind: Kind, dir: &Path) -> Result<Server, String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut s = Server {
            kind,
            dir: dir.to_path_buf(),
            port: free_port(),
            child: None,
            epmd: None,
            node: String::new(),
            env: Vec::new(),
            root: is_root(),
        };
        match kind {
            Kind::Nats => {
                std::fs::write(
                    dir.join("nats-server.conf"),
                    format!(
                        "listen: 127.0.0.1:{}\nauthorization {{ users = [ {{ user: app, password: {PASSWORD} }} ] }}\n",
                        s.port
                    ),
                )
                .map_err(|e| e.to_string())?;
            }
            Kind::Maria => {
                let tmp = dir.join("tmp");
                std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
                if s.root {
                    exec(
                        Command::new("chown").args(["-R", "mysql:mysql"]).arg(dir),
                        "chown mysql",
                    )?;
                }
                let mut c = Command::new("mariadb-install-db");
                c.env("TMPDIR", &tmp)
                    .arg("--no-defaults")
                    .arg(format!("--tmpdir={}", tmp.display()))
                    .arg(format!("--datadir={}", dir.join("data").display()))
                    .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
                if s.root {
                    c.arg("--user=mysql");
                }
                exec(&mut c, "mariadb-install-db")?;
                s.start()?;
                s.ready_at(Instant::now())?;
                exec(
                    Command::new("mariadb")
                        .arg("--no-defaults")
                        .arg(format!("--socket={}", dir.join("sock").display()))
                        .args(["-uroot", "-e"])
                        .arg(format!(
                            "CREATE USER 'app'@'%' IDENTIFIED BY '{PASSWORD}'; CREATE DATABASE shop; GRANT ALL ON shop.* TO 'app'@'%';"
                        )),
                    "mariadb CREATE USER",
                )?;
                s.stop();
            }
            Kind::Rabbit => {
                let d = |p: &str| dir.join(p).to_string_lossy().into_owned();
                std::fs::write(
                    dir.join("rabbitmq.conf"),
                    format!(
                        "listeners.tcp.default = 127.0.0.1:{}\ndefault_user = app\ndefault_pass = {PASSWORD}\nloopback_users = none\n",
                        s.port
                    ),
                )
                .map_err(|e| e.to_string())?;
                std::fs::write(dir.join("enabled_plugins"), "[].\n").map_err(|e| e.to_string())?;
                s.node = format!("kwait-bench-{}@localhost", free_port());
                let dist = "-kernel inet_dist_use_interface {127,0,0,1}";
                s.env = [
                    ("HOME", d("")),
                    ("ERL_EPMD_PORT", free_port().to_string()),
                    ("ERL_EPMD_ADDRESS", "127.0.0.1".into()),
                    ("RABBITMQ_NODENAME", s.node.clone()),
                    ("RABBITMQ_DIST_PORT", free_port().to_string()),
                    ("RABBITMQ_CONFIG_FILE", d("rabbitmq")),
                    ("RABBITMQ_MNESIA_BASE", d("mnesia")),
                    ("RABBITMQ_LOG_BASE", d("log")),
                    ("RABBITMQ_LOGS", d("rabbit.log")),
                    ("RABBITMQ_ENABLED_PLUGINS_FILE", d("enabled_plugins")),
                    ("RABBITMQ_PLUGINS_EXPAND_DIR", d("plugins-expand")),
                    ("RABBITMQ_PID_FILE", d("rabbit.pid")),
                    ("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", dist.into()),
                    ("RABBITMQ_CTL_ERL_ARGS", dist.into()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                s.epmd = Some(
                    Command::new("epmd")
                        .envs(s.env.iter().map(|(k, v)| (k, v)))
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .map_err(|e| format!("epmd: {e}"))?,
                );
            }
        }
        Ok(s)
    }

    /// Starts the server with a fresh log; returns at once.
    fn start(&mut self) -> Result<(), String> {
        let _ = std::fs::remove_file(self.log_path());
        let d = &self.dir;
        let mut c = match self.kind {
            Kind::Nats => {
                let mut c = Command::new("nats-server");
                c.arg("-c")
                    .arg(d.join("nats-server.conf"))
                    .arg("-l")
                    .arg(self.log_path());
                c
            }
            Kind::Maria => {
                let mut c = Command::new(MARIADBD);
                c.arg("--no-defaults");
                if self.root {
                    c.arg("--user=mysql");
                }
                c.arg(format!("--datadir={}", d.join("data").display()))
                    .arg(format!("--socket={}", d.join("sock").display()))
                    .arg(format!("--pid-file={}", d.join("pid").display()))
                    .arg(format!("--log-error={}", self.log_path().display()))
                    .arg(format!("--tmpdir={}", d.join("tmp").display()))
                    .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
                    .arg(format!("--port={}", self.port));
                c
            }
            Kind::Rabbit => {
                let mut c = Command::new(Path::new(RABBIT_BIN).join("rabbitmq-server"));
                c.envs(self.env.iter().map(|(k, v)| (k, v)));
                c
            }
        };
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(
            c.spawn()
                .map_err(|e| format!("start {}: {e}", self.kind.name()))?,
        );
        Ok(())
    }

    /// When the server's own log said it is ready, polled every `POLL`.
    fn ready_at(&self, since: Instant) -> Result<Instant, String> {
        loop {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            if log.contains(self.kind.ready_line()) {
                return Ok(Instant::now());
            }
            if since.elapsed() > LIMIT {
                return Err(format!(
                    "{} did not start: {}",
                    self.kind.name(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    fn stop(&mut self) {
        if self.kind == Kind::Rabbit
            && let Ok(pid) = std::fs::read_to_string(self.dir.join("rabbit.pid"))
        {
            let _ = Command::new("kill")
                .args(["-KILL", pid.trim()])
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::remove_file(self.dir.join("rabbit.pid"));
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // until the port is free again (the next trial starts with nothing listening)
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && t.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn version(&self) -> String {
        let (prog, args): (PathBuf, &[&str]) = match self.kind {
            Kind::Nats => ("nats-server".into(), &["--version"]),
            Kind::Maria => (MARIADBD.into(), &["--version"]),
            Kind::Rabbit => {
                return std::fs::read_dir("/usr/lib/rabbitmq/lib")
                    .ok()
                    .and_then(|mut r| r.next())
                    .and_then(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .unwrap_or_else(|| "rabbitmq-server ?".into());
            }
        };
        let line = super::util::first_line(&prog, args).unwrap_or_else(|| "?".into());
        // "/usr/sbin/mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu ...": the version
        match line.split_once(" Ver ") {
            Some((_, v)) => format!("mariadbd {}", v.split_whitespace().next().unwrap_or("?")),
            None => line,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if let Some(mut e) = self.epmd.take() {
            let _ = e.kill();
            let _ = e.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ----- the waiters --------------------------------------------------------------------------

/// kwait's command line against `port`.
fn kwait_cmd(kind: Kind, tools: &Tools, port: u16, pw: &Path) -> Cmdline {
    let addr = format!("127.0.0.1:{port}");
    let pw = pw.to_string_lossy().into_owned();
    let c = Cmdline::new(&tools.kwait)
        .arg("--timeout")
        .arg(format!("{}s", LIMIT.as_secs()));
    match kind {
        Kind::Nats => c.args(["wait-nats", &addr, "--user", "app", "--password-file", &pw]),
        Kind::Maria => c.args([
            "wait-mysql",
            &addr,
            "--user",
            "app",
            "--password-file",
            &pw,
            "--database",
            "shop",
        ]),
        Kind::Rabbit => c.args([
            "wait-rabbitmq",
            &format!("amqp://app@{addr}"),
            "--password-file",
            &pw,
        ]),
    }
}

/// The loop's command line against `port` (RabbitMQ: against the node; `count` gets a line
/// per try).
fn loop_cmd(
    kind: Kind,
    bash: &Path,
    server: &Server,
    port: u16,
    pw: &Path,
    count: &Path,
) -> Cmdline {
    let pw = pw.to_string_lossy().into_owned();
    match kind {
        Kind::Nats => Cmdline::new(bash).args([
            "-c",
            "until ( exec 3<>/dev/tcp/127.0.0.1/\"$1\" && \
             printf 'CONNECT {\"verbose\":false,\"user\":\"app\",\"pass\":\"%s\"}\\r\\nPING\\r\\n' \"$(cat \"$2\")\" >&3 && \
             timeout 2 grep -q -m1 '^PONG' <&3 ) 2>/dev/null; do sleep 1; done",
            "wait-for-nats",
            &port.to_string(),
            &pw,
        ]),
        Kind::Maria => Cmdline::new(bash).args([
            "-c",
            "until mariadb-admin --host 127.0.0.1 --port \"$1\" ping; do sleep 1; done",
            "wait-for-mariadb",
            &port.to_string(),
        ]),
        Kind::Rabbit => {
            let mut c = Cmdline::new(bash).args([
                "-c",
                "until echo >>\"$2\"; /usr/lib/rabbitmq/bin/rabbitmq-diagnostics -q -n \"$1\" check_port_connectivity; do sleep 1; done",
                "wait-for-rabbitmq",
                &server.node,
                &count.to_string_lossy(),
            ]);
            for (k, v) in &server.env {
                if k == "HOME" || k.starts_with("ERL_") || k == "RABBITMQ_CTL_ERL_ARGS" {
                    c = c.env(k, v.clone());
                }
            }
            c
        }
    }
}

/// One trial's figures, per waiter (kwait, the loop): exit − ready (ms, negative: before),
/// requests per minute while the server was not ready.
#[derive(Clone, Copy, Debug)]
pub struct Trial {
    pub exit_ms: [f64; 2],
    pub rpm: [f64; 2],
    /// Server start → its readiness line.
    pub boot_ms: f64,
}

#[allow(clippy::too_many_arguments)]
fn trial(
    s: &mut Server,
    relays: &[Relay; 2],
    tools: &Tools,
    bash: &Path,
    pw: &Path,
    dir: &Path,
    tag: &str,
    rng: &mut Rng,
) -> Result<Trial, String> {
    s.stop();
    for r in relays {
        r.clear();
    }
    let count = dir.join(format!("{}-{tag}.tries", s.kind.short()));
    let _ = std::fs::remove_file(&count);
    let cmds = [
        kwait_cmd(s.kind, tools, relays[0].port, pw),
        loop_cmd(s.kind, bash, s, relays[1].port, pw, &count),
    ];
    let t_spawn = Instant::now();
    let mut waiters = Vec::new();
    for (i, c) in cmds.iter().enumerate() {
        let stderr = dir.join(format!("{}-{tag}-{i}.stderr", s.kind.short()));
        let w = Waiter::spawn(c.command(None, Some(&stderr)))
            .map_err(|e| format!("cannot start {}: {e}", c.display()))?;
        waiters.push((w, stderr));
    }
    std::thread::sleep(DOWN + rng.duration(DOWN_JITTER));
    let t_start = Instant::now();
    s.start()?;
    let t_ready = s.ready_at(t_start)?;
    // the RabbitMQ loop's tries begun before the server was ready
    let rabbit_tries = std::fs::read_to_string(&count)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let mut exit_ms = [f64::NAN; 2];
    for (i, (w, stderr)) in waiters.iter_mut().enumerate() {
        match w.wait(LIMIT) {
            Some((Some(st), at)) if st.success() => {
                exit_ms[i] = if at >= t_ready {
                    at.duration_since(t_ready).as_secs_f64() * 1e3
                } else {
                    -(t_ready.duration_since(at).as_secs_f64() * 1e3)
                };
            }
            Some((st, _)) => {
                return Err(format!(
                    "{} exit {:?}: {}",
                    cmds[i].display(),
                    st.and_then(|s| s.code()),
                    tail(stderr, 3)
                ));
            }
            None => return Err(format!("{} still waiting", cmds[i].display())),
        }
    }
    let minutes = t_ready.duration_since(t_spawn).as_secs_f64() / 60.0;
    let loop_tries = if s.kind == Kind::Rabbit {
        rabbit_tries
    } else {
        relays[1].count(t_spawn, t_ready)
    };
    Ok(Trial {
        exit_ms,
        rpm: [
            relays[0].count(t_spawn, t_ready) as f64 / minutes,
            loop_tries as f64 / minutes,
        ],
        boot_ms: t_ready.duration_since(t_start).as_secs_f64() * 1e3,
    })
}

/// One server's rows.
#[derive(Clone, Debug)]
pub struct Rows {
    pub kind: Kind,
    pub trials: Vec<Trial>,
    pub failures: Vec<String>,
    pub skipped: Option<String>,
    pub version: String,
    pub commands: [String; 2],
}

/// The whole section.
#[derive(Clone, Debug)]
pub struct Brokers {
    pub rows: Vec<Rows>,
}

fn missing(kind: Kind) -> Option<&'static str> {
    let has = |p: &str| Path::new(p).is_file() || super::util::which(p).is_some();
    match kind {
        Kind::Nats => (!has("nats-server"))
            .then_some("nats-server not installed (apt-get install nats-server)"),
        Kind::Maria => (!(has(MARIADBD)
            && has("mariadb-install-db")
            && has("mariadb-admin")
            && has("mariadb")))
        .then_some("mariadb-server not installed (apt-get install mariadb-server)"),
        Kind::Rabbit => (!(has("/usr/lib/rabbitmq/bin/rabbitmq-server") && has("epmd")))
            .then_some("rabbitmq-server not installed (apt-get install rabbitmq-server)"),
    }
}

fn run_kind(
    kind: Kind,
    dir: &Path,
    tools: &Tools,
    n: usize,
    rng: &mut Rng,
    say: &dyn Fn(&str),
) -> Rows {
    let mut rows = Rows {
        kind,
        trials: Vec::new(),
        failures: Vec::new(),
        skipped: None,
        version: String::new(),
        commands: [String::new(), String::new()],
    };
    let skip = |rows: &mut Rows, why: String| {
        say(&format!("SKIPPED: {}: {why}", kind.name()));
        rows.skipped = Some(why);
    };
    if let Some(why) = missing(kind) {
        skip(&mut rows, why.to_string());
        return rows;
    }
    let Some(bash) = tools.bash.clone() else {
        skip(&mut rows, "bash not found (the loop needs it)".into());
        return rows;
    };
    let sdir = dir.join(kind.short());
    say(&format!("{}: preparing the server", kind.name()));
    let mut s = match Server::prepare(kind, &sdir) {
        Ok(s) => s,
        Err(e) => {
            skip(&mut rows, e);
            return rows;
        }
    };
    rows.version = s.version();
    let pw = dir.join(format!("{}-password", kind.short()));
    if let Err(e) = std::fs::write(&pw, format!("{PASSWORD}\n")) {
        skip(&mut rows, format!("{}: {e}", pw.display()));
        return rows;
    }
    let relays = match (Relay::start(s.port), Relay::start(s.port)) {
        (Ok(a), Ok(b)) => [a, b],
        (Err(e), _) | (_, Err(e)) => {
            skip(&mut rows, e);
            return rows;
        }
    };
    let count = dir.join("COUNT");
    rows.commands = [
        kwait_cmd(kind, tools, relays[0].port, &pw).display(),
        loop_cmd(kind, &bash, &s, relays[1].port, &pw, &count).display(),
    ];
    say(&format!("{}: {n} server starts", kind.name()));
    for i in 0..n {
        match trial(&mut s, &relays, tools, &bash, &pw, dir, &i.to_string(), rng) {
            Ok(t) => rows.trials.push(t),
            Err(e) => {
                say(&format!("{} trial {i}: {e}", kind.name()));
                rows.failures.push(e);
            }
        }
    }
    s.stop();
    rows
}

/// The section: `n` server starts for NATS and MariaDB, `rabbit_n` for RabbitMQ (it boots in
/// seconds).
pub fn run(
    dir: &Path,
    tools: &Tools,
    n: usize,
    rabbit_n: usize,
    rng: &mut Rng,
    say: &dyn Fn(&str),
) -> Brokers {
    let _ = std::fs::create_dir_all(dir);
    let rows = Kind::ALL
        .iter()
        .map(|&k| {
            let n = if k == Kind::Rabbit { rabbit_n } else { n };
            run_kind(k, dir, tools, n, rng, say)
        })
        .collect();
    Brokers { rows }
}

impl Brokers {
    /// The Markdown section.
    pub fn markdown(&self, w: &mut String) {
        let _ = writeln!(
            w,
            "## 12. NATS, MariaDB, RabbitMQ: the new protocol waits vs the loops they replace\n"
        );
        let _ = writeln!(
            w,
            "Real Debian servers, each on a free loopback port in a scratch directory, started \
             {}–{} s (random) after both waiters (as init containers start beside the server's \
             pod). **Ready** is the server's own log line, polled every {} ms: nats-server \
             \"{}\", mariadbd \"{}\", RabbitMQ \"{}\". Per waiter: its exit 0 relative to that \
             instant (median and p90, nearest rank; negative: before the line was seen), and its \
             requests per minute while the server was not ready (median over the starts): the \
             connections a counting relay in front of the server accepted from that waiter (while \
             the server is down the relay closes them at once), except the \
             `rabbitmq-diagnostics` loop, which asks the node over Erlang distribution and not \
             the AMQP port: its own tries are counted. Each waiter logs in as user `app` where \
             it can (kwait: password from a file; the NATS loop sends CONNECT with it); \
             `mariadb-admin ping` as the loop is usually written, without a user (it counts an \
             access-denied answer as alive).\n",
            fmt_num(DOWN.as_secs_f64()),
            fmt_num((DOWN + DOWN_JITTER).as_secs_f64()),
            POLL.as_millis(),
            Kind::Nats.ready_line(),
            Kind::Maria.ready_line(),
            Kind::Rabbit.ready_line(),
        );
        let _ = writeln!(
            w,
            "| server | waiter | starts ok | exit − ready p50 | p90 | requests/min while waiting |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|");
        let med = |v: &[f64]| super::chain::median(v);
        for r in &self.rows {
            if let Some(why) = &r.skipped {
                let _ = writeln!(w, "| {} | | SKIPPED: {why} | | | |", r.kind.name());
                continue;
            }
            let total = r.trials.len() + r.failures.len();
            for (i, label) in [r.kind.kwait_label(), r.kind.loop_label()]
                .iter()
                .enumerate()
            {
                let col: Vec<f64> = r.trials.iter().map(|t| t.exit_ms[i]).collect();
                let rpm: Vec<f64> = r.trials.iter().map(|t| t.rpm[i]).collect();
                let _ = writeln!(
                    w,
                    "| {} ({}) | {label} | {}/{total} | {} | {} | {} |",
                    r.kind.name(),
                    r.version,
                    r.trials.len(),
                    fmt_signed_ms(med(&col)),
                    fmt_signed_ms(super::chain::percentile(&col, 0.9)),
                    med(&rpm).map_or("n/a".to_string(), fmt_num),
                );
            }
        }
        let _ = writeln!(w);
        for r in self.rows.iter().filter(|r| r.skipped.is_none()) {
            let col = |i: usize| -> Vec<f64> { r.trials.iter().map(|t| t.exit_ms[i]).collect() };
            let _ = writeln!(
                w,
                "- {}: {} server starts; start → ready median {}; kwait / loop exit after ready p50 {}.",
                r.kind.name(),
                r.trials.len() + r.failures.len(),
                med(&r.trials.iter().map(|t| t.boot_ms).collect::<Vec<_>>())
                    .map_or("n/a".to_string(), fmt_ms),
                fmt_ratio(med(&col(0)), med(&col(1))),
            );
            if let Some(e) = r.failures.first() {
                let _ = writeln!(w, "  {} of them failed (first: {e})", r.failures.len());
            }
        }
        let _ = writeln!(w, "\nCommands (relay ports of this run):\n");
        for r in self.rows.iter().filter(|r| r.skipped.is_none()) {
            let _ = writeln!(w, "- {}: `{}`", r.kind.kwait_label(), r.commands[0]);
            let _ = writeln!(w, "- {}: `{}`", r.kind.loop_label(), r.commands[1]);
        }
    }
}
