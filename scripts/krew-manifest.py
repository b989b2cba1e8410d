#!/usr/bin/env python3
"""Fills in the krew manifest for a release.

    python3 scripts/krew-manifest.py VERSION DIST_DIR OUT [--base-url URL]

Reads the template plugins/kwait.yaml, sets spec.version to VERSION (v-prefixed, as krew wants),
points each platform's uri at the release's archive (kwait-linux-ARCH.tar.gz under --base-url,
default https://github.com/kwait/kwait/releases/download/VERSION) and writes the sha256 of
DIST_DIR/kwait-linux-ARCH.tar.gz into its sha256 field. Fails when an archive is missing, when
an archive lacks a file the manifest installs, or when a field is not where the template has it.
Line-based (no YAML library needed): only the version, uri and sha256 lines change.
"""
import hashlib
import re
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    args = sys.argv[1:]
    base = None
    if "--base-url" in args:
        i = args.index("--base-url")
        base = args[i + 1]
        del args[i:i + 2]
    if len(args) != 3:
        sys.exit(__doc__)
    version, dist, out = args
    if not re.fullmatch(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", version):
        sys.exit(f"krew-manifest: version {version!r} is not vMAJOR.MINOR.PATCH[-PRE]")
    base = (base or f"https://github.com/kwait/kwait/releases/download/{version}").rstrip("/")
    lines = (ROOT / "plugins/kwait.yaml").read_text().splitlines()
    # The template's own header comment (it says the file is a template) is replaced.
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    result = [f"# kwait {version} for krew: written by scripts/krew-manifest.py from plugins/kwait.yaml."]
    arch, files, filled = None, {}, set()
    for line in lines:
        m = re.match(r"^(\s*)arch: (\S+)$", line)
        if m:
            arch = m.group(2)
        m = re.match(r"^(  version: ).*$", line)
        if m:
            line = f"{m.group(1)}{version}"
        m = re.match(r"^(\s*uri: ).*$", line)
        if m:
            if arch is None:
                sys.exit("krew-manifest: a uri before any arch selector")
            archive = Path(dist) / f"kwait-linux-{arch}.tar.gz"
            if not archive.is_file():
                sys.exit(f"krew-manifest: no archive {archive}")
            line = f"{m.group(1)}{base}/{archive.name}"
        m = re.match(r'^(\s*sha256: ).*$', line)
        if m:
            archive = Path(dist) / f"kwait-linux-{arch}.tar.gz"
            digest = hashlib.sha256(archive.read_bytes()).hexdigest()
            line = f'{m.group(1)}"{digest}"'
            filled.add(arch)
            with tarfile.open(archive) as t:
                files[arch] = {n.lstrip("./") for n in t.getnames()}
        m = re.match(r"^\s*- from: (\S+)$", line)
        if m and arch in files and m.group(1) not in files[arch]:
            sys.exit(f"krew-manifest: the {arch} archive has no {m.group(1)}")
        result.append(line)
    if not {"amd64", "arm64"} <= filled:
        sys.exit(f"krew-manifest: filled {sorted(filled)}, expected amd64 and arm64")
    Path(out).write_text("\n".join(result) + "\n")
    print(f"krew-manifest: {out}: {version}, " + ", ".join(f"{a} sha256 filled" for a in sorted(filled)))


main()
