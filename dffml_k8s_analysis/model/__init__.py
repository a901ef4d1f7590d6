"""Release notes to predictions: the ``k8s-mlp`` DFFML model, its classifier, artifacts, tuning grid and versions."""
