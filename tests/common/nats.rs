//! A real `nats-server` (Debian's package) for the wait-nats tests: started as a child process
//! on a free loopback port with a configuration file in a scratch directory, killed when the
//! guard drops.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `nats-server` can run here. When it cannot, says so loudly on stderr, and fails the
/// test when `KWAIT_REQUIRE_SERVERS=1` (CI installs it: a test that does not run proves nothing).
pub fn available() -> bool {
    let ok = Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    super::server_available(ok, "nats-server", "apt-get install nats-server")
}

/// A running nats-server.
pub struct Nats {
    child: Child,
    log: PathBuf,
}

impl Nats {
    /// Starts nats-server on 127.0.0.1:`port` with `conf` (nats-server.conf text, without
    /// the listen address) in `dir`; returns at once.
    pub fn start(port: u16, dir: &Path, conf: &str) -> Nats {
        let file = dir.join("nats-server.conf");
        std::fs::write(&file, format!("listen: 127.0.0.1:{port}\n{conf}\n")).unwrap();
        let log = dir.join("nats.log");
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&file)
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        Nats { child, log }
    }

    /// When the server said it is ready ("Server is ready" in its log), polled every 5 ms.
    pub fn ready_at(&self) -> Instant {
        let t = Instant::now();
        loop {
            if self.log().contains("Server is ready") {
                return Instant::now();
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "nats-server did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
