#!/usr/bin/env bash
# godiag without a cluster: build the fixture Go program, run it on loopback, collect every kind
# with `godiag collect`, and analyse what was collected with `godiag analyze`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$repo/out/demo-local}
port=${PORT:-16160}
cd "$repo"

cargo build -q --locked -p godiag
godiag=$repo/target/debug/godiag
(cd e2e/fixtures && go build -o "$repo/target/goapp" ./goapp)

./target/goapp -listen "127.0.0.1:$port" -block-rate 1 -mutex-fraction 1 -leak 300 &
app=$!
trap 'kill "$app" 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

rm -rf "$out"
echo "== godiag collect (cpu 5s, trace 3s, every snapshot kind)"
"$godiag" collect "http://127.0.0.1:$port" --profiles cpu,heap,allocs,goroutine,block,mutex,threadcreate,trace \
  --duration 5s --trace-duration 3s --out "file://$out" --name goapp
echo
echo "== files"
find "$out" -type f | sort
if "$godiag" analyze --help >/dev/null 2>&1; then
  for f in cpu.pb.gz goroutine.txt mutex.pb.gz trace.out; do
    echo
    echo "== godiag analyze $f"
    "$godiag" analyze --top 5 "$out/goapp/$f" || true
  done
fi
