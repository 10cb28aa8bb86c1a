#!/usr/bin/env bash
# Installs what the report's browser check needs: Debian's chromium (apt) and playwright-core
# (npm, pinned by package-lock.json; it drives the system browser and downloads none).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v chromium >/dev/null; then
  echo "[browser/setup.sh] installing Debian's chromium"
  # One apt at a time: up.sh may be installing the cluster's packages at the same moment.
  "$here/../../scripts/apt-install.sh" --no-install-recommends chromium
fi
if [[ ! -d $here/node_modules/playwright-core ]]; then
  echo "[browser/setup.sh] installing playwright-core"
  (cd "$here" && npm ci --no-audit --no-fund --silent)
fi
chromium --version
