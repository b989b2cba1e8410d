//! A real MariaDB server (Debian's `mariadb-server`) for the wait-mysql tests:
//! `mariadb-install-db` into a scratch directory, `mariadbd` on a free loopback port with its
//! socket in that directory (no system service, no configuration file read), killed when the
//! guard drops. As root the server runs as `mysql` (`--user=mysql`, the directory chowned).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MARIADBD: &str = "/usr/sbin/mariadbd";

/// Whether MariaDB can run here. When it cannot, says SKIPPED on stderr, and fails the test when
/// `KWAIT_REQUIRE_SERVERS=1` (CI installs it: a test that does not run proves nothing).
pub fn available() -> bool {
    let ok = Path::new(MARIADBD).is_file()
        && Command::new("mariadb")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        && Command::new("mariadb-install-db")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
    if !ok {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"\n*** SKIPPED: mariadb-server not installed (apt-get install mariadb-server) ***\n",
        );
        assert!(
            std::env::var("KWAIT_REQUIRE_SERVERS").as_deref() != Ok("1"),
            "KWAIT_REQUIRE_SERVERS=1 and mariadb-server is not installed"
        );
    }
    ok
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// A MariaDB data directory, and the server when started.
pub struct Maria {
    /// The scratch directory (data, socket, log).
    pub dir: PathBuf,
    /// The loopback port it listens on once started.
    pub port: u16,
    child: Option<Child>,
    extra: Vec<String>,
}

impl Maria {
    /// A fresh data directory (root may log in over the socket without a password); not started.
    pub fn init(extra: &[&str]) -> Maria {
        let dir = super::scratch("mariadb");
        let root = is_root();
        if root {
            let ok = Command::new("chown")
                .args(["-R", "mysql:mysql"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown the scratch directory to mysql");
        }
        // A temporary directory of its own: two bootstraps at once collide on temporary
        // table names in a shared /tmp.
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).expect("tmp dir");
        if root {
            let _ = Command::new("chown").arg("mysql:mysql").arg(&tmp).status();
        }
        let mut c = Command::new("mariadb-install-db");
        c.env("TMPDIR", &tmp)
            .arg("--no-defaults")
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--datadir={}", dir.join("data").display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if root {
            c.arg("--user=mysql");
        }
        let out = c.output().expect("run mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Maria {
            dir,
            port: testkit::netserve::free_port(),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the server; returns at once (it may not accept connections yet).
    pub fn start(&mut self) {
        let d = &self.dir;
        let mut c = Command::new(MARIADBD);
        c.arg("--no-defaults");
        if is_root() {
            c.arg("--user=mysql");
        }
        c.arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--socket={}", d.join("sock").display()))
            .arg(format!("--pid-file={}", d.join("pid").display()))
            .arg(format!("--log-error={}", d.join("err.log").display()))
            .arg(format!("--tmpdir={}", d.join("tmp").display()))
            .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
            .arg(format!("--port={}", self.port))
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(c.spawn().expect("start mariadbd"));
    }

    /// Waits until the server's own client logs in (as root, over the socket): when it did.
    pub fn wait_ready(&self) -> Instant {
        let t = Instant::now();
        loop {
            if self.try_sql("SELECT 1").is_ok() {
                return Instant::now();
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "mariadbd did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn try_sql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .args(["-uroot", "-N", "-B", "-e", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs `sql` as root; panics on an error.
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}\n{}", self.log()))
    }

    /// Stops the server (kill, then wait).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The server's error log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("err.log")).unwrap_or_default()
    }
}

impl Drop for Maria {
    fn drop(&mut self) {
        self.stop();
    }
}
