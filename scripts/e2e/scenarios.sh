# shellcheck shell=bash
# Sourced by scripts/e2e.sh: the scenarios, run as real Pods against the cluster $KUBECONFIG
# names. Each runs in its own namespace (e2e-<name>), in a subshell with errexit, its output in
# $W/logs/scenario-<name>.log; it writes its figure to $W/fig and, when it fails, why to $W/why.
# Every kwait gets exactly the Role its own `--dry-run=rbac` prints, bound to its own
# ServiceAccount. Timings come from the container runtime's log timestamps (nanoseconds, the
# node's clock) and the script's own clock on the same machine; they are reported, and only
# asserted where the claim is the point (a failed Job: exit 1 within a second; a deleted pod:
# exit 143 well inside its grace period).

E2E_NAMESPACES=()
WAIT_SECS=120 # every wait for a pod, a Job or a rollout; generous for a loaded 2-core machine

now() { date +%s.%N; }
# sub A B: A - B in seconds, two decimals
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
# lt A B: A < B
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
why() {
    printf '%s\n' "$*" >"$W/why"
    echo "why: $*"
    exit 1
}
figure() { printf '%s\n' "$*" >"$W/fig"; }
# number KEY SECONDS: a measured figure, for scripts/e2e/results.py
number() { printf '%s %s\n' "$1" "$2" >>"$W/numbers"; }

# poll DESC CMD...: until CMD succeeds, at most WAIT_SECS; else the scenario fails with DESC.
poll() {
    local desc=$1 i
    shift
    for ((i = 0; i < WAIT_SECS * 4; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    why "$desc: not within ${WAIT_SECS}s"
}

ns_new() {
    E2E_NAMESPACES+=("$1")
    k delete ns "$1" --ignore-not-found --wait=true --timeout=120s >/dev/null
    k create ns "$1" >/dev/null
    k label ns "$1" kwait-e2e=1 >/dev/null
    # Pods need the ServiceAccount `default` and the CA ConfigMaps the controller-manager creates.
    poll "ServiceAccount default in $1" k get sa default -n "$1"
    poll "ConfigMap kube-root-ca.crt in $1" k get cm kube-root-ca.crt -n "$1"
}

# kwait_rbac NS SA KWAIT-ARGS...: ServiceAccount SA bound to the Role kwait --dry-run=rbac prints
# for those arguments (renamed SA-kwait: two pods in a namespace must not share a Role).
kwait_rbac() {
    local ns=$1 sa=$2
    shift 2
    k create sa "$sa" -n "$ns" >/dev/null
    "$KWAIT_BIN" --dry-run=rbac -n "$ns" "$@" >"$W/role-$ns-$sa.yaml"
    sed -i -E "0,/^  name: .*/s//  name: $sa-kwait/" "$W/role-$ns-$sa.yaml"
    k apply -f "$W/role-$ns-$sa.yaml" >/dev/null
    k create rolebinding "$sa-kwait" -n "$ns" --role "$sa-kwait" --serviceaccount "$ns:$sa" >/dev/null
}

# kwait_pod NS NAME SA RESTART [--finalizer] KWAIT-ARGS...: a pod whose init container is kwait
# and whose app container prints "app started" and sleeps.
kwait_pod() {
    local ns=$1 name=$2 sa=$3 restart=$4 fin=
    shift 4
    if [ "$1" = --finalizer ]; then
        fin="  finalizers: [kwait.e2e/hold]"
        shift
    fi
    init_pod "$ns" "$name" "$sa" "$restart" "$fin" "$KWAIT_IMAGE" args "$@"
}
json_list() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@"; }
# init_pod NS NAME SA RESTART METADATA-LINE IMAGE args|command ARGV...: the pod kwait_pod
# describes, with IMAGE and ARGV as its init container's args or command
init_pod() {
    local ns=$1 name=$2 sa=$3 restart=$4 fin=$5 image=$6 key=$7
    shift 7
    k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: $ns
$fin
spec:
  serviceAccountName: $sa
  restartPolicy: $restart
  terminationGracePeriodSeconds: 30
  initContainers:
  - name: wait
    image: $image
    imagePullPolicy: Never
    env:
    - {name: HOME, value: /tmp}
    # the downward API, as the chart sets it: kwait records Events on its pod (issue 24)
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: POD_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    $key: $(json_list "$@")
  containers:
  - name: app
    image: $BUSYBOX_IMAGE
    imagePullPolicy: Never
    command: ["sh", "-c", "echo app started; exec sleep 3600"]
EOF
}

# jp NS POD JSONPATH
jp() { k get pod "$2" -n "$1" -o "jsonpath=$3"; }
init_running() { [ -n "$(jp "$1" "$2" '{.status.initContainerStatuses[0].state.running.startedAt}')" ]; }
app_running() { [ -n "$(jp "$1" "$2" '{.status.containerStatuses[0].state.running.startedAt}')" ]; }
init_exit() { jp "$1" "$2" '{.status.initContainerStatuses[0].state.terminated.exitCode}'; }
init_done() { [ -n "$(init_exit "$1" "$2")" ]; }
# logs NS POD CONTAINER [--timestamps]: the container's log, read whole (a `kubectl logs | grep -q`
# fails under pipefail when grep stops reading first)
logs() { k logs "$2" -n "$1" -c "$3" ${4:+"$4"}; }
# logged NS POD CONTAINER REGEX: the container's log has a line matching REGEX
logged() {
    local l
    l=$(logs "$1" "$2" "$3") && grep -qE -- "$4" <<<"$l"
}
has_log() { logged "$1" "$2" "$3" .; }
# stamp LINE: the epoch seconds of a `kubectl logs --timestamps` line
stamp() {
    [[ $1 == [0-9][0-9][0-9][0-9]-*T* ]] || why "not a timestamped log line: $1"
    date -d "${1%% *}" +%s.%N
}
# log_ts NS POD CONTAINER first|last: the epoch seconds of the container's first or last line
log_ts() {
    local l
    l=$(logs "$1" "$2" "$3" --timestamps)
    [ -n "$l" ] || why "no log line from $2/$3"
    if [ "$4" = first ]; then stamp "$(head -1 <<<"$l")"; else stamp "$(tail -1 <<<"$l")"; fi
}
# ts_of NS POD CONTAINER REGEX: the epoch seconds of the first log line matching REGEX
ts_of() {
    local l
    l=$(logs "$1" "$2" "$3" --timestamps)
    l=$(grep -E -m1 -- "$4" <<<"$l") || why "$2/$3 never logged /$4/"
    stamp "$l"
}
# A busybox pod or Job container that waits until `kubectl exec ... touch /tmp/go`, then runs $1.
gated() { printf 'until [ -e /tmp/go ]; do sleep 0.1; done; %s' "$1"; }

job() { # job NS NAME SCRIPT [EXTRA-SPEC-YAML]
    k apply -f - >/dev/null <<EOF
apiVersion: batch/v1
kind: Job
metadata: {name: $2, namespace: $1}
spec:
  backoffLimit: 0
${4:-}
  template:
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: $BUSYBOX_IMAGE
        imagePullPolicy: Never
        command: $(json_list sh -c "$3")
EOF
}
job_pod() { k get pod -n "$1" -l "job-name=$2" -o 'jsonpath={.items[0].metadata.name}'; }
job_running() {
    local p
    p=$(job_pod "$1" "$2") && [ -n "$p" ] &&
        [ "$(k get pod "$p" -n "$1" -o 'jsonpath={.status.phase}')" = Running ]
}
job_go() { k exec -n "$1" "$(job_pod "$1" "$2")" -- touch /tmp/go >/dev/null; }

# ---------------------------------------------------------------------------------------------
# a) one kwait for a Secret key, a hook Job, a Service's ready endpoints and the HTTP endpoint of
# its pod (by pod IP: there is no kube-proxy); beside it, in a pod of its own, the same
# dependencies waited for by `kubectl get ...; sleep 2` in a kubectl image. The Secret is created
# last; the figure is from its creation to each app container's first line.
scenario_and() {
    local trials=${KWAIT_E2E_TRIALS:-3} t ns ip t0 kw=() lp=() a b loop='' lb=skipped
    [ -n "${KUBECTL_STATIC:-}" ] || [ -n "${KWAIT_E2E_KUBECONFIG:-}" ] && loop=1
    for ((t = 1; t <= trials; t++)); do
        ns=e2e-and-$t
        ns_new "$ns"
        k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: $ns, labels: {app: web}}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: $BUSYBOX_IMAGE
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /tmp/www && exec httpd -f -p 8080 -h /tmp/www"]
    readinessProbe:
      httpGet: {path: /health, port: 8080}
      periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: $ns}
spec:
  selector: {app: web}
  ports: [{port: 8080}]
EOF
        job "$ns" hook "$(gated 'echo hook done')"
        poll "pod web has an IP" sh -c "[ -n \"\$(kubectl get pod web -n $ns -o jsonpath='{.status.podIP}')\" ]"
        ip=$(jp "$ns" web '{.status.podIP}')
        local args=(--timeout 3m wait-secret api --key API_KEY --and wait-job hook
            --and wait-service web --min-ready 1 --and wait-http "http://$ip:8080/health")
        kwait_rbac "$ns" app "${args[@]}"
        kwait_pod "$ns" app app Always "${args[@]}"
        if [ -n "$loop" ]; then
            k create sa loop -n "$ns" >/dev/null
            k create role loop -n "$ns" --verb get --resource secrets,jobs >/dev/null
            k create rolebinding loop -n "$ns" --role loop --serviceaccount "$ns:loop" >/dev/null
            # shellcheck disable=SC2016 # expanded by the pod's shell
            init_pod "$ns" loop loop Always "" "$KUBECTL_IMAGE" command sh -c '
until [ -n "$(kubectl get secret api -o "jsonpath={.data.API_KEY}")" ] &&
      [ "$(kubectl get job hook -o "jsonpath={.status.succeeded}")" = 1 ] &&
      printf "GET /health HTTP/1.0\r\n\r\n" | nc '"$ip"' 8080 | head -1 | grep -q " 200 "; do
  sleep 2
done'
        fi
        poll "hook Job's pod Running" job_running "$ns" hook
        poll "app's kwait running" init_running "$ns" app
        poll "app's kwait says what it waits for" has_log "$ns" app wait
        [ -z "$loop" ] || poll "the kubectl loop running" init_running "$ns" loop
        job_go "$ns" hook
        poll "Job hook complete" sh -c "kubectl get job hook -n $ns -o jsonpath='{.status.succeeded}' | grep -qx 1"
        k exec -n "$ns" web -- sh -c 'echo ok >/tmp/www/health' >/dev/null
        poll "pod web Ready" sh -c "kubectl get pod web -n $ns -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
        sleep 2 # both waiters have seen the other three ready; the Secret is the last one
        app_running "$ns" app && why "app started before its Secret existed"
        k create secret generic api -n "$ns" --from-literal API_KEY=e2e >/dev/null
        t0=$(now)
        poll "app container Running" app_running "$ns" app
        [ "$(init_exit "$ns" app)" = 0 ] || why "kwait exited $(init_exit "$ns" app)"
        logged "$ns" app wait "all 4 ready" || why "kwait did not say 'all 4 ready'"
        a=$(log_ts "$ns" app app first)
        lt "$t0" "$a" || why "app container started $(sub "$t0" "$a")s before the Secret was created"
        kw+=("$(sub "$a" "$t0")")
        if [ -n "$loop" ]; then
            poll "loop's app container Running" app_running "$ns" loop
            b=$(log_ts "$ns" loop app first)
            lb=$(sub "$b" "$t0")
            lp+=("$lb")
        fi
        echo "trial $t: kwait ${kw[-1]}s, kubectl loop ${lb}s"
        number and.kwait "${kw[-1]}"
        [ -z "$loop" ] || number and.loop "$lb"
        k delete ns "$ns" --wait=false >/dev/null
    done
    figure "last dependency ready -> app Running: kwait $(IFS=/; echo "${kw[*]}")s, kubectl get+sleep 2 loop $(IFS=/; echo "${lp[*]}")${lp[0]:+s} over $trials trials"
}

# ---------------------------------------------------------------------------------------------
# b) a migration Job that ttlSecondsAfterFinished deletes: the pod waiting for it starts, and
# `kubectl describe pod` shows kwait's report (its termination message); a pod created after the
# Job is gone times out and describe shows why.
scenario_ttl() {
    local ns=e2e-ttl d
    ns_new "$ns"
    job "$ns" migrate "$(gated 'echo migrated')" "  ttlSecondsAfterFinished: 1"
    kwait_rbac "$ns" web wait-job migrate
    kwait_pod "$ns" web web Always --timeout 3m wait-job migrate
    poll "migrate Job's pod Running" job_running "$ns" migrate
    poll "web's kwait running" init_running "$ns" web
    job_go "$ns" migrate
    poll "the Job deleted by ttlSecondsAfterFinished" sh -c "! kubectl get job migrate -n $ns"
    poll "web's app container Running" app_running "$ns" web
    d=$(k describe pod web -n "$ns")
    echo "$d"
    grep -q "ready after .*Job $ns/migrate complete" <<<"$d" ||
        why "kubectl describe pod web does not show kwait's report"
    kwait_rbac "$ns" late wait-job migrate
    kwait_pod "$ns" late late Never --timeout 5s wait-job migrate
    poll "late's kwait ended" init_done "$ns" late
    [ "$(init_exit "$ns" late)" = 124 ] || why "late's kwait exited $(init_exit "$ns" late), expected 124"
    d=$(k describe pod late -n "$ns")
    echo "$d"
    grep -q "Job $ns/migrate" <<<"$d" && grep -q "not found" <<<"$d" ||
        why "kubectl describe pod late does not show the timeout report"
    figure "describe shows 'ready after ...: Job $ns/migrate complete'; a later pod: exit 124, 'not found' report"
}

# ---------------------------------------------------------------------------------------------
# c) a failed Job: kwait exits 1 within a second of the Job's failure, as an independent watch on
# the Job sees it (FailureTarget or Failed), measured to kwait's last line.
scenario_failed_job() {
    local ns=e2e-failed t_fail t_exit lag wpid
    ns_new "$ns"
    job "$ns" migrate "$(gated 'echo relation users does not exist >&2; exit 3')"
    kwait_rbac "$ns" app wait-job migrate
    kwait_pod "$ns" app app Never --timeout 3m wait-job migrate
    poll "Job's pod Running" job_running "$ns" migrate
    poll "kwait running" init_running "$ns" app
    poll "kwait says what it waits for" has_log "$ns" app wait
    mkfifo "$W/failed.fifo"
    timeout 300 kubectl get job migrate -n "$ns" -w -o 'jsonpath={.status.conditions[*].type}{"\n"}' \
        >"$W/failed.fifo" &
    wpid=$!
    while IFS= read -r l; do printf '%s %s\n' "$(now)" "$l"; done <"$W/failed.fifo" >"$W/failed.watch" &
    sleep 1 # the watch is established
    job_go "$ns" migrate
    poll "kwait ended" init_done "$ns" app
    poll "the watch saw the Job fail" grep -qE 'Failed|FailureTarget' "$W/failed.watch"
    kill "$wpid" 2>/dev/null || true
    [ "$(init_exit "$ns" app)" = 1 ] || why "kwait exited $(init_exit "$ns" app), expected 1"
    t_fail=$(grep -m1 -E 'Failed|FailureTarget' "$W/failed.watch" | cut -d' ' -f1)
    t_exit=$(log_ts "$ns" app wait last)
    lag=$(sub "$t_exit" "$t_fail")
    k logs app -n "$ns" -c wait
    lt "$lag" 1 || why "kwait ended ${lag}s after the Job failed (more than a second)"
    number failed_job "$lag"
    figure "Job failed -> kwait exit 1 in ${lag}s"
}

# ---------------------------------------------------------------------------------------------
# d) wait-ready deployment/X over a real rollout (kubectl set image), and wait-service
# --min-ready 2 over real readiness probes: neither is ready early. The pods' readiness probes
# pass only once the script opens them (ready_pods), after both kwaits have said what they see:
# on a loaded machine a pod may start late, and a wait that begins after the rollout is over
# proves nothing.
deployment() { # deployment NS NAME IMAGE
    k apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $2, namespace: $1}
spec:
  replicas: 2
  selector: {matchLabels: {app: $2}}
  template:
    metadata: {labels: {app: $2}}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: $3
        imagePullPolicy: Never
        command: ["httpd", "-f", "-p", "8080", "-h", "/tmp"]
        readinessProbe:
          exec: {command: [test, -e, /tmp/ready]}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: $2, namespace: $1}
spec:
  selector: {app: $2}
  ports: [{port: 8080}]
EOF
}
# ready_pods NS APP: makes every running pod of app=APP pass its readiness probe, until the
# Deployment has rolled out.
ready_pods() {
    local i p
    for ((i = 0; i < WAIT_SECS * 2; i++)); do
        for p in $(k get pods -n "$1" -l "app=$2" --field-selector status.phase=Running -o name); do
            k exec -n "$1" "$p" -- touch /tmp/ready >/dev/null 2>&1 || true
        done
        [[ $(k rollout status "deployment/$2" -n "$1" --watch=false 2>/dev/null) == *"successfully rolled out"* ]] &&
            return 0
        sleep 0.5
    done
    why "deployment $2 did not roll out within ${WAIT_SECS}s"
}
# last_ready NS APP: the epoch seconds (whole, as the API stores them) of the latest Ready
# transition among the pods of app=APP
last_ready() {
    k get pods -n "$1" -l "app=$2" \
        -o 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].lastTransitionTime}{"\n"}{end}' |
        sort | tail -1 | xargs -I{} date -d {} +%s
}
scenario_rollout() {
    local ns=e2e-rollout t_done r_ready s_ready rpid
    ns_new "$ns"
    deployment "$ns" api "$BUSYBOX_IMAGE"
    ready_pods "$ns" api
    kwait_rbac "$ns" rollout wait-ready deployment/api
    kwait_rbac "$ns" svc wait-service pool --min-ready 2
    k set image deployment/api -n "$ns" web="$BUSYBOX_IMAGE_V2" >/dev/null
    kwait_pod "$ns" rollout rollout Always --timeout 3m wait-ready deployment/api
    deployment "$ns" pool "$BUSYBOX_IMAGE"
    kwait_pod "$ns" svc svc Always --timeout 3m wait-service pool --min-ready 2
    poll "wait-ready's first state" logged "$ns" rollout wait "Deployment $ns/api: "
    poll "wait-service's first state" logged "$ns" svc wait "Service $ns/pool .*: "
    (k rollout status deployment/api -n "$ns" --timeout "${WAIT_SECS}s" >/dev/null && now >"$W/rollout.done") &
    rpid=$!
    ready_pods "$ns" api
    ready_pods "$ns" pool
    poll "rollout's app container Running" app_running "$ns" rollout
    poll "svc's app container Running" app_running "$ns" svc
    wait "$rpid" || why "kubectl rollout status failed"
    t_done=$(cat "$W/rollout.done")
    k logs rollout -n "$ns" -c wait
    k logs svc -n "$ns" -c wait
    logged "$ns" rollout wait "Deployment $ns/api: .*updated" ||
        why "wait-ready never said the rollout was in progress"
    r_ready=$(ts_of "$ns" rollout wait "ready after")
    lt "$r_ready" "$(last_ready "$ns" api)" && why "wait-ready said ready before the last new pod was Ready"
    logged "$ns" svc wait "[01] of [0-9]+ endpoints? ready" ||
        why "wait-service never said fewer than 2 were ready"
    s_ready=$(ts_of "$ns" svc wait "ready after")
    lt "$s_ready" "$(last_ready "$ns" pool)" && why "wait-service said ready before the second pod was Ready"
    number rollout.wait_ready "$(sub "$r_ready" "$t_done")"
    number rollout.wait_service "$(sub "$s_ready" "$(last_ready "$ns" pool)")"
    figure "wait-ready ready $(sub "$r_ready" "$t_done")s after kubectl rollout status; wait-service --min-ready 2 ready $(sub "$s_ready" "$(last_ready "$ns" pool)")s after the 2nd pod's Ready (whole-second stamp)"
}

# ---------------------------------------------------------------------------------------------
# e) the pod deleted while kwait waits: exit 143, well inside the 30 s grace period. A finalizer
# keeps the pod (and its status) after its containers stop.
scenario_deleted() {
    local ns=e2e-deleted t_del t_end lag
    ns_new "$ns"
    kwait_rbac "$ns" app wait-secret never-created
    kwait_pod "$ns" app app Always --finalizer --timeout 5m wait-secret never-created
    poll "kwait running" init_running "$ns" app
    poll "kwait says what it waits for" has_log "$ns" app wait
    # Followed from now on: the kubelet may remove a deleted pod's containers, logs and all, as
    # soon as they stopped.
    timeout 150 kubectl logs -f app -n "$ns" -c wait --timestamps >"$W/deleted.log" &
    local fpid=$!
    sleep 1
    k delete pod app -n "$ns" --wait=false >/dev/null
    t_del=$(now)
    poll "kwait ended" init_done "$ns" app
    wait "$fpid" || true
    cat "$W/deleted.log"
    [ -s "$W/deleted.log" ] || why "no log of kwait"
    t_end=$(stamp "$(tail -1 "$W/deleted.log")")
    local code
    code=$(init_exit "$ns" app)
    k patch pod app -n "$ns" --type json -p '[{"op":"remove","path":"/metadata/finalizers"}]' >/dev/null
    [ "$code" = 143 ] || why "kwait exited $code, expected 143"
    lag=$(sub "$t_end" "$t_del")
    lt "$lag" 10 || why "kwait ended ${lag}s after the deletion (grace period 30s)"
    number deleted "$lag"
    figure "pod deleted -> kwait exit 143 in ${lag}s (grace period 30s)"
}

# ---------------------------------------------------------------------------------------------
# f) no Role: the termination message names the missing permission and the fix.
scenario_no_role() {
    local ns=e2e-norole msg
    ns_new "$ns"
    k create sa app -n "$ns" >/dev/null
    kwait_pod "$ns" app app Never --timeout 8s wait-secret db --key password
    poll "kwait ended" init_done "$ns" app
    msg=$(jp "$ns" app '{.status.initContainerStatuses[0].state.terminated.message}')
    echo "exit $(init_exit "$ns" app); termination message:"
    echo "$msg"
    grep -q "forbidden" <<<"$msg" || why "the termination message does not say forbidden"
    grep -q "secrets" <<<"$msg" && grep -q "system:serviceaccount:$ns:app" <<<"$msg" ||
        why "the termination message does not name the resource and the ServiceAccount"
    grep -q "kubectl create role" <<<"$msg" || why "the termination message does not give the fix"
    figure "exit $(init_exit "$ns" app); message names get secrets, the ServiceAccount and 'kubectl create role'"
}

# ---------------------------------------------------------------------------------------------
# g) charts-snippets/examples/migrations-gitops rendered by helm template, applied: the Job runs,
# web and worker wait for it with the chart's own kwait init container and Role, and go Running.
helm_bin() {
    local h=${KWAIT_CI_CACHE:-$HOME/.cache/kwait-ci}/layer-2.2.2/helm/helm
    if command -v helm >/dev/null; then command -v helm; elif [ -x "$h" ]; then echo "$h"; else
        KWAIT_CI_NO_BINARY=1 bash "$ROOT/charts-snippets/ci.sh" >&2 && [ -x "$h" ] && echo "$h"
    fi
}
scenario_chart() {
    local ns=e2e-chart helm t0
    helm=$(helm_bin) || why "no helm (charts-snippets/ci.sh installs it)"
    ns_new "$ns"
    # A copy, laid out as in the repo (the example names the library as file://../../kwait), so
    # that helm dependency build writes nothing into the worktree.
    rm -rf "$W/cs"
    mkdir -p "$W/cs/examples"
    cp -r "$ROOT/charts-snippets/kwait" "$W/cs/kwait"
    cp -r "$ROOT/charts-snippets/examples/migrations-gitops" "$W/cs/examples/"
    "$helm" dependency build "$W/cs/examples/migrations-gitops" >/dev/null || why "helm dependency build"
    "$helm" template shop "$W/cs/examples/migrations-gitops" -n "$ns" --set kwait.image.repository="${KWAIT_IMAGE%:*}" \
        --set kwait.image.tag="${KWAIT_IMAGE##*:}" >"$W/chart.yaml" || why "helm template"
    t0=$(now)
    k apply -n "$ns" -f "$W/chart.yaml" || why "kubectl apply of the rendered chart"
    k rollout status deployment/shop-web -n "$ns" --timeout "${WAIT_SECS}s" || why "shop-web never rolled out"
    k rollout status deployment/shop-worker -n "$ns" --timeout "${WAIT_SECS}s" || why "shop-worker never rolled out"
    k get pods -n "$ns"
    local p
    p=$(k get pods -n "$ns" -l app.kubernetes.io/component=web -o 'jsonpath={.items[0].metadata.name}')
    logs "$ns" "$p" kwait-migrations
    [ "$(init_exit "$ns" "$p")" = 0 ] || why "the chart's kwait exited $(init_exit "$ns" "$p")"
    logged "$ns" "$p" kwait-migrations "ready after .*: Job $ns/shop-migrate-2-3-0 complete" ||
        why "the chart's kwait did not say the migration Job completed"
    t0=$(sub "$(now)" "$t0")
    number chart "$t0"
    figure "web and worker Running ${t0}s after kubectl apply"
}

# ---------------------------------------------------------------------------------------------
# h) Events on the waiting pod (issue 24): while kwait still waits for a Secret that does not
# exist yet, `kubectl describe pod` lists its Waiting Event (from kwait, naming the Secret and its
# state); then the Secret is created and the pod starts, with a Ready Event.
# described NS POD REASON REGEX: describe's Events list a REASON line from kwait matching REGEX
described() {
    local d
    d=$(k describe pod "$2" -n "$1") &&
        grep -qE -- "^ +(Normal|Warning) +$3 +.* kwait.* $4" <<<"$(sed -n '/^Events:/,$p' <<<"$d")"
}
scenario_events() {
    local ns=e2e-events t0 t_ev t_ok
    ns_new "$ns"
    kwait_rbac "$ns" app wait-secret db --key password
    grep -q 'events.k8s.io' "$W/role-$ns-app.yaml" || why "the printed Role has no events rule"
    kwait_pod "$ns" app app Always --timeout 5m wait-secret db --key password
    poll "kwait running" init_running "$ns" app
    t0=$(now)
    poll "kubectl describe pod listing kwait's Waiting Event" \
        described "$ns" app Waiting "Secret $ns/db \\(keys: password\\): not found"
    t_ev=$(now)
    init_done "$ns" app && why "kwait had ended when describe first listed its Event"
    init_running "$ns" app || why "kwait was not running when describe first listed its Event"
    k describe pod app -n "$ns" | sed -n '/^Init Containers:/,/^Containers:/p;/^Events:/,$p'
    k create secret generic db -n "$ns" --from-literal=password=s3cret >/dev/null
    poll "the app container running" app_running "$ns" app
    t_ok=$(now)
    [ "$(init_exit "$ns" app)" = 0 ] || why "kwait exited $(init_exit "$ns" app)"
    poll "kubectl describe pod listing kwait's Ready Event" described "$ns" app Ready "ready after"
    k describe pod app -n "$ns" | sed -n '/^Events:/,$p'
    number events.describe "$(sub "$t_ev" "$t0")"
    figure "describe listed kwait's Waiting Event $(sub "$t_ev" "$t0")s after its init container started running (still waiting); Secret created -> app running in $(sub "$t_ok" "$t_ev")s, Ready Event listed"
}

# ---------------------------------------------------------------------------------------------
# i) wait-http through a Service (issue #26): the node has no kube-proxy, so svcproxy.py stands in
# for it on the bridge's gateway address, forwarding to the ready endpoints of Service web (and
# refusing with a RST while there is none). Deployment web answers /health from its start but
# turns ready ~5 s later (readiness probe). Two kwaits wait for http://PROXY/health at the same
# time, one with `--service web` (woken by the Service's EndpointSlices), one without (its steady
# ~1 s period). Each run is a fresh transition of the Service from no ready endpoint to one, once
# both kwaits have been refused: the Service selects app=web,serving=yes, and the script labels
# the (ready) pod serving=yes, then removes the label for the next run. Not by scaling web 0 -> 1:
# its pod then turned ready on the kubelet's 1 s grid, at a nearly fixed phase of the kwaits'
# polls (started on the same grid), ~7.0 s after their first request whatever the script's own
# timing, so the arm without --service met the same point of its period in every run. A label
# lands when the script says. Measured: the slice turning ready, as an independent watch of its own
# sees it (svcproxy.py --watch-only), to each kwait's last log line; and the requests each made
# while waiting (the proxy's connections from its pod IP, from its first one to the slice turning
# ready), per minute. KWAIT_E2E_PROXY_LAG=SECONDS makes the proxy apply each change that much
# later, as kube-proxy programs its rules a little after the slice changed (default 0: none but
# its own).
svc_deployment() { # svc_deployment NS
    k apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: $1}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: $BUSYBOX_IMAGE
        imagePullPolicy: Never
        command: ["sh", "-c", "mkdir -p /tmp/www; echo ok >/tmp/www/health; (sleep 5; touch /tmp/ready) & exec httpd -f -p 8080 -h /tmp/www"]
        readinessProbe:
          exec: {command: [test, -e, /tmp/ready]}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: $1}
spec:
  selector: {app: web, serving: "yes"}
  ports: [{port: 8080}]
EOF
}
# calc EXPR VAR=VALUE...: an awk expression, three decimals
calc() {
    local e=$1 a=() v
    shift
    for v in "$@"; do a+=(-v "$v"); done
    awk "${a[@]}" "BEGIN { printf \"%.3f\", $e }"
}
# ready_at LOG SINCE N: the epoch seconds of svcproxy.py's first "ready N" line after SINCE
ready_at() { awk -v s="$2" -v n="$3" '$2 == "ready" && $3 == n && $1 > s { print $1; exit }' "$1"; }
# ready_now LOG N: svcproxy.py's latest ready set has N endpoints
ready_now() { [ "$(awk '$2 == "ready" { n = $3 } END { print n }' "$1")" = "$2" ]; }
# conns LOG IP SINCE UNTIL: "COUNT FIRST LAST": the connections from IP accepted in [SINCE, UNTIL)
conns() {
    awk -v ip="$2" -v s="$3" -v u="$4" '$2 == "conn" && $3 == ip && $1 >= s && $1 < u { n++; if (!f) f = $1; l = $1 }
        END { printf "%d %s %s\n", n, (f ? f : 0), (l ? l : 0) }' "$1"
}
# min_gap LOG IP SINCE: the shortest time between two consecutive connections from IP after SINCE
min_gap() {
    awk -v ip="$2" -v s="$3" '$2 == "conn" && $3 == ip && $1 >= s { if (p && (!m || $1 - p < m)) m = $1 - p; p = $1 }
        END { printf "%.3f", (m ? m : 9e9) }' "$1"
}
refused() { [ "$(conns "$1" "$2" "$3" 9e18 | cut -d' ' -f1)" -gt 0 ]; }
pod_ip() { [ -n "$(jp "$1" "$2" '{.status.podIP}')" ]; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
scenario_service() {
    local ns=e2e-service trials=${KWAIT_E2E_TRIALS:-5} t arm arms="with without" plog wlog url
    local t_run t0 t_slice t_proxy t_exit lag ip n first last w g code p50o p50w rpmo rpmw
    local -A lags=() cnt=() win=() span=() gaps=() wins=() woken=()
    if [ -n "${KWAIT_E2E_KUBECONFIG:-}" ]; then
        figure "skipped: svcproxy.py must reach the pods from this host (the node this script starts)"
        return 0
    fi
    "$KWAIT_BIN" wait-http --help 2>&1 | grep -q -- --service || arms=without
    ns_new "$ns"
    svc_deployment "$ns"
    k rollout status deployment/web -n "$ns" --timeout "${WAIT_SECS}s" >/dev/null || why "web never rolled out"
    plog=$W/svcproxy.log wlog=$W/service.watch
    python3 "$E2E/svcproxy.py" --namespace "$ns" --service web --listen "$POD_NET.1:0" --log "$plog" \
        --lag "${KWAIT_E2E_PROXY_LAG:-0}" &
    python3 "$E2E/svcproxy.py" --namespace "$ns" --service web --watch-only --log "$wlog" &
    poll "svcproxy.py listening" grep -q ' listening ' "$plog"
    url=http://$(awk '$2 == "listening" { print $3; exit }' "$plog")/health
    poll "svcproxy.py knows Service web's endpoints" grep -q ' ready ' "$plog"
    poll "the watch knows Service web's endpoints" grep -q ' ready ' "$wlog"
    kwait_rbac "$ns" without wait-http "$url"
    [ "$arms" = without ] || kwait_rbac "$ns" with wait-http "$url" --service web
    for arm in $arms; do lags[$arm]='' cnt[$arm]=0 win[$arm]=0 span[$arm]=0 gaps[$arm]=0 wins[$arm]=''; done
    for ((t = 1; t <= trials; t++)); do
        k label pods -n "$ns" -l app=web serving- >/dev/null
        poll "svcproxy.py: no ready endpoint" ready_now "$plog" 0
        poll "the watch: no ready endpoint" ready_now "$wlog" 0
        t_run=$(now)
        for arm in $arms; do
            # shellcheck disable=SC2046 # --service web, or nothing
            kwait_pod "$ns" "$arm-$t" "$arm" Never --timeout 3m wait-http "$url" $([ "$arm" = without ] || echo --service web)
        done
        for arm in $arms; do
            poll "pod $arm-$t has an IP" pod_ip "$ns" "$arm-$t"
            poll "kwait of $arm-$t refused by svcproxy.py" refused "$plog" "$(jp "$ns" "$arm-$t" '{.status.podIP}')" "$t_run"
        done
        # The kwaits wait ~5 s, as for a pod whose readiness probe passes ~5 s after it starts; the
        # runs' moments spread evenly over one polling period beyond that (stratified, not random,
        # so that 5 runs sample the whole period rather than a lucky or unlucky part of it; the
        # poll above adds up to 0.25 s of its own).
        sleep "$(calc '4 + (t - 1) / n' t="$t" n="$trials")"
        t0=$(now)
        k label pods -n "$ns" -l app=web serving=yes >/dev/null
        for arm in $arms; do poll "kwait of $arm-$t ended" init_done "$ns" "$arm-$t"; done
        poll "the watch saw web ready" ready_now "$wlog" 1
        t_slice=$(ready_at "$wlog" "$t0" 1)
        t_proxy=$(ready_at "$plog" "$t0" 1)
        [ -n "$t_slice" ] || why "run $t: the watch never saw web ready"
        [ -n "$t_proxy" ] || why "run $t: kwait ended but svcproxy.py never learned web was ready"
        for arm in $arms; do
            code=$(init_exit "$ns" "$arm-$t")
            [ "$t" != 1 ] || { echo "kwait $arm --service, run 1:"; logs "$ns" "$arm-$t" wait --timestamps; }
            [ "$code" = 0 ] || { logs "$ns" "$arm-$t" wait || true; why "run $t: kwait $arm --service exited $code"; }
            if [ "$arm" = with ]; then
                if logged "$ns" "$arm-$t" wait '[Ff]orbidden'; then
                    logs "$ns" "$arm-$t" wait
                    why "run $t: kwait with --service says forbidden"
                fi
                # its state line names the endpoints: it watched the slices, it did not fall back
                logged "$ns" "$arm-$t" wait "Service $ns/web: [0-9]+ of [0-9]+ endpoints? ready" ||
                    why "run $t: kwait with --service never named Service $ns/web's ready endpoints"
            fi
            t_exit=$(log_ts "$ns" "$arm-$t" wait last)
            # The slice's moment is taken from two watches on this host; kwait cannot have seen an
            # answer before both (the proxy forwards nothing before its own watch saw it).
            lt "$t_exit" "$t_slice" && lt "$t_exit" "$t_proxy" &&
                why "run $t: kwait $arm --service exited at $t_exit, before the slice turned ready ($t_slice, proxy $t_proxy)"
            lag=$(calc 'a - b' a="$t_exit" b="$t_slice")
            ip=$(jp "$ns" "$arm-$t" '{.status.podIP}')
            read -r n first last <<<"$(conns "$plog" "$ip" "$t_run" "$t_slice")"
            w=$(calc 'a - b' a="$t_slice" b="$first")
            lags[$arm]+=" $lag"
            cnt[$arm]=$((cnt[$arm] + n))
            win[$arm]=$(calc 'a + b' a="${win[$arm]}" b="$w")
            wins[$arm]+=" $w"
            span[$arm]=$(calc 'a + l - f' a="${span[$arm]}" l="$last" f="$first")
            gaps[$arm]=$((gaps[$arm] + n - 1))
            # A poller's requests are at least its period (1 s) apart; only a wake-up on the
            # slice's change makes two closer (speed cannot: a slow machine only spaces them out).
            g=$(min_gap "$plog" "$ip" "$t_run")
            lt "$g" 0.9 && woken[$arm]+=" $t"
            number "service.$arm" "$lag"
            number "service.rpm_$arm" "$(calc 'n * 60 / w' n="$n" w="$w")"
            echo "run $t: kwait $arm --service exited ${lag}s after the slice turned ready; $n requests in ${w}s of waiting; closest two ${g}s apart"
        done
        number service.proxy_lag "$(calc 'a - b' a="$t_proxy" b="$t_slice")"
        echo "run $t: svcproxy.py learned it $(calc 'a - b' a="$t_proxy" b="$t_slice")s after the independent watch"
        for arm in $arms; do k delete pod "$arm-$t" -n "$ns" --grace-period=1 --wait=false >/dev/null; done
    done
    # shellcheck disable=SC2086 # space-separated numbers
    p50o=$(median ${lags[without]})
    rpmo=$(calc 'n * 60 / w' n="${cnt[without]}" w="${win[without]}")
    [ "$arms" != without ] ||
        why "this kwait has no wait-http --service: only the arm without it ran (p50 ${p50o}s, $rpmo requests/min)"
    # shellcheck disable=SC2086
    p50w=$(median ${lags[with]})
    rpmw=$(calc 'n * 60 / w' n="${cnt[with]}" w="${win[with]}")
    figure "EndpointSlice ready -> kwait exit, p50 of $trials runs: ${p50w}s with --service, ${p50o}s without; requests/min while waiting: $(printf %.1f "$rpmw") with, $(printf %.1f "$rpmo") without"
    lt "$p50w" "$p50o" || why "the p50 with --service (${p50w}s) is not below the p50 without it (${p50o}s)"
    [ -n "${woken[with]}" ] ||
        why "with --service kwait never made two requests less than 0.9 s apart: nothing woke it before its period"
    echo "runs where two requests came less than 0.9 s apart: with --service${woken[with]:- none}; without${woken[without]:- none}"
    # No more requests while waiting than kwait without --service makes in the same time: at its
    # period P (the mean gap between its requests while waiting), a window of W seconds that opens
    # with a request holds at most W/P + 1 of them (the one of rounding), summed over the runs.
    local period bound
    period=$(calc 's / (g > 0 ? g : 1)' s="${span[without]}" g="${gaps[without]}")
    # shellcheck disable=SC2086
    bound=$(printf '%s\n' ${wins[with]} | awk -v p="$period" '{ b += $1 / p + 1 } END { printf "%.1f", b }')
    echo "while waiting: with --service ${cnt[with]} requests in ${win[with]}s, without ${cnt[without]} in ${win[without]}s (mean period ${period}s: at most $bound for the windows with --service)"
    if lt "$bound" "${cnt[with]}"; then
        why "with --service kwait made ${cnt[with]} requests in ${win[with]}s of waiting, more than the $bound kwait without it makes in that time (its mean period ${period}s)"
    fi
}

# ---------------------------------------------------------------------------------------------
SCENARIOS="and ttl failed_job rollout deleted no_role chart events service"

scenarios_run() {
    local s pass=0 fail=0 rc
    : >"$W/numbers"
    for s in ${KWAIT_E2E_ONLY:-$SCENARIOS}; do
        rm -f "$W/fig" "$W/why" "$W/failed.fifo"
        log "scenario $s"
        (
            set -E
            trap 'echo "line $LINENO: $BASH_COMMAND failed" >"$W/why"' ERR
            # a watch or a rollout status left running by a failed step, or by a signal
            trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
            trap 'exit 143' TERM
            "scenario_$s"
        ) >"$W/logs/scenario-$s.log" 2>&1 &
        SCENARIO_PID=$!
        rc=0
        wait "$SCENARIO_PID" || rc=$?
        SCENARIO_PID=
        if [ "$rc" = 0 ]; then
            echo "e2e: PASS $s ($(cat "$W/fig" 2>/dev/null))"
            pass=$((pass + 1))
        else
            echo "e2e: FAIL $s: $(cat "$W/why" 2>/dev/null || echo "exit $rc")"
            sed 's/^/    /' "$W/logs/scenario-$s.log" | tail -40
            fail=$((fail + 1))
        fi
    done
    if [ -n "${KWAIT_E2E_KUBECONFIG:-}" ]; then
        k delete ns -l kwait-e2e=1 --wait=false >/dev/null 2>&1 || true
    fi
    # shellcheck disable=SC2034 # read by scripts/e2e.sh
    E2E_PASSED=$pass E2E_FAILED=$fail
}
