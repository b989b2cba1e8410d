#!/usr/bin/env bash
# End to end: kwait as the init container of real Pods on a real single-node cluster (issue #23).
#
#   bash scripts/e2e.sh                         (root; CI runs it after the image step)
#
# Starts, from ../shared/k8s (Kubernetes v1.36.2, xz): etcd, kube-apiserver (its own PKI made with
# openssl, a token file, RBAC, an audit log), kube-controller-manager, kube-scheduler, and
# Debian's containerd + runc with a kubelet; builds FROM-scratch images (pause, kwait from the
# static musl binary, busybox-static, kubectl + busybox) and imports them; then runs the scenarios
# (scripts/e2e/scenarios.sh) as real Pods, each kwait with the Role its --dry-run=rbac prints bound
# to its ServiceAccount. Each scenario prints `e2e: PASS name (figure)` or `e2e: FAIL name: why`;
# the last line is `e2e: N passed, M failed`; the exit code is 1 when any failed.
#
# Everything lives in one temporary directory. The trap stops every process this script started
# (the kubelet's pods first, then containerd's tasks and shims), unmounts what they mounted,
# restores the sysctls the kubelet and the CNI bridge change, removes its iptables rules and its
# bridge. Pod traffic stays on the node's bridge (kwe2e0, 10.244.77.0/24): pods have no default
# route, only one to the Service range, whose `kubernetes` address is DNATed to the API server on
# 127.0.0.1; forwarding off the bridge is dropped. Nothing is pulled: images are imported.
#
# Environment:
#   KWAIT_BINARY          a prebuilt static x86_64 kwait (default: cargo build --release --locked
#                         --target x86_64-unknown-linux-musl --bin kwait)
#   KWAIT_K8S_DIR         the xz binaries (default ../shared/k8s beside the repo)
#   KWAIT_E2E_KUBECONFIG  run the scenarios against the cluster this kubeconfig names (kind, k3d, ...)
#                         instead of starting a node; the images must be loaded there already
#                         (KWAIT_E2E_IMAGES_ONLY=DIR writes them as archives: see README); no root needed
#   KWAIT_E2E_IMAGES_ONLY=DIR  build the images, write them as docker-archive tars into DIR, stop
#   KWAIT_E2E_ONLY        space-separated scenario names to run (default: all, SCENARIOS in
#                         scripts/e2e/scenarios.sh), e.g. KWAIT_E2E_ONLY=service
#   KWAIT_E2E_TRIALS      trials of scenario a) for its figures (default 3), and runs of scenario
#                         service (default 5)
#   KWAIT_E2E_PROXY_LAG=S scenario service: svcproxy.py applies each EndpointSlice change S seconds
#                         late, as kube-proxy would (default 0)
#   KWAIT_E2E_KEEP=1      keep the temporary directory (logs) after the run
#   KWAIT_E2E_RESULTS=F   write the figures into F (bench/RESULTS.md), between its
#                         <!-- section:real-node --> markers (scripts/e2e/results.py)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
E2E=$ROOT/scripts/e2e
START=$(date +%s)
log() { printf 'e2e.sh: %s\n' "$*" >&2; }
die() {
    printf 'e2e.sh: FAIL: %s\n' "$*" >&2
    exit 1
}

W=$(mktemp -d /tmp/kwait-e2e.XXXXXX)
chmod 0755 "$W"
mkdir -p "$W/bin" "$W/logs" "$W/pki" "$W/images"
export KWAIT_E2E_WORK=$W
# shellcheck source=scripts/e2e/node.sh
. "$E2E/node.sh"
# shellcheck source=scripts/e2e/images.sh
. "$E2E/images.sh"

# A command that fails under errexit says so before the teardown (else the run ends silently).
set -E
trap 'log "line $LINENO: $BASH_COMMAND exited $?"' ERR
SCENARIO_PID=
trap '[ -z "$SCENARIO_PID" ] || kill_tree "$SCENARIO_PID"; node_stop' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

kwait_binary
if [ -n "${KWAIT_E2E_IMAGES_ONLY:-}" ]; then
    [ "$(id -u)" -eq 0 ] || die "run as root: umoci unpacks the image roots as root"
    mkdir -p "$KWAIT_E2E_IMAGES_ONLY"
    images_build "$KWAIT_E2E_IMAGES_ONLY"
    log "images written to $KWAIT_E2E_IMAGES_ONLY: $(cd "$KWAIT_E2E_IMAGES_ONLY" && echo *.tar)"
    exit 0
fi

if [ -n "${KWAIT_E2E_KUBECONFIG:-}" ]; then
    export KUBECONFIG=$KWAIT_E2E_KUBECONFIG
    log "using the cluster of $KUBECONFIG (no node started; the images must be loaded there)"
else
    [ "$(id -u)" -eq 0 ] || die "run as root: it starts containerd and a kubelet (or set KWAIT_E2E_KUBECONFIG)"
    images_build "$W/images"
    node_start
    images_import "$W/images"
fi

# shellcheck source=scripts/e2e/scenarios.sh
. "$E2E/scenarios.sh"
E2E_PASSED=0 E2E_FAILED=0
scenarios_run
numbers=$(cat "$W/numbers")
node_stop
wall=$(($(date +%s) - START))
log "done in ${wall}s (node, images, scenarios and teardown)"
if [ -n "${KWAIT_E2E_RESULTS:-}" ]; then
    printf '%s\n' "$numbers" | python3 "$E2E/results.py" "$KWAIT_E2E_RESULTS" "$E2E_PASSED" "$E2E_FAILED" \
        "$wall" "$("$KWAIT_BIN" --version)" "${KWAIT_E2E_TRIALS:-3}" "${KUBECTL_VERSION:-}" ||
        die "could not write $KWAIT_E2E_RESULTS"
    log "figures written into $KWAIT_E2E_RESULTS (section real-node)"
fi
echo "e2e: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" = 0 ]
