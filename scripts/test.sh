#!/usr/bin/env bash
# The one test command: installs what the tests need (scripts/test-deps.sh: Node, Debian's
# Chromium and playwright-core for the browser tests, OpenSSH for the machine tests), then
# runs every test of the workspace. Extra arguments go to `cargo test`: `scripts/test.sh --test session`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
exec cargo test --workspace "$@"
