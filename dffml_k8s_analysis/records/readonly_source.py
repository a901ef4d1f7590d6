"""What the project's read-only DFFML sources share: records held in memory, writes refused."""
from typing import AsyncIterator, Dict

from dffml import BaseSource, BaseSourceContext, Record


class ReadOnlySourceError(Exception):
    """Something tried to write to a read-only source."""


class ReadOnlyMemoryContext(BaseSourceContext):
    """Serves the parent source's ``mem`` (key -> Record); ``update`` names the source and where it reads."""

    async def update(self, record: Record):
        parent = self.parent
        raise ReadOnlySourceError(
            f"{parent.ENTRY_POINT_LABEL} is read-only: cannot update record {record.key!r} in {parent.location}"
        )

    async def records(self) -> AsyncIterator[Record]:
        for record in self.parent.mem.values():
            yield record

    async def record(self, key: str) -> Record:
        return self.parent.mem.get(key, Record(key))


class ReadOnlyMemorySource(BaseSource):
    """A source that reads its records into ``mem`` (key -> Record) when entered and refuses writes.

    Subclasses fill ``mem`` in ``__aenter__`` and say in ``location`` where they read.
    """

    CONTEXT = ReadOnlyMemoryContext

    def __init__(self, config) -> None:
        super().__init__(config)
        self.mem: Dict[str, Record] = {}
