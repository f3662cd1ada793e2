#!/usr/bin/env bash
# Installs what the tests need: for the pages, Node and npm, Debian's Chromium, and the test
# scripts' packages pinned in tests/browser/package-lock.json (playwright-core, which drives
# the system Chromium and downloads no browser; jsqr, which reads the Share sheet's QR code);
# for the machine tests, OpenSSH's server and client (run on a loopback port by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v ip >/dev/null 2>&1 || missing+=(iproute2) # the machine test that pulls a veth cable
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
