//! `kwait-gen OUT_DIR`: writes kwait's shell completions and man pages, generated from the very
//! clap definitions the binary parses with (src/cli.rs, compiled in here by path), so they never
//! drift from the binary. clap_complete and clap_mangen live only here: the shipped kwait binary
//! does not link them (its size is unchanged).
//!
//! Writes:
//!   OUT_DIR/completions/kwait.bash   bash (bash-completion: /usr/share/bash-completion/completions/kwait)
//!   OUT_DIR/completions/_kwait       zsh (a directory on $fpath)
//!   OUT_DIR/completions/kwait.fish   fish (~/.config/fish/completions/)
//!   OUT_DIR/man/man1/kwait.1, kwait-wait-secret.1, ...   one page per command
//!
//! `scripts/completions.sh` runs it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

/// What `crate::version::VERSION` is in the binary (cli.rs names it in `#[command(version)]`);
/// the man page's version line. The commit is the binary's own affair.
mod version {
    pub const VERSION: &str = env!("CARGO_PKG_VERSION_KWAIT");
}

// Only the clap definitions are used; the parse helpers are the binary's.
#[allow(dead_code)]
#[path = "../../src/cli.rs"]
mod cli;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out] = args.as_slice() else {
        eprintln!("usage: kwait-gen OUT_DIR (writes OUT_DIR/completions and OUT_DIR/man/man1)");
        return ExitCode::from(2);
    };
    match generate(&PathBuf::from(out)) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kwait-gen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes every file under `out` and returns their paths.
fn generate(out: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    let completions = out.join("completions");
    let man = out.join("man/man1");
    std::fs::create_dir_all(&completions)?;
    std::fs::create_dir_all(&man)?;
    let mut files = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = cli::Cli::command();
        files.push(clap_complete::generate_to(
            shell,
            &mut cmd,
            "kwait",
            &completions,
        )?);
    }
    clap_mangen::generate_to(cli::Cli::command(), &man)?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&man)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    pages.sort();
    files.extend(pages);
    Ok(files)
}
