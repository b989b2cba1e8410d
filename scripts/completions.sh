#!/usr/bin/env bash
# Writes kwait's shell completions (bash, zsh, fish) and man pages into a directory, generated
# from the same clap definitions as the binary (src/cli.rs) by the `kwait-gen` tool of the xtask
# workspace crate. clap_complete and clap_mangen are linked only into kwait-gen, never into the
# shipped binary.
#
#   bash scripts/completions.sh [OUT_DIR]      (default: target/dist/share)
#
# Writes OUT_DIR/completions/{kwait.bash,_kwait,kwait.fish} and OUT_DIR/man/man1/kwait*.1.
# Install (see README): bash: copy kwait.bash to /usr/share/bash-completion/completions/kwait
# (or ~/.local/share/bash-completion/completions/kwait); zsh: _kwait into a directory on $fpath;
# fish: kwait.fish into ~/.config/fish/completions/; man: kwait*.1 into /usr/local/share/man/man1.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/dist/share}
rm -rf "$out/completions" "$out/man"
cargo run --locked -q -p xtask --bin kwait-gen -- "$out"
