#!/usr/bin/env bash
# System tools the tests use beyond the venv, from the distribution's packages:
#   postgresql  the PostgreSQL half of every store test (a throwaway server: initdb, pg_ctl)
#   npm         GitHub's published schemas, webhooks and recordings the emulator is checked against
#   kubectl     `kubectl kustomize` of the manifests (the distribution's kubernetes-client, if 1.29+)
#   chromium    the report's browser tests
#   sqlite3     the SQLite command line a damaged store's message tells to run (its test runs it)
# As root with apt-get (CI, a fresh Debian 13 or Ubuntu 24.04) it installs the missing ones after
# `apt-get update`; elsewhere it prints one line per missing tool with the command that installs it.
# Never fails the run: a tool still missing makes its tests skip, and pytest -rs lists the reasons.
set -uo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
have_postgres() { { have initdb && have pg_ctl; } || compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; }

# package|what skips without it
missing=()
have_postgres || missing+=("postgresql|the store tests' PostgreSQL cases")
have npm || missing+=("npm|the checks against GitHub's published schemas, webhooks and recordings")
have kubectl || missing+=("kubernetes-client|the manifests' kustomize checks (kubectl)")
have chromium || missing+=("chromium|the report's browser tests")
have sqlite3 || missing+=("sqlite3|the test of the repair command a damaged store's message names")
[ ${#missing[@]} = 0 ] && exit 0

say_missing() {  # PACKAGE WHAT HOW
  echo "test-tools: no $1: $2 will skip (install it: $3)" >&2
}

# The distribution's package when it has one the tests can use, else nothing.
usable() {
  local package=$1 candidate
  candidate=$(apt-cache policy "$package" 2>/dev/null | awk '/Candidate:/ {print $2}')
  [ -n "$candidate" ] && [ "$candidate" != "(none)" ] || return 1
  case "$package" in
    kubernetes-client)  # older kubectl's kustomize cannot build the manifests (Kubernetes 1.29+)
      dpkg --compare-versions "${candidate#*:}" ge 1.29 ;;
    chromium)  # Ubuntu's is a wrapper that installs a snap, which a container cannot run
      ! apt-cache depends "$package" 2>/dev/null | grep -q snapd ;;
  esac
}

how() {  # the command that installs PACKAGE here
  case "$1" in
    kubernetes-client) echo "kubectl 1.29 or newer, https://kubernetes.io/docs/tasks/tools/" ;;
    chromium) echo "apt-get install chromium (Debian), or a Chromium of your system on PATH as chromium" ;;
    *) echo "apt-get install $1" ;;
  esac
}

if [ "$(id -u)" = 0 ] && have apt-get; then
  echo "test-tools: apt-get update, then installing what the tests need (minutes, the first time): ${missing[*]%%|*}"
  apt-get update -qq >/dev/null 2>&1 || echo "test-tools: apt-get update failed; trying the cached lists" >&2
  installable=()
  for entry in "${missing[@]}"; do
    package=${entry%%|*}
    if usable "$package"; then
      installable+=("$package")
    else
      say_missing "usable ${package/kubernetes-client/kubectl} in this distribution" "${entry#*|}" "$(how "$package")"
    fi
  done
  if [ ${#installable[@]} -gt 0 ]; then
    # Its output only when it fails: on success a package's maintainer scripts print noise such as
    # Debian 13's postgresql "pg_lsclusters: not found", which reads like an error.
    log=$(mktemp)
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${installable[@]}" >"$log" 2>&1; then
      echo "test-tools: apt-get install ${installable[*]} failed:" >&2
      tail -n 5 "$log" >&2
    fi
    rm -f "$log"
  fi
  # what is still missing after the install
  for entry in "${missing[@]}"; do
    package=${entry%%|*}
    case "$package" in
      postgresql) have_postgres ;;
      kubernetes-client) have kubectl ;;
      *) have "$package" ;;
    esac && continue
    for tried in "${installable[@]}"; do
      [ "$tried" = "$package" ] && say_missing "${package/kubernetes-client/kubectl}" "${entry#*|}" "$(how "$package")"
    done
  done
  exit 0
fi

for entry in "${missing[@]}"; do
  package=${entry%%|*}
  command=$(how "$package")
  case "$command" in apt-get*) command="sudo $command" ;; esac
  say_missing "${package/kubernetes-client/kubectl}" "${entry#*|}" "$command"
done
exit 0
