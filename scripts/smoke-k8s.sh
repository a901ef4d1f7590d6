#!/bin/sh
# Smoke run of jobs/ in containers (scripts/smoke-k8s.py --help): needs .venv (scripts/setup.sh),
# podman (or docker) and, without --base-image, debootstrap; as root, as podman runs here:
#   apt-get install -y podman buildah runc debootstrap
#   scripts/smoke-k8s.sh                                   # SQLite stand-in for the store
#   SMOKE_DB_PASSWORD=... scripts/smoke-k8s.sh --store postgresql://k8s@127.0.0.1:5432/k8s
set -eu
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/smoke-k8s.py "$@"
