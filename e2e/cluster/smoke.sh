#!/usr/bin/env bash
# Smoke checks of the local cluster: each prints PASS or FAIL; exit status is the
# number of failures (0 = all passed). Objects live in namespace godiag-smoke, which
# is deleted at the end.
#
# There is no cluster DNS: pods reach the API server the way in-cluster clients do,
# through KUBERNETES_SERVICE_HOST/PORT (the kubernetes Service IP, via kube-proxy).
# The full TLS + token path from a pod is exercised by the operator in the e2e tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
NS=godiag-smoke
K() { "${NSENTER[@]}" "$K8S_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }
failures=0
pass() { printf 'PASS  %s\n' "$1"; }
fail() { printf 'FAIL  %s\n' "$1"; [[ -n ${2:-} ]] && printf '      %s\n' "$2"; failures=$((failures + 1)); }
pf_pid=""
cleanup() {
  [[ -n $pf_pid ]] && kill "$pf_pid" 2>/dev/null || true
  K delete namespace "$NS" --ignore-not-found --wait=true --timeout=120s >/dev/null 2>&1 || true
}
trap cleanup EXIT

# 1. node Ready
if K wait --for=condition=Ready "node/$NODE_NAME" --timeout=60s >/dev/null 2>&1; then
  pass "node $NODE_NAME is Ready ($(K get node "$NODE_NAME" -o jsonpath='{.status.nodeInfo.kubeletVersion}, {.status.nodeInfo.containerRuntimeVersion}'))"
else
  fail "node $NODE_NAME is Ready"
fi

# 2. pods from local images Running
K delete namespace "$NS" --ignore-not-found --wait=true --timeout=120s >/dev/null
K create namespace "$NS" >/dev/null
wait_until 60 "default ServiceAccount in $NS" K -n "$NS" get serviceaccount default
K -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: goapp, labels: {app: goapp}}
spec:
  containers:
  - name: goapp
    image: localhost/goapp:e2e
    imagePullPolicy: Never
    args: ["-listen", "127.0.0.1:6060"]      # loopback only: reachable via port-forward
---
apiVersion: v1
kind: Pod
metadata: {name: busybox}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: busybox
    image: localhost/busybox:e2e
    imagePullPolicy: Never
    command: ["sleep", "3600"]
YAML
if K -n "$NS" wait --for=condition=Ready pod/goapp pod/busybox --timeout=90s >/dev/null 2>&1; then
  pass "pods from local images (localhost/goapp:e2e, localhost/busybox:e2e) Running"
else
  fail "pods from local images Running" "$(K -n "$NS" get events --sort-by=.lastTimestamp 2>&1 | tail -5)"
  echo "smoke: pods do not run, so the remaining checks cannot; see $LOGS/kubelet.log and containerd.log"
  exit "$failures"
fi

# 3. port-forward to a port bound to 127.0.0.1 inside the pod
port=16060
"${NSENTER[@]}" "$K8S_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" -n "$NS" \
  port-forward pod/goapp "$port:6060" >"$LOGS/smoke-port-forward.log" 2>&1 &
pf_pid=$!
if wait_until 30 "port-forward to goapp" "${NSENTER[@]}" curl -sf --max-time 3 "http://127.0.0.1:$port/healthz" &&
   "${NSENTER[@]}" curl -sf --max-time 5 -o /dev/null "http://127.0.0.1:$port/debug/pprof/"; then
  pass "kubectl port-forward reaches goapp's 127.0.0.1:6060 (/healthz and /debug/pprof/)"
else
  fail "kubectl port-forward reaches goapp's 127.0.0.1:6060" "$(tail -3 "$LOGS/smoke-port-forward.log" | tr '\n' ' ')"
fi
kill "$pf_pid" 2>/dev/null || true; pf_pid=""

# 4. exec
out=$(K -n "$NS" exec busybox -- sh -c 'echo exec-ok' 2>&1 || true)
if [[ $out == exec-ok ]]; then pass "kubectl exec runs a command in a container"
else fail "kubectl exec runs a command in a container" "$out"; fi

# 5. ephemeral debug container sharing the target's process namespace
K -n "$NS" debug goapp --image=localhost/busybox:e2e --image-pull-policy=Never \
  --target=goapp --container=dbg --profile=general -- ps >/dev/null 2>&1 || true
seen() { K -n "$NS" logs goapp -c dbg 2>/dev/null | grep -q '/goapp'; }
if wait_until 60 "ephemeral container dbg to list goapp's process" seen; then
  pass "kubectl debug --target: ephemeral container sees the goapp process"
else
  fail "kubectl debug --target: ephemeral container sees the goapp process" \
    "$(K -n "$NS" get pod goapp -o jsonpath='{.status.ephemeralContainerStatuses}' 2>&1)"
fi

# 6. pod -> API server through the kubernetes Service (kube-proxy). busybox's own TLS
# cannot negotiate with Go 1.26's default cipher suites, so speak plain HTTP to the TLS
# port: Go's server answers that with a recognisable 400, which proves the packets went
# pod -> 10.32.0.1:443 -> kube-proxy DNAT -> kube-apiserver and back.
out=$(K -n "$NS" exec busybox -- sh -c \
  'printf "GET /version HTTP/1.0\r\n\r\n" | nc -w 5 "$KUBERNETES_SERVICE_HOST" "$KUBERNETES_SERVICE_PORT"' 2>&1 || true)
if [[ $out == *'Client sent an HTTP request to an HTTPS server'* ]]; then
  pass "pod reaches the API server via the kubernetes Service (KUBERNETES_SERVICE_HOST=$KUBERNETES_SVC_IP:443)"
else
  fail "pod reaches the API server via the kubernetes Service" "$out"
fi

# 7. Delve in an ephemeral container (SYS_PTRACE via --profile=general) attaches to goapp,
# listens on 127.0.0.1 only, answers JSON-RPC through port-forward, and detaches without
# killing it: the path godiag's Delve mode takes.
K -n "$NS" debug goapp --image="localhost/dlv:$DLV_VERSION" --image-pull-policy=Never \
  --target=goapp --container=dlv --profile=general -- /dlv attach 1 --headless \
  --listen=127.0.0.1:2345 --api-version=2 --accept-multiclient >/dev/null 2>&1 || true
dlv_listening() { K -n "$NS" logs goapp -c dlv 2>/dev/null | grep -q 'API server listening at: 127.0.0.1:2345'; }
out=""
if wait_until 60 "dlv to attach to goapp" dlv_listening; then
  "${NSENTER[@]}" "$K8S_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" -n "$NS" \
    port-forward pod/goapp 12345:2345 >"$LOGS/smoke-port-forward-dlv.log" 2>&1 &
  pf_pid=$!
  wait_until 30 "port-forward to dlv" "${NSENTER[@]}" python3 -c \
    'import socket; socket.create_connection(("127.0.0.1", 12345), timeout=2)' || true
  out=$("${NSENTER[@]}" python3 - <<'PY' 2>&1 || true
import json, socket
f = socket.create_connection(("127.0.0.1", 12345), timeout=20).makefile("rw")
def call(i, method, params):
    f.write(json.dumps({"id": i, "method": "RPCServer." + method, "params": [params]}) + "\n")
    f.flush()
    return json.loads(f.readline())
gs = call(1, "ListGoroutines", {"Start": 0, "Count": 0})["result"]["Goroutines"]
det = call(2, "Detach", {"Kill": False})
print(f"goroutines={len(gs)} detach_error={det.get('error')}")
PY
)
  kill "$pf_pid" 2>/dev/null || true; pf_pid=""
fi
phase=$(K -n "$NS" get pod goapp -o jsonpath='{.status.phase}' 2>/dev/null || true)
if [[ $out == goroutines=*' detach_error=None' && $phase == Running ]]; then
  pass "Delve in an ephemeral container: attach, list goroutines over port-forward, detach ($out)"
else
  fail "Delve in an ephemeral container" "$out (pod phase: $phase)"
fi

if ((failures == 0)); then echo "smoke: all checks passed"; else echo "smoke: $failures check(s) failed"; fi
exit "$failures"
