#!/usr/bin/env bash
# The image's SBOM (CycloneDX 1.5 JSON, scripts/sbom.py) for a binary scripts/auditable.sh built,
# and the check that it lists the crates: every crate the binary itself says it contains (its
# cargo-auditable .dep-v0 list, deps.json) is a component at the same version and vice versa,
# each with a purl, a license and a SHA-256; the binary's own hash is the file's.
#
#   bash scripts/sbom.sh [ARCH]       (default amd64) → target/dist/kwait-linux-ARCH/sbom.cdx.json
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:-amd64}
case "$ARCH" in
    amd64) TRIPLE=x86_64-unknown-linux-musl ;;
    arm64) TRIPLE=aarch64-unknown-linux-musl ;;
    *) echo "sbom.sh: unsupported arch $ARCH" >&2; exit 2 ;;
esac
DIR=${KWAIT_DIST:-$PWD/target/dist}/kwait-linux-$ARCH
fail() { echo "sbom.sh: FAIL: $*" >&2; exit 1; }
[ -x "$DIR/kwait" ] && [ -f "$DIR/deps.json" ] || fail "no $DIR/kwait and deps.json (run scripts/auditable.sh $TRIPLE first)"
python3 scripts/sbom.py --binary "$DIR/kwait" --triple "$TRIPLE" --out "$DIR/sbom.cdx.json" \
    --image "${KWAIT_IMAGE_NAME:-kwait}" || fail "sbom.py"
python3 - "$DIR/sbom.cdx.json" "$DIR/deps.json" "$DIR/kwait" <<'PY' || fail "the SBOM does not list the binary's crates"
import hashlib, json, sys
bom, deps, binary = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.5"
libs = {(c["name"], c["version"]): c for c in bom["components"] if c["type"] == "library"}
inside = {(p["name"], p["version"]) for p in deps["packages"] if not p.get("root")}
missing, extra = inside - set(libs), set(libs) - inside
assert not missing, f"crates in the binary, not in the SBOM: {sorted(missing)}"
assert not extra, f"crates in the SBOM, not in the binary: {sorted(extra)}"
for key, c in libs.items():
    assert c["purl"] == f"pkg:cargo/{key[0]}@{key[1]}", c
    assert c.get("licenses") and c["licenses"][0]["expression"], f"no license: {key}"
    assert c.get("hashes"), f"no hash: {key}"
app = [c for c in bom["components"] if c["type"] == "application"]
assert len(app) == 1 and app[0]["hashes"][0]["content"] == hashlib.sha256(open(binary, "rb").read()).hexdigest()
refs = {c["bom-ref"] for c in bom["components"]} | {bom["metadata"]["component"]["bom-ref"]}
for d in bom["dependencies"]:
    assert d["ref"] in refs and set(d["dependsOn"]) <= refs, d
for name in ["tokio", "rustls", "ring", "reqwest", "clap", "kube", "k8s-openapi", "serde_json"]:
    assert any(n == name for n, _ in libs), f"{name} not listed"
print(f"sbom.sh: {sys.argv[1]} lists all {len(libs)} crates the binary contains (licenses, hashes, purls, graph)")
PY
