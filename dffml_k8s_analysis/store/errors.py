"""The store's errors: one line each, what is wrong and what to do."""


class StoreError(Exception):
    """The store is missing, unreadable, in use, not one of ours, or of a newer k8s-analysis; ``transient``:
    unreachable for now (a database server down or restarting), worth a rerun, which resumes."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


class StoreMissing(StoreError):
    """The store (file, or repository schema) does not exist yet."""
