"""An emulated GitHub for the tests, the demo and the benchmarks: REST, GraphQL, sample data.

Nothing in the runtime library imports it; only the ``emulate-github`` and ``demo``
commands do (``tests/test_layout.py`` checks).
"""
