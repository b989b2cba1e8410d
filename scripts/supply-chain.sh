#!/usr/bin/env bash
# Supply-chain checks, offline by default (CI has no network beyond crates.io downloads):
#
#   1. cargo deny check licenses bans sources  (deny.toml: allowed licenses, no duplicate
#      versions beyond the documented skips, no OpenSSL/aws-lc, crates.io only);
#   2. cargo audit against the RustSec advisory database snapshot in ../shared/rustsec/advisory-db
#      (--no-fetch; --stale: the snapshot's age is known), failing on any vulnerability, and on
#      an unmaintained or unsound crate, in Cargo.lock;
#   3. a self-test: the same audit of a copy of Cargo.lock with tokio set to 1.18.0 must fail,
#      so a database that loads nothing or an audit that cannot fail does not pass quietly.
#
#   bash scripts/supply-chain.sh            offline (CI)
#   bash scripts/supply-chain.sh --fetch    with the live database (the release workflow): also
#                                           cargo deny's own advisories check
#
# Installs cargo-deny and cargo-audit when missing: their prebuilt x86-64 Linux binaries from
# PyPI (Astral's astral-dev-toolchain wheels, built from the upstream tags; versions and wheel
# sha256 pinned below, `pip download --require-hashes`), into target/supply-chain-tools/bin: about
# 3 s instead of about 10 minutes of `cargo install --locked` on 2 cores. Elsewhere (no pip, another
# architecture) or with KWAIT_TOOLS_FROM_SOURCE=1: cargo install --locked, as before.
# Environment: KWAIT_ADVISORY_DB (default ../shared/rustsec/advisory-db beside the repository).
#
# Ignored advisories: none. An ignore goes here, as `--ignore RUSTSEC-YYYY-NNNN`, with the reason
# it does not affect kwait, in the same change.
IGNORE=()
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
fail() { echo "supply-chain.sh: FAIL: $*" >&2; exit 1; }
fetch=0
[ "${1:-}" = --fetch ] && fetch=1

TOOLS=${CARGO_TARGET_DIR:-$ROOT/target}/supply-chain-tools
export PATH="$TOOLS/bin:$PATH"
# name version sha256-of-the-wheel (astral-dev-toolchain-NAME on PyPI).
WHEELS="cargo-deny 0.20.2 ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee
cargo-audit 0.22.2 08c93fa1f2548f39fd56614496b3629388ccb7df1962f3c6cf9913940e60c40e"
# The pinned wheel of $1 unpacked into $TOOLS/bin; fails when pip or the wheel is not there.
from_wheel() {
    [ "$(uname -sm)" = "Linux x86_64" ] && [ "${KWAIT_TOOLS_FROM_SOURCE:-0}" != 1 ] || return 1
    python3 -m pip --version >/dev/null 2>&1 || return 1
    local tool=$1 version sha dl
    read -r _ version sha < <(grep "^$tool " <<<"$WHEELS")
    dl=$(mktemp -d)
    echo "astral-dev-toolchain-$tool==$version --hash=sha256:$sha" >"$dl/req.txt"
    python3 -m pip download -q --no-deps --only-binary=:all: --require-hashes -r "$dl/req.txt" -d "$dl" \
        && python3 - "$dl" "$TOOLS/bin" "$tool" <<'PY'
import glob, os, sys, zipfile
dl, bin_dir, tool = sys.argv[1:]
(wheel,) = glob.glob(os.path.join(dl, "*.whl"))
with zipfile.ZipFile(wheel) as z:
    (member,) = [n for n in z.namelist() if n.endswith(".data/scripts/" + tool)]
    os.makedirs(bin_dir, exist_ok=True)
    with z.open(member) as src, open(os.path.join(bin_dir, tool), "wb") as dst:
        dst.write(src.read())
os.chmod(os.path.join(bin_dir, tool), 0o755)
PY
    local ok=$?
    rm -rf "$dl"
    return $ok
}
for tool in cargo-deny cargo-audit; do
    if ! cargo "${tool#cargo-}" --version >/dev/null 2>&1; then
        start=$SECONDS
        if from_wheel "$tool" && cargo "${tool#cargo-}" --version >/dev/null 2>&1; then
            echo "installed $tool from its pinned PyPI wheel in $((SECONDS - start))s"
        else
            echo "installing $tool (cargo install --locked $tool)"
            cargo install --locked "$tool" || fail "cargo install $tool"
            echo "installed $tool in $((SECONDS - start))s"
        fi
    fi
done
cargo deny --version
cargo audit --version

# cargo metadata --offline (inside cargo deny) needs every crate Cargo.lock names, those of other
# platforms too (windows-sys, ...), which no Linux build downloads: a fresh machine had none.
echo "+ cargo fetch --locked"
cargo fetch --locked || fail "cargo fetch --locked"

echo "+ cargo deny check"
if [ "$fetch" = 1 ]; then
    cargo deny --locked check || fail "cargo deny"
else
    cargo deny --locked --offline check licenses bans sources || fail "cargo deny"
fi

if [ "$fetch" = 1 ]; then
    echo "+ cargo audit (live database)"
    cargo audit -D unmaintained -D unsound ${IGNORE[@]+"${IGNORE[@]}"} || fail "cargo audit"
    exit 0
fi
DB=${KWAIT_ADVISORY_DB:-$ROOT/../shared/rustsec/advisory-db}
[ -d "$DB/crates" ] || fail "no advisory database at $DB (set KWAIT_ADVISORY_DB)"
audit() { cargo audit --db "$DB" --no-fetch --stale -D unmaintained -D unsound ${IGNORE[@]+"${IGNORE[@]}"} "$@"; }
echo "+ cargo audit --db $DB --no-fetch --stale"
audit || fail "cargo audit: an advisory affects a crate in Cargo.lock (see above)"

echo "+ self-test: the audit of a Cargo.lock with tokio 1.18.0 must fail"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$ROOT/Cargo.lock" "$tmp/Cargo.lock" <<'PY'
import re, sys
text, n = re.subn(r'(name = "tokio"\nversion = )"[^"]+"', r'\1"1.18.0"', open(sys.argv[1]).read())
assert n == 1, "tokio not found in Cargo.lock"
open(sys.argv[2], "w").write(text)
PY
if audit -f "$tmp/Cargo.lock" >"$tmp/out" 2>&1; then
    cat "$tmp/out"
    fail "the audit passed a Cargo.lock with tokio 1.18.0 (RUSTSEC-2023-0001): the database or the audit is broken"
fi
grep -q "RUSTSEC-2023-0001" "$tmp/out" || { cat "$tmp/out"; fail "the self-test failed for another reason"; }
echo "self-test ok: RUSTSEC-2023-0001 found in the doctored Cargo.lock"
echo "supply-chain.sh: all checks passed"
