#!/usr/bin/env bash
# One command from a fresh Debian (12+) machine with python3, as root, to a successful
#   invoke release --env local
# Installs what is missing (Docker Engine, a registry, PostgreSQL, npm, apache2-utils, git),
# the suite's Python dependencies (into .venv), starts the local
# environment (invoke local.up) and runs the release of examples/backend against it.
# Safe to run again: every step is idempotent.
#
# usage: sudo scripts/quickstart.sh [extra invoke release flags, e.g. --seed]
set -euo pipefail

cd "$(dirname "$0")/.."
say() { printf '==> %s\n' "$*"; }

if [ "$(id -u)" != "0" ]; then
  echo "quickstart: run as root (it installs packages and may start dockerd): sudo $0" >&2
  exit 2
fi
if [ "$(uname -m)" != "x86_64" ]; then
  echo "quickstart: the local environment needs an x86_64 host (the bun npm package used is linux-x64)" >&2
  exit 2
fi

# -- working as yourself afterwards: what this run makes for the sudo user becomes theirs, on
#    any exit (scripts/hand_over.sh: .venv and .release-local's credentials and builds, never the
#    engine's or PostgreSQL's own files)
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  trap 'scripts/hand_over.sh || true' EXIT
fi

# -- system packages (only what is missing) -------------------------------------------------
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v git >/dev/null 2>&1 || need+=(git)
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ "${#need[@]}" -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# -- Python dependencies: always in .venv (Debian's python3 is externally managed, PEP 668) ---
PY=$(scripts/ensure_venv.sh requirements.txt)
INVOKE=("$PY" -m invoke)
INV=invoke

# -- a git checkout gives the image its commit tag ------------------------------------------------
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  say "not a git checkout: making one so images get a commit tag"
  git init -q && git add -A && git -c user.name=quickstart -c user.email=quickstart@localhost commit -qm "quickstart snapshot"
fi

say "starting the local environment (invoke local.up)"
"${INVOKE[@]}" local.up

say "releasing examples/backend locally (invoke release --env local $*)"
"${INVOKE[@]}" release --env local "$@"

cat <<NEXT

Done: the sample backend was built for linux/amd64, pushed to the local registry on
127.0.0.1:5000, verified, and its migrations ran through buildspec/migrations.yml against the
local PostgreSQL, exactly as CodeBuild would run them.

Put invoke on your PATH first (in each new shell), as the user you work as:
  . .venv/bin/activate
  invoke --list
NEXT
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] && ! id -nG "$SUDO_USER" | grep -qw docker; then
  cat <<DOCKER
Releases as $SUDO_USER need the Docker Engine: sudo usermod -aG docker $SUDO_USER, then log in
again (the docker group is root-equivalent), or run them with sudo.
DOCKER
fi
cat <<NEXT

Where to look next:
NEXT
row() { printf '  %-42s %s\n' "$1" "$2"; }
row "$INV build.list --env local" "the builds that just ran (id, status, duration)"
row "$INV build.logs <ID> --env local" "a build's full CodeBuild-format log"
row "$INV release --env local --seed" "run again: no migration is re-applied; seeds once"
row "docs/local.md, docs/local-runner.md" "how the local runner maps to CodeBuild"
row "buildspec/migrations.yml" "the buildspec your CodeBuild project will run"
row "$INV local.down [--purge]" "stop (and forget) the local environment"
