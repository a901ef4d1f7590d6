"""Records to numbers and charts: the original's analysis views (``views.py``), drawn with matplotlib (``charts.py``)."""
