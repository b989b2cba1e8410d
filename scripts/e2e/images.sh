# shellcheck shell=bash
# Sourced by scripts/e2e.sh: the images the scenarios run, all FROM scratch (umoci, as
# scripts/image.sh builds kwait's), written as docker-archive tars that `ctr images import`,
# `kind load image-archive` and `k3d image import` all read.
#
#   registry.k8s.io/pause:kwait-e2e      a static C pause (musl-gcc): sleeps in pause(), reaps children
#   docker.io/library/kwait:e2e          the static kwait, /etc/passwd with 65532, the CA bundle
#   docker.io/library/busybox:e2e        Debian's busybox-static with its applets (sh, httpd, nc, ...)
#   docker.io/library/busybox:e2e-v2     the same image under another tag (a rollout's new version)
#   docker.io/library/kubectl-loop:e2e   the static kubectl + busybox (the `kubectl get; sleep 2` loop)
#   registry.example.com/acme/shop:2.3.0 busybox whose entrypoint plays charts-snippets' example app

TRIPLE=x86_64-unknown-linux-musl
PAUSE_IMAGE=registry.k8s.io/pause:kwait-e2e
KWAIT_IMAGE=docker.io/library/kwait:e2e
BUSYBOX_IMAGE=docker.io/library/busybox:e2e
BUSYBOX_IMAGE_V2=docker.io/library/busybox:e2e-v2
KUBECTL_IMAGE=docker.io/library/kubectl-loop:e2e
SHOP_IMAGE=registry.example.com/acme/shop:2.3.0

# Sets KWAIT_BIN: $KWAIT_BINARY, or the static release build.
kwait_binary() {
    if [ -n "${KWAIT_BINARY:-}" ]; then
        KWAIT_BIN=$KWAIT_BINARY
    else
        local target=${CARGO_TARGET_DIR:-$ROOT/target}
        case "$target" in /*) ;; *) target=$ROOT/$target ;; esac
        rustup target list --installed | grep -qx "$TRIPLE" || rustup target add "$TRIPLE"
        log "cargo build --release --locked --target $TRIPLE --bin kwait"
        # .cargo/config.toml sets the static flags; RUSTFLAGS from the environment would replace them.
        env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS \
            cargo build -q --release --locked --target "$TRIPLE" --bin kwait || die "release build"
        KWAIT_BIN=$target/$TRIPLE/release/kwait
    fi
    [ -x "$KWAIT_BIN" ] || die "no kwait binary at $KWAIT_BIN"
    [[ $(file -b "$KWAIT_BIN") == *"statically linked"* ]] || die "$KWAIT_BIN is not a static binary"
}

# The static kubectl for the loop image: the machine's, or the newest sibling a dispatcher
# (Google Cloud SDK's kubectl) runs. Prints nothing and returns 1 when none is static.
static_kubectl() {
    local k cand v
    k=$(command -v kubectl) || return 1
    k=$(readlink -f "$k")
    for cand in "$k" $(ls -r "$k".1.* 2>/dev/null); do
        v=$("$cand" version --client 2>/dev/null) || continue
        if [[ $(file -b "$cand") == *"statically linked"* && $v != *dispatcher* ]]; then
            echo "$cand"
            return 0
        fi
    done
    return 1
}

apt_missing() {
    local pkgs=() p
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || pkgs+=("$p"); done
    [ ${#pkgs[@]} -eq 0 ] && return 0
    log "installing ${pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || die "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null ||
        die "apt-get install ${pkgs[*]}"
}

# image NAME TAR ROOTFS USER ENTRYPOINT...: an OCI image FROM scratch holding ROOTFS, as a
# docker-archive tar named NAME.
image() {
    local name=$1 tar=$2 rootfs=$3 user=$4 layout=$W/oci
    shift 4
    local tag
    tag=$(echo "$name" | tr -c 'a-zA-Z0-9\n' '-')
    [ -d "$layout" ] || umoci init --layout "$layout"
    umoci new --image "$layout:$tag"
    umoci unpack --image "$layout:$tag" "$W/bundle-$tag" >/dev/null
    cp -a "$rootfs/." "$W/bundle-$tag/rootfs/"
    umoci repack --image "$layout:$tag" "$W/bundle-$tag"
    local ep=() a
    for a in "$@"; do ep+=(--config.entrypoint "$a"); done
    umoci config --image "$layout:$tag" --os linux --architecture amd64 \
        --config.user "$user" --clear config.entrypoint "${ep[@]}" --clear config.cmd \
        --config.workingdir / --config.env PATH=/bin
    rm -rf "$W/bundle-$tag"
    rm -f "$tar"
    skopeo copy -q "oci:$layout:$tag" "docker-archive:$tar:$name" || die "skopeo copy $name"
}

# Busybox-static with a symlink per applet, into $1.
busybox_root() {
    mkdir -p "$1/bin" "$1/tmp" "$1/etc" "$1/www"
    chmod 1777 "$1/tmp"
    install -m 0755 /bin/busybox "$1/bin/busybox"
    local a
    for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$1/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/tmp:/bin/sh\n' >"$1/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' >"$1/etc/group"
}

images_build() {
    local out=$1 r
    apt_missing busybox-static umoci skopeo musl-tools file
    r=$W/roots
    rm -rf "$r"
    mkdir -p "$r"

    # pause
    mkdir -p "$r/pause"
    cat >"$W/pause.c" <<'EOF'
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    signal(SIGINT, quit);
    signal(SIGTERM, quit);
    signal(SIGCHLD, reap);
    for (;;) pause();
}
EOF
    musl-gcc -static -O2 -o "$r/pause/pause" "$W/pause.c" || die "musl-gcc pause.c"
    image "$PAUSE_IMAGE" "$out/pause.tar" "$r/pause" 65535:65535 /pause

    # kwait, as scripts/image.sh lays it out
    mkdir -p "$r/kwait/etc/ssl/certs" "$r/kwait/tmp"
    chmod 1777 "$r/kwait/tmp"
    install -m 0755 "$KWAIT_BIN" "$r/kwait/kwait"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$r/kwait/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' >"$r/kwait/etc/group"
    install -m 0644 /etc/ssl/certs/ca-certificates.crt "$r/kwait/etc/ssl/certs/"
    image "$KWAIT_IMAGE" "$out/kwait.tar" "$r/kwait" 65532:65532 /kwait

    busybox_root "$r/busybox"
    image "$BUSYBOX_IMAGE" "$out/busybox.tar" "$r/busybox" 0:0 /bin/sh
    image "$BUSYBOX_IMAGE_V2" "$out/busybox-v2.tar" "$r/busybox" 0:0 /bin/sh

    # charts-snippets/examples/migrations-gitops runs `shop migrate --to latest` in its Job and
    # `shop web` / `shop worker` in its Deployments.
    busybox_root "$r/shop"
    cat >"$r/shop/bin/shop" <<'EOF'
#!/bin/sh
case "$1" in
migrate) echo "shop: migrated to latest"; exit 0 ;;
*) echo "shop: $1 started"; exec sleep 3600 ;;
esac
EOF
    chmod 0755 "$r/shop/bin/shop"
    image "$SHOP_IMAGE" "$out/shop.tar" "$r/shop" 65532:65532 /bin/shop

    KUBECTL_STATIC=$(static_kubectl) || KUBECTL_STATIC=
    if [ -n "$KUBECTL_STATIC" ]; then
        busybox_root "$r/kubectl"
        install -m 0755 "$KUBECTL_STATIC" "$r/kubectl/bin/kubectl"
        image "$KUBECTL_IMAGE" "$out/kubectl.tar" "$r/kubectl" 65532:65532 /bin/sh
        KUBECTL_VERSION=$("$KUBECTL_STATIC" version --client 2>/dev/null) || true
        KUBECTL_VERSION="${KUBECTL_VERSION%%$'\n'*} ($KUBECTL_STATIC)"
    else
        log "no static kubectl on this machine: the kubectl loop of scenario a) is skipped"
    fi
    rm -rf "$r" "$W/oci"
}

images_import() {
    local t
    for t in "$1"/*.tar; do
        ctr_ images import "$t" >/dev/null || die "ctr images import $t"
    done
    log "images imported: $(ctr_ images ls -q | grep -v '^sha256:' | tr '\n' ' ')"
}
