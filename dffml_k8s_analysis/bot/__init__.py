"""The labeling bot: a webhook delivery or an item in; the ``kind/bug`` label and one comment on GitHub out."""
