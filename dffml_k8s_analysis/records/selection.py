"""Which records to keep: issues, pull requests or both, and regexes over their labels (or logins).

The ``k8s-issues`` source selects its records with them; the analysis views
count the labels, groups and logins that a :class:`Filter` keeps.
"""
import re
from typing import Iterable, List, NamedTuple, Optional, Pattern

SUBSETS = {"all": "issues and PRs", "issues": "issues", "pull_requests": "PRs"}


class Filter(NamedTuple):
    """Label or login regexes: ``include`` must match (``search``), ``exclude`` must not."""

    include: Optional[Pattern] = None
    exclude: Optional[Pattern] = None

    @classmethod
    def of(cls, include: str = "", exclude: str = "") -> "Filter":
        """Compile the regexes; a bad one raises ValueError naming it."""
        compiled = []
        for name, pattern in (("include", include), ("exclude", exclude)):
            try:
                compiled.append(re.compile(pattern) if pattern else None)
            except re.error as error:
                raise ValueError(f"{name} regex {pattern!r} is invalid: {error}") from None
        return cls(*compiled)

    def key(self, name: str) -> bool:
        """Whether a label, group or login is counted."""
        return (self.include is None or bool(self.include.search(name))) and not (
            self.exclude is not None and self.exclude.search(name)
        )

    def item(self, labels: Iterable[str]) -> bool:
        """Whether an item is kept: a label matches include and none matches exclude."""
        labels = list(labels)
        return (self.include is None or any(self.include.search(name) for name in labels)) and not (
            self.exclude is not None and any(self.exclude.search(name) for name in labels)
        )


def select(records: List[dict], subset: str = "all", keep: Filter = Filter(),
           has_release_note: bool = False) -> List[dict]:
    """The records of a subset (``all``, ``issues``, ``pull_requests``) that the filter keeps."""
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {sorted(SUBSETS)}, got {subset!r}")
    return [
        rec for rec in records
        if (subset == "all" or rec["pull_request"] == (subset == "pull_requests"))
        and (not has_release_note or rec["release_note"])
        and keep.item(rec["labels"])
    ]
