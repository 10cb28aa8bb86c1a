#!/usr/bin/env bash
# make bench-analyze: times `godiag analyze` (release) against `go tool pprof -top` on the same
# profiles in one run, checks that both print the same top-N numbers, and prints the ratio.
#
#   operator/benches/bench-analyze.sh [RUNS]
#
# Needs: cargo, go (for pprof and to generate the >= 1 MB profile), python3; hyperfine if
# installed (Debian: apt-get install -y hyperfine), otherwise a plain timing loop.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
runs="${1:-10}"
fx="$root/operator/analyze/tests/fixtures"
work="$root/target/bench-analyze"
mkdir -p "$work"

cargo build --quiet --release -p godiag --bin godiag --manifest-path "$root/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target}/release/godiag"

# A large allocation profile: 2^19 distinct stacks from a binary recursion (real runtime output).
big="$work/big-allocs.pb.gz"
if [[ ! -s "$big" ]]; then
  "$root/operator/analyze/tests/fixtures/gen/regen.sh" big "$work" >/dev/null
fi

files=("$fx/cpu.pb.gz" "$fx/allocs.pb.gz" "$fx/mutex.pb.gz" "$big")
go tool pprof -top "$fx/cpu.pb.gz" >/dev/null 2>&1 # build/cache the pprof tool once

echo "== same numbers? (top 20 by flat, names, flat, cum, total)"
for f in "${files[@]}"; do
  python3 - "$bin" "$f" <<'PY'
import json, subprocess, sys
bin, f = sys.argv[1], sys.argv[2]
n = 20
ours = json.loads(subprocess.run([bin, "analyze", "--format", "json", "--top", str(n), f],
                                 check=True, capture_output=True, text=True).stdout)
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

echo "== timing ($runs runs each; godiag analyze --top 10 vs go tool pprof -top -nodecount=10)"
for f in "${files[@]}"; do
  name="$(basename "$f")"
  size="$(stat -c %s "$f")"
  g="$bin analyze --top 10 $f"
  p="go tool pprof -top -nodecount=10 $f"
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/$name.json" "$g" "$p" >/dev/null 2>&1
    read -r tg tp < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(r[0]["mean"], r[1]["mean"])' "$work/$name.json")
  else
    t() { local s e; s=$(date +%s%N); for _ in $(seq "$runs"); do $1 >/dev/null 2>&1; done; e=$(date +%s%N); python3 -c "print(($e-$s)/1e9/$runs)"; }
    tg="$(t "$g")"; tp="$(t "$p")"
  fi
  python3 -c 'import sys; n,s,g,p=sys.argv[1],int(sys.argv[2]),float(sys.argv[3]),float(sys.argv[4]); print(f"  {n:<20} {s/1024:>8.0f} KiB   godiag {g*1e3:8.1f} ms   pprof {p*1e3:8.1f} ms   ratio {p/g:6.1f}x")' "$name" "$size" "$tg" "$tp"
done
