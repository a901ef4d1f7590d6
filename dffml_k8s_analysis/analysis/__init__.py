"""The store's derived columns to numbers, charts and tables: one ``View`` record per view (``views.py``)."""
