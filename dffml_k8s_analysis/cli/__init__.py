"""The ``k8s-analysis`` command line: ``main.py`` dispatches to one module per command."""
