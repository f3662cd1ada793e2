#!/usr/bin/env bash
# The one test command: installs what the tests need (scripts/test-deps.sh: Node, Debian's
# Chromium and playwright-core for the browser tests, OpenSSH and iproute2 for the machine
# tests; the state-next build for the hand-over tests), then
# runs every test of the workspace. Extra arguments go to `cargo test`: `scripts/test.sh --test session`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
# The hand-over tests also upgrade to a build whose state version is one higher (the
# `state-next` feature): built beside the normal binary (only the server crate and the
# binary differ), which the second build puts back in place.
cargo build --features state-next
cp target/debug/itwillsync target/itwillsync-state-next
cargo build
export ITWILLSYNC_NEXT_BIN="$PWD/target/itwillsync-state-next"
exec cargo test --workspace "$@"
