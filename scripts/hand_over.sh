#!/usr/bin/env bash
# hand_over.sh: give the user who ran `sudo scripts/quickstart.sh` what it made for them, so that
# they can work as themselves afterwards (`. .venv/bin/activate; invoke build.list`).
#
#   sudo scripts/hand_over.sh        (the quick start runs it on exit; safe to run again)
#
# Handed over (to SUDO_USER): .venv, and of .release-local (RELEASE_LOCAL_DIR) the directory
# itself, credentials.json (stays 0600), builds/, bun/ and postgres-location; a .git the quick
# start made in a project directory that user owns. Never the engine's files (dockerd/ data
# root, registry/ storage) nor PostgreSQL's cluster: those stay with root and postgres.
set -euo pipefail
cd "$(dirname "$0")/.."

user=${SUDO_USER:-}
if [ "$(id -u)" != 0 ] || [ -z "$user" ] || [ "$user" = root ]; then
  echo "error: hand_over.sh gives files to the user who runs it through sudo. Fix: sudo $0" >&2
  exit 2
fi
owner="$(id -u "$user"):$(id -g "$user")"
state=${RELEASE_LOCAL_DIR:-$PWD/.release-local}

given=()
if [ -d .venv ]; then
  chown -R "$owner" .venv
  given+=(.venv)
fi
if [ -d "$state" ]; then
  chown "$owner" "$state"
  for part in credentials.json builds bun postgres-location; do
    [ -e "$state/$part" ] && chown -R "$owner" "$state/$part"
  done
  given+=("$state")
fi
if [ -d .git ] && [ "$(stat -c %u .git)" = 0 ] && [ "$(stat -c %u .)" = "$(id -u "$user")" ]; then
  chown -R "$owner" .git
  given+=(.git)
fi
echo "==> handed to $user: ${given[*]:-nothing to hand over}" >&2
