"""Writes scripts/e2e.sh's figures into bench/RESULTS.md, between <!-- section:real-node -->
markers (the convention of testkit/src/bench/splice.rs: the section is replaced, or appended
when the file has none).

    python3 results.py RESULTS.md PASSED FAILED WALL_SECONDS KWAIT_VERSION TRIALS KUBECTL_VERSION < numbers

numbers: one "key seconds" a line, as scenarios.sh's `number` writes them.
"""
import datetime
import os
import platform
import statistics
import sys

path, passed, failed, wall, kwait, trials, kubectl = sys.argv[1:8]
nums = {}
for line in sys.stdin:
    if line.strip():
        key, value = line.split()
        nums.setdefault(key, []).append(float(value))


def show(key, unit="s", digits=2):
    v = nums.get(key)
    if not v:
        return "not measured"
    if len(v) == 1:
        return f"{v[0]:.{digits}f} {unit}"
    med, lo, hi = statistics.median(v), min(v), max(v)
    return f"median {med:.{digits}f} {unit} ({lo:.{digits}f}–{hi:.{digits}f}, {len(v)} trials)"


def show_service(arm):
    if not nums.get(f"service.{arm}"):
        return "not measured"
    return (f"{show(f'service.{arm}', digits=3)}; while waiting "
            f"{show(f'service.rpm_{arm}', 'requests/min', 1)}")


with open("/proc/loadavg") as f:
    load = f.read().split()[0]
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
body = f"""## 11. On a real node: kwait as the init container of real Pods (`scripts/e2e.sh`)

This run: `KWAIT_E2E_TRIALS={trials} KWAIT_E2E_RESULTS=bench/RESULTS.md bash scripts/e2e.sh`, {now},
took {wall} s (node, images, scenarios and teardown; {passed} passed, {failed} failed).

- node: Kubernetes v1.36.2 from `../shared/k8s` (etcd, kube-apiserver, kube-controller-manager,
  kube-scheduler, kubelet), Debian's containerd and runc, one bridge, no kube-proxy, no DNS
- machine: {os.cpu_count()} cores, Linux {platform.release()}, load average (1 min) at the end: {load}
- kwait: {kwait}, FROM scratch image of the static musl binary
- kubectl in the loop's image: {kubectl or "not recorded"}

| scenario | measured | figure |
|---|---|---|
| a) one kwait `--and`: Secret key, hook Job, Service with a ready endpoint, HTTP of its pod | the Secret (created last) → the app container's first line | kwait: {show("and.kwait")} |
| a) the same four in a `until kubectl get …; do sleep 2; done` init container (kubectl + `busybox sh`) | the same | loop: {show("and.loop")} |
| c) a failed Job (`backoffLimit: 0`) | the Job's `FailureTarget`/`Failed` seen by a watch → kwait's last line (exit 1) | {show("failed_job")} |
| d) `wait-ready deployment/api` over `kubectl set image` | kwait's ready line − `kubectl rollout status` returning | {show("rollout.wait_ready")} |
| d) `wait-service pool --min-ready 2` over readiness probes | kwait's ready line − the 2nd pod's Ready (a whole-second stamp: up to 1 s too early) | {show("rollout.wait_service")} |
| e) the pod deleted while kwait waits (grace period 30 s) | `kubectl delete` returning → kwait's last line (exit 143) | {show("deleted")} |
| g) `charts-snippets/examples/migrations-gitops` by `helm template` | `kubectl apply` → web and worker rolled out | {show("chart")} |
| h) Events on the waiting pod (`wait-secret` of a Secret not there yet) | the init container running → `kubectl describe pod` listing kwait's `Waiting` Event | {show("events.describe")} |
| i) `wait-http http://PROXY/health --service web` through `scripts/e2e/svcproxy.py` (a userspace stand-in for kube-proxy, which the node does not run), the Service's first ready endpoint ~5 s after kwait's first request | the EndpointSlice turning ready, as a watch on the node sees it → kwait's last line (exit 0); requests while waiting counted by the proxy | {show_service("with")} |
| i) the same `wait-http` without `--service` (its steady ~1 s period), at the same time | the same | {show_service("without")} |
| i) svcproxy.py's lag | that watch → the proxy applying the change (its own lag, plus `KWAIT_E2E_PROXY_LAG` when set): kwait's requests through it meet it too, as they meet kube-proxy's programming delay on a real cluster | {show("service.proxy_lag", digits=3)} |

How it is measured: times on the container side are the container runtime's log timestamps
(`kubectl logs --timestamps`, nanoseconds, the node's clock); times on the script's side are its own
`date +%s.%N` on the same machine. A figure of a) includes the kubelet noticing that the init
container ended and starting the app container (its pod lifecycle event generator relists every
second), so it is the whole delay a user sees, not kwait's alone; the loop's also includes its
2-second sleep (on average half of it). In i) the two kwaits wait side by side for the same
transition from no ready endpoint to one (the ready pod of Deployment web labelled to match the
Service's selector, at moments spread evenly over one polling period: scaling web 0 → 1 made the
pod turn ready on the kubelet's 1 s grid, at a fixed phase of the kwaits' polls); the slice's moment is a
watch of its own on the node (`svcproxy.py --watch-only`), the proxy's clock and kwait's log stamps
are the same machine's. Nothing is asserted from these figures except c) (under 1 s, the claim of
`wait-job`), e) (under 10 s of a 30 s grace period) and, in i), only comparisons: no kwait exits
before the slice is ready, the p50 with `--service` is below the p50 without it, and with
`--service` no more requests are made while waiting than the arm without it makes at its measured
period in the same windows (W/P + 1 a run: the one is rounding); the rest is reported.
`bench --only …` leaves this section alone; a full `bench` run rewrites the file without it (run
`scripts/e2e.sh` again with `KWAIT_E2E_RESULTS`)."""

begin, end = "<!-- section:real-node -->", "<!-- /section:real-node -->"
doc = open(path).read() if os.path.exists(path) else ""
section = f"{begin}\n{body}\n{end}\n"
if doc.count(begin) == 1 and doc.count(end) == 1 and doc.index(begin) < doc.index(end):
    doc = doc[: doc.index(begin)] + section + doc[doc.index(end) + len(end):].lstrip("\n")
elif doc.count(begin) == 0 and doc.count(end) == 0:
    doc = (doc.rstrip() + "\n\n" if doc.strip() else "") + section
else:
    sys.exit(f"{path}: the real-node markers are there only in part; fix the file by hand")
open(path, "w").write(doc)
