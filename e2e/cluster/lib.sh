# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this file
# Shared settings for the local-cluster scripts. Sourced, never executed.
#
# Everything that is slow to make (Go modules, Go build cache, built binaries) lives
# under one cache dir; everything a running cluster writes (pki, kubeconfigs, data,
# logs, pid files) lives under one state dir.

# --- versions (change here, nowhere else) ---------------------------------------
K8S_VERSION=${K8S_VERSION:-1.36.3}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-2.2.9}
DLV_VERSION=${DLV_VERSION:-1.27.2}
RUNC_VERSION=${RUNC_VERSION:-1.3.6}   # Debian's runc 1.1.5 and crun 1.8.1 fail with containerd 2.2
ALERTMANAGER_VERSION=${ALERTMANAGER_VERSION:-0.35.0}
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-0.316.0}   # the Go module version of Prometheus v3.16.0
HELM_VERSION=${HELM_VERSION:-4.3.1}
PAUSE_TAG=3.10

# --- directories ------------------------------------------------------------------
GODIAG_CACHE=${GODIAG_CACHE:-/var/cache/godiag}
STATE=${GODIAG_STATE:-/var/lib/godiag-cluster}
PKI=$STATE/pki
KCFG=$STATE/kubeconfig
LOGS=$STATE/logs
PIDS=$STATE/pids
ADMIN_KUBECONFIG=$STATE/admin.kubeconfig

# Go: one module cache and build cache, never switch toolchains.
export GOMODCACHE=$GODIAG_CACHE/go/mod
export GOCACHE=$GODIAG_CACHE/go/build
export GOTOOLCHAIN=local
export GOFLAGS=-buildvcs=false
GO_VERSION=$(go env GOVERSION)

# Built binaries are keyed by component version and Go version.
K8S_BIN=$GODIAG_CACHE/bin/kubernetes-v$K8S_VERSION-$GO_VERSION
ETCD_BIN=$GODIAG_CACHE/bin/etcd-v$ETCD_VERSION-$GO_VERSION
CONTAINERD_BIN=$GODIAG_CACHE/bin/containerd-v$CONTAINERD_VERSION-$GO_VERSION
DLV_BIN=$GODIAG_CACHE/bin/dlv-v$DLV_VERSION-$GO_VERSION
RUNC_BIN=$GODIAG_CACHE/bin/runc-v$RUNC_VERSION-$GO_VERSION
ALERTMANAGER_BIN=$GODIAG_CACHE/bin/alertmanager-v$ALERTMANAGER_VERSION-$GO_VERSION
PROMETHEUS_BIN=$GODIAG_CACHE/bin/prometheus-v$PROMETHEUS_VERSION-$GO_VERSION
HELM_BIN=$GODIAG_CACHE/bin/helm-v$HELM_VERSION-$GO_VERSION

# --- network (all inside our own netns, which has no uplink) ----------------------
NETNS=${GODIAG_NETNS:-godiag}
NSENTER=(nsenter "--net=/run/netns/$NETNS")
NODE_NAME=node0
NODE_BRIDGE=godiag-node        # port-less bridge holding the node IP
NODE_IP=10.200.0.1
POD_BRIDGE=godiag-cni0         # CNI bridge for pods
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.32.0.0/24
KUBERNETES_SVC_IP=10.32.0.1
API_URL=https://$NODE_IP:6443

# Runtime sockets and dirs of the node components (all ours, all removed by down.sh).
CONTAINERD_ROOT=$STATE/containerd/root
CONTAINERD_RUN=/run/godiag-containerd
CONTAINERD_SOCK=$CONTAINERD_RUN/containerd.sock
KUBELET_DIR=$STATE/kubelet
CNI_CONF_DIR=$STATE/cni/net.d
CNI_BIN_DIR=/usr/lib/cni

log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "${0##*/}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# wait_until TIMEOUT_SECONDS DESCRIPTION COMMAND...: poll COMMAND every second.
wait_until() {
  local timeout=$1 what=$2; shift 2
  local start=$SECONDS
  log "waiting for $what (up to ${timeout}s)"
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS - start >= timeout )); then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 1
  done
  log "ok: $what ($((SECONDS - start))s)"
}

# ctr against our containerd, in the k8s.io namespace that CRI uses.
ctr_k8s() { "$CONTAINERD_BIN/ctr" --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
