# The two commands of the README: `make demo` and `make test`.
.PHONY: setup demo test test-all bench dataflows

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/k8s-analysis demo

test: setup
	.venv/bin/python -m pytest -q

test-all: setup
	.venv/bin/python -m pytest -q -m ""

dataflows: setup
	scripts/export-dataflows
