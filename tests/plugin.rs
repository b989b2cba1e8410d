//! `kubectl kwait`: installed as `kubectl-kwait` on the PATH, the real kubectl finds kwait as a
//! plugin and runs it, and kwait's help and usage then say `kubectl kwait`.
//!
//! Needs a real `kubectl` on the PATH. Without one the tests print SKIPPED and pass, unless
//! KWAIT_REQUIRE_KUBECTL=1, when they fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Whether a kubectl runs here; fails when it does not and KWAIT_REQUIRE_KUBECTL=1.
fn have_kubectl() -> bool {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("KWAIT_REQUIRE_KUBECTL").is_none_or(|v| v != "1"),
            "kubectl not found, and KWAIT_REQUIRE_KUBECTL=1"
        );
        eprintln!("SKIPPED: kubectl not found (the kubectl plugin tests need the real kubectl)");
        println!("SKIPPED: kubectl not found");
    }
    found
}

/// A directory holding only `kubectl-kwait`, a symlink to the built binary (as krew installs
/// it), and a HOME.
fn plugin_dir(name: &str) -> PathBuf {
    let dir = common::scratch(name);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kwait"), bin.join("kubectl-kwait")).unwrap();
    dir
}

/// `kubectl ARGS` with `dir/bin` first on the PATH, HOME in `dir`, no kubeconfig or KWAIT_*.
fn kubectl(dir: &Path, args: &[&str]) -> Output {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![dir.join("bin")];
    paths.extend(std::env::split_paths(&path));
    let mut c = Command::new("kubectl");
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("KWAIT_") || k.starts_with("KUBERNETES_") || k == "KUBECONFIG" {
            c.env_remove(&k);
        }
    }
    c.args(args)
        .env("PATH", std::env::join_paths(paths).unwrap())
        .env("HOME", dir)
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn kubectl_plugin_list_finds_kubectl_kwait_on_the_path() {
    if !have_kubectl() {
        return;
    }
    let dir = plugin_dir("plugin-list");
    let out = kubectl(&dir, &["plugin", "list"]);
    let listed = dir.join("bin/kubectl-kwait");
    let stdout = text(&out.stdout);
    assert!(
        stdout.lines().any(|l| Path::new(l.trim()) == listed),
        "kubectl plugin list does not list {}:\n{stdout}\n{}",
        listed.display(),
        text(&out.stderr)
    );
}

#[test]
fn kubectl_kwait_runs_kwait_and_its_help_says_kubectl_kwait() {
    if !have_kubectl() {
        return;
    }
    let dir = plugin_dir("plugin-run");

    let out = kubectl(&dir, &["kwait", "--version"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text(&out.stdout).starts_with(&format!("kwait {} (", env!("CARGO_PKG_VERSION"))),
        "{out:?}"
    );

    let out = kubectl(&dir, &["kwait", "--help"]);
    assert!(out.status.success(), "{out:?}");
    let help = text(&out.stdout);
    assert!(
        help.contains("Usage: kubectl kwait [OPTIONS] <COMMAND>"),
        "{help}"
    );

    let out = kubectl(&dir, &["kwait", "wait-tcp", "--help"]);
    let help = text(&out.stdout);
    assert!(
        help.contains("Usage: kubectl kwait wait-tcp [OPTIONS] <ADDRESS>"),
        "{help}"
    );

    // Arguments reach kwait unchanged, and its exit code comes back through kubectl.
    let out = kubectl(&dir, &["kwait", "--dry-run", "wait-tcp", "127.0.0.1:1"]);
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).contains("127.0.0.1:1"), "{out:?}");
    let out = kubectl(&dir, &["kwait", "wait-tcp"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("(see 'kubectl kwait --help')"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}
