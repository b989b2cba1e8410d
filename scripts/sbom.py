#!/usr/bin/env python3
"""A CycloneDX 1.5 JSON SBOM for kwait's OCI image, from Cargo.lock (via `cargo metadata`).

    python3 scripts/sbom.py --binary BIN --triple TRIPLE --out FILE [--image REF] [--base REF]

Lists: the image (metadata.component, a container), the base image (distroless static, as the
Dockerfile names it), the kwait binary (an application, with its SHA-256), and every crate linked
into the binary for TRIPLE (Cargo.lock's graph from kwait: normal and build dependencies, not
dev-dependencies, not the other workspace members' crates), each with its purl
(pkg:cargo/NAME@VERSION), SPDX license expression and the SHA-256 Cargo.lock records for its
.crate file; and the dependency graph between them. Deterministic: the same inputs give the same
bytes (the timestamp is SOURCE_DATE_EPOCH, else the commit's time).
"""
import argparse
import hashlib
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

BASE = "gcr.io/distroless/static-debian12:nonroot"


def spdx(expr):
    # Old Cargo manifests write "MIT/Apache-2.0"; SPDX says "MIT OR Apache-2.0".
    return " OR ".join(part.strip() for part in expr.split("/")) if expr else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--triple", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--image", default="kwait")
    ap.add_argument("--base", default=BASE)
    a = ap.parse_args()

    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1", "--filter-platform", a.triple],
        check=True, capture_output=True, text=True).stdout)
    root_dir = Path(meta["workspace_root"])
    by_id = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = next(p["id"] for p in meta["packages"] if p["name"] == "kwait" and p["source"] is None)
    kwait = by_id[root]

    checksums = {}
    for block in (root_dir / "Cargo.lock").read_text().split("[[package]]")[1:]:
        f = dict(l.split(" = ", 1) for l in block.strip().splitlines() if " = " in l)
        if "checksum" in f:
            checksums[(f["name"].strip('"'), f["version"].strip('"'))] = f["checksum"].strip('"')

    # kwait's graph: normal and build edges only.
    edges, seen, todo = {}, set(), [root]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        deps = sorted({d["pkg"] for d in nodes[pid]["deps"]
                       if any(k["kind"] in (None, "build") for k in d["dep_kinds"])})
        edges[pid] = deps
        todo.extend(deps)

    def ref(pid):
        p = by_id[pid]
        return f"pkg:cargo/{p['name']}@{p['version']}"

    binary = Path(a.binary).read_bytes()
    bin_sha = hashlib.sha256(binary).hexdigest()
    version = kwait["version"]
    image_ref = f"pkg:oci/kwait@{version}"
    base_ref = "pkg:oci/static-debian12?repository_url=gcr.io/distroless/static-debian12&tag=nonroot"

    components = [{
        "type": "container",
        "bom-ref": base_ref,
        "name": a.base,
        "purl": base_ref,
        "description": "base image: distroless static (CA bundle, /etc/passwd, tzdata; no shell)",
    }, {
        "type": "application",
        "bom-ref": ref(root),
        "name": "kwait",
        "version": version,
        "purl": ref(root),
        "description": kwait.get("description", ""),
        "licenses": [{"expression": spdx(kwait.get("license"))}],
        "hashes": [{"alg": "SHA-256", "content": bin_sha}],
        "properties": [{"name": "kwait:target", "value": a.triple},
                       {"name": "kwait:path-in-image", "value": "/kwait"}],
    }]
    for pid in sorted(seen - {root}, key=lambda i: (by_id[i]["name"], by_id[i]["version"])):
        p = by_id[pid]
        c = {
            "type": "library",
            "bom-ref": ref(pid),
            "name": p["name"],
            "version": p["version"],
            "purl": ref(pid),
            "scope": "required",
        }
        if p.get("license"):
            c["licenses"] = [{"expression": spdx(p["license"])}]
        sha = checksums.get((p["name"], p["version"]))
        if sha:
            c["hashes"] = [{"alg": "SHA-256", "content": sha}]
        if p.get("repository"):
            c["externalReferences"] = [{"type": "vcs", "url": p["repository"]}]
        components.append(c)

    dependencies = [{"ref": image_ref, "dependsOn": [base_ref, ref(root)]}]
    dependencies += [{"ref": ref(pid), "dependsOn": [ref(d) for d in edges[pid]]}
                     for pid in sorted(edges, key=ref)]

    epoch = os.environ.get("SOURCE_DATE_EPOCH") or subprocess.run(
        ["git", "log", "-1", "--format=%ct"], capture_output=True, text=True, cwd=root_dir).stdout.strip() or "0"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"kwait/{version}/{a.triple}/{bin_sha}")),
        "version": 1,
        "metadata": {
            "timestamp": stamp,
            "tools": {"components": [{"type": "application", "name": "kwait scripts/sbom.py"}]},
            "component": {
                "type": "container",
                "bom-ref": image_ref,
                "name": a.image,
                "version": version,
                "purl": image_ref,
                "licenses": [{"expression": spdx(kwait.get("license"))}],
            },
        },
        "components": components,
        "dependencies": dependencies,
    }
    Path(a.out).write_text(json.dumps(bom, indent=1, sort_keys=False) + "\n")
    print(f"sbom: {a.out}: CycloneDX 1.5, {len(components) - 2} crates, kwait binary sha256 {bin_sha}")


main()
