#!/usr/bin/env bash
# Fetch the bun binary from the npm registry package @oven/bun-linux-x64 (no other download).
#
# usage: scripts/fetch_bun.sh [DEST_DIR]      (default: .release-local/bun)
#   BUN_VERSION=1.4.5 pins the version (default below). Prints the binary's path on stdout.
# Idempotent: an existing DEST_DIR/<version>/bun of the right version is reused.
# Needs npm (Debian: apt-get install npm). Only x86_64 Linux hosts are supported.
set -euo pipefail

BUN_VERSION="${BUN_VERSION:-1.4.5}"
DEST="${1:-.release-local/bun}"
TARGET="$DEST/$BUN_VERSION"
BIN="$TARGET/bun"

if [ "$(uname -m)" != "x86_64" ]; then
  echo "fetch_bun: this host is $(uname -m); only x86_64 (@oven/bun-linux-x64) is supported" >&2
  exit 2
fi
if [ -x "$BIN" ] && [ "$("$BIN" --version 2>/dev/null)" = "$BUN_VERSION" ]; then
  echo "$BIN"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch_bun: npm is not installed; run: apt-get install -y npm" >&2
  exit 3
fi
mkdir -p "$TARGET"
WORK="$(mktemp -d "$DEST/.fetch.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
if ! (cd "$WORK" && npm pack --silent "@oven/bun-linux-x64@$BUN_VERSION" >pack.out 2>pack.err); then
  echo "fetch_bun: npm pack @oven/bun-linux-x64@$BUN_VERSION failed: $(tail -n 3 "$WORK/pack.err" | tr '\n' ' ')" >&2
  echo "fetch_bun: check the npm registry is reachable (npm config get registry)" >&2
  exit 4
fi
tar -xzf "$WORK"/oven-bun-linux-x64-*.tgz -C "$WORK" package/bin/bun
install -m 0755 "$WORK/package/bin/bun" "$BIN.tmp"
mv -f "$BIN.tmp" "$BIN"
GOT="$("$BIN" --version)"
if [ "$GOT" != "$BUN_VERSION" ]; then
  echo "fetch_bun: got bun $GOT, wanted $BUN_VERSION" >&2
  exit 5
fi
echo "$BIN"
