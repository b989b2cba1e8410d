#!/usr/bin/env bash
# Release archives and what goes with them, from binaries scripts/auditable.sh built:
#
#   target/dist/kwait-linux-ARCH.tar.gz   kwait, LICENSE, README.md, completions/, man/
#   target/dist/kwait-linux-ARCH.tar.gz.sha256
#   target/dist/kwait.yaml                the krew manifest with version and sha256 filled in
#
#   bash scripts/dist.sh VERSION [ARCH...]       (VERSION like v0.1.0; ARCH default: amd64)
#
# Archives are reproducible (sorted names, fixed mtime from SOURCE_DATE_EPOCH or the commit,
# owner 0, gzip -n). With only some ARCHes built (CI builds amd64 only), the krew manifest is
# filled for those and checked with a stand-in for the others: CI proves the filling, the
# release fills both. The release workflow runs it with amd64 arm64.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${1:?usage: dist.sh VERSION [ARCH...]}
shift
ARCHES=("$@")
[ ${#ARCHES[@]} -gt 0 ] || ARCHES=(amd64)
DIST=${KWAIT_DIST:-$PWD/target/dist}
fail() { echo "dist.sh: FAIL: $*" >&2; exit 1; }
EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

share=$DIST/share
bash scripts/completions.sh "$share" >/dev/null || fail "completions"
for arch in "${ARCHES[@]}"; do
    bin=$DIST/kwait-linux-$arch/kwait
    [ -x "$bin" ] || fail "no $bin (run scripts/auditable.sh for that target first)"
    stage=$DIST/stage-$arch
    rm -rf "$stage" && mkdir -p "$stage"
    install -m 0755 "$bin" "$stage/kwait"
    install -m 0644 LICENSE README.md "$stage/"
    cp -r "$share/completions" "$share/man" "$stage/"
    archive=$DIST/kwait-linux-$arch.tar.gz
    tar --sort=name --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner -C "$stage" -cf - . |
        gzip -n -9 >"$archive"
    (cd "$DIST" && sha256sum "$(basename "$archive")" >"$(basename "$archive").sha256")
    echo "dist: $(cat "$archive.sha256")  ($(stat -c %s "$archive") bytes)"
    rm -rf "$stage"
done

# The krew manifest: filled for real for the archives built; for an arch not built here, a
# stand-in archive in a scratch copy shows the filling works (never shipped).
krew_dist=$DIST
for arch in amd64 arm64; do
    if [ ! -f "$DIST/kwait-linux-$arch.tar.gz" ]; then
        krew_dist=$DIST/krew-check
        rm -rf "$krew_dist" && mkdir -p "$krew_dist"
        for a in amd64 arm64; do
            if [ -f "$DIST/kwait-linux-$a.tar.gz" ]; then
                cp "$DIST/kwait-linux-$a.tar.gz" "$krew_dist/"
            else
                mkdir -p "$krew_dist/s" && printf 'stand-in\n' >"$krew_dist/s/kwait" && cp LICENSE "$krew_dist/s/"
                tar -C "$krew_dist/s" -czf "$krew_dist/kwait-linux-$a.tar.gz" kwait LICENSE
                rm -rf "$krew_dist/s"
                echo "dist: note: no $a archive built here; the krew manifest check uses a stand-in for it"
            fi
        done
        break
    fi
done
python3 scripts/krew-manifest.py "$VERSION" "$krew_dist" "$krew_dist/kwait.yaml" || fail "krew manifest"
# Every sha256 filled is a real digest of the archive it names.
python3 - "$krew_dist/kwait.yaml" "$krew_dist" <<'PY' || fail "the filled krew manifest does not match the archives"
import hashlib, re, sys
text, dist = open(sys.argv[1]).read(), sys.argv[2]
pairs = re.findall(r"uri: \S+/(kwait-linux-\w+\.tar\.gz)\n\s+sha256: \"([0-9a-f]{64})\"", text)
assert len(pairs) == 2, pairs
for name, digest in pairs:
    assert hashlib.sha256(open(f"{dist}/{name}", "rb").read()).hexdigest() == digest, name
assert "0" * 64 not in text
print(f"dist: krew manifest ok ({', '.join(n for n, _ in pairs)})")
PY
