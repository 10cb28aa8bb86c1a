#!/usr/bin/env bash
# Build the local e2e images as OCI layout tarballs and import them into the cluster's
# containerd (namespace k8s.io), without any registry. Pods use them with
# imagePullPolicy: Never.
#
#   localhost/pause:3.10      our own static pause (pause/pause.c), the sandbox image
#   localhost/busybox:e2e     Debian's static busybox with every applet linked in /bin
#   localhost/goapp:e2e       e2e/fixtures/goapp, DWARF kept so Delve can attach; uid 65532
#   localhost/goapp:stripped  the same built with -ldflags="-s -w" (no DWARF: Delve cannot read it)
#   localhost/dlv:1.27.2      godiag's Delve image: a static dlv (/dlv) and godiag's wrapper
#                             (/godiag-dlv-wrapper, operator/dlv-wrapper); no shell, no debuginfod-find
#   localhost/godiag:e2e      the operator from $GODIAG_BIN (default target/release/godiag); uid 65532
#   localhost/s3:e2e          an S3-compatible server (gofakes3, from the Go module proxy), /s3
#   localhost/alertmanager:e2e  Alertmanager (cluster/build-binaries.sh), /alertmanager; uid 65534
#   localhost/prometheus:e2e  Prometheus without cloud service discovery, /prometheus; uid 65534
#
# Usage: build.sh [--no-import] [IMAGE ...]      IMAGE: pause busybox goapp goapp-stripped dlv godiag s3
#                                                alertmanager prometheus
#                                                (default: all)
# Tarballs go to $GODIAG_CACHE/images/. Import needs the cluster's containerd running.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../cluster/lib.sh
source "$here/../cluster/lib.sh"

GOFAKES3_VERSION=v1.2.0
OUT=$GODIAG_CACHE/images
WORK=$GODIAG_CACHE/images/work
mkdir -p "$OUT" "$WORK"
oci() { python3 "$here/oci-image.py" "$@"; }

import=true
images=()
for a in "$@"; do
  case $a in
    --no-import) import=false ;;
    pause|busybox|goapp|goapp-stripped|dlv|godiag|s3|alertmanager|prometheus) images+=("$a") ;;
    *) die "unknown image or flag: $a" ;;
  esac
done
[[ ${#images[@]} -gt 0 ]] || images=(pause busybox goapp goapp-stripped dlv godiag s3 alertmanager prometheus)

# Files for a binary: the binary itself, plus (if dynamically linked) the shared
# libraries ldd resolves, at their own paths, so a glibc Rust binary runs in a
# distroless image.
lib_files() {
  local bin=$1
  ldd "$bin" 2>/dev/null | grep -oE '/[^ ]+' | sort -u | while read -r lib; do
    [[ -f $lib ]] && printf -- '--file\n%s:%s\n' "$(readlink -f "$lib")" "$lib"
  done || true
}

built=()
for img in "${images[@]}"; do
  case $img in
    pause)
      gcc -Os -static -o "$WORK/pause" "$here/pause/pause.c"
      oci --name "localhost/pause:$PAUSE_TAG" --out "$OUT/pause.tar" \
        --file "$WORK/pause:/pause:755" --entrypoint /pause --user 65535:65535
      ;;
    busybox)
      [[ -x /bin/busybox ]] || die "/bin/busybox missing: apt-get install busybox-static"
      args=(--file /bin/busybox:/bin/busybox:755 --dir /tmp --dir /root)
      for applet in $(/bin/busybox --list); do
        [[ $applet == busybox ]] || args+=(--symlink "busybox:/bin/$applet")
      done
      oci --name localhost/busybox:e2e --out "$OUT/busybox.tar" "${args[@]}" --arg sh
      ;;
    goapp)
      # No -s -w: Delve needs the DWARF and symbol tables.
      (cd "$repo/e2e/fixtures" && CGO_ENABLED=0 go build -trimpath -o "$WORK/goapp" ./goapp)
      oci --name localhost/goapp:e2e --out "$OUT/goapp.tar" \
        --file "$WORK/goapp:/goapp:755" --dir /tmp --entrypoint /goapp --user 65532:65532
      ;;
    goapp-stripped)
      (cd "$repo/e2e/fixtures" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$WORK/goapp-stripped" ./goapp)
      oci --name localhost/goapp:stripped --out "$OUT/goapp-stripped.tar" \
        --file "$WORK/goapp-stripped:/goapp:755" --dir /tmp --entrypoint /goapp --user 65532:65532
      ;;
    dlv)
      "$here/../cluster/build-binaries.sh" dlv
      (cd "$repo/operator/dlv-wrapper" && CGO_ENABLED=0 go build -trimpath -o "$WORK/godiag-dlv-wrapper" .)
      oci --name "localhost/dlv:$DLV_VERSION" --out "$OUT/dlv.tar" \
        --file "$DLV_BIN/dlv:/dlv:755" --file "$WORK/godiag-dlv-wrapper:/godiag-dlv-wrapper:755" \
        --dir /tmp --entrypoint /dlv
      ;;
    s3)
      # The object storage the storage-outage e2e stops and restarts: a real S3 protocol
      # server (multipart uploads included), persisting to a directory.
      GOBIN=$WORK CGO_ENABLED=0 go install -trimpath -ldflags=-s "github.com/johannesboyne/gofakes3/cmd/gofakes3@$GOFAKES3_VERSION"
      oci --name localhost/s3:e2e --out "$OUT/s3.tar" \
        --file "$WORK/gofakes3:/s3:755" --dir /tmp --dir /data --entrypoint /s3
      ;;
    alertmanager)
      "$here/../cluster/build-binaries.sh" alertmanager
      oci --name localhost/alertmanager:e2e --out "$OUT/alertmanager.tar" \
        --file "$ALERTMANAGER_BIN/alertmanager:/alertmanager:755" --dir /tmp --dir /data \
        --entrypoint /alertmanager --user 65534:65534
      ;;
    prometheus)
      "$here/../cluster/build-binaries.sh" prometheus
      oci --name localhost/prometheus:e2e --out "$OUT/prometheus.tar" \
        --file "$PROMETHEUS_BIN/prometheus:/prometheus:755" --dir /tmp --dir /data \
        --entrypoint /prometheus --user 65534:65534
      ;;
    godiag)
      bin=${GODIAG_BIN:-$repo/target/release/godiag}
      if [[ ! -x $bin ]]; then
        log "SKIP localhost/godiag:e2e: no operator binary at $bin (build it with 'cargo build --release -p godiag' or set GODIAG_BIN)"
        continue
      fi
      mapfile -t libs < <(lib_files "$bin")
      # The CA bundle, as distroless ships it: the object-storage client refuses to start
      # without system roots, even for an http:// endpoint.
      cas=/etc/ssl/certs/ca-certificates.crt
      [[ -f $cas ]] || die "$cas missing: apt-get install ca-certificates"
      oci --name localhost/godiag:e2e --out "$OUT/godiag.tar" \
        --file "$bin:/godiag:755" "${libs[@]}" --file "$cas:$cas:644" --dir /tmp --entrypoint /godiag --user 65532:65532
      ;;
  esac
  built+=("$img")
done

if $import; then
  [[ -S $CONTAINERD_SOCK ]] || die "containerd socket $CONTAINERD_SOCK not found: run e2e/cluster/up.sh first, or pass --no-import"
  for img in "${built[@]}"; do
    ctr_k8s images import --platform linux/amd64 "$OUT/$img.tar" >/dev/null
    log "imported $img"
  done
  ctr_k8s images ls -q | grep '^localhost/' >&2
fi
