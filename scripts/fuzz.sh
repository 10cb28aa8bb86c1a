#!/usr/bin/env bash
# `make fuzz`: coverage-guided fuzzing (cargo fuzz, libFuzzer, nightly) of the analysis crate's
# three parsers and the Alertmanager receiver's payload parser, each for FUZZ_SECONDS (default 60), seeded with the real fixtures (and the
# pprof ones also gunzipped, so mutations reach the protobuf decoder). Prints executions per
# target; a crash leaves its input under operator/analyze/fuzz/artifacts/<target>/ and fails
# the run (turn it into a regression test in operator/analyze/tests/).
#
# Env: FUZZ_SECONDS, FUZZ_TARGETS (default: all four), FUZZ_RSS_MB (default 256), CARGO_TARGET_DIR.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
fuzz_dir=$repo/operator/analyze/fuzz
fixtures=$repo/operator/analyze/tests/fixtures
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-pprof_decode goroutine_text trace_scan webhook_payload}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz: installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked
fi

corpus_root=$CARGO_TARGET_DIR/fuzz-corpus
seed() { # seed TARGET FILE...: copy fixtures into the target's corpus (kept between runs)
  local dir=$corpus_root/$1; shift
  mkdir -p "$dir"
  cp -n "$@" "$dir/"
}
seed pprof_decode "$fixtures"/*.pb.gz
for f in "$fixtures"/*.pb.gz; do
  raw=$corpus_root/pprof_decode/$(basename "$f" .gz).raw
  [[ -f $raw ]] || gzip -dc "$f" >"$raw"
done
seed goroutine_text "$fixtures"/*.txt "$fixtures"/crash-*.log
seed trace_scan "$fixtures"/trace*.out
mkdir -p "$corpus_root/webhook_payload"
seed webhook_payload "$repo"/operator/src/webhook/testdata/*.json

# AddressSanitizer keeps freed memory in a quarantine (256 MiB by default) to catch
# use-after-free; that is the sanitizer's memory, not the parsers', and alone it would pass the
# RSS limit below. A small quarantine keeps -rss_limit_mb about what the code itself holds.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16}

cd "$fuzz_dir"
status=0
summary=()
for t in $targets; do
  log=$CARGO_TARGET_DIR/fuzz-$t.log
  echo "fuzz: $t for ${seconds}s (log: $log)"
  mkdir -p "artifacts/$t"
  # -rss_limit_mb=256: no input may take the fuzzer (sanitizer shadow included) past the
  # operator pod's own 256 MiB limit; decoding caps keep every input far under it.
  if cargo +nightly fuzz run "$t" "$corpus_root/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=${FUZZ_RSS_MB:-256} -timeout=10 -max_len=1048576 \
      -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log and artifacts/$t/)"
    status=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  summary+=("$(printf '%-16s %12s executions  %s' "$t" "${execs:-?}" "$result")")
done
printf '%s\n' "fuzz: ${seconds}s per target" "${summary[@]}"
exit $status
