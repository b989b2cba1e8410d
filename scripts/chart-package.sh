#!/usr/bin/env bash
# Packages the Helm library chart charts-snippets/kwait as target/dist/kwait-VERSION.tgz (what the
# release pushes as an OCI artifact: `helm push kwait-VERSION.tgz oci://REGISTRY/OWNER/charts`),
# and checks the package: its Chart.yaml is the library chart's, at the version Chart.yaml has.
#
#   bash scripts/chart-package.sh [VERSION]      (default: Chart.yaml's version)
#
# helm: $HELM, else the one charts-snippets/ci.sh installed (its pinned cache), else on the PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${KWAIT_DIST:-$PWD/target/dist}
fail() { echo "chart-package.sh: FAIL: $*" >&2; exit 1; }
helm=${HELM:-}
if [ -z "$helm" ]; then
    cached=${KWAIT_CI_CACHE:-$HOME/.cache/kwait-ci}/layer-2.2.2/helm/helm
    if [ -x "$cached" ]; then helm=$cached; else helm=$(command -v helm) || fail "no helm (set HELM, or run charts-snippets/ci.sh once)"; fi
fi
chart=charts-snippets/kwait
version=${1:-$(sed -n 's/^version: *//p' "$chart/Chart.yaml")}
version=${version#v}
mkdir -p "$DIST"
rm -f "$DIST"/kwait-*.tgz
"$helm" lint --strict "$chart" >/dev/null || fail "helm lint --strict $chart"
"$helm" package "$chart" --version "$version" --app-version "$version" -d "$DIST" >/dev/null || fail "helm package"
pkg=$DIST/kwait-$version.tgz
[ -f "$pkg" ] || fail "no $pkg"
shown=$("$helm" show chart "$pkg")
grep -qx "type: library" <<<"$shown" || fail "the package is not a library chart"
grep -qx "version: $version" <<<"$shown" || fail "the package's version is not $version"
grep -qx "name: kwait" <<<"$shown" || fail "the package's name is not kwait"
templates=$(tar -tzf "$pkg" | grep -c '^kwait/templates/.*\.tpl$' || true)
[ "$templates" -gt 0 ] || fail "the package has no templates"
echo "chart: $pkg ($(stat -c %s "$pkg") bytes), library chart kwait $version, $templates templates"
