"""The embedded store: each repository's raw items and sync state in one SQLite file (``sqlite.py``)."""
