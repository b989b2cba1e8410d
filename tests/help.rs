//! Every `--help` page, snapshot-tested: a change in wording is a visible diff under tests/help/.
//!
//! The pages are `kwait --help` (stored as `kwait.txt`) and `kwait COMMAND --help` for every
//! command `kwait --help` lists (stored as `COMMAND.txt`), so a new command needs no change here,
//! only its snapshot. After changing the command line on purpose, rewrite the snapshots with
//!
//!     KWAIT_BLESS=1 cargo test --test help
//!
//! and review `git diff tests/help/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BLESS: &str = "KWAIT_BLESS=1 cargo test --test help";

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/help")
}

fn blessing() -> bool {
    std::env::var_os("KWAIT_BLESS").is_some_and(|v| v == "1")
}

/// The built binary's stdout for `args`, in an environment without KWAIT_* variables (help shows
/// their values), exit 0 required.
fn help(args: &[&str]) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kwait"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("KWAIT_") {
            c.env_remove(&k);
        }
    }
    let out = c
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kwait");
    assert!(
        out.status.success(),
        "kwait {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The lines of the section that starts with the line `heading` (e.g. "Commands:"), up to the
/// next blank line.
fn section<'a>(page: &'a str, heading: &str) -> Vec<&'a str> {
    page.lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

/// The commands `kwait --help` lists (not `help`).
fn commands() -> Vec<String> {
    let top = help(&["--help"]);
    let names: Vec<String> = section(&top, "Commands:")
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect();
    assert!(
        names.iter().any(|n| n == "wait-secret"),
        "no commands found in kwait --help:\n{top}"
    );
    names
}

/// Snapshot name → the page.
fn pages() -> BTreeMap<String, String> {
    let mut pages = BTreeMap::new();
    pages.insert("kwait".to_string(), help(&["--help"]));
    for name in commands() {
        let page = help(&[&name, "--help"]);
        pages.insert(name, page);
    }
    pages
}

#[test]
fn every_help_page_matches_its_snapshot() {
    let dir = snapshot_dir();
    let pages = pages();
    if blessing() {
        std::fs::create_dir_all(&dir).expect("create tests/help");
    }
    let mut problems = Vec::new();
    for (name, page) in &pages {
        let file = dir.join(format!("{name}.txt"));
        if blessing() {
            std::fs::write(&file, page).expect("write snapshot");
            continue;
        }
        match std::fs::read_to_string(&file) {
            Err(_) => problems.push(format!("{name}: no snapshot {}", file.display())),
            Ok(want) if want != *page => {
                let (n, w, g) = want
                    .lines()
                    .chain(std::iter::repeat("<end>"))
                    .zip(page.lines().chain(std::iter::repeat("<end>")))
                    .enumerate()
                    .find(|(_, (w, g))| w != g)
                    .map(|(i, (w, g))| (i + 1, w, g))
                    .unwrap_or((0, "", ""));
                problems.push(format!(
                    "{name}: differs from {} at line {n}:\n  snapshot: {w}\n  now     : {g}",
                    file.display()
                ));
            }
            Ok(_) => {}
        }
    }
    // A snapshot of a command that no longer exists is stale.
    for entry in std::fs::read_dir(&dir).expect("read tests/help") {
        let path = entry.expect("dir entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "txt") && !pages.contains_key(stem) {
            if blessing() {
                std::fs::remove_file(&path).expect("remove stale snapshot");
            } else {
                problems.push(format!(
                    "{}: a snapshot of no command kwait --help lists",
                    path.display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "help pages changed; if on purpose, run `{BLESS}` and review git diff tests/help/\n{}",
        problems.join("\n")
    );
}

/// The long flags listed in `section` ("      --timeout <DURATION>  ..." → "--timeout").
fn long_flags(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("--")))
        .map(|w| {
            w.split(['[', '=', '.', ','])
                .next()
                .unwrap_or(w)
                .to_string()
        })
        .collect()
}

#[test]
fn each_command_shows_its_own_options_first_and_the_global_ones_under_their_own_heading() {
    let top = help(&["--help"]);
    let global = long_flags(&section(&top, "Global options:"));
    for flag in [
        "--timeout",
        "--namespace",
        "--kubeconfig",
        "--context",
        "--dry-run",
    ] {
        assert!(
            global.iter().any(|g| g == flag),
            "{flag} not under 'Global options:' in kwait --help:\n{top}"
        );
    }
    for name in commands() {
        let page = help(&[&name, "--help"]);
        let lines: Vec<&str> = page.lines().collect();
        let own = lines.iter().position(|l| *l == "Options:");
        let glob = lines.iter().position(|l| *l == "Global options:");
        let (Some(own), Some(glob)) = (own, glob) else {
            panic!("{name} --help lacks 'Options:' or 'Global options:':\n{page}");
        };
        assert!(
            own < glob,
            "{name} --help: own options after the global ones:\n{page}"
        );
        let own_flags = long_flags(&section(&page, "Options:"));
        for flag in &global {
            assert!(
                !own_flags.contains(flag),
                "{name} --help lists global {flag} among its own options:\n{page}"
            );
        }
        assert_eq!(
            long_flags(&section(&page, "Global options:")),
            global,
            "{name} --help: its global options differ from kwait --help's"
        );
    }
}
