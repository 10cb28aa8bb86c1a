#!/usr/bin/env bash
# Write the node's config files (containerd, CNI, kubelet, kube-proxy) under the state
# dir and create the cgroup that holds every pod. Rewritten on each run; idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
mkdir -p "$STATE/containerd" "$CONTAINERD_ROOT" "$CONTAINERD_RUN" "$CNI_CONF_DIR" \
  "$STATE/cni/ipam" "$KUBELET_DIR" "$STATE/pod-logs"

# write FILE < content: replace FILE only if the content differs. kube-proxy exits when
# its config file changes, so a second up.sh must leave unchanged files alone.
write() {
  local tmp=$1.new
  cat > "$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

# containerd 2.x, config version 3. Everything it writes is under our state dirs;
# pod network namespaces are mounted under its state dir, not /run/netns.
write "$STATE/containerd/config.toml" <<TOML
version = 3
root = '$CONTAINERD_ROOT'
state = '$CONTAINERD_RUN/state'
temp = '$CONTAINERD_RUN/tmp'
disabled_plugins = ['io.containerd.nri.v1.nri']   # NRI would use a global /var/run/nri socket

[grpc]
  address = '$CONTAINERD_SOCK'

[plugins.'io.containerd.internal.v1.opt']
  path = '$STATE/containerd/opt'

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = 'localhost/pause:$PAUSE_TAG'    # our own pause image, imported, never pulled

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  # This host withholds CAP_SYS_RESOURCE (CapEff lacks bit 24), so runc cannot lower
  # oom_score_adj (kubelet asks -998 for sandboxes): clamp to containerd's own value.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '$RUNC_BIN/runc'     # runc 1.3, built by build-binaries.sh
        SystemdCgroup = false             # cgroupfs, like the kubelet
        Root = '$CONTAINERD_RUN/runc'     # runc state under our dir, not /run/containerd
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['$CNI_BIN_DIR']
    conf_dir = '$CNI_CONF_DIR'

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'     # exec/attach/port-forward streams stay on loopback
  stream_server_port = '0'
TOML

# Pod network: a bridge inside our netns. No masquerade, and pods get routes only to the
# node and to Services (no default route), so pod traffic cannot leave the netns.
write "$CNI_CONF_DIR/10-godiag-pods.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "godiag-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$POD_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "$SERVICE_CIDR"}, {"dst": "$NODE_IP/32"}]
      }
    },
    {"type": "loopback"}
  ]
}
JSON

# DNS: there is no cluster DNS. Pods find the API server through the
# KUBERNETES_SERVICE_HOST/PORT environment, as in-cluster clients do.
printf 'nameserver 127.0.0.1\noptions ndots:1 timeout:1 attempts:1\n' | write "$STATE/resolv.conf"

# All pod cgroups live below /godiag in every cgroup v1 hierarchy (and cgroup2's
# unified mount), so down.sh can find and remove exactly what the node created.
for h in /sys/fs/cgroup/*/; do
  [[ -d $h ]] || continue
  mkdir -p "$h/godiag"
  if [[ -f $h/cpuset.cpus && ! -s $h/godiag/cpuset.cpus ]]; then
    cat "$h/cpuset.cpus" > "$h/godiag/cpuset.cpus"
    cat "$h/cpuset.mems" > "$h/godiag/cpuset.mems"
  fi
done

write "$STATE/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false            # this host is cgroup v1; 1.35+ refuses it otherwise
cgroupDriver: cgroupfs
cgroupRoot: /godiag
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
imageServiceEndpoint: unix://$CONTAINERD_SOCK
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
podLogsDir: $STATE/pod-logs
resolvConf: $STATE/resolv.conf
failSwapOn: false
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100   # never garbage-collect our imported images
imageGCLowThresholdPercent: 99
serializeImagePulls: false
YAML

write "$STATE/kube-proxy-config.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $KCFG/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: 10.244.0.0/16
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables: {localhostNodePorts: false}
nodePortAddresses: [primary]
# Leave host-global conntrack settings alone (0 = do not change).
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
