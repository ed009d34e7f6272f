#!/usr/bin/env bash
# Install a Node sample backend's runtime dependencies into DIR/node_modules, from the npm
# registry only, then prune what never runs (source maps, type declarations, docs), so the
# image the Dockerfile copies them into stays small.
#
# usage: scripts/prepare_node_example.sh DIR        (DIR has package.json + package-lock.json)
# `npm ci --omit=dev --ignore-scripts`: exactly the locked versions, no install scripts (so
# nothing is downloaded from outside the registry). Idempotent: an install whose lock has not
# changed is kept. Prints DIR/node_modules.
set -euo pipefail

DIR="${1:?usage: prepare_node_example.sh DIR}"
DIR="$(cd "$DIR" && pwd)"
if ! command -v npm >/dev/null 2>&1; then
  echo "prepare_node_example: npm is not installed; run: apt-get install -y npm" >&2
  exit 3
fi
STAMP="$DIR/node_modules/.prepared-lock"
if [ -f "$STAMP" ] && cmp -s "$STAMP" "$DIR/package-lock.json"; then
  echo "$DIR/node_modules"
  exit 0
fi
if ! (cd "$DIR" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null); then
  echo "prepare_node_example: npm ci failed in $DIR; check the npm registry is reachable (npm config get registry)" >&2
  exit 4
fi
find "$DIR/node_modules" -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.cts' \
  -o -name '*.d.mts' -o -iname '*.md' -o -iname 'CHANGELOG*' \) -delete
cp "$DIR/package-lock.json" "$STAMP"
echo "$DIR/node_modules"
