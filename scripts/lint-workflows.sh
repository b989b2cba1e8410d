#!/usr/bin/env bash
# Checks the GitHub Actions workflows, offline: the schema (check-jsonschema's vendored
# github-workflows schema) and zizmor's security audits (--offline: no GitHub API calls; the
# audits that need one, e.g. whether a pinned SHA is a tag's, are skipped). Tools from PyPI,
# pinned, in a venv under the CI cache.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECK_JSONSCHEMA_VERSION=0.39.0
ZIZMOR_VERSION=1.32.0
cache=${KWAIT_CI_CACHE:-$HOME/.cache/kwait-ci}
venv=$cache/venv-workflow-lint-$CHECK_JSONSCHEMA_VERSION-$ZIZMOR_VERSION
if ! "$venv/bin/check-jsonschema" --version >/dev/null 2>&1 || ! "$venv/bin/zizmor" --version >/dev/null 2>&1; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" "zizmor==$ZIZMOR_VERSION"
    echo "installed check-jsonschema $CHECK_JSONSCHEMA_VERSION and zizmor $ZIZMOR_VERSION into $venv"
fi
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
[ ${#workflows[@]} -gt 0 ] || { echo "lint-workflows.sh: no workflows" >&2; exit 1; }
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
"$venv/bin/zizmor" --offline --no-progress .github/workflows/
