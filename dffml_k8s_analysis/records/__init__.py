"""Raw items and release notes as records: parsing, the DFFML sources ``k8s-issues`` and ``k8s-notes``, training examples."""
