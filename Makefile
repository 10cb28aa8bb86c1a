# godiag — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
CARGO ?= cargo
GODIAG_CACHE ?= /var/cache/godiag
export GODIAG_CACHE

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n",$$1,$$2}'

demo: ## The main job: local cluster (or KUBECONFIG's), install godiag, diagnose a Go app, kubectl describe
	e2e/demo.sh

demo-local: ## No cluster: run the fixture Go app on loopback, `godiag collect` it, `godiag analyze` the result
	scripts/demo-local.sh

test-deps: ## Install what the tests need (Go check, moto S3 server from PyPI, Helm built from the Go module proxy)
	scripts/test-deps.sh

test: test-deps ## Unit, schema, mock-API-server, real-Go-program and helm lint/template tests (no cluster needed)
	$(CARGO) test --workspace --locked

lint: ## rustfmt check and clippy with warnings denied
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt: ## Format all crates
	$(CARGO) fmt --all

crds: ## Regenerate crds/ and the Helm chart's copy from the Rust types
	$(CARGO) run -q -p godiag -- crdgen > crds/godiag.dev.yaml
	cp crds/godiag.dev.yaml charts/godiag/crds/godiag.dev.yaml

build: ## Release build of the godiag binary (target/release/godiag)
	$(CARGO) build --release --locked -p godiag

cluster-up: ## Build (cached) and start a single-node Kubernetes from source in its own netns
	e2e/cluster/up.sh

cluster-down: ## Stop the local cluster: processes by PID, mounts, interfaces, netns
	e2e/cluster/down.sh

images: build ## Build the OCI images (pause, goapp, goapp:stripped, busybox, dlv with the wrapper, godiag, s3, alertmanager, prometheus) and import them into containerd
	GODIAG_BIN=$(CURDIR)/target/release/godiag e2e/images/build.sh

# For the local cluster the tests must run inside its netns: E2E_WRAP='nsenter --net=/run/netns/godiag'
E2E_WRAP ?=
# The e2e crate's test files; built with the whole workspace selected so dependencies keep the
# features `make test` compiled them with.
E2E_TESTS ?= --test cluster_smoke --test core_flow --test faults --test findings --test scale --test siblings --test storage_outage --test delve --test delve_trace --test alerts
e2e: ## End-to-end tests against the cluster KUBECONFIG names (local cluster: source e2e/cluster/env.sh first; installs Chromium for the report check)
	@test -n "$$KUBECONFIG" || { echo "set KUBECONFIG (for the local cluster: source e2e/cluster/env.sh)"; exit 1; }
	e2e/browser/setup.sh
	$(CARGO) test --workspace --features godiag-e2e/e2e $(E2E_TESTS) --no-run
	$(E2E_WRAP) $(CARGO) test --offline --workspace --features godiag-e2e/e2e $(E2E_TESTS) -- --test-threads=1

e2e-local: ## cluster-up, images, e2e, cluster-down (also when a step fails)
	e2e/run-local.sh

bench: ## Side by side in one run: godiag analyze vs the pprof binary (same top-N numbers), the decode floor and gunzip; traces vs Go's trace binary; dumps vs a plain read; collection of 1 and 20 loopback Go programs and the collector's RSS while 20 stream 50 MB each; 1,000 requests when the local cluster is up
	operator/benches/bench-analyze.sh
	operator/benches/bench-collect.sh
	operator/benches/bench-requests.sh

bench-analyze: ## The analysis part of make bench alone
	operator/benches/bench-analyze.sh

bench-collect: ## The collection part of make bench alone (loopback Go programs)
	operator/benches/bench-collect.sh

bench-requests: ## The 1,000-request part of make bench alone (needs make cluster-up images and godiag installed)
	operator/benches/bench-requests.sh

fuzz: ## cargo fuzz (libFuzzer, nightly) of the pprof, goroutine-text, trace and webhook-payload parsers, FUZZ_SECONDS each (default 60)
	scripts/fuzz.sh

fixtures-analyze: ## Regenerate the analysis fixtures from real Go programs (GO127=path/to/go1.27 for leak markers)
	operator/analyze/tests/fixtures/gen/regen.sh

.PHONY: bench bench-analyze bench-collect bench-requests fuzz fixtures-analyze help demo demo-local test-deps test lint fmt crds build cluster-up cluster-down images e2e e2e-local
