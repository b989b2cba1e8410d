//! A real RabbitMQ (Debian's rabbitmq-server, 3.10) for the wait-rabbitmq tests: a node of its
//! own in a scratch directory, listening on free loopback ports, with its own epmd on a free
//! loopback port (so it neither needs nor disturbs a system epmd), the Erlang distribution
//! bound to 127.0.0.1 (`inet_dist_use_interface`), and `/usr/lib/rabbitmq/bin/*` called
//! directly (Debian's `/usr/sbin/rabbitmq*` wrappers switch to the rabbitmq user and drop
//! `$HOME`, where the node's Erlang cookie is). Killed, with its epmd, when the guard drops.
//! RabbitMQ takes seconds to boot: one node per test binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::netserve::free_port;

const BIN: &str = "/usr/lib/rabbitmq/bin";

/// Whether RabbitMQ can run here. When it cannot, says so loudly on stderr, and fails the test
/// when `KWAIT_REQUIRE_SERVERS=1` (CI installs it: a test that does not run proves nothing).
pub fn available() -> bool {
    let ok = Path::new(BIN).join("rabbitmq-server").is_file()
        && Command::new("epmd")
            .arg("-help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
    super::server_available(ok, "rabbitmq-server", "apt-get install rabbitmq-server")
}

/// A running RabbitMQ node.
pub struct Rabbit {
    server: Child,
    epmd: Child,
    dir: PathBuf,
    env: Vec<(String, String)>,
    node: String,
}

impl Rabbit {
    /// Starts a node in `dir` whose rabbitmq.conf holds `conf` (its listeners, users, TLS);
    /// returns at once (it takes seconds to listen).
    pub fn start(dir: &Path, conf: &str) -> Rabbit {
        let epmd_port = free_port().to_string();
        let node = format!("kwait-{}@localhost", free_port());
        let d = |p: &str| dir.join(p).to_string_lossy().into_owned();
        std::fs::write(dir.join("rabbitmq.conf"), conf).unwrap();
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        let dist = "-kernel inet_dist_use_interface {127,0,0,1}";
        let env: Vec<(String, String)> = [
            ("HOME", d("")),
            ("ERL_EPMD_PORT", epmd_port.clone()),
            ("ERL_EPMD_ADDRESS", "127.0.0.1".into()),
            ("RABBITMQ_NODENAME", node.clone()),
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
        let epmd = Command::new("epmd")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start epmd");
        let server = Command::new(Path::new(BIN).join("rabbitmq-server"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(
                std::fs::File::create(dir.join("server.out"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .stderr(Stdio::null())
            .spawn()
            .expect("start rabbitmq-server");
        Rabbit {
            server,
            epmd,
            dir: dir.to_path_buf(),
            env,
            node,
        }
    }

    /// When the node said it booted ("Server startup complete" in its log), polled every 5 ms.
    pub fn ready_at(&self) -> Instant {
        let t = Instant::now();
        loop {
            if self.log().contains("Server startup complete") {
                return Instant::now();
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "RabbitMQ did not start: {}\n{}",
                self.log(),
                std::fs::read_to_string(self.dir.join("server.out")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `rabbitmqctl -n NODE args...`; its stdout (the test fails when it fails).
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new(Path::new(BIN).join("rabbitmqctl"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["-n", &self.node])
            .args(args)
            .output()
            .expect("run rabbitmqctl");
        assert!(
            out.status.success(),
            "rabbitmqctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("rabbit.log")).unwrap_or_default()
    }
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        // The script runs the Erlang VM as a child of its own (not exec'd, to relay signals):
        // the VM's pid is in the pid file the node writes.
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("rabbit.pid")) {
            let _ = Command::new("kill")
                .args(["-KILL", pid.trim()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = self.epmd.kill();
        let _ = self.epmd.wait();
    }
}
