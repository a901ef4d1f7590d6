"""The cluster backend: a PostgreSQL database (psycopg 3) that every pod reaches over the network.

``--store postgresql://USER@HOST:PORT/DBNAME`` names the database; each
repository lives in its own schema, named exactly ``OWNER/NAME``, so one
database holds several repositories and the store's SQL stays unqualified
(the session's ``search_path`` is the repository's schema). The repository
comes from the command's ``--repo``, or a ``#OWNER/NAME`` ending the URI (how
a dataflow input or the ``k8s-issues`` source names it); a reader told
neither uses the database's only one.

The password is never part of the URI (refused): it comes from the file named
by ``K8S_ANALYSIS_DB_PASSWORD_FILE``, else libpq's own ways (PGPASSFILE,
~/.pgpass), and is scrubbed from every error message. Read-only
(``create=False``) is a read-only session. The export's lock is an advisory
lock held by its own connection, so PostgreSQL drops it when the process dies.
"""
import contextlib
import os
import re
import socket
import urllib.parse
from typing import Dict, Iterator, List, Optional, Tuple

from ..secret_file import SecretFileError, read_secret
from .core import StoreError, StoreMissing

PASSWORD_FILE_ENV = "K8S_ANALYSIS_DB_PASSWORD_FILE"
SCHEMES = ("postgresql://", "postgres://")
LOCK_CLASS = "dffml-k8s-analysis export"  # advisory lock keys: hashtext(class), hashtext(schema)
DDL_CLASS = "dffml-k8s-analysis schema"
# SQLite's BLOB and 8-byte REAL in PostgreSQL's words; the other portable types are the same.
DDL_TYPES = {"BLOB": "BYTEA", "REAL": "DOUBLE PRECISION"}
MAX_IDENTIFIER = 63


def is_postgres(spec) -> bool:
    return isinstance(spec, str) and spec.startswith(SCHEMES)


def redact(spec: str) -> str:
    """``spec`` with any password replaced by ``***``, for messages; anything not a PostgreSQL URI as it is.

    However the URI spells it: ``user:PW@`` (up to the last ``@``, so a password holding ``@``, ``/``, ``?``
    or ``#`` is covered), a ``password=`` parameter (its name in any case or percent-encoded), and every
    other place the password libpq would read turns up, raw or percent-encoded.
    """
    if not is_postgres(spec):
        return spec
    scheme, _, rest = spec.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.partition(':')[0]}:***@{host}"
    base, question, query = rest.partition("?")
    if question:
        params = [(key, "***" if urllib.parse.unquote(key).strip().lower() == "password" else value)
                  for key, _, value in (part.partition("=") for part in query.split("&"))]
        rest = base + "?" + "&".join(f"{key}={value}" if value or key else "" for key, value in params)
    redacted = f"{scheme}://{rest}"
    for password in _passwords(spec):
        for spelling in {password, urllib.parse.quote(password, safe=""), urllib.parse.quote_plus(password)}:
            redacted = redacted.replace(spelling, "***")
    return redacted


def _passwords(spec: str) -> List[str]:
    """The password(s) libpq reads in ``spec``, decoded (none when it does not parse)."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        password = conninfo_to_dict(split_spec(spec)[0]).get("password")
    except (ProgrammingError, ValueError):
        return []
    return [password] if password else []


def split_spec(spec: str) -> Tuple[str, Optional[str]]:
    """(the libpq URI, the repository its ``#OWNER/NAME`` names or None)."""
    uri, _, fragment = spec.partition("#")
    return uri, urllib.parse.unquote(fragment) or None


def with_repo(spec: str, repo: str) -> str:
    """``spec`` naming ``repo`` (unless it names one already)."""
    return spec if split_spec(spec)[1] else f"{spec}#{repo}"


def check_spec(spec: str) -> Dict[str, str]:
    """The URI's connection parameters; StoreError when it is not a libpq URI or carries a password."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(spec)
    except ProgrammingError:
        raise StoreError(f"store {redact(spec)} is not a PostgreSQL URI "
                         "(postgresql://USER@HOST:PORT/DBNAME)") from None
    if "password" in params:
        raise StoreError(f"store {redact(spec)}: a password in the URI is refused (it would show in "
                         f"process lists and logs): put it in a file named by {PASSWORD_FILE_ENV}, or in ~/.pgpass")
    return params


def _password() -> Optional[str]:
    try:
        return read_secret(PASSWORD_FILE_ENV, "database password", spaces=True)
    except SecretFileError as error:
        raise StoreError(str(error)) from None


def schema_of(repo: str) -> str:
    if len(repo.encode()) > MAX_IDENTIFIER:
        raise StoreError(f"repository {repo} is longer than PostgreSQL's {MAX_IDENTIFIER}-byte schema names")
    return repo


def translate(sql: str) -> str:
    """Portable SQL in psycopg's words: ``?`` placeholders become ``%s`` (and a literal ``%``, ``%%``)."""
    return sql.replace("%", "%%").replace("?", "%s")


def translate_ddl(ddl: str) -> str:
    """SQLite's column types in PostgreSQL's words: a type follows its column's name (``blob BLOB``)."""
    def column(match) -> str:
        name, space, kind = match.groups()
        keyword = name.upper() in ("TABLE", "EXISTS", "INTO", "ON", "INDEX")
        return match.group(0) if keyword else f"{name}{space}{DDL_TYPES[kind.upper()]}"

    types = "|".join(DDL_TYPES)
    return re.sub(rf'(\w+|"[^"]*")(\s+)({types})\b', column, ddl, flags=re.IGNORECASE)


class Connection:
    """A psycopg connection (autocommit) whose errors never carry the password."""

    def __init__(self, spec: str, application: str):
        import psycopg

        self.Error = psycopg.Error
        spec = split_spec(spec)[0]
        self.uri = redact(spec)
        params = check_spec(spec)
        self.password = _password()
        extra = {"application_name": application}
        if "connect_timeout" not in params:
            extra["connect_timeout"] = 10
        if self.password is not None:
            extra["password"] = self.password
        try:
            self.conn = psycopg.connect(spec, autocommit=True, **extra)
        except psycopg.Error as error:
            raise StoreError(f"cannot connect to the store {self.uri}: {self.describe(error)}") from None

    def describe(self, error) -> str:
        """One line of ``error``, the password (if any) scrubbed."""
        text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        if self.password:
            text = text.replace(self.password, "***")
        return text or type(error).__name__

    def query(self, sql, args: Optional[tuple] = None) -> list:
        cursor = self.conn.execute(sql, args)
        return cursor.fetchall() if cursor.description else []

    def close(self) -> None:
        self.conn.close()


class PostgresBackend:
    """One repository's schema in a PostgreSQL database, opened as ``create`` asks."""

    kind = "PostgreSQL store"

    def __init__(self, spec: str, create: bool, repo: Optional[str]):
        from psycopg import sql

        self.sql = sql
        named = split_spec(spec)[1]
        if named and repo and named != repo:
            raise StoreError(f"store {redact(spec)} names the repository {named}, not {repo}")
        repo = named or repo
        self.connection = Connection(spec, "k8s-analysis")
        self.Error = self.connection.Error
        try:
            schemas = self._repositories()
            if repo is None:
                if create:
                    raise StoreError("a PostgreSQL store is written per repository: name it with --repo "
                                     "or #OWNER/NAME")
                if len(schemas) != 1:
                    if not schemas:
                        raise StoreMissing(f"store {self.connection.uri} holds no repository: "
                                           "run `k8s-analysis export` first")
                    raise StoreError(f"store {self.connection.uri} holds several repositories "
                                     f"({', '.join(schemas)}): name one with --repo or {self.connection.uri}#OWNER/NAME")
                repo = schemas[0]
            self.schema = schema_of(repo)
            self.name = f"{self.connection.uri}#{repo}"
            if not create and not self._exists():
                raise StoreMissing(f"store {self.name} does not exist: run `k8s-analysis export` first")
            self.connection.query(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            if not create:
                self.connection.query("SET default_transaction_read_only = on")
        except StoreError:
            self.connection.close()
            raise
        except self.Error as error:
            self.connection.close()
            raise StoreError(f"store {self.connection.uri} is not usable: {self.describe(error)}") from None

    def _repositories(self) -> List[str]:
        """The schemas of this database that hold a store (their name is OWNER/NAME)."""
        return [name for (name,) in self.connection.query(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'items' AND c.relkind IN ('r', 'p') AND n.nspname LIKE '%/%' ORDER BY 1")]

    def _exists(self) -> bool:
        return bool(self.connection.query("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)))

    def tables(self) -> Dict[str, List[str]]:
        """Table name -> column names of the repository's schema."""
        tables: Dict[str, List[str]] = {}
        for table, column in self.connection.query(
                "SELECT c.relname, a.attname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_attribute a ON a.attrelid = c.oid WHERE n.nspname = %s AND c.relkind IN ('r', 'p') "
                "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum", (self.schema,)):
            tables.setdefault(table, []).append(column)
        return tables

    def script(self, ddl: str) -> None:
        """Create the schema and run ``ddl`` in it, under a lock: pods that start together create it once."""
        ddl = translate_ddl(ddl)
        sql = self.sql
        with self.transaction():
            self.connection.query("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))",
                                  (DDL_CLASS, self.schema))
            self.connection.query(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            self.connection.conn.execute(ddl)

    def execute(self, sql: str, args: tuple) -> list:
        return self.connection.query(translate(sql), args)

    def executemany(self, sql: str, rows: List[tuple]) -> None:
        if rows:
            self.connection.conn.cursor().executemany(translate(sql), rows)

    def stream(self, sql: str) -> Iterator[tuple]:
        """Rows one at a time (libpq's single-row mode): a large store is never all in memory."""
        return self.connection.conn.cursor().stream(translate(sql), ())

    def transaction(self):
        return self.connection.conn.transaction()

    def describe(self, error) -> str:
        return self.connection.describe(error)

    def lost(self, error) -> bool:
        """Whether ``error`` means the server is gone (a restart, the network), not that the store is damaged."""
        from psycopg import OperationalError

        return isinstance(error, OperationalError) or self.connection.conn.closed

    def shell(self, statement: str) -> str:
        return f"psql \"{self.connection.uri}\" -c 'SET search_path TO \"{self.schema}\"; {statement}'"

    def close(self) -> None:
        self.connection.close()


class AdvisoryLock:
    """The export's lock on a repository's schema: exclusive, or ``shared`` by the pods of one Indexed Job.

    Held by a connection of its own until :meth:`release` or the process ends.
    """

    def __init__(self, spec: str, repo: str, shared: bool = False):
        self.spec, self.schema, self.shared = spec, schema_of(split_spec(spec)[1] or repo), shared
        self.connection: Optional[Connection] = None

    def acquire(self) -> "AdvisoryLock":
        connection = Connection(self.spec, f"k8s-analysis export (process {os.getpid()} on {socket.gethostname()})"[:63])
        take = "pg_try_advisory_lock_shared" if self.shared else "pg_try_advisory_lock"
        keys = (LOCK_CLASS, self.schema)
        try:
            ((taken,),) = connection.query(f"SELECT {take}(hashtext(%s), hashtext(%s))", keys)
            holders = [] if taken else connection.query(
                "SELECT DISTINCT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = hashtext(%s)::oid "
                "AND l.objid = hashtext(%s)::oid AND l.objsubid = 2", keys)
        except connection.Error as error:
            connection.close()
            raise StoreError(f"cannot lock the store {connection.uri}#{self.schema}: "
                             f"{connection.describe(error)}") from None
        if not taken:
            connection.close()
            holder = ", ".join(name or "unknown" for (name,) in holders) or "unknown"
            raise StoreError(f"store {connection.uri}#{self.schema} is in use by another export ({holder}): "
                             "wait for it to finish, or stop it")
        self.connection = connection
        return self

    def release(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection = None
