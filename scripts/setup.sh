#!/usr/bin/env bash
# Make a virtual environment with a tested Python and its locked dependency set, then install the
# project into it. Safe to rerun: it does only what changed since the last run.
#
#   scripts/setup.sh          .venv: the default stack (Python 3.11) where a 3.11 is found,
#                             else the current stack (3.13, then 3.12)
#   scripts/setup.sh --other  .venv-other: the stack .venv is not on; when no Python for it is
#                             found it says so and exits 3 (make test then skips that stack)
#
# PYTHON=/path/to/python overrides the choice for .venv (it must be 3.11, 3.12 or 3.13).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
versions=(3.11 3.13 3.12)
if [ "${1:-}" = "--other" ]; then
  venv=.venv-other
  if ! [ -x .venv/bin/python ]; then
    echo "setup: run scripts/setup.sh first" >&2
    exit 1
  fi
  case "$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" in
    3.11) versions=(3.13 3.12) ;;
    *) versions=(3.11) ;;
  esac
  PYTHON=
fi

version_of() {  # the major.minor of an interpreter, or nothing
  "$1" -c 'import sys, venv; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

find_python() {  # the first interpreter of a wanted version on PATH, under pyenv, or in /usr/bin
  local version candidate
  for version in "${versions[@]}"; do
    local candidates=("python$version")
    if command -v pyenv >/dev/null 2>&1; then
      candidates+=("$(pyenv root)"/versions/"$version".*/bin/python"$version")
    fi
    candidates+=("$HOME"/.pyenv/versions/"$version".*/bin/python"$version" /usr/bin/python"$version"
                 /usr/local/bin/python"$version" /opt/homebrew/bin/python"$version")
    for candidate in "${candidates[@]}"; do
      if command -v "$candidate" >/dev/null 2>&1 && [ "$(version_of "$candidate")" = "$version" ]; then
        command -v "$candidate"
        return 0
      fi
    done
  done
  return 1
}

if [ -n "${PYTHON:-}" ]; then
  python=$PYTHON
  case "$(version_of "$python")" in
    3.11|3.12|3.13) ;;
    *) echo "setup: PYTHON=$python is not Python 3.11, 3.12 or 3.13 (with venv)" >&2; exit 1 ;;
  esac
elif ! python=$(find_python); then
  if [ "$venv" = .venv-other ]; then
    echo "setup: no Python ${versions[*]} found for the second stack; skipping it" \
         "(to run it too: pyenv install ${versions[0]}, then rerun; docs/setup.md)" >&2
    exit 3
  fi
  cat >&2 <<'MSG'
setup: no Python 3.11, 3.13 or 3.12 found (with its venv module). Install one, then rerun:
  Debian 13:     apt-get install python3 python3-venv            (3.13)
  Ubuntu 24.04:  apt-get install python3 python3-venv            (3.12)
  macOS:         brew install python@3.11
  with pyenv:    pyenv install 3.11
  or point to one: PYTHON=/path/to/python3.11 make demo
MSG
  exit 1
fi

version=$(version_of "$python")
case "$version" in
  3.11) lock=requirements/py311.txt ;;
  *) lock=requirements/py313.txt ;;
esac

if [ "$(version_of "$venv/bin/python")" != "$version" ]; then
  echo "setup: creating $venv with $python ($("$python" --version 2>&1))"
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi

pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)
deps=$(cat "$lock" requirements/test.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$venv/.deps" 2>/dev/null)" != "$deps" ]; then
  # The locks are complete, so --no-deps skips pip's resolver and installs exactly what was tested.
  "${pip[@]}" install --no-deps -r "$lock" -r requirements/test.txt
  "${pip[@]}" check
  echo "$deps" > "$venv/.deps"
  rm -f "$venv/.project"
fi

# Editable: the checkout's code is what runs. The package's build also puts the start-up hook
# dffml_k8s_analysis-compat.pth into site-packages; redone when the build's inputs change.
project=$(cat setup.cfg setup.py pyproject.toml dffml_k8s_analysis/dffml_compat.pth | sha256sum | cut -d' ' -f1)
if [ "$(cat "$venv/.project" 2>/dev/null)" != "$project" ]; then
  "${pip[@]}" install --no-deps --no-build-isolation -e .
  rm -rf build ./*.egg-info
  echo "$project" > "$venv/.project"
  echo "setup: $venv ready (Python $version, $lock)"
fi
