//! A real `redis-server` (Debian's package) for the wait-redis tests: started as a child process
//! on a free loopback port in a scratch directory (no system service, no persistence unless
//! asked), killed when the guard drops.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `redis-server` can run here. When it cannot, says so loudly on stderr, and fails the
/// test when `KWAIT_REQUIRE_SERVERS=1` (CI installs it: a test that does not run proves nothing).
pub fn available() -> bool {
    let ok = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    super::server_available(ok, "redis-server", "apt-get install redis-server")
}

/// A running redis-server.
pub struct Redis {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its working directory (`--dir`: where dump.rdb is read and written).
    pub dir: PathBuf,
}

impl Redis {
    /// Starts redis-server on `port` in `dir` with `extra` configuration arguments; returns at
    /// once (it may not accept connections yet).
    pub fn start(port: u16, dir: &Path, extra: &[&str]) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(
                std::fs::File::create(dir.join("redis.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        Redis {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// [`Redis::start`], then waits until it answers (any answer, `-LOADING` included).
    pub fn started(port: u16, dir: &Path, extra: &[&str]) -> Redis {
        let r = Redis::start(port, dir, extra);
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "redis-server did not start: {}",
                r.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    /// `redis-cli -p PORT args...` (with `-a password` first when given); its stdout.
    pub fn cli(&self, password: Option<&str>, args: &[&str]) -> String {
        let mut c = Command::new("redis-cli");
        c.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(p) = password {
            c.args(["--no-auth-warning", "-a", p]);
        }
        let out = c.args(args).output().expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `dir/dump.rdb` holding `keys` keys (DEBUG POPULATE on a throwaway server, then SAVE).
pub fn make_rdb(dir: &Path, keys: u32) {
    let port = testkit::netserve::free_port();
    let r = Redis::started(port, dir, &["--enable-debug-command", "yes"]);
    let t = Instant::now();
    while r.cli(None, &["PING"]) != "PONG" {
        assert!(t.elapsed() < Duration::from_secs(20), "{}", r.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        r.cli(None, &["DEBUG", "POPULATE", &keys.to_string(), "key", "32"]),
        "OK"
    );
    assert_eq!(r.cli(None, &["SAVE"]), "OK", "{}", r.log());
    drop(r);
    assert!(dir.join("dump.rdb").is_file());
}
