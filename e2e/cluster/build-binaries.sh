#!/usr/bin/env bash
# Build (or reuse from the cache) every Go binary the local cluster needs:
#   kubernetes  kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl
#   etcd        etcd server (wrapper module around go.etcd.io/etcd/server/v3/etcdmain)
#   containerd  containerd, containerd-shim-runc-v2, ctr
#   runc        runc (cgo + libseccomp; Debian's 1.1.5 cannot run containerd 2.2's specs)
#   dlv         Delve, for the localhost/dlv image
#   alertmanager, prometheus   for the alert e2e
#   helm        the real Helm (chart lint/template in make test, helm install in the e2e)
# Usage: build-binaries.sh [kubernetes|etcd|containerd|runc|dlv|alertmanager|prometheus|helm ...]   (default: all)
# A finished build lives in $GODIAG_CACHE/bin/<component>-v<version>-<go version>/ and is
# reused as is; delete that directory to force a rebuild. Each cold build is timed with
# /usr/bin/time -v into $GODIAG_CACHE/build-logs/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

BUILD_LOGS=$GODIAG_CACHE/build-logs
WRAPPERS=$GODIAG_CACHE/wrappers
mkdir -p "$GOMODCACHE" "$GOCACHE" "$BUILD_LOGS" "$WRAPPERS" "$GODIAG_CACHE/bin"

# timed NAME CMD...: run CMD under /usr/bin/time -v when available, log to build-logs/NAME.log
timed() {
  local name=$1; shift
  local logf=$BUILD_LOGS/$name.log
  log "building $name (log: $logf)"
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -v -o "$BUILD_LOGS/$name.time" "$@" >"$logf" 2>&1 || { tail -30 "$logf"; die "$name build failed"; }
    log "built $name: $(grep -E 'Elapsed \(wall' "$BUILD_LOGS/$name.time" | sed 's/.*: //') wall," \
        "peak RSS $(awk '/Maximum resident/ {printf "%.0f MiB", $NF/1024}' "$BUILD_LOGS/$name.time")"
  else
    "$@" >"$logf" 2>&1 || { tail -30 "$logf"; die "$name build failed"; }
  fi
}

have_all() { local d=$1; shift; for b in "$@"; do [[ -x $d/$b ]] || return 1; done; }

# ---------------------------------------------------------------------------------------
# Kubernetes: k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces the staging
# modules with local paths), so a wrapper module requires it and replaces every staging
# module with its published v0.X.Y tag.
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
build_kubernetes_inner() {
  local w=$WRAPPERS/kubernetes-v$K8S_VERSION out=$1
  if [[ ! -f $w/go.sum ]]; then
    rm -rf "$w"; mkdir -p "$w"; cd "$w"
    go mod init local.test/k8sbins
    go mod edit -go=1.26.0
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
    sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#\1#p' "$gomod" | while read -r m; do
      go mod edit -replace="$m=$m@v0.${K8S_VERSION#1.}"
    done
    # Keep upstream's godebug defaults (a dependency's godebug lines are ignored).
    grep -E '^godebug ' "$gomod" | while read -r _ kv; do go mod edit -godebug="$kv"; done || true
    go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
    for c in "${K8S_CMDS[@]}"; do go mod edit -tool="k8s.io/kubernetes/cmd/$c"; done
    go mod tidy
  fi
  cd "$w"
  # Version stamping as upstream hack/lib/version.sh does, so /version and the node's
  # kubeletVersion report v$K8S_VERSION instead of v0.0.0-master.
  local ld="" minor=${K8S_VERSION#1.}; minor=${minor%%.*}
  for kv in "gitVersion=v$K8S_VERSION" gitMajor=1 "gitMinor=$minor" gitTreeState=clean \
            "buildDate=$(date -u +%FT%TZ)"; do
    ld="$ld -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
  done
  local pkgs=(); for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  CGO_ENABLED=0 go build -trimpath -tags selinux,notest,grpcnotrace \
    -ldflags "all=$ld -s -w" -o "$out/" "${pkgs[@]}"
}

# etcd: its sub-modules carry relative replaces, so `go install` fails; a one-file
# wrapper calling etcdmain.Main builds the same server.
build_etcd_inner() {
  local w=$WRAPPERS/etcd-v$ETCD_VERSION out=$1
  if [[ ! -f $w/go.sum ]]; then
    rm -rf "$w"; mkdir -p "$w"; cd "$w"
    go mod init local.test/etcdbin
    go mod edit -go=1.26.0
    cat > main.go <<'GO'
// etcd server, built from the published go.etcd.io/etcd/server/v3 module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    go mod edit -require="go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
    go mod tidy
  fi
  cd "$w"
  CGO_ENABLED=0 go build -trimpath -o "$out/etcd" .
}

build_containerd_inner() {
  local out=$1
  CGO_ENABLED=0 GOBIN=$out go install -tags urfave_cli_no_docs \
    "github.com/containerd/containerd/v2/cmd/containerd@v$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@v$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/ctr@v$CONTAINERD_VERSION"
}

# runc needs cgo (its nsenter is C) and libseccomp-dev for the seccomp tag. Debian's runc
# 1.1.5 fails every CRI sandbox of containerd 2.2 ("can't get final child's PID from pipe")
# and crun 1.8.1 rejects its OCI spec version; containerd 2.2 is tested with runc 1.3.
build_runc_inner() {
  local out=$1
  CGO_ENABLED=1 GOBIN=$out go install -tags seccomp "github.com/opencontainers/runc@v$RUNC_VERSION"
}

build_dlv_inner() {
  local out=$1
  CGO_ENABLED=0 GOBIN=$out go install "github.com/go-delve/delve/cmd/dlv@v$DLV_VERSION"
}

# Alertmanager and Prometheus for the alert e2e (the alerts reach godiag's receiver the way
# they do in production); stripped, the web UIs' assets are embedded in the published modules.
# The published module lacks the web UI's build output (ui/app/dist, made by npm upstream), which
# it embeds: a copy of the module gets a one-page placeholder there. The API and the notifiers
# are Alertmanager's own.
build_alertmanager_inner() {
  local out=$1 src=$WRAPPERS/alertmanager-v$ALERTMANAGER_VERSION
  if [[ ! -f $src/go.mod ]]; then
    local dir
    dir=$(go mod download -json "github.com/prometheus/alertmanager@v$ALERTMANAGER_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
    rm -rf "$src"; cp -r "$dir" "$src"; chmod -R u+w "$src"
    mkdir -p "$src/ui/app/dist"
    echo '<!doctype html><title>Alertmanager</title><p>The web UI is not built here; the API is at /api/v2.' \
      > "$src/ui/app/dist/index.html"
  fi
  cd "$src"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/alertmanager" ./cmd/alertmanager
}

# remove_all_sd: no cloud service discovery (AWS, Azure, GCE, Kubernetes, ...), which is most of
# the build; the e2e scrapes with static_configs. A cold build took 13m48s with them.
build_prometheus_inner() {
  local out=$1
  CGO_ENABLED=0 GOBIN=$out go install -trimpath -tags remove_all_sd -ldflags "-s -w" \
    "github.com/prometheus/prometheus/cmd/prometheus@v$PROMETHEUS_VERSION"
}

# The real Helm: `make test` lints and renders the chart with it, the e2e installs with it.
build_helm_inner() {
  local out=$1
  CGO_ENABLED=0 GOBIN=$out go install -trimpath -ldflags "-s -w" "helm.sh/helm/v4/cmd/helm@v$HELM_VERSION"
}

# build COMPONENT DEST BINARIES...: build into a temp dir, then rename into place, so a
# half-finished build is never mistaken for a cached one.
build() {
  local comp=$1 dest=$2; shift 2
  if have_all "$dest" "$@"; then log "cached: $comp ($dest)"; return; fi
  local tmp=$dest.tmp.$$
  rm -rf "$tmp"; mkdir -p "$tmp"
  timed "$comp" "$here/build-binaries.sh" --inner "$comp" "$tmp"
  rm -rf "$dest"; mv "$tmp" "$dest"
}

# Internal: the timed child process runs one build function.
if [[ ${1:-} == --inner ]]; then "build_$2_inner" "$3"; exit; fi

# One build at a time per cache (CI and a developer may share this machine's cache).
exec 9>"$GODIAG_CACHE/build.lock"
if ! flock -n 9; then log "another build holds $GODIAG_CACHE/build.lock, waiting"; flock 9; fi

comps=("$@"); [[ ${#comps[@]} -gt 0 ]] || comps=(kubernetes etcd containerd runc dlv alertmanager prometheus helm)
for c in "${comps[@]}"; do
  case $c in
    kubernetes) build kubernetes "$K8S_BIN" "${K8S_CMDS[@]}" ;;
    etcd)       build etcd "$ETCD_BIN" etcd ;;
    containerd) build containerd "$CONTAINERD_BIN" containerd containerd-shim-runc-v2 ctr ;;
    runc)       build runc "$RUNC_BIN" runc ;;
    dlv)        build dlv "$DLV_BIN" dlv ;;
    alertmanager) build alertmanager "$ALERTMANAGER_BIN" alertmanager ;;
    prometheus) build prometheus "$PROMETHEUS_BIN" prometheus ;;
    helm)       build helm "$HELM_BIN" helm ;;
    *) die "unknown component $c" ;;
  esac
done
