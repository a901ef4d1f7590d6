"""What the project's read-only DFFML sources share: records held in memory, writes refused."""
from typing import AsyncIterator

from dffml import BaseSourceContext, Record


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
