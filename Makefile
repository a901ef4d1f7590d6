# The two commands of the README: `make demo` and `make test`.
.PHONY: setup demo test lint test-default test-other test-all bench dataflows

# The suite in two runs of pytest: everything but the timing-sensitive tests spread over the cores
# (pytest-xdist), then those (marked serial) alone, so that no other test's load moves their clocks.
# MARKS selects besides (test-all: the slow tests too).
MARKS = not slow
PARALLEL = -m pytest -q -n auto --dist worksteal -m "($(MARKS)) and not serial"
SERIAL = -m pytest -q -m "($(MARKS)) and serial"

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
	.venv/bin/python $(PARALLEL)
	.venv/bin/python $(SERIAL)

test-other: setup
	@scripts/test-tools.sh
	@status=0; scripts/setup.sh --other || status=$$?; \
	if [ $$status = 0 ]; then .venv-other/bin/python $(PARALLEL) && .venv-other/bin/python $(SERIAL); \
	elif [ $$status != 3 ]; then exit $$status; fi

test-all: MARKS = slow or not slow
test-all: setup
	@scripts/test-tools.sh
	.venv/bin/python $(PARALLEL)
	.venv/bin/python $(SERIAL)

dataflows: setup
	scripts/export-dataflows
