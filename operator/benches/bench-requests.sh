#!/usr/bin/env bash
# make bench, cluster part: 1,000 DiagnosisRequests in one namespace against the local cluster
# (make cluster-up images; skipped when no cluster is up). Prints how long until every request
# is terminal and their phases, the operator's CPU and memory under the load, then at idle (CPU
# in cores over a minute, reconciles in that minute: terminal requests must cost none), and its
# memory once the requests' TTL has deleted them.
#
#   operator/benches/bench-requests.sh [COUNT]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
count="${1:-1000}"
# shellcheck source=../../e2e/cluster/lib.sh
source "$root/e2e/cluster/lib.sh"
k() { "$root/e2e/cluster/kubectl" "$@"; }

if ! k get --raw=/readyz >/dev/null 2>&1 || ! k -n godiag-system get deployment godiag >/dev/null 2>&1; then
  echo "== $count requests: skipped (no local cluster with godiag: make cluster-up images, then kubectl apply -k manifests/e2e)"
  exit 0
fi
ns=bench-requests
ttl=120
work="$root/target/bench-requests"
mkdir -p "$work"

# The leader (it runs the controller; a standby only waits), once its Lease names a live pod.
leader=""
for _ in $(seq 60); do
  leader=$(k -n godiag-system get lease godiag-leader -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)
  [[ -n $leader ]] && k -n godiag-system get pod "$leader" >/dev/null 2>&1 && break
  sleep 2
done
# Its process, found by the pod's UID in its cgroup (cgroupfs or systemd naming).
pod_uid=$(k -n godiag-system get pod "$leader" -o jsonpath='{.metadata.uid}')
pod_ip=$(k -n godiag-system get pod "$leader" -o jsonpath='{.status.podIP}')
pid=""
for p in /proc/[0-9]*; do
  if grep -qE "pod(${pod_uid}|${pod_uid//-/_})" "$p/cgroup" 2>/dev/null && tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q 'godiag run'; then
    pid=${p#/proc/}
    break
  fi
done
[[ -n $pid ]] || { echo "cannot find the operator's process (pod $pod_uid)"; exit 1; }
# CPU seconds of the operator and its analysis workers; resident MiB (now, peak).
cpu() { awk '{printf "%.2f\n", ($14+$15+$16+$17)/100}' "/proc/$pid/stat"; }
rss() { awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$pid/status"; }
hwm() { awk '/^VmHWM/{printf "%.1f", $2/1024}' "/proc/$pid/status"; }
reconciles() { "${NSENTER[@]}" curl -sf "http://$pod_ip:8080/metrics" | awk '/^godiag_reconciles_total/{print $2}'; }

k delete namespace "$ns" --ignore-not-found --wait >/dev/null
k create namespace "$ns" >/dev/null
k -n "$ns" apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: target, labels: {app: target}}
spec:
  replicas: 1
  selector: {matchLabels: {app: target}}
  template:
    metadata: {labels: {app: target}}
    spec:
      containers:
        - name: goapp
          image: localhost/goapp:e2e
          imagePullPolicy: Never
          args: [-listen=127.0.0.1:6060, -workers=0]
          ports: [{name: pprof, containerPort: 6060}]
YAML
k -n "$ns" rollout status deployment/target --timeout=120s >/dev/null

idle_cpu0=$(cpu); sleep 30; idle_cpu1=$(cpu)
echo "== $count requests in one namespace (heap of one pod each, ttlSecondsAfterFinished $ttl)"
echo "  before: operator RSS $(rss) MiB, CPU at idle $(python3 -c "print(f'{($idle_cpu1-$idle_cpu0)/30:.3f}')") cores"

python3 - "$count" "$ttl" >"$work/requests.yaml" <<'PY'
import sys
n, ttl = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    print(f"""---
apiVersion: godiag.dev/v1alpha1
kind: DiagnosisRequest
metadata: {{name: r{i:04d}}}
spec:
  targets: {{selector: {{matchLabels: {{app: target}}}}}}
  pprof: {{profiles: [heap]}}
  ttlSecondsAfterFinished: {ttl}""")
PY
reconciles0=$(reconciles)
cpu0=$(cpu)
start=$(date +%s.%N)
k -n "$ns" create -f "$work/requests.yaml" >/dev/null
created=$(date +%s.%N)
phases=""
for _ in $(seq 600); do
  list=$(k -n "$ns" get diagnosisrequests -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}')
  phases=$(sort <<<"$list" | uniq -c | tr -s ' ' | tr '\n' ',')
  terminal=$(grep -cE '^(Succeeded|PartiallySucceeded|Failed)$' <<<"$list" || true)
  [[ $terminal -ge $count ]] && break
  sleep 2
done
done_at=$(date +%s.%N)
cpu1=$(cpu)
reconciles1=$(reconciles)
python3 -c "import sys; s,c,d=map(float,sys.argv[1:4]); print(f'  created in {c-s:.1f} s; all terminal after {d-s:.1f} s')" "$start" "$created" "$done_at"
echo "  phases:${phases%,}"
python3 -c "import sys; a,b,t=map(float,sys.argv[1:4]); print(f'  operator under the load: {b-a:.1f} CPU s ({(b-a)/t:.2f} cores), peak RSS $(hwm) MiB, now $(rss) MiB; {int(sys.argv[5])-int(sys.argv[4])} reconciles')" \
  "$cpu0" "$cpu1" "$(python3 -c "print($done_at-$start)")" "${reconciles0:-0}" "${reconciles1:-0}"

sleep 5
a=$(cpu); r0=$(reconciles); sleep 60; b=$(cpu); r1=$(reconciles)
python3 -c "import sys; a,b=map(float,sys.argv[1:3]); print(f'  idle with {sys.argv[5]} terminal requests kept: {(b-a)/60:.3f} cores, {int(sys.argv[4])-int(sys.argv[3])} reconciles in 60 s, RSS $(rss) MiB')" \
  "$a" "$b" "${r0:-0}" "${r1:-0}" "$count"

# The TTL deletes them; the operator's cache and memory shrink back.
for _ in $(seq 120); do
  left=$(k -n "$ns" get diagnosisrequests -o name | wc -l)
  [[ $left -eq 0 ]] && break
  sleep 2
done
sleep 10
a=$(cpu); sleep 30; b=$(cpu)
python3 -c "import sys; a,b=map(float,sys.argv[1:3]); print(f'  after the TTL deleted them ({sys.argv[3]} left): RSS $(rss) MiB, idle {(b-a)/30:.3f} cores')" "$a" "$b" "$left"
k delete namespace "$ns" --wait=false >/dev/null
