//! Shared helpers for the integration tests: a fake API server with a kubeconfig, and the built
//! kwait binary run in a clean environment (no $KUBECONFIG, no in-cluster variables, $HOME in a
//! scratch directory) with its output captured.
#![allow(dead_code, unused_imports)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use testkit::{Allow, ApiServer, Fault, KubeconfigOpts, Rule};

pub mod pg;

/// The token every test's kubeconfig uses.
pub const TOKEN: &str = "kwait-test-token";
/// The subject behind [`TOKEN`].
pub const SUBJECT: &str = "system:serviceaccount:crs:default";
/// The namespace the tests use.
pub const NS: &str = "crs";

/// A scratch directory under cargo's per-target temporary directory.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A fake API server (HTTPS, authentication on) and a kubeconfig for [`TOKEN`].
pub struct Cluster {
    pub api: ApiServer,
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
}

impl Cluster {
    /// [`TOKEN`] may do everything.
    pub fn new(name: &str) -> Cluster {
        Self::with(name, Allow::All)
    }

    /// [`TOKEN`] may do what `allow` says.
    pub fn with(name: &str, allow: Allow) -> Cluster {
        Self::with_token(name, TOKEN, allow)
    }

    /// The kubeconfig's bearer token is `token`, [`SUBJECT`]'s, which may do what `allow` says.
    pub fn with_token(name: &str, token: &str, allow: Allow) -> Cluster {
        let api = ApiServer::builder().tls(true).auth(true).start();
        api.add_token(token, SUBJECT, allow);
        let dir = scratch(name);
        let kubeconfig = api.write_kubeconfig(
            &dir,
            KubeconfigOpts {
                token: Some(token),
                namespace: Some(NS),
                ..Default::default()
            },
        );
        Cluster {
            api,
            dir,
            kubeconfig,
        }
    }

    /// `kwait --kubeconfig KC ARGS...` in a clean environment.
    pub fn kwait(&self, args: &[&str]) -> Command {
        let mut c = kwait(&self.dir);
        c.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        c
    }
}

/// A cluster whose kubeconfig user is `user` (YAML under `user:`); no token is registered.
pub fn cluster_with_user(name: &str, user: impl FnOnce(&ApiServer, &Path) -> String) -> Cluster {
    let api = ApiServer::builder().tls(true).auth(true).start();
    let dir = scratch(name);
    let user = user(&api, &dir);
    let kubeconfig = api.write_kubeconfig(
        &dir,
        KubeconfigOpts {
            namespace: Some(NS),
            user: Some(&user),
            ..Default::default()
        },
    );
    Cluster {
        api,
        dir,
        kubeconfig,
    }
}

/// Writes the executable shell script `body` (`#!/bin/sh` is added) to `path`.
pub fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Writes the exec credential plugin `body` to `plugin`, after lines that set `$d` to `dir` and
/// count its runs: `$n` is this run's number (1, 2, …), also kept in `$d/runs`.
pub fn write_counting_plugin(plugin: &Path, dir: &Path, body: &str) {
    write_script(
        plugin,
        &format!(
            "d={}\nn=$(( $(cat \"$d/runs\" 2>/dev/null || echo 0) + 1 ))\necho $n > \"$d/runs\"\n{body}",
            dir.display()
        ),
    );
}

/// The kubeconfig user (YAML under `user:`) that runs the exec credential plugin `plugin`.
pub fn exec_user(plugin: &Path) -> String {
    format!(
        "exec:\n  apiVersion: client.authentication.k8s.io/v1\n  command: {}\n",
        plugin.display()
    )
}

/// The built binary with a clean environment (no kubeconfig, in-cluster or pod variables) and
/// `$HOME` in `home`.
pub fn kwait(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kwait"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        // POD_*: the downward API's, which turn on Events on the pod (tests/events.rs sets them).
        if k.starts_with("KWAIT_")
            || k.starts_with("KUBERNETES_")
            || k.starts_with("POD_")
            || k == "KUBECONFIG"
        {
            c.env_remove(&k);
        }
    }
    c.env("HOME", home)
        .env("KWAIT_TERMINATION_LOG", home.join("termination-log"));
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// What a finished run printed.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// From spawn to exit.
    pub took: Duration,
    /// When it exited.
    pub ended: Instant,
}

/// A running kwait.
pub struct Running {
    child: Child,
    started: Instant,
    out: std::thread::JoinHandle<String>,
    err: std::thread::JoinHandle<String>,
}

/// Starts `cmd`, reading its output in the background.
pub fn spawn(mut cmd: Command) -> Running {
    let mut child = cmd.spawn().expect("spawn kwait");
    let started = Instant::now();
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    Running {
        child,
        started,
        out,
        err,
    }
}

impl Running {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has not exited yet.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits at most `limit` (then kills it and fails the test).
    pub fn finish(mut self, limit: Duration) -> Run {
        let code = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status.code();
            }
            if self.started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let err = self.err.join().unwrap_or_default();
                panic!("kwait still running after {limit:?}; stderr so far:\n{err}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let ended = Instant::now();
        Run {
            code,
            stdout: self.out.join().unwrap_or_default(),
            stderr: self.err.join().unwrap_or_default(),
            took: ended - self.started,
            ended,
        }
    }
}

/// Runs `cmd` to the end (at most `limit`).
pub fn run(cmd: Command, limit: Duration) -> Run {
    spawn(cmd).finish(limit)
}

/// A Secret object with `data` (values given in plain text, stored base64 as the API does).
pub fn secret(name: &str, data: &[(&str, &str)]) -> serde_json::Value {
    let data: serde_json::Map<String, serde_json::Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), base64(v.as_bytes()).into()))
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data})
}

/// A cert-manager Certificate `name` for the Secret `secret_name` (issuer `i`), with no status.
pub fn new_certificate(name: &str, secret_name: &str) -> serde_json::Value {
    serde_json::json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                       "metadata": {"name": name},
                       "spec": {"secretName": secret_name, "issuerRef": {"name": "i"}}})
}

/// Standard base64 (no dependency for one helper).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Sleeps on the test thread.
pub fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// A network wait (`wait-http`, `wait-tcp`): kwait with a short interval in the clean environment,
/// plus `env`; returns (exit code, stdout + stderr).
pub fn net_kwait(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let home = scratch("net-home");
    let mut cmd = kwait(&home);
    cmd.args(["--interval", "100ms", "--max-interval", "300ms"])
        .args(args)
        .env_remove("SSL_CERT_DIR")
        .env_remove("SSL_CERT_FILE")
        .envs(env.iter().copied())
        .env("KWAIT_TERMINATION_LOG", "/dev/null");
    let r = run(cmd, Duration::from_secs(60));
    (r.code.unwrap_or(-1), format!("{}{}", r.stdout, r.stderr))
}

/// kwait with `args` only, in the clean environment with `$HOME` in `home`, run to the end.
pub fn run_in(home: &Path, args: &[&str]) -> Run {
    let mut cmd = kwait(home);
    cmd.args(args);
    run(cmd, Duration::from_secs(60))
}

/// Address-space limit for the hostile-input tests: a regression that reads without bound is
/// killed by the kernel (allocation failure, exit 134) instead of taking the machine down.
pub const HOSTILE_AS_LIMIT_MIB: u64 = 1024;

/// `cmd` run under `ulimit -v` of `mib` MiB (through `sh`, which `exec`s it: the pid is kwait's).
pub fn memory_limited(cmd: Command, mib: u64) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("ulimit -v {} && exec \"$0\" \"$@\"", mib * 1024))
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        c.current_dir(dir);
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Polls `f` every 20 ms until it returns `Some`, for at most `limit`; panics naming `what`
/// otherwise. For conditions that a loaded machine makes slow but that must come true.
pub fn eventually<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > limit {
            panic!("not within {limit:?}: {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
pub mod redis;
