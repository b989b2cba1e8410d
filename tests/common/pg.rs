//! Real PostgreSQL servers for the `wait-postgres` tests: `initdb` into a temporary directory,
//! `pg_ctl start` on a free loopback port with the socket in that directory, and
//! `pg_ctl stop -m immediate` when the handle is dropped. No system service is touched.
//!
//! The binaries are `$KWAIT_PG_BIN`'s, Debian's (`/usr/lib/postgresql/*/bin`, the newest) or
//! those beside the first `pg_ctl` on `$PATH`.
//! PostgreSQL refuses to run as root: when the tests run as root, the server runs as `nobody`
//! (through `runuser`). When no server binaries are found, [`bin_dir`] prints `SKIPPED` to
//! stderr, and fails the test when `KWAIT_REQUIRE_SERVERS=1` (CI sets it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The directory holding `initdb`, `pg_ctl`, `postgres`, `psql`; `None` (after saying
/// SKIPPED, or failing when servers are required) when there is none.
pub fn bin_dir() -> Option<PathBuf> {
    let found = find_bin_dir();
    if found.is_none() {
        let required = std::env::var("KWAIT_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
        // Straight to the process's stderr: the test harness captures eprintln! of passing
        // tests, and a skip must be seen.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"\n*** SKIPPED: postgres not installed (no initdb/pg_ctl/postgres in /usr/lib/postgresql/*/bin or on PATH; apt-get install postgresql) ***\n",
        );
        assert!(
            !required,
            "KWAIT_REQUIRE_SERVERS=1: the PostgreSQL tests must run, but postgres is not installed"
        );
    }
    found
}

fn find_bin_dir() -> Option<PathBuf> {
    let complete = |d: &Path| {
        ["initdb", "pg_ctl", "postgres", "psql", "pg_isready"]
            .iter()
            .all(|b| d.join(b).is_file())
    };
    // KWAIT_PG_BIN names the directory outright (another version; or a wrong one, to see
    // the SKIPPED path).
    if let Some(dir) = std::env::var_os("KWAIT_PG_BIN") {
        let dir = PathBuf::from(dir);
        return complete(&dir).then_some(dir);
    }
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path().join("bin"))
                .filter(|d| complete(d))
                .collect()
        })
        .unwrap_or_default();
    // The newest version first (directory names are major versions).
    debian.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(d) = debian.pop() {
        return Some(d);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("pg_ctl"))
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .find(|d| complete(d))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// How a server is set up.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The password of the superuser `postgres` (host logins use SCRAM-SHA-256).
    pub password: &'static str,
    /// Extra `-c name=value` settings.
    pub settings: Vec<String>,
    /// Start in recovery as a standby (`standby.signal`), which with `hot_standby=off`
    /// answers every startup message with 57P03 until promoted.
    pub standby: bool,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            password: "pg-test-password-1",
            settings: Vec::new(),
            standby: false,
        }
    }
}

/// One PostgreSQL server in a temporary directory (initialised; started by [`Pg::start`]).
pub struct Pg {
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    as_nobody: bool,
    settings: Vec<String>,
}

impl Pg {
    /// `initdb` a new cluster (superuser `postgres`, SCRAM for host logins, trust on the
    /// socket) on a free port; not started.
    pub fn init(bin: &Path, setup: &Setup) -> Pg {
        static N: AtomicU32 = AtomicU32::new(0);
        // Short: the socket path must fit in 107 bytes.
        let dir = std::env::temp_dir().join(format!(
            "kwait-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("pg temp dir");
        let pg = Pg {
            bin: bin.to_path_buf(),
            data: dir.join("data"),
            dir,
            port: testkit::netserve::free_port(),
            as_nobody: is_root(),
            settings: setup.settings.clone(),
        };
        let pwfile = pg.dir.join("pwfile");
        std::fs::write(&pwfile, setup.password).expect("pwfile");
        pg.own(&pg.dir);
        pg.own(&pwfile);
        let out = pg
            .command("initdb")
            .arg("-D")
            .arg(&pg.data)
            .args(["-U", "postgres", "-N", "-A", "trust"])
            .args(["--auth-host=scram-sha-256", "--auth-local=trust"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb");
        check("initdb", &out);
        if setup.standby {
            let signal = pg.data.join("standby.signal");
            std::fs::write(&signal, "").expect("standby.signal");
            pg.own(&signal);
        }
        pg
    }

    /// The server's directory (for certificate files the server must read).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Gives `path` to the server's user (when the tests run as root).
    pub fn own(&self, path: &Path) {
        if self.as_nobody {
            let st = Command::new("chown")
                .arg("nobody")
                .arg(path)
                .status()
                .expect("chown");
            assert!(st.success(), "chown nobody {}", path.display());
        }
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

    fn start_command(&self) -> Command {
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        for s in &self.settings {
            opts.push_str(&format!(" -c {s}"));
        }
        let mut c = self.command("pg_ctl");
        c.arg("-D")
            .arg(&self.data)
            .arg("-o")
            .arg(opts)
            .arg("-l")
            .arg(self.dir.join("log"));
        c
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) {
        let out = self
            .start_command()
            .args(["-w", "-t", "60", "start"])
            .output()
            .expect("pg_ctl start");
        check("pg_ctl start", &out);
    }

    /// Starts the server without waiting (a standby never "finishes" starting).
    pub fn start_no_wait(&self) {
        let out = self
            .start_command()
            .args(["-W", "start"])
            .output()
            .expect("pg_ctl start");
        check("pg_ctl start -W", &out);
    }

    /// Ends recovery: the standby becomes a primary and accepts sessions.
    pub fn promote(&self) {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-t", "60", "promote"])
            .output()
            .expect("pg_ctl promote");
        check("pg_ctl promote", &out);
    }

    /// Runs SQL as `postgres` over the socket (trust), failing the test on an error.
    pub fn psql(&self, sql: &str) {
        let out = self
            .command("psql")
            .arg("-h")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string()])
            .args([
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-qc",
                sql,
            ])
            .output()
            .expect("psql");
        check("psql", &out);
    }

    /// `pg_isready`'s exit code for the TCP address (0 accepting, 1 rejecting, 2 no answer).
    pub fn isready(&self) -> i32 {
        let out = self
            .command("pg_isready")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-t", "5"])
            .output()
            .expect("pg_isready");
        out.status.code().unwrap_or(-1)
    }

    /// Appends `line` to the start of pg_hba.conf and reloads (first match wins).
    pub fn hba_first(&self, line: &str) {
        let hba = self.data.join("pg_hba.conf");
        let old = std::fs::read_to_string(&hba).expect("pg_hba.conf");
        std::fs::write(&hba, format!("{line}\n{old}")).expect("write pg_hba.conf");
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("reload")
            .output()
            .expect("pg_ctl reload");
        check("pg_ctl reload", &out);
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "-t", "30", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn check(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
