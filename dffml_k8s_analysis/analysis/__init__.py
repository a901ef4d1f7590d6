"""The store's derived columns to numbers and charts: the original's analysis views (``views.py``, over ``columns.py``), drawn with matplotlib (``charts.py``)."""
