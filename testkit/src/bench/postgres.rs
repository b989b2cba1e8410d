//! A ready database, not an open port (issue #16): `kwait wait-postgres` against `pg_isready`
//! in a 1 s loop and against `kwait wait-tcp`, on a real PostgreSQL server in startup.
//!
//! The server in startup is a **standby held in recovery**: `standby.signal` and
//! `hot_standby=off`, so from its first instant it listens on its port and answers every
//! startup message with SQLSTATE 57P03 ("the database system is not accepting connections /
//! Hot standby mode is disabled"), until `pg_ctl promote` ends recovery. This is the state a
//! server is in while it starts up or replays WAL after a crash, but its length is chosen by
//! the bench (a random delay) instead of depending on how fast this machine replays a WAL
//! backlog or zeroes shared buffers, so every trial has a real startup window of known length.
//!
//! One trial: the server is stopped; the three waiters start (as init containers start while
//! the database pod starts); after a random pause the standby starts (`pg_ctl -W start`); the
//! bench's own probe notes when the port first accepts a TCP connection and, after a random
//! 1–3 s of recovery, `pg_ctl promote`; the probe (a startup message every 2 ms) notes the
//! first authentication request: the server **accepts sessions** from that instant. Measured:
//! accepting → exit for wait-postgres and the pg_isready loop, and how long before accepting
//! wait-tcp exited 0 ("ready") while the server still refused every session.
//!
//! The server runs as an unprivileged user (`nobody` through `runuser` when the bench runs as
//! root), on a free loopback port, in a temporary directory, as tests/common/pg.rs does.

use super::contenders::Tools;
use super::util::{
    Cmdline, Rng, Waiter, fmt_mib, fmt_ms, fmt_num, fmt_ratio, fmt_signed_ms, tail, which,
};
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a waiter may run.
const LIMIT: Duration = Duration::from_secs(40);
/// The probe's period.
const PROBE: Duration = Duration::from_millis(2);
/// Recovery lasts `HOLD` plus a random part in `[0, HOLD_JITTER)` after the port opened.
const HOLD: Duration = Duration::from_secs(1);
const HOLD_JITTER: Duration = Duration::from_secs(2);

/// Who waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    WaitPostgres,
    IsreadyLoop,
    WaitTcp,
}

impl Who {
    pub const ALL: [Who; 3] = [Who::WaitPostgres, Who::IsreadyLoop, Who::WaitTcp];

    pub fn label(self) -> &'static str {
        match self {
            Who::WaitPostgres => "kwait wait-postgres",
            Who::IsreadyLoop => "pg_isready loop (sleep 1)",
            Who::WaitTcp => "kwait wait-tcp",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Who::WaitPostgres => "pg",
            Who::IsreadyLoop => "isready",
            Who::WaitTcp => "tcp",
        }
    }
}

/// The directory with `initdb`, `pg_ctl`, `pg_isready`: `$KWAIT_PG_BIN`, else Debian's newest
/// `/usr/lib/postgresql/*/bin`, else beside `pg_ctl` on PATH.
pub fn bin_dir() -> Option<PathBuf> {
    let complete = |d: &Path| {
        ["initdb", "pg_ctl", "postgres", "pg_isready"]
            .iter()
            .all(|b| d.join(b).is_file())
    };
    if let Some(dir) = std::env::var_os("KWAIT_PG_BIN") {
        let dir = PathBuf::from(dir);
        return complete(&dir).then_some(dir);
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let v = e.file_name().to_str()?.parse::<u32>().ok()?;
                    Some((v, e.path().join("bin")))
                })
                .filter(|(_, d)| complete(d))
                .collect()
        })
        .unwrap_or_default();
    debian.sort();
    if let Some((_, d)) = debian.pop() {
        return Some(d);
    }
    which("pg_ctl")
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .filter(|d| complete(d))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// One PostgreSQL cluster in a temporary directory.
pub struct Pg {
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    pub port: u16,
    as_nobody: bool,
}

impl Pg {
    /// `initdb` (superuser `postgres`, trust: the waiters only need the startup exchange).
    pub fn init(bin: &Path) -> Result<Pg, String> {
        // short: the socket path must fit in 107 bytes
        let dir = std::env::temp_dir().join(format!("kwait-pgb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let pg = Pg {
            bin: bin.to_path_buf(),
            data: dir.join("data"),
            dir,
            port: testkit::netserve::free_port(),
            as_nobody: is_root(),
        };
        pg.own(&pg.dir)?;
        let out = pg
            .command("initdb")
            .arg("-D")
            .arg(&pg.data)
            .args(["-U", "postgres", "-N", "-A", "trust"])
            .output()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(pg)
    }

    fn own(&self, path: &Path) -> Result<(), String> {
        if self.as_nobody {
            let st = Command::new("chown")
                .arg("nobody")
                .arg(path)
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !st.success() {
                return Err(format!("chown nobody {} failed", path.display()));
            }
        }
        Ok(())
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        let mut c = if self.as_nobody {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        c.current_dir(&self.dir)
            .env_remove("PGPASSWORD")
            .env_remove("PGHOST")
            .env_remove("PGPORT")
            .stdin(Stdio::null());
        c
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Starts the cluster as a standby that refuses sessions (57P03) until promoted, without
    /// waiting.
    pub fn start_standby(&self) -> Result<(), String> {
        let signal = self.data.join("standby.signal");
        std::fs::write(&signal, "").map_err(|e| format!("standby.signal: {e}"))?;
        self.own(&signal)?;
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c hot_standby=off -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").to_string_lossy().into_owned();
        self.pg_ctl(&["-o", &opts, "-l", &log, "-W", "start"])
    }

    /// Ends recovery, without waiting.
    pub fn promote(&self) -> Result<(), String> {
        self.pg_ctl(&["-W", "promote"])
    }

    /// Stops the server (fast) and waits for it.
    pub fn stop(&self) -> Result<(), String> {
        if self.data.join("postmaster.pid").exists() {
            self.pg_ctl(&["-m", "fast", "-w", "-t", "60", "stop"])
        } else {
            Ok(())
        }
    }

    pub fn log_tail(&self) -> String {
        tail(&self.dir.join("log"), 3)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let _ = self.pg_ctl(&["-m", "immediate", "-w", "-t", "30", "stop"]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the server answers to a startup message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Nothing listens.
    Refused,
    /// An authentication request: the server accepts sessions.
    Accepting,
    /// An error (57P03 while starting up or in recovery) or anything else.
    Rejecting,
}

/// A protocol 3.0 StartupMessage for user `postgres`, database `postgres`.
pub fn startup_message() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608u32.to_be_bytes());
    for s in ["user", "postgres", "database", "postgres"] {
        body.extend_from_slice(s.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut m = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    m.extend(body);
    m
}

/// The first message type byte of the server's answer, judged: `R` (authentication
/// request) is a server accepting sessions, the way pg_isready judges it.
pub fn judge(first: Option<u8>) -> Answer {
    match first {
        Some(b'R') => Answer::Accepting,
        _ => Answer::Rejecting,
    }
}

/// One probe: connect, send a startup message, read the first byte.
pub fn probe(addr: SocketAddr) -> Answer {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return Answer::Refused;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = s.set_nodelay(true);
    if s.write_all(&startup_message()).is_err() {
        return Answer::Rejecting;
    }
    let mut b = [0u8; 1];
    judge(s.read_exact(&mut b).ok().map(|()| b[0]))
}

/// The waiter's command line.
pub fn cmdline(who: Who, tools: &Tools, bin: &Path, port: u16, bash: &Path) -> Cmdline {
    let addr = format!("127.0.0.1:{port}");
    match who {
        Who::WaitPostgres => Cmdline::new(&tools.kwait)
            .args(["--timeout"])
            .arg(format!("{}s", LIMIT.as_secs()))
            .args(["wait-postgres", &addr]),
        Who::WaitTcp => Cmdline::new(&tools.kwait)
            .args(["--timeout"])
            .arg(format!("{}s", LIMIT.as_secs()))
            .args(["wait-tcp", &addr]),
        Who::IsreadyLoop => Cmdline::new(bash)
            .args([
                "-c",
                "until pg_isready -h 127.0.0.1 -p \"$1\" -q; do sleep 1; done",
                "wait-for-postgres",
                &port.to_string(),
            ])
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            ),
    }
}

/// One trial's figures.
#[derive(Clone, Copy, Debug)]
pub struct Trial {
    /// The standby's start → its port accepts TCP connections.
    pub port_open_ms: f64,
    /// Port open → accepting sessions (the recovery the bench held, plus the promotion).
    pub startup_ms: f64,
    /// Per waiter (in `Who::ALL` order): its exit 0 relative to the server accepting
    /// sessions (negative: before), and its peak RSS.
    pub exits: [(f64, Option<u64>); 3],
    /// Per waiter: it exited 0 before the bench's probe last received a rejection (57P03),
    /// so certainly while the server still refused sessions.
    pub early: [bool; 3],
}

fn read_rss(file: &Path) -> Option<u64> {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse::<u64>().ok()))
        .map(|kib| kib * 1024)
}

/// One trial (see the module documentation).
fn trial(
    pg: &Pg,
    tools: &Tools,
    bin: &Path,
    bash: &Path,
    dir: &Path,
    tag: &str,
    rng: &mut Rng,
) -> Result<Trial, String> {
    pg.stop()?;
    let addr: SocketAddr = ([127, 0, 0, 1], pg.port).into();
    if probe(addr) != Answer::Refused {
        return Err("something still listens on the port after the stop".to_string());
    }
    let mut waiters = Vec::new();
    for who in Who::ALL {
        let stderr = dir.join(format!("{tag}-{}.stderr", who.short()));
        let rss = dir.join(format!("{tag}-{}.rss", who.short()));
        let time = tools.time.as_deref().map(|t| (t, rss.as_path()));
        let w = Waiter::spawn(cmdline(who, tools, bin, pg.port, bash).command(time, Some(&stderr)))
            .map_err(|e| format!("{}: cannot start: {e}", who.label()))?;
        waiters.push((who, w, stderr, rss));
    }
    // the waiters are running (and failing to connect) when the database starts
    std::thread::sleep(Duration::from_millis(300) + rng.duration(Duration::from_millis(700)));
    let t_start = Instant::now();
    pg.start_standby()?;
    let t_open = loop {
        let t = Instant::now();
        if probe(addr) != Answer::Refused {
            break t;
        }
        if t_start.elapsed() > LIMIT {
            return Err(format!("the port did not open: {}", pg.log_tail()));
        }
        std::thread::sleep(PROBE);
    };
    if probe(addr) == Answer::Accepting {
        return Err("the standby accepted a session before it was promoted".to_string());
    }
    std::thread::sleep(HOLD + rng.duration(HOLD_JITTER));
    pg.promote()?;
    let mut t_rejected = Instant::now();
    let t_accept = loop {
        let t = Instant::now();
        match probe(addr) {
            Answer::Accepting => break t,
            Answer::Rejecting => t_rejected = Instant::now(),
            Answer::Refused => {}
        }
        if t_open.elapsed() > LIMIT {
            return Err(format!("not accepting after promote: {}", pg.log_tail()));
        }
        std::thread::sleep(PROBE);
    };
    let mut exits = [(f64::NAN, None); 3];
    let mut early = [false; 3];
    for (i, (who, mut w, stderr, rss)) in waiters.into_iter().enumerate() {
        match w.wait(LIMIT) {
            Some((Some(st), at)) if st.success() => {
                let rel = if at >= t_accept {
                    at.duration_since(t_accept).as_secs_f64() * 1e3
                } else {
                    -(t_accept.duration_since(at).as_secs_f64() * 1e3)
                };
                exits[i] = (rel, read_rss(&rss));
                early[i] = at < t_rejected;
            }
            Some((st, _)) => {
                return Err(format!(
                    "{} exit {}: {}",
                    who.label(),
                    st.and_then(|s| s.code())
                        .map_or("?".to_string(), |c| c.to_string()),
                    tail(&stderr, 3)
                ));
            }
            None => {
                return Err(format!(
                    "{} still waiting: {}",
                    who.label(),
                    tail(&stderr, 3)
                ));
            }
        }
    }
    Ok(Trial {
        port_open_ms: t_open.duration_since(t_start).as_secs_f64() * 1e3,
        startup_ms: t_accept.duration_since(t_open).as_secs_f64() * 1e3,
        exits,
        early,
    })
}

/// Everything the section reports.
#[derive(Clone, Debug)]
pub struct Postgres {
    pub trials: Vec<Trial>,
    pub failures: Vec<String>,
    /// Why the section did not run.
    pub skipped: Option<String>,
    pub version: String,
    pub commands: Vec<(Who, String)>,
    pub rss_method: &'static str,
}

/// The whole section: one cluster, a warm-up trial (not counted), then `n` trials.
pub fn run(dir: &Path, tools: &Tools, n: usize, rng: &mut Rng, say: &dyn Fn(&str)) -> Postgres {
    let mut out = Postgres {
        trials: Vec::new(),
        failures: Vec::new(),
        skipped: None,
        version: String::new(),
        commands: Vec::new(),
        rss_method: if tools.time.is_some() {
            "GNU time %M (wait4 ru_maxrss)"
        } else {
            "not measured (GNU time not found)"
        },
    };
    let Some(bin) = bin_dir() else {
        let why = "postgres not installed (no initdb/pg_ctl/postgres/pg_isready in \
                   $KWAIT_PG_BIN, /usr/lib/postgresql/*/bin or on PATH; apt-get install postgresql)";
        say(&format!("SKIPPED: postgres section: {why}"));
        out.skipped = Some(why.to_string());
        return out;
    };
    let Some(bash) = tools.bash.clone() else {
        out.skipped = Some("bash not found (the pg_isready loop needs it)".to_string());
        return out;
    };
    out.version = super::util::first_line(&bin.join("postgres"), &["--version"])
        .unwrap_or_else(|| "?".to_string());
    let _ = std::fs::create_dir_all(dir);
    say(&format!("postgres: initdb ({})", bin.display()));
    let pg = match Pg::init(&bin) {
        Ok(pg) => pg,
        Err(e) => {
            say(&format!("SKIPPED: postgres section: {e}"));
            out.skipped = Some(e);
            return out;
        }
    };
    out.commands = Who::ALL
        .iter()
        .map(|&w| (w, cmdline(w, tools, &bin, pg.port, &bash).display()))
        .collect();
    if let Err(e) = trial(&pg, tools, &bin, &bash, dir, "warm", rng) {
        say(&format!("postgres: the warm-up failed: {e}"));
        out.skipped = Some(format!("the warm-up trial failed: {e}"));
        return out;
    }
    say(&format!(
        "postgres: {n} server starts (standby held 1-3 s, then promoted)"
    ));
    for i in 0..n {
        match trial(&pg, tools, &bin, &bash, dir, &i.to_string(), rng) {
            Ok(t) => out.trials.push(t),
            Err(e) => {
                say(&format!("postgres trial {i}: {e}"));
                out.failures.push(e);
            }
        }
    }
    let _ = pg.stop();
    out
}

impl Postgres {
    fn col(&self, i: usize) -> Vec<f64> {
        self.trials.iter().map(|t| t.exits[i].0).collect()
    }
    fn rss(&self, i: usize) -> Option<u64> {
        self.trials.iter().filter_map(|t| t.exits[i].1).max()
    }

    /// The Markdown section.
    pub fn markdown(&self, w: &mut String) {
        let _ = writeln!(
            w,
            "## 9. PostgreSQL in startup: wait-postgres vs a pg_isready loop vs wait-tcp\n"
        );
        if let Some(why) = &self.skipped {
            let _ = writeln!(w, "SKIPPED: {why}\n");
            return;
        }
        let _ = writeln!(
            w,
            "A real PostgreSQL ({}) started as a standby held in recovery (`standby.signal`, \
             `hot_standby=off`): from its first instant it listens and answers every session \
             with SQLSTATE 57P03, like a server starting up or replaying WAL; after {}–{} s \
             (random) `pg_ctl promote` ends recovery. The three waiters are started while the \
             server is down (as init containers start beside a database pod), all at once; the \
             bench's own probe (a startup message every {} ms) notes when the port opens and when \
             the server first answers with an authentication request: **accepting sessions**. \
             Per waiter: whether it exited 0 (said ready) while the server still refused sessions \
             (before the probe's last 57P03 answer), its exit relative to the accepting instant \
             (median and p90, nearest rank, over {} server starts; negative: before), and its \
             peak RSS, the largest over the runs ({}).\n",
            self.version,
            fmt_num(HOLD.as_secs_f64()),
            fmt_num((HOLD + HOLD_JITTER).as_secs_f64()),
            PROBE.as_millis(),
            self.trials.len() + self.failures.len(),
            self.rss_method
        );
        let _ = writeln!(
            w,
            "| waiter | starts ok | said ready before the server accepted sessions | exit − accepting p50 | p90 | peak RSS |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|");
        let total = self.trials.len() + self.failures.len();
        for (i, who) in Who::ALL.iter().enumerate() {
            let col = self.col(i);
            let early = self.trials.iter().filter(|t| t.early[i]).count();
            let _ = writeln!(
                w,
                "| {} | {}/{total} | {} | {} | {} | {} |",
                who.label(),
                self.trials.len(),
                if early > 0 {
                    format!("**{early}/{}**", col.len())
                } else {
                    format!("0/{}", col.len())
                },
                fmt_signed_ms(super::chain::median(&col)),
                fmt_signed_ms(super::chain::percentile(&col, 0.9)),
                self.rss(i).map_or("n/a".to_string(), |b| fmt_mib(b as f64)),
            );
        }
        let _ = writeln!(w);
        let med = |v: Vec<f64>| super::chain::median(&v);
        let early: Vec<f64> = self.col(2).iter().map(|x| -x).collect();
        let _ = writeln!(
            w,
            "- wait-tcp said ready {} (median) before the server accepted a session: the whole \
             startup window after the port opened (median {}); every session attempted in it \
             fails with 57P03.",
            med(early).map_or("n/a".to_string(), fmt_ms),
            med(self.trials.iter().map(|t| t.startup_ms).collect())
                .map_or("n/a".to_string(), fmt_ms),
        );
        let _ = writeln!(
            w,
            "- kwait wait-postgres / pg_isready loop: exit after accepting p50 {}, peak RSS {}.",
            fmt_ratio(med(self.col(0)), med(self.col(1))),
            fmt_ratio(self.rss(0).map(|b| b as f64), self.rss(1).map(|b| b as f64)),
        );
        let _ = writeln!(
            w,
            "- the server's start → port open: median {} (`pg_ctl -W start` to the first TCP \
             accept).",
            med(self.trials.iter().map(|t| t.port_open_ms).collect())
                .map_or("n/a".to_string(), fmt_ms),
        );
        let _ = writeln!(
            w,
            "- Why a held standby: it is a real server in the state that matters (listening, \
             refusing sessions with 57P03), for a length the bench chooses, so every trial has a \
             startup window; a large `shared_buffers` or a WAL backlog to replay would make that \
             window depend on this machine's memory and disk, often too short to see.\n"
        );
        let _ = writeln!(w, "Commands (port of this run):\n");
        for (who, line) in &self.commands {
            let _ = writeln!(w, "- {}: `{line}`", who.label());
        }
        if let Some(e) = self.failures.first() {
            let _ = writeln!(
                w,
                "- {} of {total} server starts failed (first: {e})",
                self.failures.len()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_startup_message_is_protocol_3_for_postgres() {
        let m = startup_message();
        assert_eq!(
            u32::from_be_bytes([m[0], m[1], m[2], m[3]]) as usize,
            m.len()
        );
        assert_eq!(&m[4..8], &[0, 3, 0, 0]);
        assert_eq!(&m[8..], b"user\0postgres\0database\0postgres\0\0");
        assert_eq!(judge(Some(b'R')), Answer::Accepting);
        assert_eq!(judge(Some(b'E')), Answer::Rejecting);
        assert_eq!(judge(None), Answer::Rejecting);
    }
}
