//! The process itself under hostile conditions: signals while kwait is PID 1 and busy connecting
//! (a hanging exec credential plugin), a closed or full stdout/stderr, and work after the
//! deadline. Each test is named after the defect it pins.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A kubeconfig for `api` whose user runs an exec plugin that never answers: it waits as long
/// as its parent (kwait) lives, so that no test leaves it behind.
fn hanging_plugin_kubeconfig(api: &ApiServer, dir: &Path) -> std::path::PathBuf {
    let user = "exec:\n  apiVersion: client.authentication.k8s.io/v1\n  command: /bin/sh\n  args: [\"-c\", \"while kill -0 $PPID 2>/dev/null; do sleep 0.2; done\"]\n  interactiveMode: Never\n";
    api.write_kubeconfig(
        dir,
        KubeconfigOpts {
            namespace: Some(NS),
            user: Some(user),
            ..Default::default()
        },
    )
}

/// The pids whose parent is `pid` (from /proc).
fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let name = e.ok()?.file_name().to_string_lossy().to_string();
        let child: u32 = name.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
        // "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == pid).then_some(child)
    })
    .collect()
}

fn send(signal: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill {signal} {pid} failed");
}

/// Whether `unshare -pf --mount-proc` works here (root, or user namespaces allowed).
fn unshare_works() -> bool {
    Command::new("unshare")
        .args(["-pf", "--mount-proc", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs `kwait` (wrapped as `cmd` builds it), waits until the exec plugin is running under it,
/// sends `signal` to the kwait process `kwait_pid(running pid)` names, and returns the run and
/// the time from the signal to the exit.
fn signal_while_the_plugin_hangs(
    cmd: Command,
    kwait_pid: impl Fn(u32) -> Option<u32>,
    signal: &str,
) -> (Run, Duration) {
    let running = spawn(cmd);
    let outer = running.pid();
    let pid = eventually("kwait to start", Duration::from_secs(20), || {
        kwait_pid(outer)
    });
    // The plugin runs under kwait: kwait is connecting.
    eventually(
        "the exec plugin to run under kwait",
        Duration::from_secs(20),
        || (!children(pid).is_empty()).then_some(()),
    );
    std::thread::sleep(Duration::from_millis(200));
    let sent = Instant::now();
    send(signal, pid);
    let mut running = running;
    let gone = (0..500).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        !running.is_running()
    });
    if !gone {
        // The signal was ignored: end kwait itself (a PID 1 ignores all but SIGKILL), or the
        // test would wait for ever for its output.
        send("-KILL", pid);
    }
    let run = running.finish(Duration::from_secs(40));
    let took = run.ended - sent;
    (run, took)
}

#[test]
fn sigterm_as_pid_1_while_an_exec_plugin_hangs_ends_with_143_within_a_second() {
    if !unshare_works() {
        eprintln!(
            "SKIP sigterm_as_pid_1_while_an_exec_plugin_hangs_ends_with_143_within_a_second: `unshare -pf --mount-proc` is not available here (needs root or user namespaces)"
        );
        return;
    }
    let api = ApiServer::builder().tls(true).auth(true).start();
    let dir = scratch("pid1");
    let kc = hanging_plugin_kubeconfig(&api, &dir);
    let inner = kwait(&dir);
    let mut cmd = Command::new("unshare");
    cmd.args(["-pf", "--mount-proc"])
        .arg(inner.get_program())
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["--timeout", "60s", "wait-secret", "s"]);
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // unshare forks; its child is kwait, PID 1 of the new namespace.
    let (r, took) =
        signal_while_the_plugin_hangs(cmd, |unshare| children(unshare).first().copied(), "-TERM");
    eprintln!("SIGTERM to exit as PID 1: {:.3}s", took.as_secs_f64());
    assert_eq!(r.code, Some(143), "{}", r.stderr);
    assert!(took <= Duration::from_millis(2500), "took {took:?}");
    assert!(r.stderr.contains("interrupted by SIGTERM"), "{}", r.stderr);
    assert!(r.stderr.contains("waiting for Secret"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn sigint_while_an_exec_plugin_hangs_ends_with_130_and_says_what_was_awaited() {
    let api = ApiServer::builder().tls(true).auth(true).start();
    let dir = scratch("sigint-plugin");
    let kc = hanging_plugin_kubeconfig(&api, &dir);
    let mut cmd = kwait(&dir);
    cmd.arg("--kubeconfig")
        .arg(&kc)
        .args(["-n", NS, "--timeout", "60s", "wait-secret", "s"]);
    let (r, took) = signal_while_the_plugin_hangs(cmd, Some, "-INT");
    eprintln!("SIGINT to exit: {:.3}s", took.as_secs_f64());
    assert_eq!(r.code, Some(130), "{}", r.stderr);
    assert!(took <= Duration::from_millis(2500), "took {took:?}");
    assert!(
        r.stderr.contains("interrupted by SIGINT after")
            && r.stderr.contains("while waiting for Secret crs/s"),
        "{}",
        r.stderr
    );
    // The plugin runs inside the first check: nothing was seen yet.
    assert!(
        r.stderr.contains("last seen: no answer yet"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_hanging_exec_plugin_does_not_hold_kwait_past_the_timeout() {
    let api = ApiServer::builder().tls(true).auth(true).start();
    let dir = scratch("plugin-deadline");
    let kc = hanging_plugin_kubeconfig(&api, &dir);
    let mut cmd = kwait(&dir);
    cmd.arg("--kubeconfig")
        .arg(&kc)
        .args(["-n", NS, "--timeout", "2s", "wait-secret", "s"]);
    let r = run(cmd, Duration::from_secs(40));
    eprintln!(
        "--timeout 2s with a hanging plugin: exit after {:.3}s",
        r.took.as_secs_f64()
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    // The deadline counts from the start of the process, connecting included.
    assert!(r.took <= Duration::from_millis(3500), "took {:?}", r.took);
    // The report blames the plugin, not the server or the network.
    assert!(
        r.stderr.contains("timed out after")
            && r.stderr.contains("the exec credential plugin")
            && r.stderr.contains("did not finish in the"),
        "{}",
        r.stderr
    );
}

/// A pipe whose reading end is already closed: every write gets EPIPE.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer
}

/// Runs `cmd` (whose stdout is set by the caller) to the end, capturing stderr.
fn stderr_only(mut cmd: Command) -> Run {
    let start = Instant::now();
    let out = cmd.stderr(Stdio::piped()).output().expect("run kwait");
    Run {
        code: out.status.code(),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        took: start.elapsed(),
        ended: Instant::now(),
    }
}

#[test]
fn a_closed_stderr_does_not_turn_a_usage_error_into_a_panic() {
    let dir = scratch("closed-stderr");
    let mut cmd = kwait(&dir);
    cmd.args(["wait-secret", "BAD NAME"]).stderr(closed_pipe());
    let status = cmd.status().expect("run kwait");
    assert_eq!(status.code(), Some(2), "{status:?}");
    // The same with stdout closed too, as `2>&1 | true` does.
    let mut cmd = kwait(&dir);
    cmd.args(["wait-secret", "BAD NAME"])
        .stdout(closed_pipe())
        .stderr(closed_pipe());
    assert_eq!(cmd.status().expect("run kwait").code(), Some(2));
}

#[test]
fn a_closed_stderr_does_not_change_how_a_wait_ends() {
    let c = Cluster::new("closed-stderr-wait");
    c.api.create("secrets", NS, secret("s", &[("k", "v")]));
    let mut cmd = c.kwait(&["-v", "--timeout", "20s", "wait-secret", "s", "--key", "k"]);
    cmd.stdout(closed_pipe()).stderr(closed_pipe());
    assert_eq!(cmd.status().expect("run kwait").code(), Some(0));
    let mut cmd = c.kwait(&["-v", "--timeout", "1s", "wait-secret", "missing"]);
    cmd.stdout(closed_pipe()).stderr(closed_pipe());
    assert_eq!(cmd.status().expect("run kwait").code(), Some(124));
}

#[test]
fn dry_run_output_that_cannot_be_written_exits_2_instead_of_panicking() {
    let dir = scratch("dry-full");
    for mode in ["--dry-run=rbac", "--dry-run"] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let mut cmd = kwait(&dir);
        cmd.args(["-n", NS, mode, "wait-secret", "x"]).stdout(full);
        let r = stderr_only(cmd);
        assert_eq!(r.code, Some(2), "{mode}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{mode}: {}", r.stderr);
        assert!(
            r.stderr
                .starts_with("kwait: cannot write the --dry-run output to stdout:"),
            "{mode}: {}",
            r.stderr
        );
        let mut cmd = kwait(&dir);
        cmd.args(["-n", NS, mode, "wait-secret", "x"])
            .stdout(closed_pipe());
        let r = stderr_only(cmd);
        assert_eq!(r.code, Some(2), "{mode}: {}", r.stderr);
    }
}

#[test]
fn help_to_a_closed_stdout_does_not_panic() {
    let dir = scratch("help-closed");
    let mut cmd = kwait(&dir);
    cmd.arg("--help").stdout(closed_pipe());
    let r = stderr_only(cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn a_slow_explain_after_the_deadline_stays_within_timeout_plus_one_second() {
    let c = Cluster::new("slow-explain");
    c.api
        .create("certificates", NS, new_certificate("cert", "tls"));
    // The timeout report reads the CertificateRequests; the server takes 20 s to answer that.
    c.api.delay_matching(
        Duration::from_secs(20),
        Some("list"),
        Some("certificaterequests"),
    );
    let cmd = c.kwait(&[
        "--timeout",
        "2s",
        "--attempt-timeout",
        "30s",
        "wait-certificate",
        "cert",
    ]);
    let r = run(cmd, Duration::from_secs(60));
    eprintln!(
        "--timeout 2s with a 20 s explain: exit after {:.3}s",
        r.took.as_secs_f64()
    );
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(r.took <= Duration::from_millis(3500), "took {:?}", r.took);
    assert!(r.stderr.contains("not read"), "{}", r.stderr);
}
