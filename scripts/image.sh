#!/usr/bin/env bash
# Release packaging checks that need no Docker engine (CI runs this; so can anyone, as root, on a
# fresh Debian machine):
#
#   1. builds the static x86_64-unknown-linux-musl release binary;
#   2. proves it static: `file` says "statically linked", `readelf -d` finds no dynamic section,
#      no PT_INTERP; and no larger than KWAIT_MAX_BINARY_BYTES;
#   3. runs it from an empty root (a directory holding only /kwait, via chroot, as uid 65532, with
#      an empty environment): --version, --dry-run, and real wait-http / wait-tcp checks against a
#      loopback server this script starts, plus a wait-tcp that must time out (exit 124);
#      then names as a pod resolves them: /etc/hosts, and a resolv.conf search list answered by
#      a DNS server on loopback (and a name that does not resolve: 124, "DNS: name not found");
#      then as an init container runs: a root holding only /kwait and the service-account mount
#      (token, ca.crt, namespace), KUBERNETES_SERVICE_HOST/PORT pointing at testkit's fake API
#      server over HTTPS: a wait-secret that becomes ready, and one that times out (124);
#   4. assembles an OCI image layout FROM scratch with umoci (the binary, /etc/passwd and
#      /etc/group with uid/gid 65532 "nonroot", Debian's CA bundle), runs the binary again from the
#      unpacked image rootfs, and checks the image with skopeo inspect: user 65532, entrypoint
#      ["/kwait"], labels, one layer, layer size;
#   5. optionally builds the Dockerfile itself with buildah, for amd64 and arm64 (see below);
#   6. prints the binary and image sizes.
#
# Idempotent: installs only what is missing, rebuilds the image from scratch every run.
# Fails loudly (exit 1, "image.sh: FAIL: ...") on the first check that does not hold.
#
# Environment:
#   KWAIT_IMAGE_DIR        where the image layout and the roots go (default target/image)
#   CARGO_TARGET_DIR       cargo's target dir (default target/); point it at a kept directory
#                          to make the release build warm across fresh clones
#   KWAIT_IMAGE_ARM64=1    also cross-build aarch64 and run it under qemu-user (off by default)
#   KWAIT_IMAGE_DOCKERFILE=1  also build the Dockerfile for linux/amd64 and linux/arm64 with
#                          buildah on stand-in base images, and check and run both images
#                          (off by default; .ci/run turns it on). KWAIT_DOCKERFILE_DIR: its
#                          work directory (default $CARGO_TARGET_DIR/dockerfile)
#   KWAIT_BINARY           check this prebuilt x86_64 binary instead of building one
#   KWAIT_MAX_BINARY_BYTES hard cap on the binary (default 4194304 = 4 MiB, issue #6's target):
#                          a change that pushes the static binary past it fails CI
#   KWAIT_MAX_LAYER_BYTES  hard cap on the compressed layer (default 4194304 = 4 MiB)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
TRIPLE=x86_64-unknown-linux-musl
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
BIN=$TARGET_DIR/$TRIPLE/release/kwait
OUT=${KWAIT_IMAGE_DIR:-$ROOT/target/image}
MAX_BINARY=${KWAIT_MAX_BINARY_BYTES:-4194304}
MAX_LAYER=${KWAIT_MAX_LAYER_BYTES:-4194304}
NONROOT=65532
TAG=kwait
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)

fail() {
    echo "image.sh: FAIL: $*" >&2
    exit 1
}
step() { printf '\n== %s\n' "$*"; }
# Runs a command, printing it; its exit code must be $1.
expect() {
    local want=$1
    shift
    echo "+ $*"
    local got=0
    "$@" || got=$?
    [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want"
}
# Like expect, and all the command printed (stdout and stderr) must match the glob $2.
expect_said() {
    local want=$1 pattern=$2 got=0 said
    shift 2
    echo "+ $*"
    said=$("$@" 2>&1) || got=$?
    printf '%s\n' "$said"
    [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want"
    # shellcheck disable=SC2053 # $pattern is a glob on purpose
    [[ $said == $pattern ]] || fail "'$*' did not print what matches '$pattern'"
}

# ---------------------------------------------------------------------------------------------
step "tools"
[ "$(id -u)" -eq 0 ] || fail "run as root: the empty-root checks chroot (CI machines run as root)"
missing=()
command -v x86_64-linux-musl-gcc >/dev/null || missing+=(musl-tools)
command -v umoci >/dev/null || missing+=(umoci)
command -v skopeo >/dev/null || missing+=(skopeo)
command -v file >/dev/null || missing+=(file)
command -v readelf >/dev/null || missing+=(binutils)
command -v chroot >/dev/null || missing+=(coreutils)
command -v python3 >/dev/null || missing+=(python3)
[ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
# Installs the Debian packages named, if any.
apt_install() {
    [ $# -gt 0 ] || return 0
    echo "installing: $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -q || fail "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" ||
        fail "apt-get install $*"
}
apt_install ${missing[@]+"${missing[@]}"}
if ! rustup target list --installed | grep -qx "$TRIPLE"; then
    rustup target add "$TRIPLE" || fail "rustup target add $TRIPLE"
fi
umoci --version
skopeo --version

# ---------------------------------------------------------------------------------------------
if [ -n "${KWAIT_BINARY:-}" ]; then
    step "build: skipped, checking KWAIT_BINARY=$KWAIT_BINARY"
    BIN=$KWAIT_BINARY
else
    step "build: cargo build --release --locked --target $TRIPLE --bin kwait"
    start=$SECONDS
    # .cargo/config.toml: CC for ring, +crt-static, relocation-model=static (no dynamic section).
    # RUSTFLAGS in the environment would replace the config's flags and give a static-PIE.
    if [ -n "${RUSTFLAGS:-}${CARGO_ENCODED_RUSTFLAGS:-}" ]; then
        echo "note: ignoring RUSTFLAGS for the release build (.cargo/config.toml sets them)"
    fi
    env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS \
        cargo build --release --locked --target "$TRIPLE" --bin kwait || fail "release build"
    echo "built in $((SECONDS - start))s: $BIN"
fi
[ -x "$BIN" ] || fail "no binary at $BIN"

# ---------------------------------------------------------------------------------------------
step "static: file, readelf"
# Proves that $1 is a static ELF executable for machine $2 (as `file` names it: x86-64,
# aarch64): `file` says "statically linked", `readelf` finds no dynamic section and no PT_INTERP.
check_static() {
    local bin=$1 machine=$2 desc dyn
    desc=$(file -b "$bin")
    echo "file: $desc"
    case "$desc" in
        *" $machine, "*"statically linked"*) ;;
        *) fail "file does not say '$machine ... statically linked' of $bin" ;;
    esac
    case "$desc" in
        *interpreter* | *"dynamically linked"*) fail "file says $bin needs an interpreter" ;;
    esac
    dyn=$(readelf -d "$bin" 2>&1 | sed '/^$/d')
    echo "readelf -d: $dyn"
    [ "$dyn" = "There is no dynamic section in this file." ] || fail "$bin has a dynamic section"
    if readelf -lW "$bin" | grep -q INTERP; then fail "$bin has a PT_INTERP program header"; fi
}
check_static "$BIN" x86-64
bin_bytes=$(stat -c %s "$BIN")
echo "binary: $bin_bytes bytes (hard cap $MAX_BINARY)"
[ "$bin_bytes" -le "$MAX_BINARY" ] || fail "binary is $bin_bytes bytes, over the budget of $MAX_BINARY"

# ---------------------------------------------------------------------------------------------
# A loopback server for the real checks, for as long as this script runs.
rm -rf "$OUT"
mkdir -p "$OUT/www"
printf '{"status":"healthy"}\n' >"$OUT/www/health"
# The helper servers live as long as this script: its trap kills them, and should the script die
# without running it (SIGKILL), they notice their parent is gone. No timer of their own: a slow
# machine's Dockerfile builds outlasted one, and the later checks found no server.
cat >"$OUT/lifetime.py" <<'EOF'
import os, threading, time
parent = os.getppid()
def orphaned():
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
EOF
cat >"$OUT/serve.py" <<'EOF'
import http.server, os, sys
import lifetime  # noqa: F401 (ends this server with the script)
os.chdir(sys.argv[1])
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
srv.serve_forever()
EOF
python3 "$OUT/serve.py" "$OUT/www" "$OUT/port" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
# Waits up to 10 s for file $1 to be written (a server announcing itself); fails with $2.
await_file() {
    for _ in $(seq 100); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    fail "$2"
}
await_file "$OUT/port" "the loopback HTTP server did not start"
port=$(cat "$OUT/port")
echo "loopback HTTP server on 127.0.0.1:$port"

# Runs kwait inside root directory $1 as uid/gid 65532 with an empty environment: no libc, NSS,
# shell, CA bundle, HOME or KUBECONFIG beyond what is in that directory. $EMU, when set, is the
# path inside that root of a static qemu-user that runs a foreign binary.
CHROOT=$(type -P chroot)
EMU=
kw() {
    local dir=$1
    shift
    env -i "$CHROOT" --userspec="$NONROOT:$NONROOT" "$dir" $EMU /kwait "$@"
}
run_checks() {
    local dir=$1
    expect_said 0 "kwait $VERSION (*)" kw "$dir" --version
    expect 0 kw "$dir" --dry-run wait-tcp 127.0.0.1:1
    expect 0 kw "$dir" --dry-run=rbac wait-secret demo --key API_KEY
    expect 0 kw "$dir" wait-tcp "127.0.0.1:$port" --timeout 20s
    expect 0 kw "$dir" wait-http "http://127.0.0.1:$port/health" \
        --json-path '$.status' --equals healthy --timeout 20s
    expect 0 kw "$dir" wait-http "http://127.0.0.1:$port/health" \
        --body-regex '"status":\s*"healthy"' --timeout 20s
    # Nothing listens on port 1: must time out (124), not crash or pass.
    expect 124 kw "$dir" wait-tcp 127.0.0.1:1 --timeout 2s --interval 200ms
}

step "empty root: a directory holding only /kwait"
EMPTY=$OUT/emptyroot
mkdir -p "$EMPTY"
install -m 0755 "$BIN" "$EMPTY/kwait"
listing=$(cd "$EMPTY" && find . -mindepth 1)
[ "$listing" = "./kwait" ] || fail "the empty root holds more than /kwait: $listing"
run_checks "$EMPTY"

# ---------------------------------------------------------------------------------------------
# Names as a pod resolves them: the static binary has no NSS, so musl's own resolver must read
# /etc/hosts and /etc/resolv.conf (search domains, ndots:5) and ask the nameserver itself. A DNS
# server on 127.0.0.153:53 (UDP; this script's, logging each question) stands in for kube-dns and
# knows only postgres.crs.svc.cluster.local.
step "names: /etc/hosts, and DNS with a pod's resolv.conf search list"
NAMES=$OUT/namesroot
mkdir -p "$NAMES/etc"
install -m 0755 "$BIN" "$NAMES/kwait"
printf '127.0.0.1 localhost\n127.0.0.1 db-from-hosts\n' >"$NAMES/etc/hosts"
printf 'search crs.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.153\noptions ndots:5\n' \
    >"$NAMES/etc/resolv.conf"
cat >"$OUT/dns.py" <<'PY'
import socket, struct, sys
import lifetime  # noqa: F401 (ends this server with the script)
ready, log = sys.argv[1:]
known = {"postgres.crs.svc.cluster.local": "127.0.0.1"}
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.153", 53))
open(ready, "w").write("ready\n")
with open(log, "w", buffering=1) as out:
    while True:
        query, peer = sock.recvfrom(512)
        (qid,) = struct.unpack(">H", query[:2])
        i, labels = 12, []
        while query[i]:
            labels.append(query[i + 1:i + 1 + query[i]].decode().lower())
            i += 1 + query[i]
        (qtype,) = struct.unpack(">H", query[i + 1:i + 3])
        question, name = query[12:i + 5], ".".join(labels)
        out.write(f"{qtype} {name}\n")
        addr = known.get(name)
        answer = b""
        if addr and qtype == 1:  # A; other types of a known name: no data
            answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + socket.inet_aton(addr)
        rcode = 0 if addr else 3  # NXDOMAIN
        head = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, 1 if answer else 0, 0, 0)
        sock.sendto(head + question + answer, peer)
PY
python3 "$OUT/dns.py" "$OUT/dns.ready" "$OUT/dns.log" &
dns=$!
trap 'kill "$server" "$dns" 2>/dev/null || true' EXIT
await_file "$OUT/dns.ready" "the DNS server did not start"
expect 0 kw "$NAMES" wait-tcp "db-from-hosts:$port" --timeout 10s
expect 0 kw "$NAMES" wait-tcp "postgres:$port" --timeout 10s
expect 0 kw "$NAMES" wait-http "http://postgres.crs:$port/health" --json-path '$.status' --equals healthy --timeout 10s
expect_said 124 "*DNS: name not found*" kw "$NAMES" wait-tcp "nosuch:$port" --timeout 2s
grep -qx "1 postgres.crs.svc.cluster.local" "$OUT/dns.log" ||
    fail "kwait did not ask the DNS server for postgres.crs.svc.cluster.local: $(tr '\n' ';' <"$OUT/dns.log")"
grep -qx "1 nosuch.cluster.local" "$OUT/dns.log" ||
    fail "kwait did not walk the search list for nosuch: $(tr '\n' ';' <"$OUT/dns.log")"
echo "DNS questions asked: $(sort -u "$OUT/dns.log" | tr '\n' ';')"
kill "$dns" 2>/dev/null || true

# ---------------------------------------------------------------------------------------------
# What an init container sees: KUBERNETES_SERVICE_HOST/PORT and the service-account mount
# (token, ca.crt, namespace), nothing else. testkit's fake API server (HTTPS, tokens) stands in
# for the cluster; kwait must find it, trust its CA, use the token and the pod's namespace.
step "in-cluster: a root holding only /kwait and the service-account mount"
cargo build --locked -q -p testkit --bin fake-apiserver
FAKE=$TARGET_DIR/debug/fake-apiserver
SA_TOKEN=image-check-sa-token
"$FAKE" --tls --token "$SA_TOKEN" --kubeconfig "$OUT/fake.kubeconfig" >"$OUT/fake.out" &
fake=$!
trap 'kill "$server" "$dns" "$fake" 2>/dev/null || true' EXIT
await_file "$OUT/fake.kubeconfig" "the fake API server did not start"
api_url=$(head -1 "$OUT/fake.out")
api_port=${api_url##*:}
echo "fake API server at $api_url"
POD=$OUT/podroot
SA=$POD/var/run/secrets/kubernetes.io/serviceaccount
mkdir -p "$SA"
install -m 0755 "$BIN" "$POD/kwait"
python3 - "$OUT/fake.kubeconfig" "$SA/ca.crt" <<'EOF'
import base64, re, sys
data = re.search(r"certificate-authority-data: (\S+)", open(sys.argv[1]).read()).group(1)
open(sys.argv[2], "wb").write(base64.b64decode(data))
EOF
printf '%s' "$SA_TOKEN" >"$SA/token"
printf 'crs' >"$SA/namespace"
chmod 0644 "$SA"/*
kwpod() {
    env -i KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$api_port" \
        "$CHROOT" --userspec="$NONROOT:$NONROOT" "$POD" /kwait "$@"
}
# The Secret appears a second after kwait starts waiting for it (in the pod's namespace, crs).
create_secret() {
    sleep 1
    python3 - "$api_url" "$SA/ca.crt" "$SA_TOKEN" <<'EOF'
import json, ssl, sys, urllib.request
url, ca, token = sys.argv[1:]
body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-credentials"},
        "data": {"password": "aW1hZ2UtY2hlY2s="}}
req = urllib.request.Request(url + "/api/v1/namespaces/crs/secrets", json.dumps(body).encode(),
                             {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca)).read()
EOF
}
create_secret &
creator=$!
expect 0 kwpod wait-secret db-credentials --key password --timeout 30s
wait "$creator" || fail "could not create the Secret in the fake API server"
expect 124 kwpod wait-secret never-created --timeout 2s
kill "$fake" 2>/dev/null || true

# ---------------------------------------------------------------------------------------------
step "OCI image FROM scratch: umoci init/new/unpack/repack/config"
LAYOUT=$OUT/oci
BUNDLE=$OUT/bundle
umoci init --layout "$LAYOUT"
umoci new --image "$LAYOUT:$TAG"
umoci unpack --image "$LAYOUT:$TAG" "$BUNDLE"
RFS=$BUNDLE/rootfs
install -m 0755 "$BIN" "$RFS/kwait"
mkdir -p "$RFS/etc/ssl/certs" "$RFS/tmp"
chmod 1777 "$RFS/tmp"
# As in distroless/static: root, nobody and nonroot (65532); kwait itself looks none of them up.
cat >"$RFS/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$RFS/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
chmod 0644 "$RFS/etc/passwd" "$RFS/etc/group"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$RFS/etc/ssl/certs/ca-certificates.crt"
umoci repack --image "$LAYOUT:$TAG" "$BUNDLE"
commit=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
created=$(git -C "$ROOT" log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
umoci config --image "$LAYOUT:$TAG" \
    --os linux --architecture amd64 \
    --created "$created" \
    --config.user "$NONROOT:$NONROOT" \
    --clear config.entrypoint --config.entrypoint /kwait \
    --clear config.cmd \
    --config.workingdir / \
    --config.label "org.opencontainers.image.title=kwait" \
    --config.label "org.opencontainers.image.version=$VERSION" \
    --config.label "org.opencontainers.image.revision=$commit" \
    --config.label "org.opencontainers.image.licenses=Apache-2.0" \
    --config.label "org.opencontainers.image.description=Wait until a Kubernetes dependency is really ready"
umoci gc --layout "$LAYOUT"

step "image rootfs: unpack the image again and run from it"
umoci unpack --image "$LAYOUT:$TAG" "$OUT/unpacked"
run_checks "$OUT/unpacked/rootfs"

step "skopeo inspect"
skopeo inspect "oci:$LAYOUT:$TAG" >"$OUT/inspect.json" || fail "skopeo inspect"
skopeo inspect --config "oci:$LAYOUT:$TAG" >"$OUT/config.json" || fail "skopeo inspect --config"
skopeo inspect --raw "oci:$LAYOUT:$TAG" >"$OUT/manifest.json" || fail "skopeo inspect --raw"
python3 - "$OUT" "$LAYOUT" "$MAX_LAYER" "$NONROOT" <<'EOF' || fail "the image does not hold what it should"
import json, os, sys, tarfile
out, layout, max_layer, uid = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
inspect = json.load(open(os.path.join(out, "inspect.json")))
config = json.load(open(os.path.join(out, "config.json")))
manifest = json.load(open(os.path.join(out, "manifest.json")))
errors = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        errors.append(what)
c = config.get("config", {})
check(c.get("User") == f"{uid}:{uid}", f"user is {uid}:{uid} (got {c.get('User')!r})")
check(c.get("Entrypoint") == ["/kwait"], f"entrypoint is [\"/kwait\"] (got {c.get('Entrypoint')!r})")
check(not c.get("Cmd"), f"no cmd (got {c.get('Cmd')!r})")
check(config.get("os") == "linux" and config.get("architecture") == "amd64", "linux/amd64")
labels = c.get("Labels") or {}
for k in ("org.opencontainers.image.title", "org.opencontainers.image.version",
          "org.opencontainers.image.revision", "org.opencontainers.image.licenses"):
    check(bool(labels.get(k)), f"label {k}={labels.get(k)!r}")
layers = manifest["layers"]
check(len(layers) == 1, f"one layer (got {len(layers)})")
check(inspect.get("Layers") == [l["digest"] for l in layers], "skopeo inspect lists the manifest's layers")
size = layers[0]["size"]
check(size <= max_layer, f"compressed layer {size} bytes <= {max_layer}")
algo, digest = layers[0]["digest"].split(":")
blob = os.path.join(layout, "blobs", algo, digest)
check(os.path.getsize(blob) == size, "layer blob size matches the manifest")
members = {}
with tarfile.open(blob, "r:gz") as t:   # reads to the end: a truncated layer fails here
    for m in t:
        members[m.name.lstrip("./").rstrip("/")] = m
names = sorted(n for n in members if n)
print("layer holds:", " ".join(names))
k = members.get("kwait")
check(k is not None and k.isfile() and k.mode & 0o111 == 0o111 and k.uid == 0, "/kwait: a root-owned file, executable by all")
check("etc/ssl/certs/ca-certificates.crt" in members, "/etc/ssl/certs/ca-certificates.crt")
passwd = open(os.path.join(out, "unpacked/rootfs/etc/passwd")).read()
check(f"nonroot:x:{uid}:{uid}:" in passwd, f"/etc/passwd has nonroot {uid}")
extra = [n for n in names if n not in {"kwait", "etc", "etc/passwd", "etc/group", "etc/ssl", "etc/ssl/certs",
                                       "etc/ssl/certs/ca-certificates.crt", "tmp"}]
check(not extra, f"nothing else in the layer (extra: {extra})")
uncompressed = sum(m.size for m in members.values())
with open(os.path.join(out, "sizes"), "w") as f:
    f.write(f"{size} {uncompressed}\n")
sys.exit(1 if errors else 0)
EOF

# ---------------------------------------------------------------------------------------------
# Optional (off in CI, ~6 more minutes): the Dockerfile's arm64 recipe without Docker. Cross-build
# aarch64-unknown-linux-musl with Debian's gcc-aarch64-linux-gnu, prove it static, and run it
# from an empty root under qemu-user (the emulator is the only other file in that root).
arm_bytes=
if [ "${KWAIT_IMAGE_ARM64:-0}" = 1 ]; then
    step "arm64: cross-build and run under qemu-aarch64-static"
    ARM=aarch64-unknown-linux-musl
    arm_missing=()
    command -v aarch64-linux-gnu-gcc >/dev/null || arm_missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
    command -v qemu-aarch64-static >/dev/null || arm_missing+=(qemu-user-static)
    apt_install ${arm_missing[@]+"${arm_missing[@]}"}
    rustup target list --installed | grep -qx "$ARM" || rustup target add "$ARM" || fail "rustup target add $ARM"
    env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS \
        cargo build --release --locked --target "$ARM" --bin kwait || fail "aarch64 release build"
    ABIN=$TARGET_DIR/$ARM/release/kwait
    check_static "$ABIN" aarch64
    AROOT=$OUT/armroot
    mkdir -p "$AROOT"
    install -m 0755 "$ABIN" "$AROOT/kwait"
    install -m 0755 "$(command -v qemu-aarch64-static)" "$AROOT/qemu"
    EMU=/qemu
    run_checks "$AROOT"
    EMU=
    arm_bytes=$(stat -c %s "$ABIN")
fi

# ---------------------------------------------------------------------------------------------
# Optional (KWAIT_IMAGE_DOCKERFILE=1; .ci/run turns it on): build the Dockerfile itself for
# linux/amd64 and linux/arm64 with buildah (no Docker engine), check each image's config, and run
# each image's /kwait from the image's own rootfs (arm64 under qemu-user). About 6 minutes cold
# on 2 cores, 3 warm; about 4.3 GB of disk at its peak (buildah's vfs driver copies whole
# layers), so it is skipped, saying so, when less than 10 GiB is free.
# No registry serves images here, so both bases are stand-ins built in a private buildah store
# under their real names. What this proves is the Dockerfile's own instructions (ARGs and
# platforms, the cross C compiler install, rustup, cache mounts, the build, COPY --chown/--chmod,
# USER, ENTRYPOINT, labels), not the real bases:
#   rust:1-bookworm: Debian bookworm from debootstrap (gcc, libc6-dev, make, git, curl,
#     ca-certificates: the part of buildpack-deps the build uses) with this machine's Rust
#     toolchain at /usr/local/rustup and /usr/local/cargo as in the official image, without musl
#     targets (the Dockerfile adds its own), and the machine's CA bundle and extra CAs (for
#     networks that inspect TLS);
#   gcr.io/distroless/static-debian12:nonroot: the OCI image's /etc and /tmp above plus
#     /home/nonroot, user 65532; one per platform (a name holds one image at a time).
# buildah 1.28 (Debian 12's) differs from buildx in two ways, both bridged here without changing
# what the Dockerfile does: it does not set BUILDPLATFORM itself, so it is passed; and after a
# `FROM --platform=$BUILDPLATFORM` stage it looks the next stage's base up for the build
# platform, so the check builds a copy whose final FROM says `--platform=$TARGETPLATFORM`, which
# is buildx's default (buildx would warn that it is redundant: RedundantTargetPlatform).
# The rust:1-bookworm stand-in, in the buildah store "${BH[@]}" names.
rust_standin() {
    local rootfs=$DF/bookworm sysroot c mnt
    if [ ! -e "$rootfs/.complete" ]; then
        rm -rf "$rootfs"
        echo "+ debootstrap --variant=minbase bookworm (log: $DF/debootstrap.log)"
        debootstrap --variant=minbase --include=ca-certificates,curl,gcc,libc6-dev,make,git,xz-utils \
            bookworm "$rootfs" http://deb.debian.org/debian >"$DF/debootstrap.log" 2>&1 ||
            { tail -20 "$DF/debootstrap.log"; fail "debootstrap bookworm"; }
        touch "$rootfs/.complete"
    fi
    sysroot=$(rustc --print sysroot)
    c=$("${BH[@]}" from scratch)
    mnt=$("${BH[@]}" mount "$c")
    cp -a "$rootfs/." "$mnt/"
    rm -f "$mnt/.complete"
    mkdir -p "$mnt/usr/local/rustup/toolchains" "$mnt/usr/local/cargo/bin"
    cp -a "$sysroot" "$mnt/usr/local/rustup/toolchains/"
    printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\n' "$(basename "$sysroot")" \
        >"$mnt/usr/local/rustup/settings.toml"
    install -m 0755 "$(command -v rustup)" "$mnt/usr/local/cargo/bin/rustup"
    for proxy in cargo rustc rustdoc; do ln -f "$mnt/usr/local/cargo/bin/rustup" "$mnt/usr/local/cargo/bin/$proxy"; done
    # This machine's CA bundle (its network's CA may be only appended to it), and its extra CAs
    # as files too, so that a package install regenerating the bundle keeps them.
    cp /usr/local/share/ca-certificates/*.crt "$mnt/usr/local/share/ca-certificates/" 2>/dev/null || true
    install -m 0644 /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/ca-certificates.crt"
    "${BH[@]}" umount "$c" >/dev/null
    "${BH[@]}" config --env RUSTUP_HOME=/usr/local/rustup --env CARGO_HOME=/usr/local/cargo \
        --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
    "${BH[@]}" run --isolation chroot "$c" -- sh -ec '
        for t in $(rustup target list --installed); do
            case "$t" in *-musl*) rustup target remove "$t" ;; esac
        done
        rustup component remove rust-docs >/dev/null 2>&1 || true
        cargo --version' || fail "preparing the rust:1-bookworm stand-in"
    "${BH[@]}" commit -q --rm "$c" docker.io/library/rust:1-bookworm >/dev/null
}

# The distroless nonroot stand-in for platform linux/$1 (variant $2, may be empty).
distroless_standin() {
    local arch=$1 variant=$2 c mnt
    c=$("${BH[@]}" from scratch)
    mnt=$("${BH[@]}" mount "$c")
    cp -a "$RFS/etc" "$RFS/tmp" "$mnt/"
    install -d -o "$NONROOT" -g "$NONROOT" "$mnt/home/nonroot"
    "${BH[@]}" umount "$c" >/dev/null
    "${BH[@]}" config --os linux --arch "$arch" ${variant:+--variant "$variant"} \
        --user "$NONROOT" --workingdir /home/nonroot \
        --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
    "${BH[@]}" commit -q --rm "$c" gcr.io/distroless/static-debian12:nonroot >/dev/null
}

# Builds the Dockerfile copy $DF/Dockerfile for linux/$1, checks the image's config, proves its
# /kwait static for machine $2 (as `file` names it) and runs run_checks from the image's rootfs,
# under emulator $3 when it is not empty.
dockerfile_image() {
    local arch=$1 machine=$2 qemu=$3 start c mnt
    echo "+ buildah bud --platform linux/$arch (log: $DF/bud-$arch.log)"
    start=$SECONDS
    "${BH[@]}" bud --isolation chroot --pull=never --platform "linux/$arch" \
        --build-arg "BUILDPLATFORM=linux/$host_arch" --build-arg "KWAIT_COMMIT=$commit" \
        -f "$DF/Dockerfile" -t "localhost/kwait:$arch" "$ROOT" >"$DF/bud-$arch.log" 2>&1 ||
        { tail -30 "$DF/bud-$arch.log"; fail "buildah bud --platform linux/$arch"; }
    echo "built in $((SECONDS - start))s"
    "${BH[@]}" inspect --type image "localhost/kwait:$arch" >"$DF/inspect-$arch.json"
    python3 - "$DF/inspect-$arch.json" "$arch" "$NONROOT" "$VERSION" "$commit" <<'PY' ||
import json, sys
path, arch, uid, version, commit = sys.argv[1:]
image = json.load(open(path))["OCIv1"]
config = image.get("config", {})
labels = config.get("Labels") or {}
errors = 0
def check(ok, what):
    global errors
    errors += not ok
    print(("ok   " if ok else "FAIL ") + what)
check(image.get("architecture") == arch, f"architecture {arch} (got {image.get('architecture')})")
check(config.get("User") == f"{uid}:{uid}", f"user {uid}:{uid} (got {config.get('User')!r})")
check(config.get("Entrypoint") == ["/kwait"], f"entrypoint [\"/kwait\"] (got {config.get('Entrypoint')})")
check(not config.get("Cmd"), f"no cmd (got {config.get('Cmd')})")
for key, want in [("title", "kwait"), ("version", version), ("revision", commit),
                  ("licenses", "Apache-2.0")]:
    got = labels.get("org.opencontainers.image." + key)
    check(got == want, f"label org.opencontainers.image.{key}={want!r} (got {got!r})")
sys.exit(1 if errors else 0)
PY
        fail "the $arch image built from the Dockerfile is not configured as it should be"
    c=$("${BH[@]}" from --pull=never --platform "linux/$arch" "localhost/kwait:$arch")
    mnt=$("${BH[@]}" mount "$c")
    [ "$(stat -c '%u %a' "$mnt/kwait")" = "0 755" ] || fail "/kwait in the $arch image is not root-owned 0755"
    check_static "$mnt/kwait" "$machine"
    df_sizes+=("$arch:$(stat -c %s "$mnt/kwait")")
    if [ -n "$qemu" ]; then
        install -m 0755 "$(command -v "$qemu")" "$mnt/qemu"
        EMU=/qemu
    fi
    run_checks "$mnt"
    EMU=
    rm -f "$mnt/qemu"
    "${BH[@]}" umount "$c" >/dev/null
    "${BH[@]}" rm "$c" >/dev/null
}

df_sizes=()
if [ "${KWAIT_IMAGE_DOCKERFILE:-0}" = 1 ]; then
    step "Dockerfile: buildah bud for linux/amd64 and linux/arm64 on stand-in base images"
    DF=${KWAIT_DOCKERFILE_DIR:-$TARGET_DIR/dockerfile}
    mkdir -p "$DF"
    avail_mib=$(($(df --output=avail -k "$DF" | tail -1) / 1024))
    if [ "$avail_mib" -lt 10240 ]; then
        echo "SKIPPED: $avail_mib MiB free under $DF; building the Dockerfile here needs 10 GiB"
    else
        df_missing=()
        command -v buildah >/dev/null || df_missing+=(buildah)
        command -v debootstrap >/dev/null || df_missing+=(debootstrap)
        command -v qemu-aarch64-static >/dev/null || df_missing+=(qemu-user-static)
        apt_install ${df_missing[@]+"${df_missing[@]}"}
        buildah --version
        STORE=$DF/storage
        BH=(buildah --root "$STORE/root" --runroot "$STORE/run" --storage-driver vfs)
        rm -rf "$STORE"
        host_arch=$(dpkg --print-architecture)
        rust_standin
        final_from='FROM gcr.io/distroless/static-debian12:nonroot'
        [ "$(grep -cx "$final_from" "$ROOT/Dockerfile")" = 1 ] || fail "the Dockerfile has no line '$final_from'"
        sed "s|^$final_from\$|FROM --platform=\$TARGETPLATFORM ${final_from#FROM }|" "$ROOT/Dockerfile" >"$DF/Dockerfile"
        diff "$ROOT/Dockerfile" "$DF/Dockerfile" || true
        for arch in amd64 arm64; do
            case "$arch" in
                amd64) machine=x86-64 variant='' qemu=qemu-x86_64-static ;;
                arm64) machine=aarch64 variant=v8 qemu=qemu-aarch64-static ;;
            esac
            [ "$arch" != "$host_arch" ] || qemu=
            distroless_standin "$arch" "$variant"
            dockerfile_image "$arch" "$machine" "$qemu"
        done
        "${BH[@]}" rmi -a -f >/dev/null 2>&1 || true
        rm -rf "$STORE"
    fi
fi

# ---------------------------------------------------------------------------------------------
step "sizes"
read -r layer_bytes layer_raw <"$OUT/sizes"
layout_bytes=$(du -sb "$LAYOUT" | cut -f1)
printf '%-44s %10s bytes (%s MiB)\n' "binary ($TRIPLE, stripped):" "$bin_bytes" \
    "$(python3 -c "print(round($bin_bytes/1048576, 2))")"
if [ -n "$arm_bytes" ]; then
    printf '%-44s %10s bytes\n' "binary (aarch64-unknown-linux-musl):" "$arm_bytes"
fi
for entry in ${df_sizes[@]+"${df_sizes[@]}"}; do
    printf '%-44s %10s bytes\n' "binary in the Dockerfile's ${entry%%:*} image:" "${entry#*:}"
done
printf '%-44s %10s bytes (%s MiB)\n' "image layer, gzip (what a node pulls):" "$layer_bytes" \
    "$(python3 -c "print(round($layer_bytes/1048576, 2))")"
printf '%-44s %10s bytes\n' "image layer, uncompressed:" "$layer_raw"
printf '%-44s %10s bytes\n' "OCI layout on disk (layer+config+manifest):" "$layout_bytes"
echo "binary headroom under the $MAX_BINARY-byte cap: $((MAX_BINARY - bin_bytes)) bytes"
echo "image.sh: all checks passed"
