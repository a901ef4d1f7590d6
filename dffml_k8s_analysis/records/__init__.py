"""Raw items and release notes as records: parsing, selection, the DFFML sources ``k8s-issues`` and ``k8s-notes``, training examples."""
