#!/usr/bin/env bash
# Start a real single-node Kubernetes (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd + runc, kubelet, kube-proxy) inside the network namespace
# "$NETNS", which has no uplink: nothing the cluster does can leave this machine.
#
# Binaries are built from source once and cached ($GODIAG_CACHE, default /var/cache/godiag);
# runtime state (pki, kubeconfigs, data, logs, pid files) is under $GODIAG_STATE
# (default /var/lib/godiag-cluster). Running it again while the cluster is up only
# starts what is missing and re-runs the smoke checks. Stop everything with down.sh.
#
# Env: GODIAG_CACHE, GODIAG_STATE, GODIAG_NETNS, SKIP_SMOKE=1 (skip smoke.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
[[ $(id -u) == 0 ]] || die "must run as root (netns, mounts, cgroups)"
t0=$SECONDS

# --- 1. host packages (Debian) -------------------------------------------------------
pkgs=(containernetworking-plugins openssl iproute2 iptables conntrack util-linux
      busybox-static gcc libc6-dev libseccomp-dev pkg-config python3 curl time)
# Only the missing ones, one apt at a time: run-local.sh installs Chromium meanwhile.
"$here/../../scripts/apt-install.sh" "${pkgs[@]}"

# --- 2. binaries (cached after the first build) --------------------------------------
"$here/build-binaries.sh" kubernetes etcd containerd runc
mkdir -p "$LOGS" "$PIDS"

# running NAME: its pid file names a live process.
running() { [[ -f $PIDS/$1.pid ]] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }

# start NAME [ENV=VAL ...] -- CMD...: run CMD inside the netns, detached (own session),
# stdout+stderr to logs/NAME.log, pid to pids/NAME.pid. setsid and nsenter exec
# without forking here, so $! is the component's own pid.
start() {
  local name=$1; shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done; shift
  if running "$name"; then log "$name already running (pid $(cat "$PIDS/$name.pid"))"; return; fi
  log "starting $name (log: $LOGS/$name.log)"
  [[ -f $LOGS/$name.log ]] && mv "$LOGS/$name.log" "$LOGS/$name.log.prev"
  env "${envs[@]}" setsid "${NSENTER[@]}" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
}

# restart_if_changed NAME FILE: stop NAME if FILE (its config) changed since it started,
# so the following start() runs it with the new config.
restart_if_changed() {
  local name=$1 file=$2 pid
  running "$name" && [[ $file -nt $PIDS/$name.pid ]] || return 0
  pid=$(cat "$PIDS/$name.pid")
  log "$name: $file changed, restarting"
  kill -TERM "$pid"
  wait_until 30 "$name (pid $pid) to exit" sh -c "! kill -0 $pid"
}

# --- 3. network namespace: node IP on a port-less bridge, no default route -----------
if [[ ! -e /run/netns/$NETNS ]]; then
  log "creating network namespace $NETNS"
  ip netns add "$NETNS"
fi
"${NSENTER[@]}" ip link set lo up
if ! "${NSENTER[@]}" ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
  "${NSENTER[@]}" ip link add "$NODE_BRIDGE" type bridge
  "${NSENTER[@]}" ip addr add "$NODE_IP/24" dev "$NODE_BRIDGE"
fi
"${NSENTER[@]}" ip link set "$NODE_BRIDGE" up
# Host processes in the netns (kubectl, tests) reach Service IPs through kube-proxy's
# OUTPUT rules; they still need a route to pick a source address.
"${NSENTER[@]}" ip route replace "$SERVICE_CIDR" dev "$NODE_BRIDGE" src "$NODE_IP"
# Per-netns sysctls: forwarding between the pod bridge and the node, bridged traffic
# through iptables (kube-proxy hairpin).
"${NSENTER[@]}" sysctl -qw net.ipv4.ip_forward=1
"${NSENTER[@]}" sh -c 'f=/proc/sys/net/bridge/bridge-nf-call-iptables; [ -e $f ] && echo 1 > $f || true'

# --- 4. certificates and kubeconfigs --------------------------------------------------
"$here/pki.sh"

# --- 5. etcd and the control plane ---------------------------------------------------
start etcd -- "$ETCD_BIN/etcd" --name n0 --data-dir "$STATE/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster n0=http://127.0.0.1:2380 --unsafe-no-fsync --log-level warn
wait_until 60 "etcd health" "${NSENTER[@]}" curl -sf http://127.0.0.1:2379/health

start kube-apiserver -- "$K8S_BIN/kube-apiserver" \
  --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port=6443 \
  --etcd-servers=http://127.0.0.1:2379 \
  --client-ca-file="$PKI/ca.crt" \
  --tls-cert-file="$PKI/kube-apiserver.crt" --tls-private-key-file="$PKI/kube-apiserver.key" \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP \
  --service-account-issuer=https://kubernetes.default.svc \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --allow-privileged=true --event-ttl=1h --v=1
K() { "${NSENTER[@]}" "$K8S_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }
wait_until 120 "kube-apiserver /readyz" K get --raw /readyz

# The API server's kubelet-client identity may use the kubelet API (exec, logs,
# port-forward); kubelet asks the API server (webhook authorization).
K apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: godiag-e2e:apiserver-kubelet-client}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:kubelet-api-admin}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: kube-apiserver-kubelet-client}
YAML

start kube-controller-manager -- "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$KCFG/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig="$KCFG/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig="$KCFG/kube-controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false \
  --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
  --use-service-account-credentials=true \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --allocate-node-cidrs=true --cluster-cidr=10.244.0.0/16 --node-cidr-mask-size=24 --v=1

start kube-scheduler -- "$K8S_BIN/kube-scheduler" \
  --kubeconfig="$KCFG/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig="$KCFG/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig="$KCFG/kube-scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --v=1

# --- 6. containerd (runc built here, Debian's CNI plugins, our images) ------------------------
"$here/node-config.sh"
restart_if_changed containerd "$STATE/containerd/config.toml"
start containerd "PATH=$CONTAINERD_BIN:$RUNC_BIN:/usr/sbin:/usr/bin:/sbin:/bin" -- \
  "$CONTAINERD_BIN/containerd" --config "$STATE/containerd/config.toml"
wait_until 60 "containerd" ctr_k8s version
"$here/../images/build.sh" pause busybox goapp dlv

# --- 7. kubelet and kube-proxy --------------------------------------------------------
restart_if_changed kubelet "$STATE/kubelet-config.yaml"
restart_if_changed kube-proxy "$STATE/kube-proxy-config.yaml"
start kubelet -- "$K8S_BIN/kubelet" --config="$STATE/kubelet-config.yaml" \
  --kubeconfig="$KCFG/kubelet.kubeconfig" --hostname-override="$NODE_NAME" \
  --node-ip="$NODE_IP" --root-dir="$KUBELET_DIR" --v=1
start kube-proxy -- "$K8S_BIN/kube-proxy" --config="$STATE/kube-proxy-config.yaml" --v=1

wait_until 120 "node $NODE_NAME registered" K get node "$NODE_NAME"
K wait --for=condition=Ready "node/$NODE_NAME" --timeout=120s >/dev/null
log "node $NODE_NAME Ready"
wait_until 60 "default ServiceAccount" K -n default get serviceaccount default
wait_until 60 "kube-proxy rules for the kubernetes Service" \
  "${NSENTER[@]}" curl -sk --max-time 2 "https://$KUBERNETES_SVC_IP/version"

log "cluster up in $((SECONDS - t0))s"
echo "KUBECONFIG=$ADMIN_KUBECONFIG   (reachable only inside netns $NETNS: source e2e/cluster/env.sh, or use e2e/cluster/kubectl)"

# --- 8. smoke checks ------------------------------------------------------------------
if [[ ${SKIP_SMOKE:-0} != 1 ]]; then "$here/smoke.sh"; fi
