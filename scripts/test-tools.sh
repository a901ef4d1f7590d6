#!/usr/bin/env bash
# System packages the tests use beyond the venv: Debian's chromium, for the report's browser
# tests. Installs it where it can (root with apt-get, as on CI); elsewhere it says which tests
# will skip. Never fails the run: without the browser those tests skip with the same advice.
set -uo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test-tools: installing Debian's chromium for the report's browser tests"
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
    exit 0
  fi
fi
echo "test-tools: no chromium; the report's browser tests will skip (install it: apt-get install chromium)" >&2
