"""The cluster backend: a PostgreSQL database (psycopg 3) that every pod reaches over the network.

``--store postgresql://USER@HOST:PORT/DBNAME`` names the database; each
repository lives in its own schema, named ``owner/name`` (GitHub's names are
case-insensitive: every spelling of a repository is one schema and one export
lock), so one database holds several repositories and the store's SQL stays
unqualified (the session's ``search_path`` is the repository's schema). The
repository comes from the command's ``--repo``, or a ``#OWNER/NAME`` ending the
URI (how a dataflow input or the ``k8s-issues`` source names it); a reader told
neither uses the database's only one.

The password is never part of the spec (refused, however it is spelled): it
comes from the file named by ``K8S_ANALYSIS_DB_PASSWORD_FILE``, else libpq's
own ways (PGPASSFILE, ~/.pgpass), and is scrubbed from every message
(:func:`redact`). Read-only (``create=False``) is a read-only session. The
export's lock is an advisory lock held by its own connection, so PostgreSQL
drops it when the process dies; schema changes take a transaction's advisory
lock, so pods that start together change a schema once.
"""
import contextlib
import os
import re
import socket
import urllib.parse
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ..secret_file import SecretFileError, read_secret
from .backend import command_line, map_code
from .errors import StoreError, StoreMissing

PASSWORD_FILE_ENV = "K8S_ANALYSIS_DB_PASSWORD_FILE"
SCHEMES = ("postgresql://", "postgres://")
LOCK_CLASS = "dffml-k8s-analysis export"  # advisory lock keys: hashtext(class), hashtext(schema)
DDL_CLASS = "dffml-k8s-analysis schema"
# SQLite's BLOB and 8-byte REAL in PostgreSQL's words; the other portable types are the same.
DDL_TYPES = {"BLOB": "BYTEA", "REAL": "DOUBLE PRECISION"}
DDL_KEYWORDS = ("TABLE", "EXISTS", "INTO", "ON", "INDEX")  # a name after these is a table's, not a type
MAX_IDENTIFIER = 63
URI = re.compile(r"postgres(?:ql)?://[^\s'\"]*", re.IGNORECASE)
# libpq's keyword form: password=VALUE, the value bare or in single quotes with backslash escapes
KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)", re.IGNORECASE)
# "host=H dbname=D ...": a libpq keyword string (never a file's path)
CONNINFO = re.compile(r"(?:^|\s)(?:host|hostaddr|port|dbname|user|password|passfile|service|sslmode)\s*=",
                      re.IGNORECASE)
# SQLSTATEs of a server going away or not there yet: connection exceptions (08...), shutdowns, starting up,
# too many connections; a connection that fails before the server answers has none
OUTAGE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
OUTAGE_TEXTS = ("the database system is starting up", "the database system is shutting down",
                "the database system is in recovery mode", "too many clients")


def lost(error) -> bool:
    """Whether a psycopg error means the server is down or restarting (a rerun can help), not a wrong request."""
    import psycopg

    state = getattr(error, "sqlstate", None)
    if state:
        return state.startswith(OUTAGE_STATES)
    text = str(error)
    if text.startswith("connection is bad: invalid "):  # libpq refused an option of the URI before connecting
        return False
    return isinstance(error, psycopg.OperationalError) and ("FATAL:" not in text or any(t in text for t in OUTAGE_TEXTS))


def is_postgres(spec) -> bool:
    return isinstance(spec, str) and spec.startswith(SCHEMES)


def is_conninfo(spec) -> bool:
    """Whether ``spec`` is a libpq keyword string (``host=H dbname=D``): not a store spec, and never a path."""
    return isinstance(spec, str) and bool(CONNINFO.search(spec))


def _redact_uri(match) -> str:
    """One PostgreSQL URI with its password replaced by ``***``, however it spells it: ``user:PW@`` (up to the
    last ``@``, so a password holding ``@``, ``/``, ``?`` or ``#`` is covered), a ``password=`` parameter (its
    name in any case or percent-encoded), and every other place the password libpq would read turns up, raw
    or percent-encoded."""
    spec = match.group(0)
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


def redact(text: str) -> str:
    """``text`` with every password a PostgreSQL URI or keyword string in it spells replaced by ``***``:
    ``user:PW@``, ``?password=PW`` (its name percent-encoded or not), ``password=PW`` or ``password='P W'``."""
    parts, start = [], 0
    for uri in URI.finditer(text):
        parts += [KEYWORD_PASSWORD.sub(r"\1***", text[start:uri.start()]), _redact_uri(uri)]
        start = uri.end()
    return "".join(parts + [KEYWORD_PASSWORD.sub(r"\1***", text[start:])])


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


def refuse_conninfo(spec: str) -> StoreError:
    """The error for a libpq keyword string given as a store."""
    return StoreError(f"store {redact(spec)} is a libpq keyword string: name a PostgreSQL store as "
                      "postgresql://USER@HOST:PORT/DBNAME, its password in a file named by "
                      f"{PASSWORD_FILE_ENV}, or in ~/.pgpass")


def _password() -> Optional[str]:
    try:
        return read_secret(PASSWORD_FILE_ENV, "database password", spaces=True)
    except SecretFileError as error:
        raise StoreError(str(error)) from None


def schema_of(repo: str) -> str:
    """The schema (and export lock) of ``repo``: one for every spelling of its name."""
    schema = repo.lower()
    if len(schema.encode()) > MAX_IDENTIFIER:
        raise StoreError(f"repository {repo} is longer than PostgreSQL's {MAX_IDENTIFIER}-byte schema names")
    return schema


def translate(sql: str) -> str:
    """Portable SQL in psycopg's words: a ``?`` of the code becomes ``%s``, never one inside a string literal, a
    quoted name or a comment; every ``%`` is written ``%%`` (psycopg reads them everywhere)."""
    return map_code(sql.replace("%", "%%"), lambda code: code.replace("?", "%s"))


def translate_ddl(ddl: str) -> str:
    """SQLite's column types in PostgreSQL's words: a type follows its column's name (``blob BLOB``)."""
    types = "|".join(DDL_TYPES)

    def column(match) -> str:
        name, kind = match.group(1), match.group(2)
        keyword = name is not None and name.strip().upper() in DDL_KEYWORDS
        return match.group(0) if keyword else match.group(0)[:-len(kind)] + DDL_TYPES[kind.upper()]

    def code(part: str) -> str:  # a quoted column name ends the part before its type
        return re.sub(rf"(?:(\w+)\s+|^\s+)({types})\b", column, part, flags=re.IGNORECASE)

    return map_code(ddl, code)


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
            raise StoreError(f"cannot connect to the store {self.uri}: {self.describe(error)}", lost(error)) from None

    def describe(self, error) -> str:
        """One line of ``error``, the password (if any) scrubbed."""
        text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        if self.password:
            text = text.replace(self.password, "***")
        return redact(text) or type(error).__name__

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
        self.connection = Connection(spec, "k8s-analysis")  # a password in the spec is refused first
        self.Error = self.connection.Error
        try:
            if named and repo and named.lower() != repo.lower():
                raise StoreError(f"store {redact(spec)} names the repository {named}, not {repo}")
            repo = named or repo
            schemas = self._repositories()
            if repo is None:
                if create:
                    raise StoreError("a PostgreSQL store is written per repository: name it with --repo "
                                     "or #OWNER/NAME")
                if len(schemas) != 1:
                    if not schemas:
                        raise StoreMissing(f"store {self.connection.uri} holds no repository: "
                                           "run `k8s-analysis export` first")
                    raise StoreError(f"store {self.connection.uri} holds several repositories ({', '.join(schemas)}): "
                                     f"name one with --repo or {self.connection.uri}#OWNER/NAME")
                repo = schemas[0]
            spelled = [schema for schema in schemas if schema.lower() == repo.lower()]  # made before names were
            self.schema = spelled[0] if spelled else schema_of(repo)                   # lowercased
            self.name = f"{self.connection.uri}#{self.schema}"
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
            raise StoreError(f"store {self.connection.uri} is not usable: {self.describe(error)}", lost(error)) from None

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

    def lock_schema(self) -> None:
        """A transaction's advisory lock on the schema (pods that start together change it once); the schema."""
        self.connection.query("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", (DDL_CLASS, self.schema))
        self.connection.query(self.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self.sql.Identifier(self.schema)))

    def script(self, ddl: str) -> None:
        self.connection.conn.execute(translate_ddl(ddl))

    def execute(self, sql: str, args: tuple) -> list:
        return self.connection.query(translate(sql), args)

    def executemany(self, sql: str, rows: Sequence[tuple]) -> None:
        if rows:
            self.connection.conn.cursor().executemany(translate(sql), rows)

    def stream(self, sql: str, args: tuple = ()) -> Iterator[tuple]:
        """Rows one at a time (libpq's single-row mode): a large store is never all in memory."""
        return self.connection.conn.cursor().stream(translate(sql), args)

    def transaction(self):
        return self.connection.conn.transaction()

    def describe(self, error) -> str:
        return self.connection.describe(error)

    lost = staticmethod(lost)

    def shell(self, statement: str) -> str:
        """psql, told the password as the store is (from the file ``K8S_ANALYSIS_DB_PASSWORD_FILE`` names)."""
        password = f'PGPASSWORD="$(cat "${PASSWORD_FILE_ENV}")" ' if self.connection.password is not None else ""
        search_path = self.sql.SQL("SET search_path TO {}").format(self.sql.Identifier(self.schema))
        return password + command_line("psql", self.connection.uri, "-c", search_path.as_string(self.connection.conn),
                                       "-c", statement)

    def close(self) -> None:
        self.connection.close()


class AdvisoryLock:
    """The export's lock on a repository's schema: exclusive, or ``shared`` by the pods of one Indexed Job.

    Held by a connection of its own until :meth:`release` or the process ends.
    """

    def __init__(self, spec: str, repo: str, shared: bool = False):
        self.spec, self.schema, self.shared = spec, schema_of(split_spec(spec)[1] or repo), shared  # any spelling
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
                             f"{connection.describe(error)}", lost(error)) from None
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


def export_lock(spec: str, repo: str, shared: bool = False) -> AdvisoryLock:
    """The export's lock on ``repo``'s schema in the database ``spec``."""
    return AdvisoryLock(spec, repo, shared)
