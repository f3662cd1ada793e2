#!/usr/bin/env bash
# Regenerates completions/ from the current command line (a test fails when they are stale).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
for shell in bash zsh fish elvish powershell; do
  ./target/debug/itwillsync completions "$shell" > "completions/itwillsync.$shell"
done
