#!/usr/bin/env bash
# Stop the local cluster started by up.sh and remove what it left behind:
# processes (by pid file, plus the pods' processes and containerd shims, found by our
# own cgroup and binary paths), mounts under our state dirs, pod cgroups, the netns
# with all its interfaces and iptables rules, and the runtime state (logs are kept).
# Safe to run twice, and when nothing runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
[[ $(id -u) == 0 ]] || die "must run as root"

# stop NAME...: SIGTERM every pid named in pids/NAME.pid, wait up to 20s for all of them,
# then SIGKILL what is left.
stop() {
  local name pid pids=() i
  for name in "$@"; do
    [[ -f $PIDS/$name.pid ]] || continue
    pid=$(cat "$PIDS/$name.pid")
    rm -f "$PIDS/$name.pid"
    kill -0 "$pid" 2>/dev/null || continue
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  for ((i = 0; i < 40; i++)); do
    local alive=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    pids=("${alive[@]}")
    [[ ${#pids[@]} -eq 0 ]] && return 0
    sleep 0.5
  done
  log "still running after 20s, SIGKILL: ${pids[*]}"
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

# Node agents first, so nothing restarts containers while we remove them.
stop kube-proxy kubelet kube-scheduler kube-controller-manager

# Remove every container through containerd while it still runs (shims then exit).
if [[ -S $CONTAINERD_SOCK ]] && ctr_k8s version >/dev/null 2>&1; then
  for id in $(ctr_k8s tasks ls -q 2>/dev/null); do
    ctr_k8s tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  for id in $(ctr_k8s tasks ls -q 2>/dev/null); do
    ctr_k8s tasks rm -f "$id" >/dev/null 2>&1 || true
  done
  for id in $(ctr_k8s containers ls -q 2>/dev/null); do
    ctr_k8s containers rm "$id" >/dev/null 2>&1 || true
  done
fi
stop containerd kube-apiserver
stop etcd

# Anything still alive in the pod cgroups, and leftover shims of our containerd binary.
leftovers() {
  if [[ -d /sys/fs/cgroup/pids/godiag ]]; then
    find /sys/fs/cgroup/pids/godiag -name cgroup.procs -exec cat {} + 2>/dev/null
  fi
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/exe" 2>/dev/null) == "$CONTAINERD_BIN/containerd-shim-runc-v2" ]] && echo "${p#/proc/}"
  done
  return 0
}
for pid in $(leftovers | sort -u); do
  log "killing leftover pid $pid ($(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-60))"
  kill -KILL "$pid" 2>/dev/null || true
done

# Unmount everything under the dirs we own, deepest first.
for root in "$STATE" "$CONTAINERD_RUN"; do
  findmnt -rn -o TARGET | grep -E "^$root(/|$)" | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done || true
done

# Pod cgroups (below /godiag in each hierarchy), deepest first.
for h in /sys/fs/cgroup/*/godiag; do
  [[ -d $h ]] || continue
  find "$h" -depth -type d -exec rmdir {} + 2>/dev/null || true
  [[ -d $h ]] && log "could not remove cgroup $h (processes left?)"
done

# The netns takes its bridges, veths, routes and kube-proxy's iptables rules with it.
if [[ -e /run/netns/$NETNS ]]; then
  log "deleting network namespace $NETNS"
  ip netns delete "$NETNS"
fi

# `ip netns add` turned /run/netns into a bind mount; undo that only if no namespace of
# anyone else is left in it (iproute2 recreates it on demand).
if mountpoint -q /run/netns && [[ -z $(ls -A /run/netns) ]]; then umount /run/netns && rmdir /run/netns || true; fi

# Files outside our dirs that the node writes: CNI result cache, container log links.
# (The directories are removed only if empty: nothing else of ours is in them.)
rm -f /var/lib/cni/results/godiag-pods-* 2>/dev/null || true
for l in /var/log/containers/*.log; do
  [[ -L $l && $(readlink "$l") == "$STATE"/* ]] && rm -f "$l"
done
rmdir /var/lib/cni/results /var/lib/cni /var/log/containers 2>/dev/null || true

# Shims keep their sockets in containerd's fixed /run/containerd/s; remove the dirs we
# caused there only if empty (never anything another containerd might own).
rmdir /run/containerd/s /run/containerd/fifo /run/containerd/runc/k8s.io /run/containerd/runc \
  /run/containerd 2>/dev/null || true

# Runtime state: keep logs/ for debugging, drop the rest (a new up.sh starts fresh).
rm -rf "$CONTAINERD_RUN"
if [[ -d $STATE ]]; then
  find "$STATE" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
fi
log "cluster down (logs kept in $LOGS)"
