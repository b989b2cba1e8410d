#!/usr/bin/env python3
"""The polling period of kwait's network waits and of the `sleep 1` loops they replace.

Nothing wakes a network wait, so its median reaction is half its mean period (plus the time a
check takes to see the change). This measures each period while the dependency is not ready:

- HTTP (a 503 server) and Redis (a server answering -LOADING): the time between requests as
  the server sees them, for kwait and for the loop alike;
- TCP and PostgreSQL to a closed port: kwait's check times from its own `--log-format json -v`
  log; the loop's body timed over the same number of rounds (`until BODY; do sleep 1; done` is
  BODY, sleep 1, BODY, ...).

usage: bench/periods.py [--kwait PATH] [--checks N]     (python3 standard library only)
"""

import argparse
import glob
import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--kwait", default="target/release/kwait")
ap.add_argument("--checks", type=int, default=21, help="checks per waiter (gaps = checks - 1)")
args = ap.parse_args()
N = args.checks
arrivals = []


class Http(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        arrivals.append(time.monotonic())
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def resp_server(sock):
    def serve(conn):
        with conn:
            conn.settimeout(5)
            try:
                while conn.recv(4096):
                    arrivals.append(time.monotonic())
                    conn.sendall(b"-LOADING Redis is loading the dataset in memory\r\n")
            except OSError:
                pass

    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def gaps_of(times):
    return [b - a for a, b in zip(times, times[1:])]


def server_side(cmd):
    """Runs cmd until the server has seen N requests; the gaps between them."""
    arrivals.clear()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(arrivals) < N and p.poll() is None:
        time.sleep(0.05)
    p.kill()
    p.wait()
    return gaps_of(arrivals[:N])


def kwait_log(cmd):
    """Runs kwait -v --log-format json until N checks; the gaps between their elapsed_s."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    times = []
    for line in p.stderr:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") == "check":
            times.append(e["elapsed_s"])
            if len(times) == N:
                break
    p.kill()
    p.wait()
    return gaps_of(times)


def loop_rounds(body):
    """BODY; sleep 1 timed over N - 1 rounds: the period of `until BODY; do sleep 1; done`."""
    script = f'for i in $(seq {N - 1}); do {body}; sleep 1; done'
    t = time.monotonic()
    subprocess.run(["bash", "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return [(time.monotonic() - t) / (N - 1)]


httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Http)
threading.Thread(target=httpd.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{httpd.server_address[1]}/health"
rs = socket.socket()
rs.bind(("127.0.0.1", 0))
rs.listen(64)
rport = rs.getsockname()[1]
threading.Thread(target=resp_server, args=(rs,), daemon=True).start()
dead = closed_port()
kw = [args.kwait, "-v", "--log-format", "json", "--timeout", "0"]
pg_isready = shutil.which("pg_isready") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_isready"))), None)

rows = [
    ("HTTP 503", "kwait wait-http", lambda: server_side([args.kwait, "wait-http", url, "--timeout", "0"])),
    ("HTTP 503", "curl loop (sleep 1)", lambda: server_side(
        ["bash", "-c", 'until curl -fsS -o /dev/null "$1"; do sleep 1; done', "w", url])),
    ("Redis LOADING", "kwait wait-redis", lambda: server_side(
        [args.kwait, "wait-redis", f"127.0.0.1:{rport}", "--timeout", "0"])),
    ("Redis LOADING", "redis-cli ping loop (sleep 1)", lambda: server_side(
        ["bash", "-c", 'until [ "$(redis-cli -h "$1" -p "$2" ping 2>/dev/null)" = PONG ]; do sleep 1; done',
         "w", "127.0.0.1", str(rport)])),
    ("TCP closed", "kwait wait-tcp", lambda: kwait_log(kw + ["wait-tcp", f"127.0.0.1:{dead}"])),
    ("TCP closed", "bash /dev/tcp loop (sleep 1)", lambda: loop_rounds(
        f'(exec 3<>"/dev/tcp/127.0.0.1/{dead}") 2>/dev/null')),
    ("PostgreSQL closed", "kwait wait-postgres", lambda: kwait_log(kw + ["wait-postgres", f"127.0.0.1:{dead}"])),
]
if pg_isready:
    rows.append(("PostgreSQL closed", "pg_isready loop (sleep 1)", lambda: loop_rounds(
        f"{pg_isready} -q -h 127.0.0.1 -p {dead}")))

print(f"{N} checks per waiter ({N - 1} gaps); load average {os.getloadavg()[0]:.2f}\n")
print("| dependency | waiter | mean period | min | max | checks/min | p50 reaction if the change comes at a random phase |")
print("|---|---|---|---|---|---|---|")
for dep, who, measure in rows:
    g = measure()
    if not g:
        print(f"| {dep} | {who} | (no checks seen) | | | | |")
        continue
    m = statistics.mean(g)
    spread = f"{min(g) * 1000:.1f} ms | {max(g) * 1000:.1f} ms" if len(g) > 1 else "(timed as a whole) | "
    print(f"| {dep} | {who} | {m * 1000:.1f} ms | {spread} | {60 / m:.2f} | ≈ {m * 500:.1f} ms + the check |")
