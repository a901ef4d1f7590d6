"""The store's errors: one line each, what is wrong and what to do."""


class StoreError(Exception):
    """The store is missing, unreadable, in use, not one of ours, or of a newer k8s-analysis."""


class StoreMissing(StoreError):
    """The store (file, or repository schema) does not exist yet."""
