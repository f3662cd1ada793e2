#!/usr/bin/env bash
# Vendor xterm.js and its fit addon into server/assets/vendor/.
#
# The vendored files are committed, so `cargo build` needs no Node. Run this
# script only to upgrade: bump the pinned versions below, run it, review the
# diff, commit. Needs npm.
set -euo pipefail

XTERM_VERSION=6.0.0
ADDON_FIT_VERSION=0.11.0

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/server/assets/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

npm install --no-save --no-audit --no-fund --ignore-scripts --prefix "$tmp" \
  "@xterm/xterm@$XTERM_VERSION" "@xterm/addon-fit@$ADDON_FIT_VERSION" >&2

xterm="$tmp/node_modules/@xterm/xterm"
fit="$tmp/node_modules/@xterm/addon-fit"

# Refuse to vendor anything but the pinned versions.
check_version() {
  local pkg_dir="$1" want="$2" got
  got="$(node -p "require('$pkg_dir/package.json').version")"
  if [[ "$got" != "$want" ]]; then
    echo "vendor-web.sh: $pkg_dir is $got, expected $want" >&2
    exit 1
  fi
}
check_version "$xterm" "$XTERM_VERSION"
check_version "$fit" "$ADDON_FIT_VERSION"

mkdir -p "$dest"
cp "$xterm/lib/xterm.js" "$dest/xterm.js"
cp "$xterm/css/xterm.css" "$dest/xterm.css"
cp "$xterm/LICENSE" "$dest/LICENSE.xterm"
cp "$fit/lib/addon-fit.js" "$dest/addon-fit.js"
cp "$fit/LICENSE" "$dest/LICENSE.addon-fit"

cat > "$dest/VERSIONS" <<VERSIONS
@xterm/xterm@$XTERM_VERSION
@xterm/addon-fit@$ADDON_FIT_VERSION
VERSIONS

echo "vendored into $dest:" >&2
ls -l "$dest" >&2
