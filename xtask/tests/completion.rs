//! The generated completions and man pages work: the bash completion is valid bash and, sourced
//! in a scripted bash session, completes `kwait wait-s<TAB>` to the wait-s* commands; zsh and fish
//! parse it where those shells are installed; the man pages render without groff warnings.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Runs `kwait-gen` once into a directory of its own and returns that directory.
fn generated() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("gen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(env!("CARGO_BIN_EXE_kwait-gen"))
            .arg(&dir)
            .output()
            .expect("run kwait-gen");
        assert!(out.status.success(), "{out:?}");
        dir
    })
}

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        println!("SKIPPED: {tool} not found");
    }
    found
}

/// What bash offers for the command line `words` (the cursor at the end of the last word), by
/// the function the completion file registers for `kwait`.
fn bash_complete(words: &[&str]) -> Vec<String> {
    let file = generated().join("completions/kwait.bash");
    let script = r#"
set -u
source "$1"; shift
spec=$(complete -p kwait) || { echo "no completion registered for kwait" >&2; exit 3; }
func=$(printf '%s\n' "$spec" | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
[ -n "$func" ] || { echo "no -F function in: $spec" >&2; exit 3; }
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
prev=kwait
[ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD-1]}
"$func" kwait "${COMP_WORDS[COMP_CWORD]}" "$prev"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", script, "bash"])
        .arg(&file)
        .args(words)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash completion of {words:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_bash_completion_is_valid_bash() {
    let file = generated().join("completions/kwait.bash");
    let out = Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .expect("bash -n");
    assert!(out.status.success(), "bash -n {}: {out:?}", file.display());
}

#[test]
fn kwait_wait_s_tab_offers_the_wait_s_commands() {
    let offered = bash_complete(&["kwait", "wait-s"]);
    assert!(offered.iter().any(|w| w == "wait-secret"), "{offered:?}");
    // wait-service, once it exists, is offered too; nothing that does not start with wait-s is.
    assert!(
        offered.iter().all(|w| w.starts_with("wait-s")),
        "{offered:?}"
    );
}

#[test]
fn options_complete_after_a_command_global_ones_included() {
    let offered = bash_complete(&["kwait", "wait-secret", "--k"]);
    assert!(offered.iter().any(|w| w == "--key"), "{offered:?}");
    let offered = bash_complete(&["kwait", "wait-http", "http://x", "--time"]);
    assert!(offered.iter().any(|w| w == "--timeout"), "{offered:?}");
}

#[test]
fn the_zsh_and_fish_completions_parse() {
    let dir = generated().join("completions");
    for (shell, file) in [("zsh", "_kwait"), ("fish", "kwait.fish")] {
        assert!(dir.join(file).is_file(), "no {file}");
        if have(shell) {
            let out = Command::new(shell)
                .arg("-n")
                .arg(dir.join(file))
                .output()
                .unwrap();
            assert!(out.status.success(), "{shell} -n {file}: {out:?}");
        }
    }
}

#[test]
fn every_man_page_renders_without_warnings() {
    let man = generated().join("man/man1");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&man)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    let names: Vec<String> = pages
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"kwait.1".to_string()), "{names:?}");
    assert!(
        names.contains(&"kwait-wait-secret.1".to_string()),
        "{names:?}"
    );
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        assert!(text.contains(".TH "), "{}: no .TH", page.display());
        if !have("groff") {
            continue;
        }
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(page)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "groff warns about {}: {}",
            page.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
