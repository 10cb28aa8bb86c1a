#!/usr/bin/env bash
# make bench, collection part: `godiag collect` (release; the operator's own collection pipeline
# and store, without the port-forward) against Go programs on loopback.
#   1. overhead beyond the window for 1 and 20 real Go programs (e2e/fixtures/goapp): CPU 5s,
#      trace 2s, heap and goroutine, all in one window; and how far apart the windows started;
#   2. the collector's peak RSS while 20 programs each stream a 50 MB artifact at once.
#
#   operator/benches/bench-collect.sh
#
# Needs: cargo, go, python3. Listens on 127.0.0.1:16000-16019 and 127.0.0.1:17000-17019.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$root/target/bench-collect"
mkdir -p "$work"

cargo build --quiet --release -p godiag --bin godiag --manifest-path "$root/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target}/release/godiag"
(cd "$root/e2e/fixtures" && go build -o "$work/goapp" ./goapp)
(cd "$root/operator/benches/streamer" && go build -o "$work/streamer" main.go)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

for i in $(seq 0 19); do
  "$work/goapp" -listen "127.0.0.1:$((16000 + i))" -workers=0 >/dev/null 2>&1 &
  pids+=($!)
done
"$work/streamer" -port 17000 -n 20 -mb 50 >/dev/null 2>&1 &
pids+=($!)
for i in $(seq 0 19); do wait_port $((16000 + i)); wait_port $((17000 + i)); done

# Runs godiag collect with the given URLs; prints wall seconds, peak RSS (KiB) and the window
# spread godiag reports, as one line of JSON.
run() {
  local out="$1"; shift
  rm -rf "$out"
  python3 - "$bin" "$out" "$@" <<'PY'
import json, re, resource, subprocess, sys, time
bin, out, *args = sys.argv[1:]
t = time.monotonic()
p = subprocess.run([bin, "collect", "--out", f"file://{out}", *args], capture_output=True, text=True)
wall = time.monotonic() - t
if p.returncode != 0:
    print(p.stdout[-2000:], p.stderr[-2000:], file=sys.stderr)
    sys.exit(f"godiag collect failed: exit {p.returncode}")
m = re.search(r"(\d+) of (\d+) artifacts stored.*?(?:within (\d+) ms)?;", p.stdout)
print(json.dumps({"wall": wall, "rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "stored": int(m[1]), "of": int(m[2]), "spread_ms": int(m[3]) if m and m[3] else 0}))
PY
}

echo "== collection on loopback (godiag collect, release): cpu 5s + trace 2s + heap + goroutine, one window"
for n in 1 20; do
  urls=()
  for i in $(seq 0 $((n - 1))); do urls+=("http://127.0.0.1:$((16000 + i))"); done
  r=$(run "$work/out-$n" --profiles cpu,heap,goroutine,trace --duration 5s --trace-duration 2s "${urls[@]}")
  python3 - "$n" "$r" <<'PY'
import json, sys
n, r = int(sys.argv[1]), json.loads(sys.argv[2])
print(f"  {n:>2} program(s)   wall {r['wall']:5.2f} s = window 5 s + {r['wall'] - 5:4.2f} s   windows started within {r['spread_ms']} ms   {r['stored']}/{r['of']} artifacts   peak RSS {r['rss_kib'] / 1024:5.1f} MiB")
PY
done

echo "== streaming: 20 programs each send a 50 MB artifact at once (heap endpoint), stored to file://"
urls=()
for i in $(seq 0 19); do urls+=("http://127.0.0.1:$((17000 + i))"); done
r=$(run "$work/out-stream" --profiles heap "${urls[@]}")
python3 - "$r" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"  20 x 50 MB   wall {r['wall']:5.2f} s ({1000 / r['wall']:5.0f} MB/s)   {r['stored']}/{r['of']} artifacts   peak RSS {r['rss_kib'] / 1024:5.1f} MiB (goal: <= 64 MiB)")
PY
du -sh "$work/out-stream" | sed 's/^/  stored: /'
rm -rf "$work/out-stream"
