"""What a backend is (``sqlite.py``, ``postgres.py``): one interface, implemented the same way by both.

A backend only connects and runs SQL; what the tables mean is ``core.py`` and its parts. Statements
are portable (``?`` placeholders, the types INTEGER/BIGINT/TEXT/REAL/BLOB, ``ON CONFLICT`` upserts);
a backend translates them to its driver's words.
"""
import re
import shlex
from typing import Callable, ContextManager, Dict, Iterator, List, Protocol, Sequence, Type, runtime_checkable


@runtime_checkable
class Backend(Protocol):
    """One connection to one repository's store."""

    Error: Type[Exception]  # the driver's base error: every failure of the methods below is one
    kind: str  # what it is, for messages ("SQLite file")
    name: str  # the store as messages name it (never with a password)

    def tables(self) -> Dict[str, List[str]]:
        """Table name -> column names, the driver's own tables left out (nothing: a new store)."""

    def transaction(self) -> ContextManager[None]:
        """One transaction: committed at the end of the block, rolled back on any exception. Not nested."""

    def lock_schema(self) -> None:
        """Inside :meth:`transaction`: wait until no other process changes this store's schema, then hold it
        until the transaction ends (creating the store's namespace when missing)."""

    def script(self, ddl: str) -> None:
        """Run portable DDL (several statements), inside the current transaction."""

    def execute(self, sql: str, args: tuple) -> list:
        """One portable statement; its rows (none for a statement without)."""

    def executemany(self, sql: str, rows: Sequence[tuple]) -> None:
        """One portable statement per row; no rows, nothing run."""

    def stream(self, sql: str, args: tuple = ()) -> Iterator[tuple]:
        """The rows of a portable query, fetched as they are read."""

    def describe(self, error: Exception) -> str:
        """One line of ``error``, without any secret."""

    def lost(self, error: Exception) -> bool:
        """Whether ``error`` means the server is down or restarting (a rerun can help), not a wrong request."""

    def shell(self, sql: str) -> str:
        """A command a person can paste into a shell to run ``sql`` on this store."""

    def close(self) -> None:
        ...


def command_line(*words: str) -> str:
    """``words`` as one shell command, each quoted as a person would (double quotes for SQL with literals)."""
    def quote(word: str) -> str:
        plain = shlex.quote(word)
        if plain == word or "'" not in word or any(c in word for c in '"$`\\!'):
            return plain
        return f'"{word}"'

    return " ".join(quote(word) for word in words)


# A string literal, a quoted identifier or a comment: where ``?``, ``;`` and type names are not code.
QUOTED = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/""", re.S)


def map_code(sql: str, change: Callable[[str], str]) -> str:
    """``sql`` with ``change`` applied to its code, its literals, quoted identifiers and comments left as written."""
    parts, start = [], 0
    for quoted in QUOTED.finditer(sql):
        parts += [change(sql[start:quoted.start()]), quoted.group(0)]
        start = quoted.end()
    return "".join(parts + [change(sql[start:])])


def statements(script: str) -> List[str]:
    """The statements of a script, split at the semicolons of its code."""
    marked = map_code(script, lambda code: code.replace(";", "\0"))
    return [statement.strip() for statement in marked.split("\0") if statement.strip()]
