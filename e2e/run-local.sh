#!/usr/bin/env bash
# The whole e2e run on this machine: start the local cluster, build and import the images
# (the operator from GODIAG_BIN, else `cargo build --release`), run the e2e tests inside the cluster's netns,
# and always tear the cluster down. Exits with the tests' status.
#
# Env: GODIAG_CACHE, GODIAG_STATE (see cluster/lib.sh); GODIAG_BIN (the operator binary for the
# image; default: a release build); E2E_TEST_ARGS (extra args for cargo test, e.g. a test name
# filter such as "selector_matching"); KEEP_CLUSTER=1 skips down.sh (for debugging).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=cluster/lib.sh
source "$here/cluster/lib.sh"

export E2E_FIGURES=${E2E_FIGURES:-${TMPDIR:-/tmp}/godiag-e2e-figures.txt}
rm -f "$E2E_FIGURES"

teardown() {
  local status=$?
  [[ -s $E2E_FIGURES ]] && { log "figures measured by the e2e tests:"; sed 's/^/  /' "$E2E_FIGURES"; }
  if [[ ${KEEP_CLUSTER:-0} == 1 ]]; then
    log "KEEP_CLUSTER=1: leaving the cluster up (stop it with e2e/cluster/down.sh)"
  else
    "$here/cluster/down.sh" || log "down.sh failed; check for leftovers"
  fi
  exit "$status"
}
trap teardown EXIT

# The report's browser check needs Debian's Chromium and playwright-core: downloaded while the
# cluster builds (scripts/apt-install.sh runs one apt at a time if up.sh installs packages too).
browser_log=${TMPDIR:-/tmp}/godiag-browser-setup.log
"$here/browser/setup.sh" > "$browser_log" 2>&1 &
browser_setup=$!

"$here/cluster/up.sh"

# The operator image: the binary GODIAG_BIN names (CI passes the one `make test` built, so the
# workspace is compiled once), else a release build. Builds happen outside the netns (crates.io).
if [[ -z ${GODIAG_BIN:-} ]]; then
  (cd "$repo" && cargo build --release --locked -p godiag)
  GODIAG_BIN=${CARGO_TARGET_DIR:-$repo/target}/release/godiag
fi
[[ -x $GODIAG_BIN ]] || die "GODIAG_BIN=$GODIAG_BIN is not an executable"
# s3: the S3-compatible server the storage-outage test stops and restarts; goapp-stripped: the
# binary without DWARF the Delve e2e attaches to (up.sh builds the rest).
# alertmanager, prometheus: the alert e2e's real senders; helm installs godiag in that test.
GODIAG_BIN=$GODIAG_BIN "$here/images/build.sh" godiag s3 goapp-stripped alertmanager prometheus
"$here/cluster/build-binaries.sh" helm
wait "$browser_setup" || { cat "$browser_log"; die "installing the browser for the report check failed"; }

# Compile the tests first (needs the network for crates), then run them in the netns,
# where the API server is, with no network access beyond the cluster. Selecting the whole
# workspace keeps the dependencies' features those of `make test`, so nothing is compiled again;
# `--test` picks the e2e crate's test files.
tests=()
for f in "$repo"/e2e/tests/*.rs; do tests+=(--test "$(basename "$f" .rs)"); done
(cd "$repo" && cargo test --workspace --features godiag-e2e/e2e "${tests[@]}" --no-run)
# shellcheck disable=SC2086 # E2E_TEST_ARGS is a list of words
# The tests install godiag with the cluster's own kubectl (`kubectl apply -k manifests/e2e`); the
# Delve session test connects with the real dlv client (DLV), the one the dlv image carries; the
# alert test installs godiag with the real Helm (HELM).
(cd "$repo" && KUBECONFIG=$ADMIN_KUBECONFIG KUBECTL=$K8S_BIN/kubectl DLV=$DLV_BIN/dlv HELM=$HELM_BIN/helm E2E_FIGURES=$E2E_FIGURES "${NSENTER[@]}" \
  cargo test --offline --workspace --features godiag-e2e/e2e "${tests[@]}" ${E2E_TEST_ARGS:-} -- --test-threads=1)
