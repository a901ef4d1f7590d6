"""``k8s-issues``: a read-only DFFML source over the store (SQLite file or PostgreSQL URI).

Each issue or pull request is a record keyed by its number (as a string) whose
features are ``records.parse.record``'s fields. Who closed an item comes
from the raw item when it says so, else from the store's closers table.
Malformed raw items are skipped and counted (``source.problems``), never fatal.

    dffml list records -sources gh=k8s-issues -source-gh-store data/kubernetes__kubernetes.sqlite \\
        -source-gh-pull_requests -source-gh-include '^kind/'
"""
from typing import List, Tuple

from dffml import Record, config, entrypoint, field

from ..store import open_store
from . import parse
from .readonly_source import ReadOnlyMemorySource
from .selection import Filter, select


def read_records(path) -> Tuple[List[dict], List[str]]:
    """Every parseable item of a store as a record, in one pass, and the problems of the others."""
    unreadable: List[str] = []
    with open_store(path) as store:
        closers = store.closers()
        records, problems = parse.records(store.raw_items(unreadable))
    problems = unreadable + problems
    for rec in records:
        if rec["closed_by"] is None:
            rec["closed_by"] = closers.get(rec["number"])
    return records, problems


@config
class K8sIssuesSourceConfig:
    store: str = field("store written by `k8s-analysis export`: a SQLite file, or "
                       "postgresql://USER@HOST:PORT/DBNAME[#OWNER/NAME] (the repository: needed when the database "
                       "holds several)")
    pull_requests: bool = field("only pull requests", default=False)
    issues: bool = field("only issues", default=False)
    has_release_note: bool = field("only pull requests that have a release note", default=False)
    include: str = field("keep items with a label matching this regex", default="")
    exclude: str = field("drop items with a label matching this regex", default="")


@entrypoint("k8s-issues")
class K8sIssuesSource(ReadOnlyMemorySource):
    """Issues and pull requests of the store as records, filtered by the config."""

    CONFIG = K8sIssuesSourceConfig

    def __init__(self, config: K8sIssuesSourceConfig) -> None:
        super().__init__(config)
        self.problems: List[str] = []

    @property
    def location(self) -> str:
        return str(self.config.store)

    async def __aenter__(self) -> "K8sIssuesSource":
        cfg = self.config
        if cfg.pull_requests and cfg.issues:
            raise ValueError("k8s-issues: choose pull_requests or issues, not both")
        keep = Filter.of(cfg.include, cfg.exclude)
        subset = "pull_requests" if cfg.pull_requests else "issues" if cfg.issues else "all"
        records, self.problems = read_records(cfg.store)
        chosen = select(records, subset, keep, cfg.has_release_note)
        self.mem = {str(rec["number"]): Record(str(rec["number"]), data={"features": rec}) for rec in chosen}
        if self.problems:
            self.logger.warning("skipped %d malformed items of %s", len(self.problems), cfg.store)
        return self
