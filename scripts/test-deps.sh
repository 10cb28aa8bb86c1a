#!/usr/bin/env bash
# Installs what `make test` needs on a fresh machine; quick when everything is present.
#  - Go (the machine's `go`, 1.26+): builds the fixture Go programs the tests run for real.
#  - moto_server (PyPI `moto[server]`): a real S3-compatible server for the s3:// storage tests.
#  - helm (built from the Go module proxy, cached): renders and lints the chart.
set -euo pipefail
if ! command -v go >/dev/null; then
  echo "test-deps: Go is required (the tests build and run real Go programs); install Go 1.26+" >&2
  exit 1
fi
if ! command -v moto_server >/dev/null; then
  echo "test-deps: installing moto[server] (S3-compatible test server) from PyPI"
  python3 -m pip install --quiet 'moto[server]==5.2.1'
  command -v pyenv >/dev/null && pyenv rehash
fi
command -v moto_server >/dev/null || { echo "test-deps: moto_server still not on PATH" >&2; exit 1; }
# The real Helm, to lint and render charts/godiag (operator/tests/helm_chart.rs); built once from
# the Go module proxy into the cache the e2e cluster's binaries share (~4 min cold).
"$(dirname "$0")/../e2e/cluster/build-binaries.sh" helm
