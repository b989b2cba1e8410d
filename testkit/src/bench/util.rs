//! Small helpers of the benchmark: statistics, formatting, a random source, child processes
//! and `/proc` readings.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ----- statistics ---------------------------------------------------------------------------

/// Median and p99 (nearest rank: at 30 samples the p99 is the maximum) of samples.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub p50: f64,
    pub p99: f64,
}

impl Stats {
    pub fn of(samples: &[f64]) -> Option<Stats> {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let p50 = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        let rank = ((0.99 * n as f64).ceil() as usize).clamp(1, n);
        Some(Stats {
            p50,
            p99: v[rank - 1],
        })
    }
}

// ----- formatting ---------------------------------------------------------------------------

/// Milliseconds, with a precision that suits the magnitude.
pub fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() {
        "n/a".to_string()
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// Bytes as MiB with two decimals.
pub fn fmt_mib(bytes: f64) -> String {
    format!("{:.2} MiB", bytes / (1024.0 * 1024.0))
}

/// Signed milliseconds (a true minus sign before a time that came early), "n/a" for none.
pub fn fmt_signed_ms(x: Option<f64>) -> String {
    x.map_or("n/a".to_string(), |v| {
        if v < 0.0 {
            format!("−{}", fmt_ms(-v))
        } else {
            fmt_ms(v)
        }
    })
}

/// A number with about three significant digits.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        "n/a".to_string()
    } else if x == 0.0 {
        "0".to_string()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// `a / b` as a ratio cell (`n/a` when either is missing, `0 / 0`, or b is 0).
pub fn fmt_ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a == 0.0 && b == 0.0 => "1 (both 0)".to_string(),
        (Some(_), Some(0.0)) => "n/a (contender 0)".to_string(),
        (Some(a), Some(b)) if a.is_finite() && b.is_finite() => format!("{}×", fmt_num(a / b)),
        _ => "n/a".to_string(),
    }
}

/// `1m23s`.
pub fn fmt_elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

// ----- randomness ---------------------------------------------------------------------------

/// xorshift64*: enough to de-phase trials from polling loops.
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Rng {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(std::process::id()).rotate_left(32);
        Rng(seed | 1)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, max).
    pub fn duration(&mut self, max: Duration) -> Duration {
        max.mul_f64(self.unit())
    }
}

// ----- child processes ----------------------------------------------------------------------

/// A program line: what to run, with which environment.
#[derive(Clone, Debug)]
pub struct Cmdline {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Cmdline {
    pub fn new(program: impl Into<PathBuf>) -> Cmdline {
        Cmdline {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Cmdline {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Cmdline {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: &str, v: impl Into<String>) -> Cmdline {
        self.env.push((k.to_string(), v.into()));
        self
    }

    /// The command, in its own process group, stdin and stdout closed, stderr to `stderr`
    /// (or closed), `KUBECONFIG` and `KWAIT_*` removed unless set here. With `rss_out`, it
    /// runs under GNU time writing the peak RSS (KiB) to that file.
    pub fn command(&self, time: Option<(&Path, &Path)>, stderr: Option<&Path>) -> Command {
        use std::os::unix::process::CommandExt as _;
        let mut cmd = match time {
            Some((time, out)) => {
                let mut c = Command::new(time);
                c.args(["-f", "%M", "-o"]).arg(out).arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        cmd.args(&self.args);
        cmd.env_remove("KUBECONFIG");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("KWAIT_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        match stderr.and_then(|p| std::fs::File::create(p).ok()) {
            Some(f) => cmd.stderr(f),
            None => cmd.stderr(Stdio::null()),
        };
        cmd.process_group(0);
        cmd
    }

    /// The line as a shell would show it (for the report).
    pub fn display(&self) -> String {
        let mut s = String::new();
        for (k, v) in self.env.iter().filter(|(k, _)| k != "PATH") {
            s += &format!("{k}={} ", shell_quote(v));
        }
        s += &shell_quote(&self.program.to_string_lossy());
        for a in &self.args {
            s.push(' ');
            s += &shell_quote(a);
        }
        s
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,%+@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A spawned child whose exit is caught by a thread blocked in `wait()`, so the exit instant
/// is exact (no polling interval).
pub struct Waiter {
    pub pid: u32,
    rx: mpsc::Receiver<(io::Result<ExitStatus>, Instant)>,
    done: Option<(Option<ExitStatus>, Instant)>,
}

impl Waiter {
    pub fn spawn(mut cmd: Command) -> io::Result<Waiter> {
        let child: Child = cmd.spawn()?;
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("wait-{pid}"))
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut child = child;
                let r = child.wait();
                let at = Instant::now();
                let _ = tx.send((r, at));
            })?;
        Ok(Waiter {
            pid,
            rx,
            done: None,
        })
    }

    /// Whether the child has exited (non-blocking).
    pub fn exited(&mut self) -> bool {
        if self.done.is_none()
            && let Ok((r, at)) = self.rx.try_recv()
        {
            self.done = Some((r.ok(), at));
        }
        self.done.is_some()
    }

    /// Waits up to `limit` for the exit; on timeout kills the child's process group and
    /// returns None. Returns the exit status (None if it could not be read) and the instant.
    pub fn wait(&mut self, limit: Duration) -> Option<(Option<ExitStatus>, Instant)> {
        if let Some(d) = self.done {
            return Some(d);
        }
        match self.rx.recv_timeout(limit) {
            Ok((r, at)) => {
                self.done = Some((r.ok(), at));
                self.done
            }
            Err(_) => {
                self.kill();
                let _ = self.rx.recv_timeout(Duration::from_secs(5));
                None
            }
        }
    }

    /// SIGKILL to the child's process group (the child and whatever it started).
    pub fn kill(&self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.pid)])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if !self.exited() {
            self.kill();
        }
    }
}

/// The last `n` lines of a file (for failure notes).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

// ----- /proc --------------------------------------------------------------------------------

/// A `Key:   123 kB` field of a `/proc` file, in bytes.
pub fn proc_kb(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))
        .and_then(|l| l[key.len() + 1..].split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// Peak RSS so far (VmHWM) of a process, in bytes.
pub fn vm_hwm(pid: u32) -> Option<u64> {
    proc_kb(&format!("/proc/{pid}/status"), "VmHWM")
}

/// RSS and PSS of a process now, in bytes.
pub fn rss_pss(pid: u32) -> (Option<u64>, Option<u64>) {
    (
        proc_kb(&format!("/proc/{pid}/status"), "VmRSS"),
        proc_kb(&format!("/proc/{pid}/smaps_rollup"), "Pss"),
    )
}

/// MemAvailable in bytes.
pub fn mem_available() -> Option<u64> {
    proc_kb("/proc/meminfo", "MemAvailable")
}

/// Where a program is found on PATH (absolute paths are checked as they are).
pub fn which(program: &str) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|c| c.is_file())
    })
}

/// The first line of `program args` output (stdout, else stderr), if it runs.
pub fn first_line(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_nearest_rank() {
        let v: Vec<f64> = (1..=30).map(f64::from).collect();
        let s = Stats::of(&v).unwrap();
        assert_eq!(s.p50, 15.5);
        assert_eq!(s.p99, 30.0);
        let s = Stats::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.p50, s.p99), (2.0, 3.0));
        assert!(Stats::of(&[]).is_none());
    }

    #[test]
    fn ratios() {
        assert_eq!(fmt_ratio(Some(1.0), Some(4.0)), "0.250×");
        assert_eq!(fmt_ratio(Some(1.0), Some(0.0)), "n/a (contender 0)");
        assert_eq!(fmt_ratio(None, Some(1.0)), "n/a");
    }
}
