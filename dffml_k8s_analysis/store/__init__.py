"""The store: each repository's raw items and sync state, in SQLite (embedded) or PostgreSQL (a cluster).

A store is named by a SPEC, as ``--store`` takes it: a path is a SQLite file
(default ``data/OWNER__NAME.sqlite``), a ``postgresql://USER@HOST:PORT/DBNAME``
URI a PostgreSQL database holding one schema per repository (``#OWNER/NAME``
at its end picks one). The semantics (``core.Store``) are the same on both;
the backends (``sqlite.py``, ``postgres.py``) only connect and run SQL.

    from dffml_k8s_analysis.store import open_store
    with open_store(spec, create=False) as store:  # read-only
        items = list(store.raw_items())

A new table goes into ``core.SCHEMA`` in portable SQL; its writes go through
``Store.execute``/``Store.executemany`` inside ``Store.transaction()`` (or the
page's own, in ``Store.save_page``), with no backend-specific code.
"""
import pathlib
from typing import Optional, Union

from .core import Store, StoreError, StoreMissing
from .postgres import PASSWORD_FILE_ENV, AdvisoryLock, PostgresBackend, is_postgres, with_repo
from .lock import StoreLock
from .sqlite import SQLiteBackend

__all__ = ["PASSWORD_FILE_ENV", "Store", "StoreError", "StoreMissing", "default_path", "export_lock",
           "SPEC_HELP", "is_postgres", "named", "open_store", "repo_spec"]
SPEC_HELP = ("SQLite file, or postgresql://USER@HOST:PORT/DBNAME (password from the file named by "
             f"{PASSWORD_FILE_ENV}, or ~/.pgpass; default: data/OWNER__NAME.sqlite)")


def default_path(repo: str) -> pathlib.Path:
    """``data/OWNER__NAME.sqlite`` for ``OWNER/NAME``."""
    return pathlib.Path("data", repo.replace("/", "__") + ".sqlite")


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
        return Store(PostgresBackend(spec, create, repo), create)
    return Store(SQLiteBackend(spec, create), create)


def export_lock(spec: str, repo: str, shared: bool = False):
    """The export's lock on a store (``acquire()``, ``release()``): an OS file lock, or a PostgreSQL
    advisory lock, ``shared`` by the pods of one Indexed Job that write the same database."""
    if is_postgres(spec):
        return AdvisoryLock(spec, repo, shared)
    return StoreLock(spec)
