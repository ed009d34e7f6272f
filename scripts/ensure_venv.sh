#!/usr/bin/env bash
# ensure_venv.sh REQUIREMENTS: create (or reuse) the project's .venv and install REQUIREMENTS into it.
#
# Debian's python3 is "externally managed" (PEP 668): `python3 -m pip install` outside a virtual
# environment fails with `externally-managed-environment`, so every install the project runs goes
# into .venv. A .venv whose interpreter no longer runs (python upgraded, copied checkout) is made
# again. When `python3 -m venv` fails because Debian's python3-venv (ensurepip) is missing, it is
# installed with apt-get when this runs as root; otherwise the one line says what to run.
# Used by scripts/quickstart.sh and .ci/run; prints the venv's python on stdout, progress on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
req=${1:?usage: scripts/ensure_venv.sh REQUIREMENTS_FILE}
venv=.venv

if [ -e "$venv" ] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  echo "==> $venv is broken (its python does not run): making it again" >&2
  rm -rf "$venv"
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv (python3 -m venv)" >&2
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    pkg="python3-venv"
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      echo "error: python3 -m venv failed (ensurepip missing). Fix: sudo apt-get install $pkg, then rerun" >&2
      exit 2
    fi
    echo "==> installing $pkg (python3 -m venv needs it)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" >/dev/null
    python3 -m venv "$venv"
  fi
fi
echo "==> installing $req into $venv" >&2
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
echo "$PWD/$venv/bin/python"
