#!/usr/bin/env bash
# make bench: times `godiag analyze` (release) against the pprof binary (`go tool -n pprof`) on
# the same profiles in one run, checks that both print the same top-N numbers, and prints the
# ratios next to gunzip alone; traces against Go's trace binary, dumps against a plain read.
#
#   operator/benches/bench-analyze.sh [RUNS]
#
# Needs: cargo, go (for pprof and to generate the two >= 1 MB profiles), python3; hyperfine
# (installed from Debian when missing and this runs as root; otherwise a plain timing loop).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
runs="${1:-10}"
fx="$root/operator/analyze/tests/fixtures"
work="$root/target/bench-analyze"
mkdir -p "$work"
if ! command -v hyperfine >/dev/null && [[ $(id -u) == 0 ]]; then
  "$root/scripts/apt-install.sh" hyperfine || echo "(hyperfine not installed: timing with a plain loop)"
fi

cargo build --quiet --release -p godiag --bin godiag --manifest-path "$root/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target}/release/godiag"
# The floor: inflate + protobuf decode with the same crates, nothing else.
cargo build --quiet --release -p godiag-analyze --example decode_floor --manifest-path "$root/Cargo.toml"
floor="${CARGO_TARGET_DIR:-$root/target}/release/examples/decode_floor"

# A large allocation profile: 2^19 distinct stacks from a binary recursion (real runtime output).
big="$work/big-allocs.pb.gz"
if [[ ! -s "$big" ]]; then
  "$root/operator/analyze/tests/fixtures/gen/regen.sh" big "$work" >/dev/null
fi

# A CPU profile of the shape of google/pprof's large one (1.2 MB gzipped, 23,000 functions):
# encoded directly, a program with that many functions being too slow to build.
wide="$work/wide-cpu.pb.gz"
if [[ ! -s "$wide" ]]; then
  (cd "$root/operator/benches/widecpu" && go run main.go -out "$wide" >/dev/null)
fi

files=("$fx/cpu.pb.gz" "$fx/allocs.pb.gz" "$fx/mutex.pb.gz" "$wide" "$big")
go tool pprof -top "$fx/cpu.pb.gz" >/dev/null 2>&1 # build/cache the pprof tool once

echo "== same numbers? (top 20 by flat, names, flat, cum, total)"
for f in "${files[@]}"; do
  python3 - "$bin" "$f" <<'PY'
import json, subprocess, sys
bin, f = sys.argv[1], sys.argv[2]
n = 20
run = subprocess.run([bin, "analyze", "--format", "json", "--top", str(n), f], capture_output=True, text=True)
if run.returncode != 0:
    print(f"  REFUSED {f.rsplit('/', 1)[-1]}: {run.stderr.strip()}")
    sys.exit(0)
ours = json.loads(run.stdout)
suffix = {"nanoseconds": "ns", "bytes": "B"}.get(ours["unit"], "")
cmd = ["go", "tool", "pprof", "-top", f"-nodecount={n}", "-nodefraction=0", "-edgefraction=0",
       f"-sample_index={ours['sampleType']}"] + ([f"-unit={suffix}"] if suffix else []) + [f]
out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
def num(s):
    return int(s[: len(s) - len(suffix)] if suffix and s.endswith(suffix) else s)
rows, total, table = [], None, False
for line in out.splitlines():
    if line.startswith("Showing nodes accounting for"):
        total = num(line.split(" of ")[1].split()[0])
    if line.strip().startswith("flat"):
        table = True
        continue
    c = line.split()
    if table and len(c) >= 6:
        name = " ".join(c[5:]).removesuffix(" (inline)").removesuffix(" (partial-inline)")
        rows.append([name, num(c[0]), num(c[3])])
mine = [[x["name"], x["flat"], x["cum"]] for x in ours["functions"]]
ok = mine == rows and total == ours["total"]
print(f"  {'OK  ' if ok else 'DIFF'} {f.rsplit('/', 1)[-1]}: {len(rows)} rows, total {total} {ours['unit']} ({ours['sampleType']})")
if not ok:
    for a, b in zip(mine, rows):
        if a != b:
            print("     godiag:", a, "\n     pprof: ", b)
    sys.exit(1)
PY
done

# The tools themselves, not `go tool …`: the go command adds ~0.3 s of start-up before them.
pprof_bin="$(go tool -n pprof)"
trace_bin="$(go tool -n trace)"

# Mean seconds of each command (hyperfine -N when installed, else a plain loop), one per line.
times() {
  local json="$work/t.json"
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 2 --runs "$runs" --export-json "$json" "$@" >/dev/null 2>&1
    python3 -c 'import json,sys; [print(r["mean"]) for r in json.load(open(sys.argv[1]))["results"]]' "$json"
  else
    local c s e
    for c in "$@"; do
      s=$(date +%s%N); for _ in $(seq "$runs"); do bash -c "$c" >/dev/null 2>&1; done; e=$(date +%s%N)
      python3 -c "print(($e-$s)/1e9/$runs)"
    done
  fi
}

echo "== pprof profiles ($runs runs each): godiag analyze --top 10 | the pprof binary -top | floor (inflate + decode, same crates) | gunzip alone"
# godiag, the floor and gunzip of every file first, pprof's runs after all of them: the seconds
# of memory pprof takes and frees on a large profile made whatever ran right after it up to 30%
# slower here.
declare -A mine
for f in "${files[@]}"; do
  "$bin" analyze --top 1 "$f" >/dev/null 2>&1 || continue
  mine[$f]="$(times "$bin analyze --top 10 $f" "$floor $f" "gzip -dc $f" | tr '\n' ' ')"
done
for f in "${files[@]}"; do
  [[ -n ${mine[$f]:-} ]] || { echo "  $(basename "$f"): refused by godiag (see above), not timed"; continue; }
  # shellcheck disable=SC2086 # three numbers
  python3 -c 'import sys; n,s,g,fl,z,p=sys.argv[1],int(sys.argv[2]),*map(float,sys.argv[3:]); print(f"  {n:<22} {s/1024:>8.0f} KiB   godiag {g*1e3:8.1f} ms   pprof {p*1e3:8.1f} ms ({p/g:5.1f}x)   floor {fl*1e3:6.1f} ms (godiag = {g/fl:4.1f}x floor)   gunzip {z*1e3:6.1f} ms")' \
    "$(basename "$f")" "$(stat -c %s "$f")" ${mine[$f]} "$(times "$pprof_bin -top -nodecount=10 $f")"
done

echo "== execution traces and goroutine dumps: godiag analyze | go's trace binary -pprof=sched | a plain read"
for f in "$fx/trace-busy.out" "$fx/trace-throttled.out" "$fx/goroutine.txt" "$fx/goroutine-idle-http.txt"; do
  other="cat $f"
  [[ $f == *.out ]] && other="$trace_bin -pprof=sched $f"
  mapfile -t t < <(times "$bin analyze $f" "$other" "cat $f")
  python3 -c 'import sys; n,s,g,o,r=sys.argv[1],int(sys.argv[2]),*map(float,sys.argv[3:]); mb=s/1e6; print(f"  {n:<26} {s/1024:>7.0f} KiB   godiag {g*1e3:7.1f} ms ({mb/g:6.1f} MB/s)   " + (f"go trace {o*1e3:7.1f} ms ({o/g:4.1f}x)   " if n.endswith(".out") else "") + f"read {r*1e3:5.1f} ms ({mb/r:7.1f} MB/s)")' \
    "$(basename "$f")" "$(stat -c %s "$f")" "${t[@]}"
done
echo "(the floor uses godiag's own crates, flate2 and prost; flate2 on zlib-rs measured the same here, the floor being mostly prost's decode)"
