//! The newcomer demo: `cargo run --release -p testkit --bin demo`.
//!
//! Builds kwait (release) if needed, starts the fake API server in-process (HTTPS, tokens),
//! writes a kubeconfig to a temporary directory and runs kwait three times:
//! 1. `wait-secret litellm-api-user --key API_KEY` while the Secret appears 3 s later without
//!    the key, and gets the key 1.5 s after that (expect exit 0);
//! 2. `wait-secret never-created --timeout 6s` (expect the timeout report, exit 124);
//! 3. the same with a token that may do nothing (expect the forbidden cause and the role
//!    commands, exit 124).
//!
//! Exits 0 when kwait's exit codes were 0, 124, 124.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use testkit::{Allow, ApiServer, KubeconfigOpts, Rule};

const NS: &str = "demo";
const SUBJECT: &str = "system:serviceaccount:demo:default";

fn say(msg: &str) {
    eprintln!("\ndemo: {msg}");
}

/// `<target dir>/release/kwait`, built with `$CARGO build --release --locked`.
fn build_kwait() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    // <target>/<profile>/demo
    let target_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("unexpected executable path {}", exe.display()))?
        .to_path_buf();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    say("building kwait (cargo build --release --locked --bin kwait -p kwait) ...");
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--bin",
            "kwait",
            "-p",
            "kwait",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", cargo.to_string_lossy()))?;
    if !status.success() {
        return Err(format!("building kwait failed ({status})"));
    }
    let kwait = target_dir.join("release").join("kwait");
    if !kwait.is_file() {
        return Err(format!("{} not found after the build", kwait.display()));
    }
    Ok(kwait)
}

/// Runs kwait with stdout/stderr passed through; returns its exit code.
fn run_kwait(kwait: &Path, kubeconfig: &Path, args: &[&str]) -> Option<i32> {
    let mut cmd = Command::new(kwait);
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["-n", NS])
        .args(args)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("KWAIT_") {
            cmd.env_remove(k);
        }
    }
    eprintln!(
        "demo: $ kwait --kubeconfig {} -n {NS} {}\n",
        kubeconfig.display(),
        args.join(" ")
    );
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("demo: cannot start {}: {e}", kwait.display());
            return None;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.code(),
            Ok(None) if Instant::now() > deadline => {
                eprintln!("demo: kwait did not finish within 90 s; killing it");
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                eprintln!("demo: waiting for kwait failed: {e}");
                return None;
            }
        }
    }
}

fn main() -> ExitCode {
    let kwait = match build_kwait() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    let api = ApiServer::builder().tls(true).auth(true).start();
    // least privilege, as kwait's --dry-run=rbac suggests: get and watch on the named Secrets
    api.add_token(
        "demo-token",
        SUBJECT,
        Allow::rules(vec![
            Rule::new(&["get", "watch"], "secrets")
                .names(&["litellm-api-user", "never-created"])
                .namespace(NS),
        ]),
    );
    api.add_token("nobody-token", SUBJECT, Allow::none());
    let dir = std::env::temp_dir().join(format!("kwait-demo-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("demo: cannot create {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let kc = api.write_kubeconfig(
        &dir,
        KubeconfigOpts {
            token: Some("demo-token"),
            namespace: Some(NS),
            context: "kwait-demo",
            ..Default::default()
        },
    );
    let kc_nobody = api.write_kubeconfig(
        &dir,
        KubeconfigOpts {
            token: Some("nobody-token"),
            namespace: Some(NS),
            context: "kwait-demo",
            ..Default::default()
        },
    );
    say(&format!(
        "a fake Kubernetes API server is listening on {} (HTTPS, bearer tokens); kubeconfig: {}",
        api.url(),
        kc.display()
    ));

    // 1. the Secret appears later, first without the key
    say(
        "1/3: a Deployment needs Secret demo/litellm-api-user with key API_KEY, which a Helm hook \
         Job creates later. kwait waits; the Secret will appear in 3 s without the key, and get \
         the key 1.5 s after that.",
    );
    let api2 = api.clone();
    let helper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        say("(the hook Job) creating Secret demo/litellm-api-user, key API_KEY not there yet");
        api2.create(
            "secrets",
            NS,
            json!({"metadata": {"name": "litellm-api-user"}, "data": {"OTHER": "eA=="}}),
        );
        std::thread::sleep(Duration::from_millis(1500));
        say("(the hook Job) adding key API_KEY");
        api2.patch(
            "secrets",
            NS,
            "litellm-api-user",
            json!({"data": {"API_KEY": "c2stZGVtby1ub3QtYS1yZWFsLWtleQ=="}}),
        );
    });
    let first = run_kwait(
        &kwait,
        &kc,
        &[
            "wait-secret",
            "litellm-api-user",
            "--key",
            "API_KEY",
            "--timeout",
            "30s",
        ],
    );
    let _ = helper.join();

    // 2. never created: the timeout report
    say(
        "2/3: a Secret that never appears; after 6 s kwait gives up and says what it saw (exit 124).",
    );
    let second = run_kwait(
        &kwait,
        &kc,
        &["wait-secret", "never-created", "--timeout", "6s"],
    );

    // 3. forbidden: the report names the missing permission and the fix
    say(
        "3/3: the same wait with a service account that may not read Secrets; the report shows \
         the forbidden cause and the Role to create (exit 124).",
    );
    let third = run_kwait(
        &kwait,
        &kc_nobody,
        &["wait-secret", "litellm-api-user", "--timeout", "5s"],
    );

    let _ = std::fs::remove_dir_all(&dir);
    let got = [first, second, third];
    let want = [Some(0), Some(124), Some(124)];
    let show = |v: &[Option<i32>; 3]| {
        v.iter()
            .map(|c| c.map_or("none".to_string(), |c| c.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if got == want {
        say(&format!(
            "done: kwait exited {} as expected ({} requests reached the API server).",
            show(&got),
            api.requests().len()
        ));
        ExitCode::SUCCESS
    } else {
        say(&format!(
            "unexpected exit codes: got {}, expected {}",
            show(&got),
            show(&want)
        ));
        ExitCode::from(1)
    }
}
