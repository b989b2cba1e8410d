"""A stand-in for kube-proxy (its old userspace mode) for one Service, for scripts/e2e.sh.

The e2e node runs no kube-proxy (and no cluster DNS), so nothing makes a Service's address reach
its ready pods. This small proxy does it for one Service, on the host: it listens on an address the
pods can reach (the node bridge's gateway address) and forwards each TCP connection to a READY
endpoint of the Service, which it learns by watching the Service's EndpointSlices
(`kubectl get endpointslices -l kubernetes.io/service-name=NAME -w --output-watch-events -o json`,
parsed as it arrives). With no ready endpoint it refuses a connection at once (a TCP RST, as
kube-proxy's REJECT rule answers). Like kube-proxy it learns of a change a little after the
EndpointSlice changed: that lag is its own, and it is part of any figure measured through it, as
kube-proxy's programming delay is on a real cluster.

    python3 svcproxy.py --namespace NS --service NAME --listen ADDR[:PORT] --log FILE
    python3 svcproxy.py --namespace NS --service NAME --watch-only --log FILE

--lag SECONDS: apply each change of the ready set that much later than the watch saw it (as
kube-proxy programs its rules a little after the slice changed; default 0).
PORT 0 or none: a free port. --watch-only: no listener, only the log of the ready set, from a
watch of its own (the scenario's independent clock for "the slice turned ready"). The log (line-buffered, epoch seconds from time.time()):
    <ts> listening ADDR:PORT
    <ts> ready N [ip:port ...]        the ready set changed (also the first one learned)
    <ts> conn CLIENT_IP refused       no ready endpoint: RST
    <ts> conn CLIENT_IP -> ip:port    forwarded
    <ts> conn CLIENT_IP failed ip:port ERROR   the endpoint could not be reached: RST
    <ts> watch ...                    the watch (re)started or ended
It stops on SIGTERM/SIGINT, or when its parent (the scenario) is gone.
"""

import argparse
import json
import os
import queue
import signal
import socket
import struct
import subprocess
import threading
import time

LOCK = threading.Lock()
READY = []  # the ready endpoints, (ip, port), sorted
SLICES = {}  # slice name -> its ready endpoints
NEXT = 0  # round robin
LOG = None
LEARNED = False  # a first ready set was logged
CHILD = None  # the kubectl watch
DELAYED = queue.Queue()  # (due, event) with --lag


def log(msg, ts=None):
    with LOCK:
        LOG.write(f"{ts or time.time():.6f} {msg}\n")


def quit(*_):
    if CHILD is not None:
        CHILD.kill()
    os._exit(0)


def ready_of(slice_obj):
    """The ready (ip, port) pairs of one EndpointSlice; ready unset counts as ready (the API's rule)."""
    ports = [p.get("port") for p in (slice_obj.get("ports") or []) if p.get("port")]
    if not ports:
        return []
    out = []
    for ep in slice_obj.get("endpoints") or []:
        if (ep.get("conditions") or {}).get("ready", True) is False:
            continue
        for addr in ep.get("addresses") or []:
            out.append((addr, ports[0]))
    return out


def apply_event(ev):
    global READY, LEARNED
    kind = ev.get("type")
    obj = ev.get("object") or {}
    name = (obj.get("metadata") or {}).get("name")
    if kind not in ("ADDED", "MODIFIED", "DELETED") or not name:
        return
    with LOCK:
        if kind == "DELETED":
            SLICES.pop(name, None)
        else:
            SLICES[name] = ready_of(obj)
        new = sorted({e for eps in SLICES.values() for e in eps})
        changed = new != READY or not LEARNED
        READY = new
        LEARNED = True
    if changed:
        log("ready %d %s" % (len(new), " ".join(f"{ip}:{port}" for ip, port in new)))


def watch(args):
    """kubectl's watch, parsed object by object; restarted when it ends (the list is then replayed)."""
    global CHILD
    dec = json.JSONDecoder()
    while True:
        cmd = ["kubectl", "get", "endpointslices", "-n", args.namespace, "-l",
               f"kubernetes.io/service-name={args.service}", "-w", "--output-watch-events", "-o", "json"]
        log("watch start")
        p = CHILD = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        buf = ""
        fd = p.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk.decode("utf-8", "replace")
            while True:
                s = buf.lstrip()
                if not s:
                    buf = ""
                    break
                try:
                    ev, end = dec.raw_decode(s)
                except ValueError:
                    buf = s  # an object not yet whole
                    break
                buf = s[end:]
                if isinstance(ev, dict):
                    if args.lag > 0:
                        DELAYED.put((time.time() + args.lag, ev))
                    else:
                        apply_event(ev)
        p.wait()
        # The slices are listed again on restart; until then the last known set stands.
        log(f"watch ended (exit {p.returncode}), restarting")
        time.sleep(0.5)


def delayed():
    """Applies the watch's events in order, each --lag seconds after it arrived."""
    while True:
        due, ev = DELAYED.get()
        time.sleep(max(0.0, due - time.time()))
        apply_event(ev)


def rst(conn):
    """Close with a TCP RST, as a REJECT --reject-with tcp-reset rule answers."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    conn.close()


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(conn, client, ts):
    global NEXT
    with LOCK:
        target = READY[NEXT % len(READY)] if READY else None
        NEXT += 1
    if target is None:
        rst(conn)
        log(f"conn {client} refused", ts)
        return
    try:
        up = socket.create_connection(target, timeout=5)
        up.settimeout(None)
    except OSError as e:
        rst(conn)
        log(f"conn {client} failed {target[0]}:{target[1]} {e.__class__.__name__}", ts)
        return
    log(f"conn {client} -> {target[0]}:{target[1]}", ts)
    t = threading.Thread(target=pump, args=(up, conn), daemon=True)
    t.start()
    pump(conn, up)
    t.join(60)
    conn.close()
    up.close()


def main():
    global LOG
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--listen", help="ADDR[:PORT]")
    ap.add_argument("--watch-only", action="store_true")
    ap.add_argument("--lag", type=float, default=0.0)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    if not args.watch_only and not args.listen:
        ap.error("--listen or --watch-only")
    LOG = open(args.log, "a", buffering=1)
    signal.signal(signal.SIGTERM, quit)
    signal.signal(signal.SIGINT, quit)
    parent = os.getppid()
    threading.Thread(target=watch, args=(args,), daemon=True).start()
    threading.Thread(target=delayed, daemon=True).start()

    def orphan_check():
        while os.getppid() == parent:
            time.sleep(1)
        quit()

    if args.watch_only:
        orphan_check()
    threading.Thread(target=orphan_check, daemon=True).start()
    host, _, port = args.listen.partition(":")
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port or 0)))
    srv.listen(128)
    log("listening %s:%d" % srv.getsockname())
    while True:
        conn, (client, _) = srv.accept()
        threading.Thread(target=serve, args=(conn, client, time.time()), daemon=True).start()


if __name__ == "__main__":
    main()
