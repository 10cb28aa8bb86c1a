#!/usr/bin/env bash
# `make demo`: godiag's main job, end to end.
#  1. a cluster: the one KUBECONFIG names if it answers, otherwise the local single-node
#     cluster built from source (e2e/cluster/up.sh; cached after the first run);
#  2. godiag installed with the manifests users apply (manifests/e2e: base + local image +
#     artifacts on a node directory), with its embedded file:// storage;
#  3. the fixture Go program (manifests/examples/goapp.yaml: pprof on 127.0.0.1 only);
#  4. the example request manifests/examples/cpu-and-heap.yaml, waited for on its Complete
#     condition, then `kubectl get diag` and `kubectl describe diag`.
# The cluster stays up afterwards so you can look around; `make cluster-down` stops it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=cluster/lib.sh
source "$here/cluster/lib.sh"
cd "$repo"
NS=godiag-demo
target_dir=${CARGO_TARGET_DIR:-$repo/target}

if [[ -n ${KUBECONFIG:-} ]] && kubectl version --request-timeout=5s >/dev/null 2>&1; then
  log "using the cluster KUBECONFIG names ($(kubectl config current-context 2>/dev/null || echo '?'))"
  log "it must be able to run localhost/godiag:e2e and localhost/goapp:e2e: for kind, load the tarballs"
  log "that e2e/images/build.sh --no-import writes to $GODIAG_CACHE/images with 'kind load image-archive'"
  k() { kubectl "$@"; }
  local_cluster=false
else
  "$here/cluster/up.sh"
  k() { "$here/cluster/kubectl" "$@"; }
  local_cluster=true
fi

if $local_cluster; then
  cargo build --release --locked -p godiag
  GODIAG_BIN=$target_dir/release/godiag "$here/images/build.sh" godiag goapp
fi

log "installing godiag (kubectl apply -k manifests/e2e)"
k apply --server-side --force-conflicts -k manifests/e2e >/dev/null
k -n godiag-system rollout restart deploy/godiag >/dev/null   # pick up a rebuilt local image
k -n godiag-system rollout status deploy/godiag --timeout=180s

log "deploying the Go program and asking godiag to diagnose it"
k create namespace "$NS" --dry-run=client -o yaml | k apply -f - >/dev/null
k -n "$NS" apply -f manifests/examples/goapp.yaml >/dev/null
k -n "$NS" rollout status deploy/goapp --timeout=180s
k -n "$NS" delete diag cpu-and-heap --ignore-not-found >/dev/null
k -n "$NS" apply -f manifests/examples/cpu-and-heap.yaml
k -n "$NS" wait --for=condition=Complete diag/cpu-and-heap --timeout=300s

echo
k -n "$NS" get diag
echo
k -n "$NS" describe diag cpu-and-heap
if $local_cluster; then
  echo
  log "artifacts on the node (the operator's file:///var/lib/godiag):"
  find "/var/lib/godiag-artifacts/$NS/cpu-and-heap" -type f | sort
  log "open one with: go tool pprof -top /var/lib/godiag-artifacts/$NS/cpu-and-heap/<pod>/cpu.pb.gz"
  log "the cluster is still up: e2e/cluster/kubectl get pods -A; stop it with: make cluster-down"
fi
