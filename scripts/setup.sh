#!/usr/bin/env bash
# Make .venv/ with Python 3.8 and the locked dependency set, then install the
# project in editable mode. Safe to rerun; does nothing when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python38() {
  local candidates=("${PYTHON38:-}" python3.8)
  if command -v pyenv >/dev/null 2>&1; then
    candidates+=("$(pyenv root)"/versions/3.8*/bin/python3.8)
  fi
  candidates+=("$HOME"/.pyenv/versions/3.8*/bin/python3.8 /usr/bin/python3.8 /usr/local/bin/python3.8)
  for candidate in "${candidates[@]}"; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 8))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

stamp=.venv/.installed
want=$(cat requirements.txt setup.cfg | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

if ! python=$(find_python38); then
  cat >&2 <<'MSG'
setup: Python 3.8 not found (dffml 0.4.0.post2, its last release, does not import on 3.9+).
Install it, then rerun:
  with pyenv:   pyenv install 3.8.18
  on Debian:    apt-get install python3.8 python3.8-venv   (from deadsnakes on Ubuntu)
  or point to one: PYTHON38=/path/to/python3.8 make demo
MSG
  exit 1
fi

if ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 8))' 2>/dev/null; then
  echo "setup: creating .venv with $python ($("$python" --version 2>&1))"
  rm -rf .venv
  "$python" -m venv .venv
fi
# The lock is complete, so --no-deps skips pip's resolver (which backtracks for
# many minutes on this set) and installs exactly what was tested.
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements.txt
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
.venv/bin/pip check
echo "$want" > "$stamp"
echo "setup: done"
