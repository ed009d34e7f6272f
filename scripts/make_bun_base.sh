#!/usr/bin/env bash
# Build the local base image release-suite/bun-base:<version> without any image registry:
# a root filesystem of the bun binary (from npm, see fetch_bun.sh) plus the glibc libraries it
# links against, taken from this host, imported with `docker import`. One layer, no shell.
#
# usage: scripts/make_bun_base.sh [BUN_BINARY]
#   BUN_BINARY defaults to the one scripts/fetch_bun.sh fetches into .release-local/bun.
#   BUN_BASE_IMAGE overrides the image name (default release-suite/bun-base:<bun version>).
#   BUN_BASE_PLATFORM=linux/arm64 stamps another platform (tests use it to fake a foreign image).
# Idempotent: an existing image of that name is kept (FORCE=1 rebuilds it). Prints the name.
#
# A real project does not need this: its Dockerfile starts FROM oven/bun:1 (Docker Hub).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
BUN="${1:-}"
if [ -z "$BUN" ]; then
  BUN="$("$HERE/fetch_bun.sh" "${RELEASE_LOCAL_DIR:-.release-local}/bun")"
fi
VERSION="$("$BUN" --version)"
IMAGE="${BUN_BASE_IMAGE:-release-suite/bun-base:$VERSION}"
PLATFORM="${BUN_BASE_PLATFORM:-linux/amd64}"

if [ "${FORCE:-0}" != "1" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi

ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT/usr/local/bin" "$ROOT/tmp" "$ROOT/etc" "$ROOT/app"
chmod 1777 "$ROOT/tmp"
install -m 0755 "$BUN" "$ROOT/usr/local/bin/bun"
ln -s bun "$ROOT/usr/local/bin/bunx"
# The dynamic loader and every library ldd names, at the same paths as on this host.
for lib in $(ldd "$BUN" | grep -oE '/[^ ]+' | sort -u); do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nbun:x:1000:1000:bun:/home/bun:/sbin/nologin\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\nbun:x:1000:\n' >"$ROOT/etc/group"
printf 'hosts: files dns\n' >"$ROOT/etc/nsswitch.conf"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$ROOT/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/"
fi

tar -C "$ROOT" -c . | docker import \
  --platform "$PLATFORM" \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENV NO_COLOR=1' \
  --change 'WORKDIR /app' \
  --change 'CMD ["bun"]' \
  --message "bun $VERSION from npm @oven/bun-linux-x64 + host glibc" \
  - "$IMAGE" >/dev/null
echo "$IMAGE"
