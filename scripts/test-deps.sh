#!/usr/bin/env bash
# Installs what the page tests need: Node and npm, Debian's Chromium, and the test scripts'
# packages pinned in tests/browser/package-lock.json (playwright-core, which drives the
# system Chromium and downloads no browser; jsqr, which reads the Share sheet's QR code).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
