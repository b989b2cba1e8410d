#!/usr/bin/env bash
# The release binary, built with `cargo auditable` so that scanners (Trivy, Grype, syft) can list
# the Rust crates inside it: it embeds the dependency list as a zlib-compressed JSON `.dep-v0`
# ELF section (a static binary in a distroless image otherwise shows none). Then reads that list
# back out of the binary and checks it against Cargo.lock (scripts/audit_deps.py; and with
# rust-audit-info too when installed), and states its size against a plain `cargo build`.
#
#   bash scripts/auditable.sh [TRIPLE]      (default x86_64-unknown-linux-musl)
#
# Writes target/dist/kwait-linux-ARCH/kwait (the binary the release ships) and, beside it,
# deps.json (the list read back). CI (.ci/run) and the release workflow run it.
#
# Environment:
#   CARGO_TARGET_DIR         cargo's target dir (default target/)
#   KWAIT_DIST               output directory (default target/dist)
#   KWAIT_MAX_BINARY_BYTES   hard cap on the auditable binary (default 4194304 = 4 MiB)
#   KWAIT_NO_PLAIN=1         skip the plain build (no size comparison), e.g. in the release
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TRIPLE=${1:-x86_64-unknown-linux-musl}
case "$TRIPLE" in
    x86_64-unknown-linux-musl) ARCH=amd64 ;;
    aarch64-unknown-linux-musl) ARCH=arm64 ;;
    *) echo "auditable.sh: unsupported target $TRIPLE" >&2; exit 2 ;;
esac
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
DIST=${KWAIT_DIST:-$ROOT/target/dist}
OUT=$DIST/kwait-linux-$ARCH
MAX=${KWAIT_MAX_BINARY_BYTES:-4194304}
BIN=$TARGET_DIR/$TRIPLE/release/kwait
fail() { echo "auditable.sh: FAIL: $*" >&2; exit 1; }

if ! cargo auditable --version >/dev/null 2>&1; then
    echo "installing cargo-auditable (cargo install --locked cargo-auditable)"
    start=$SECONDS
    cargo install --locked cargo-auditable || fail "cargo install cargo-auditable"
    echo "installed in $((SECONDS - start))s"
fi
rustup target list --installed | grep -qx "$TRIPLE" || rustup target add "$TRIPLE"
mkdir -p "$OUT"

# .cargo/config.toml sets the static flags; RUSTFLAGS in the environment would replace them.
build() { env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS cargo "$@" --release --locked --target "$TRIPLE" --bin kwait; }

plain_bytes=
if [ "${KWAIT_NO_PLAIN:-0}" != 1 ]; then
    echo "+ cargo build --release --locked --target $TRIPLE --bin kwait (plain, for the size comparison)"
    start=$SECONDS
    build build || fail "plain release build"
    echo "built in $((SECONDS - start))s"
    plain_bytes=$(stat -c %s "$BIN")
fi
echo "+ cargo auditable build --release --locked --target $TRIPLE --bin kwait"
start=$SECONDS
build auditable build || fail "cargo auditable build"
echo "built in $((SECONDS - start))s"
install -m 0755 "$BIN" "$OUT/kwait"
bytes=$(stat -c %s "$OUT/kwait")

python3 scripts/audit_deps.py "$OUT/kwait" "$TRIPLE" --json "$OUT/deps.json" || fail "the dependency list in the binary does not match Cargo.lock"
if command -v rust-audit-info >/dev/null; then
    # The reference reader (crates.io: rust-audit-info) must see the same packages.
    rust-audit-info "$OUT/kwait" >"$OUT/rust-audit-info.json" || fail "rust-audit-info could not read $OUT/kwait"
    python3 - "$OUT/rust-audit-info.json" "$OUT/deps.json" <<'PY' || fail "rust-audit-info and audit_deps.py disagree"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
names = lambda d: sorted((p["name"], p["version"]) for p in d["packages"])
assert names(a) == names(b), (set(names(a)) ^ set(names(b)))
print(f"rust-audit-info agrees: {len(a['packages'])} packages")
PY
else
    echo "note: rust-audit-info not installed; read back by scripts/audit_deps.py only"
fi

[ "$bytes" -le "$MAX" ] || fail "the auditable binary is $bytes bytes, over the cap of $MAX"
if [ -n "$plain_bytes" ]; then
    echo "size: plain $plain_bytes bytes, auditable $bytes bytes: +$((bytes - plain_bytes)) bytes for the embedded dependency list"
else
    echo "size: auditable $bytes bytes"
fi
echo "auditable.sh: $OUT/kwait ($TRIPLE) ok"
