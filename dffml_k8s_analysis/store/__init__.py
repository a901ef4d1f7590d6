"""The store: each repository's raw items and sync state, in SQLite (embedded) or PostgreSQL (a cluster).

A store is named by a SPEC, as ``--store`` takes it: a path is a SQLite file
(default ``data/owner__name.sqlite``), a ``postgresql://USER@HOST:PORT/DBNAME``
URI a PostgreSQL database holding one schema per repository (``#OWNER/NAME``
at its end picks one). The semantics (``core.Store`` and its parts ``sync``,
``models``, ``bot``) are the same on both; the backends (``sqlite.py``,
``postgres.py``, one interface in ``backend.py``) only connect and run SQL.

    from dffml_k8s_analysis.store import open_store
    with open_store(spec, create=False) as store:  # read-only
        items = list(store.raw_items())
        plan = store.sync.plan()

A new column or table is a migration at the end of ``migrations.MIGRATIONS``;
its writes go through ``Store.execute``/``Store.executemany`` inside
``Store.transaction()``, in portable SQL, with no backend-specific code.
"""
import pathlib
from typing import Optional, Union

from . import postgres, sqlite
from .core import Store
from .errors import StoreError, StoreMissing
from .postgres import PASSWORD_FILE_ENV, is_postgres, redact, with_repo

__all__ = ["PASSWORD_FILE_ENV", "Store", "StoreError", "StoreMissing", "default_path", "export_lock",
           "SPEC_HELP", "is_postgres", "named", "open_store", "redact", "repo_spec"]
SPEC_HELP = ("SQLite file, or postgresql://USER@HOST:PORT/DBNAME (password from the file named by "
             f"{PASSWORD_FILE_ENV}, or ~/.pgpass; default: data/owner__name.sqlite)")


def default_path(repo: str) -> pathlib.Path:
    """``data/owner__name.sqlite`` for ``OWNER/NAME`` however it is spelled (GitHub's names are case-insensitive)."""
    return pathlib.Path("data", repo.lower().replace("/", "__") + ".sqlite")


def repo_spec(spec: Optional[str], repo: str) -> str:
    """The SPEC of ``repo``'s store: ``spec`` (a PostgreSQL URI told the repository), else its default file."""
    if not spec:
        return str(default_path(repo))
    return with_repo(spec, repo) if is_postgres(spec) else spec


def named(spec: str) -> str:
    """``spec``, a PostgreSQL one naming its repository: as it says, else the database's only one."""
    if is_postgres(spec) and "#" not in spec:
        with open_store(spec) as store:
            return store.name
    return spec


def open_store(spec: Union[str, pathlib.Path], create: bool = False, repo: Optional[str] = None) -> Store:
    """The store named by ``spec``: written (created if missing) with ``create``, else read-only.

    ``repo`` (or the URI's ``#OWNER/NAME``) picks the repository's schema in a
    PostgreSQL database (required to create one; a reader told neither takes
    the database's only repository); a SQLite file holds one and ignores it. StoreMissing when it does
    not exist and ``create`` is false; StoreError for anything else wrong.
    """
    spec = str(spec)
    if is_postgres(spec):
        return Store(postgres.PostgresBackend(spec, create, repo), create)
    if postgres.is_conninfo(spec):
        raise postgres.refuse_conninfo(spec)
    return Store(sqlite.SQLiteBackend(spec, create), create)


def export_lock(spec: str, repo: str, shared: bool = False):
    """The export's lock on a store (``acquire()``, ``release()``): an OS file lock, or a PostgreSQL
    advisory lock, ``shared`` by the pods of one Indexed Job that write the same database."""
    if postgres.is_conninfo(spec):
        raise postgres.refuse_conninfo(spec)
    return (postgres if is_postgres(spec) else sqlite).export_lock(spec, repo, shared)
