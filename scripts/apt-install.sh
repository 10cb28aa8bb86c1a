#!/usr/bin/env bash
# Installs Debian packages for godiag's scripts, one apt at a time:
#
#   scripts/apt-install.sh [--no-install-recommends] PKG...
#
# e2e/run-local.sh installs Chromium while e2e/cluster/up.sh installs the cluster's packages.
# Two `apt-get update`s at once fail at once on the lists lock (apt's DPkg::Lock::Timeout waits
# for dpkg's lock only): a cold CI run died that way. Our scripts take one file lock in turn; an
# apt run by someone else (a boot-time upgrade) holding apt's locks is waited for and retried.
set -euo pipefail
opts=()
[[ ${1:-} == --no-install-recommends ]] && { opts+=("$1"); shift; }
[[ $# -gt 0 ]] || { echo "usage: $0 [--no-install-recommends] PKG..." >&2; exit 2; }

# find_missing PKG...: the ones dpkg does not have installed, into the array `missing`.
find_missing() {
  missing=()
  local p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
}
# Nothing to do is decided before the lock (no wait behind another script's install), and again
# under it (that install may have brought the same packages).
find_missing "$@"
[[ ${#missing[@]} -eq 0 ]] && exit 0
exec 9>/var/lock/godiag-apt.lock
flock 9
find_missing "$@"
[[ ${#missing[@]} -eq 0 ]] && exit 0
echo "[apt-install.sh] installing Debian packages: ${missing[*]}"

# apt_get ARGS...: apt-get, retried for up to 10 minutes while another apt holds its locks.
apt_get() {
  local err
  for _ in $(seq 120); do
    if err=$(DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@" 2>&1 >/dev/null); then
      return 0
    fi
    grep -q 'Could not get lock' <<<"$err" || { echo "$err" >&2; return 1; }
    sleep 5
  done
  echo "$err" >&2
  return 1
}
apt_get update -qq
apt_get install -y -qq "${opts[@]}" "${missing[@]}"
