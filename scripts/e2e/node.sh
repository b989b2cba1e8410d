# shellcheck shell=bash
# Sourced by scripts/e2e.sh: a real single-node cluster in $W, and its teardown (node_stop, the
# EXIT trap). The flags and pitfalls are those of ../shared/k8s/README.md.

NODE=kwait-e2e
BRIDGE=kwe2e0
POD_NET=10.244.77
SVC_RANGE=10.0.0.0/24
SVC_API=10.0.0.1
SOCK=$W/containerd/containerd.sock
K8S_DIR=${KWAIT_K8S_DIR:-$ROOT/../shared/k8s}
SYSCTLS="vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward"
# Paths the kubelet, containerd and the CNI plugins create outside $W whatever their
# configuration: removed on exit when they were not there before.
OUTSIDE="/var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/containerd /run/netns"
NODE_PIDS=()
NODE_UP=

ctr_() { timeout 60 ctr --address "$SOCK" -n k8s.io "$@"; }
k() { timeout 90 kubectl --request-timeout=60s "$@"; }

free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# start NAME CMD...: in the background, output in $W/logs/NAME.log.
start() {
    local name=$1
    shift
    "$@" >"$W/logs/$name.log" 2>&1 &
    NODE_PIDS+=("$!:$name")
    log "started $name (pid $!)"
}

# await WHAT SECONDS CMD...: polls CMD every 0.5 s for at most SECONDS (WHAT: for the reader).
await() {
    local secs=$2 i
    shift 2
    for ((i = 0; i < secs * 2; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

cert() { # cert NAME SUBJECT [SAN]: a key and a certificate signed by the CA
    local p=$W/pki
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$p/$1.key" -out "$p/$1.csr" -subj "$2" 2>/dev/null
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=serverAuth,clientAuth"
        [ -z "${3:-}" ] || echo "subjectAltName=$3"
    } >"$p/$1.ext"
    openssl x509 -req -in "$p/$1.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
        -days 2 -out "$p/$1.crt" -extfile "$p/$1.ext" 2>/dev/null
}

kubeconfig() { # kubeconfig FILE (cert NAME | token TOKEN)
    local user
    if [ "$2" = cert ]; then
        user="    client-certificate: $W/pki/$3.crt
    client-key: $W/pki/$3.key"
    else
        user="    token: $3"
    fi
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:$P_API
    certificate-authority: $W/pki/ca.crt
users:
- name: u
  user:
$user
contexts:
- name: e2e
  context: {cluster: e2e, user: u}
current-context: e2e
EOF
}

node_start() {
    local b
    for b in kube-apiserver etcd kubelet kube-controller-manager kube-scheduler; do
        [ -r "$K8S_DIR/$b.xz" ] || die "no $K8S_DIR/$b.xz (set KWAIT_K8S_DIR)"
    done
    apt_missing containerd runc containernetworking-plugins iptables openssl xz-utils
    command -v kubectl >/dev/null || die "kubectl is needed on the PATH"

    # Everything the teardown undoes is recorded before it is changed.
    : >"$W/absent"
    for b in $OUTSIDE; do [ -e "$b" ] || echo "$b" >>"$W/absent"; done
    for b in /sys/fs/cgroup/*/; do [ -e "$b/kubepods" ] || echo "${b}kubepods" >>"$W/absent"; done
    for b in $SYSCTLS; do echo "$b $(sysctl -n "$b")" >>"$W/sysctls"; done
    ls /run/netns >"$W/netns-before" 2>/dev/null || true
    NODE_UP=1

    log "unpacking the Kubernetes binaries from $K8S_DIR"
    for b in kube-apiserver etcd kubelet kube-controller-manager kube-scheduler; do
        xz -dc "$K8S_DIR/$b.xz" >"$W/bin/$b" || die "unpack $b"
        chmod +x "$W/bin/$b"
    done
    (cd "$W/bin" && grep -E ' (kube-apiserver|etcd|kubelet|kube-controller-manager|kube-scheduler)$' \
        "$K8S_DIR/SHA256SUMS" | sha256sum --check --quiet) || die "the unpacked binaries do not match SHA256SUMS"

    read -r P_ETCD P_PEER P_API P_KUBELET P_KHEALTH P_CM P_SCHED <<<"$(free_ports 7)"

    # PKI: one CA for serving and client certificates, an RSA key for ServiceAccount tokens.
    local p=$W/pki
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$p/ca.key" \
        -out "$p/ca.crt" -days 2 -subj "/CN=kwait-e2e-ca" 2>/dev/null || die "openssl CA"
    cert apiserver "/CN=kube-apiserver" \
        "IP:127.0.0.1,IP:$SVC_API,IP:$POD_NET.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    cert controller-manager "/CN=system:kube-controller-manager"
    cert scheduler "/CN=system:kube-scheduler"
    cert kubelet "/O=system:nodes/CN=system:node:$NODE"
    cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
    openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
    openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
    ADMIN_TOKEN=$(openssl rand -hex 24)
    echo "$ADMIN_TOKEN,admin,admin,\"system:masters\"" >"$p/tokens.csv"
    kubeconfig "$W/admin.kubeconfig" token "$ADMIN_TOKEN"
    kubeconfig "$W/cm.kubeconfig" cert controller-manager
    kubeconfig "$W/sched.kubeconfig" cert scheduler
    kubeconfig "$W/kubelet.kubeconfig" cert kubelet
    export KUBECONFIG=$W/admin.kubeconfig

    start etcd "$W/bin/etcd" --name e2e --data-dir "$W/etcd" \
        --listen-client-urls "http://127.0.0.1:$P_ETCD" --advertise-client-urls "http://127.0.0.1:$P_ETCD" \
        --listen-peer-urls "http://127.0.0.1:$P_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$P_PEER" \
        --initial-cluster "e2e=http://127.0.0.1:$P_PEER" --unsafe-no-fsync --log-level warn

    printf 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n' >"$W/audit-policy.yaml"
    start kube-apiserver "$W/bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$P_ETCD" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$P_API" \
        --cert-dir "$W/apiserver" --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
        --client-ca-file "$p/ca.crt" --token-auth-file "$p/tokens.csv" --authorization-mode RBAC \
        --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-cluster-ip-range "$SVC_RANGE" --endpoint-reconciler-type none \
        --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" \
        --kubelet-client-key "$p/apiserver-kubelet-client.key" --kubelet-preferred-address-types InternalIP \
        --audit-policy-file "$W/audit-policy.yaml" --audit-log-path "$W/logs/audit.log"
    await "kube-apiserver" 120 sh -c 'kubectl get --raw /readyz | grep -qx ok' ||
        die "kube-apiserver not ready within 120 s: $(tail -5 "$W/logs/kube-apiserver.log")"
    log "kube-apiserver ready on 127.0.0.1:$P_API ($(( $(date +%s) - START ))s)"

    # The API server runs RBAC only (no Node authorizer); the kubelet also checks the requests
    # made to it (logs, exec) through TokenReview/SubjectAccessReview.
    k create clusterrolebinding kwait-e2e-node --clusterrole system:node --user "system:node:$NODE" >/dev/null
    k create clusterrolebinding kwait-e2e-node-auth --clusterrole system:auth-delegator \
        --user "system:node:$NODE" >/dev/null

    start kube-controller-manager "$W/bin/kube-controller-manager" --kubeconfig "$W/cm.kubeconfig" \
        --authentication-kubeconfig "$W/cm.kubeconfig" --authorization-kubeconfig "$W/cm.kubeconfig" \
        --controllers '*' --use-service-account-credentials=true \
        --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
        --cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" \
        --leader-elect=false --bind-address 127.0.0.1 --secure-port "$P_CM" --authentication-skip-lookup=true
    cat >"$W/scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: $W/sched.kubeconfig}
leaderElection: {leaderElect: false}
EOF
    start kube-scheduler "$W/bin/kube-scheduler" --config "$W/scheduler.yaml" \
        --authentication-kubeconfig "$W/sched.kubeconfig" --authorization-kubeconfig "$W/sched.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port "$P_SCHED"

    # The pods' network: our own bridge; pods get a route to the Service range only (no default
    # route), the kubernetes Service address is DNATed to the API server on 127.0.0.1
    # (route_localnet), and nothing is forwarded off the bridge.
    ip link add "$BRIDGE" type bridge || die "ip link add $BRIDGE (left over from a killed run? ip link del $BRIDGE)"
    # A bridge whose MAC was never set takes the lowest MAC of its ports (zero with none), so it
    # changed as pods came and went (seen: a new MAC at nearly every pod start and stop), and a
    # pod whose ARP entry for the gateway was stale lost its packets to the host (the API server,
    # svcproxy.py) until it resolved it again: once a wait-http made no request for ~8 s, as a
    # connect whose SYNs go unanswered retries after 1, 3 and 7 s. The CNI bridge plugin pins it only when it adds the
    # gateway address itself, and here the address is already there. Pinned, as the plugin does:
    # 0a:58 and the gateway's IPv4 address.
    local o1 o2 o3
    IFS=. read -r o1 o2 o3 <<<"$POD_NET"
    ip link set "$BRIDGE" address "$(printf '0a:58:%02x:%02x:%02x:01' "$o1" "$o2" "$o3")"
    ip addr add "$POD_NET.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    sysctl -qw "net.ipv4.conf.$BRIDGE.route_localnet=1"
    iptables -w -t nat -N KWAIT-E2E
    iptables -w -t nat -A KWAIT-E2E -d "$SVC_API/32" -p tcp --dport 443 -j DNAT --to-destination "127.0.0.1:$P_API"
    iptables -w -t nat -I PREROUTING -i "$BRIDGE" -j KWAIT-E2E
    iptables -w -N KWAIT-E2E-FWD
    iptables -w -A KWAIT-E2E-FWD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP
    iptables -w -A KWAIT-E2E-FWD -o "$BRIDGE" ! -i "$BRIDGE" -j DROP
    iptables -w -I FORWARD -j KWAIT-E2E-FWD
    mkdir -p "$W/cni/net.d"
    cat >"$W/cni/net.d/10-kwait-e2e.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "kwait-e2e", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$W/cni/ipam",
            "ranges": [[{"subnet": "$POD_NET.0/24", "gateway": "$POD_NET.1"}]],
            "routes": [{"dst": "$SVC_RANGE"}]}}]}
EOF

    mkdir -p "$W/containerd"
    cat >"$W/containerd/config.toml" <<EOF
version = 2
root = "$W/containerd/root"
state = "$W/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$W/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$W/cni/net.d"
EOF
    start containerd containerd --config "$W/containerd/config.toml"
    await containerd 60 ctr_ version || die "containerd did not answer within 60 s: $(tail -5 "$W/logs/containerd.log")"

    printf '# no cluster DNS on this node\n' >"$W/resolv.conf"
    cat >"$W/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
containerRuntimeEndpoint: unix://$SOCK
address: $POD_NET.1
port: $P_KUBELET
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $P_KHEALTH
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $p/ca.crt}
authorization: {mode: Webhook}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
clusterDomain: cluster.local
resolvConf: $W/resolv.conf
podLogsDir: $W/pod-logs
serializeImagePulls: false
maxPods: 60
EOF
    start kubelet "$W/bin/kubelet" --config "$W/kubelet.yaml" --kubeconfig "$W/kubelet.kubeconfig" \
        --root-dir "$W/kubelet" --cert-dir "$W/kubelet-pki" --hostname-override "$NODE" \
        --node-ip "$POD_NET.1" --v 1
    await node 120 sh -c "kubectl get node $NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True" ||
        die "node $NODE not Ready within 120 s: $(tail -5 "$W/logs/kubelet.log")"
    log "node $NODE Ready ($(( $(date +%s) - START ))s since the script started)"
}

# The EXIT trap: stops everything node_start started, in reverse, and undoes what it changed.
node_stop() {
    trap - ERR
    [ -n "$NODE_UP" ] || { [ -n "${KWAIT_E2E_KEEP:-}" ] || rm -rf "$W"; return 0; }
    NODE_UP=
    set +e
    local e pid name i
    # Nothing recreates pods once the controllers are gone; the kubelet then stops every pod it
    # runs (and tears its network down through CNI) when the pods are force-deleted.
    for e in "${NODE_PIDS[@]}"; do
        case "${e#*:}" in kube-controller-manager | kube-scheduler) kill "${e%%:*}" 2>/dev/null ;; esac
    done
    if kill -0 "$(pid_of kubelet)" 2>/dev/null && kubectl get --raw /readyz >/dev/null 2>&1; then
        k delete pods -A --all --grace-period=0 --force --wait=false >/dev/null 2>&1
        for ((i = 0; i < 60; i++)); do
            [[ $(ctr_ tasks ls 2>/dev/null) == *RUNNING* ]] || break
            sleep 0.5
        done
    fi
    stop_pid kubelet
    if [ -S "$SOCK" ]; then
        for e in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$e" >/dev/null 2>&1; done
        for e in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$e" >/dev/null 2>&1; done
        for e in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers rm "$e" >/dev/null 2>&1; done
    fi
    stop_pid containerd
    # A shim outlives containerd: the ones started for this socket (named in their command line).
    for pid in $(grep -lsF -- "$SOCK" /proc/[0-9]*/cmdline | cut -d/ -f3); do
        grep -qsa containerd-shim "/proc/$pid/cmdline" && kill -9 "$pid" 2>/dev/null
    done
    for ((i = ${#NODE_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${NODE_PIDS[i]#*:}"; done
    # Mounts: the containers' rootfs and shm, the pods' volumes, the pods' network namespaces.
    awk '{print $5}' /proc/self/mountinfo | grep "^$W/" | sort -r | while read -r m; do umount -l "$m"; done
    for e in /run/netns/cni-*; do
        [ -e "$e" ] && ! grep -qx "${e##*/}" "$W/netns-before" && { umount -l "$e"; rm -f "$e"; }
    done
    iptables -w -t nat -D PREROUTING -i "$BRIDGE" -j KWAIT-E2E 2>/dev/null
    iptables -w -t nat -F KWAIT-E2E 2>/dev/null
    iptables -w -t nat -X KWAIT-E2E 2>/dev/null
    iptables -w -D FORWARD -j KWAIT-E2E-FWD 2>/dev/null
    iptables -w -F KWAIT-E2E-FWD 2>/dev/null
    iptables -w -X KWAIT-E2E-FWD 2>/dev/null
    ip link del "$BRIDGE" 2>/dev/null
    while read -r name e; do sysctl -qw "$name=$e"; done <"$W/sysctls"
    while read -r e; do
        case "$e" in
            */kubepods) [ -d "$e" ] && find "$e" -depth -type d -exec rmdir {} \; 2>/dev/null ;;
            /run/netns) rmdir "$e" 2>/dev/null ;;
            *) rm -rf "$e" ;;
        esac
    done <"$W/absent"
    if [ -n "${KWAIT_E2E_KEEP:-}" ]; then log "kept $W"; else rm -rf "$W"; fi
}

# kill_tree PID: PID and every process it started that is still its descendant
kill_tree() {
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$c"; done
    kill "$1" 2>/dev/null || true
}

pid_of() {
    local e
    for e in "${NODE_PIDS[@]}"; do [ "${e#*:}" = "$1" ] && echo "${e%%:*}" && return 0; done
    echo 0
}

# stop_pid NAME: SIGTERM, up to 10 s, then SIGKILL.
stop_pid() {
    local pid i
    pid=$(pid_of "$1")
    [ "$pid" != 0 ] && kill -0 "$pid" 2>/dev/null || return 0
    kill "$pid" 2>/dev/null
    for ((i = 0; i < 20; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.5
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}
