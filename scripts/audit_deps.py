#!/usr/bin/env python3
"""Reads back the dependency list `cargo auditable` embeds in a binary and checks it against
Cargo.lock.

    python3 scripts/audit_deps.py BINARY TARGET_TRIPLE [--json OUT]

The list is the `.dep-v0` ELF section: zlib-compressed JSON ({"packages": [{"name", "version",
"source", "kind", "dependencies", "root"}]}, the format Trivy, Grype and syft read). It is
read from the ELF section headers here (no objcopy: the same code reads an aarch64 binary on an
x86_64 machine) and must name exactly the packages Cargo.lock resolves
for kwait on that target (its normal and build dependencies, transitively; not dev-dependencies,
not the other workspace members' crates), each at its locked version. Exit 1 on any difference.
"""
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path


def section(path, name):
    """The bytes of ELF section `name` of the file at `path` (64-bit little-endian ELF: x86_64
    and aarch64), read from the section headers; None when there is no such section."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit(f"audit_deps: {path} is not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx]
    names = data[strtab[4]:strtab[4] + strtab[5]]
    for h in headers:
        if names[h[0]:names.index(b"\0", h[0])].decode() == name:
            return data[h[4]:h[4] + h[5]]
    return None


def embedded(binary):
    raw = section(binary, ".dep-v0")
    if raw is None:
        sys.exit(f"audit_deps: no .dep-v0 section in {binary} (not built with cargo auditable?)")
    return json.loads(zlib.decompress(raw)), len(raw)


def locked(triple):
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1", "--filter-platform", triple],
        check=True, capture_output=True, text=True).stdout)
    by_id = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = next(p["id"] for p in meta["packages"] if p["name"] == "kwait" and p["source"] is None)
    seen, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        for dep in nodes[pid]["deps"]:
            if any(k["kind"] in (None, "build") for k in dep["dep_kinds"]):
                todo.append(dep["pkg"])
    # Cargo.lock itself: every locked package's version, to show the list is Cargo.lock's.
    lock = {}
    text = (Path(meta["workspace_root"]) / "Cargo.lock").read_text()
    for block in text.split("[[package]]")[1:]:
        fields = dict(line.split(" = ", 1) for line in block.strip().splitlines() if " = " in line)
        lock.setdefault(fields["name"].strip('"'), set()).add(fields["version"].strip('"'))
    return {(by_id[i]["name"], by_id[i]["version"]) for i in seen}, lock


def main():
    args = sys.argv[1:]
    out_json = None
    if "--json" in args:
        i = args.index("--json")
        out_json = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    binary, triple = args
    data, compressed = embedded(binary)
    if out_json:
        Path(out_json).write_text(json.dumps(data, indent=1) + "\n")
    packages = data.get("packages", [])
    got = {(p["name"], p["version"]) for p in packages}
    want, lock = locked(triple)
    roots = [p["name"] for p in packages if p.get("root")]
    errors = []
    if roots != ["kwait"]:
        errors.append(f"root package is {roots}, expected ['kwait']")
    for name, version in sorted(got - want):
        errors.append(f"in the binary, not in kwait's locked graph: {name} {version}")
    for name, version in sorted(want - got):
        errors.append(f"in kwait's locked graph, not in the binary: {name} {version}")
    for name, version in sorted(got):
        if name != "kwait" and version not in lock.get(name, ()):
            errors.append(f"{name} {version} is not the version Cargo.lock has ({sorted(lock.get(name, ()))})")
    build = sum(1 for p in packages if p.get("kind") == "build")
    print(f"audit_deps: {binary}: .dep-v0 is {compressed} bytes (zlib), {len(packages)} packages "
          f"({len(packages) - build} runtime, {build} build-time); Cargo.lock's graph for kwait on "
          f"{triple}: {len(want)} packages")
    for e in errors:
        print("audit_deps: FAIL: " + e, file=sys.stderr)
    if errors:
        sys.exit(1)
    print("audit_deps: the embedded dependency list matches Cargo.lock")


main()
