# The two commands of the README: `make demo` and `make test`.
.PHONY: setup demo test lint test-default test-other test-all bench dataflows

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/k8s-analysis demo

# The linter, then the suite on the default stack (.venv), then on the other one (.venv-other) where its Python exists.
test: lint test-default test-other

# pyflakes, bugbear and the naive-datetime rules (pyproject.toml's [tool.ruff])
lint: setup
	.venv/bin/ruff check .

test-default: setup
	@scripts/test-tools.sh
	.venv/bin/python -m pytest -q

test-other: setup
	@scripts/test-tools.sh
	@status=0; scripts/setup.sh --other || status=$$?; \
	if [ $$status = 0 ]; then .venv-other/bin/python -m pytest -q; elif [ $$status != 3 ]; then exit $$status; fi

test-all: setup
	.venv/bin/python -m pytest -q -m ""

dataflows: setup
	scripts/export-dataflows
