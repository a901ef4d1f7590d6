"""The HTTP prediction service and the labeling bot's webhook (``service.py``)."""
