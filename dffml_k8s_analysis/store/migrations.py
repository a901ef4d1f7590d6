"""The store's schema: its version, and the ordered migrations that bring a store of any earlier version to it.

A store records its version in ``state`` (key ``schema``). Each migration is a small function, run once,
in a transaction of its own that holds the schema's lock (pods opening one store together run it once),
when a store is first opened for writing; a read-only open of an older store works when every pending
migration is ``readable`` (its readers manage without it), else it says to open the store for writing.
A store of a newer version is refused.

Changing the schema (a new column in ``items``, a new table) is one new :class:`Migration` at the end of
:data:`MIGRATIONS` and a test; the ones here are never edited, since stores out there have run them.
The first five are the layouts of the releases before versions existed: tables were only ever added then
(never a column), so such a store's version is read from which tables it has.
"""
import json
import sqlite3
from typing import Callable, Dict, List, NamedTuple, Optional

from tqdm import tqdm

from . import derived
from .errors import StoreError
from .sqlite import SQLiteBackend


class Migration(NamedTuple):
    name: str  # what it brings, for messages and the progress bar
    run: Callable  # run(store): portable SQL through store.backend.script / store.execute
    readable: bool  # whether a read-only reader of a store without it still works


EXPORT = """
CREATE TABLE IF NOT EXISTS items (number INTEGER PRIMARY KEY, updated_at TEXT NOT NULL,
    is_pull_request INTEGER NOT NULL, raw TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS windows (idx INTEGER PRIMARY KEY, start TEXT NOT NULL, "end" TEXT, checkpoint TEXT,
    done INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS etags (url TEXT PRIMARY KEY, etag TEXT NOT NULL);
"""
CLOSERS = "CREATE TABLE IF NOT EXISTS closers (number INTEGER PRIMARY KEY, login TEXT, closed_at TEXT NOT NULL);"
DERIVED = """
CREATE TABLE IF NOT EXISTS derived (number INTEGER PRIMARY KEY, problem TEXT, pull_request INTEGER, state TEXT,
    created_at BIGINT, updated_at BIGINT, closed_at BIGINT, author TEXT, closed_by TEXT, release_note TEXT,
    action_required INTEGER);
CREATE TABLE IF NOT EXISTS labels (number INTEGER NOT NULL, position INTEGER NOT NULL, name TEXT NOT NULL,
    PRIMARY KEY (number, position));
CREATE INDEX IF NOT EXISTS labels_by_name ON labels (name, number);
"""
MODELS = """
CREATE TABLE IF NOT EXISTS model_versions (stamp TEXT PRIMARY KEY, created TEXT NOT NULL,
    data_version TEXT NOT NULL, status TEXT NOT NULL, archive BLOB NOT NULL, canary_share REAL,
    canary_until TEXT, decision TEXT);
CREATE TABLE IF NOT EXISTS canary_observations (id TEXT PRIMARY KEY, canary TEXT NOT NULL, serving TEXT NOT NULL,
    observed_at TEXT NOT NULL, answered_by TEXT NOT NULL, serving_probability REAL NOT NULL,
    canary_probability REAL, agree INTEGER, serving_ms REAL NOT NULL, canary_ms REAL, error TEXT);
"""
BOT = """
CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, received REAL NOT NULL, repo TEXT NOT NULL,
    number INTEGER NOT NULL, updated_at TEXT, state TEXT NOT NULL, outcome TEXT);
CREATE INDEX IF NOT EXISTS deliveries_by_time ON deliveries(received);
CREATE TABLE IF NOT EXISTS applied (repo TEXT NOT NULL, number INTEGER NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (repo, number));
CREATE TABLE IF NOT EXISTS leases (repo TEXT NOT NULL, number INTEGER NOT NULL, holder TEXT NOT NULL,
    expires REAL NOT NULL, PRIMARY KEY (repo, number));
"""
QUEUE = """
CREATE INDEX IF NOT EXISTS deliveries_queued ON deliveries(received) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries(received) WHERE state <> 'queued';
"""
# Each item's timeline (issue 24). ``label_events``: every labeled/unlabeled event in order, its actor and
# what the actor was when walked (``author`` of the item, another ``person``, a ``bot``: GitHub's Bot actors
# or a login matching the store's bot pattern, ``ghost``: a deleted account). ``timeline``: one row per
# item walked, the item's ``updated_at`` then (an update walks only items changed since), the first
# response (comment or review by someone other than the author, not a bot), the PR's reviews and merge,
# and whether every event was read (``complete`` 0: follow-up pages pending). Times are epoch seconds.
TIMELINE = """
CREATE TABLE IF NOT EXISTS label_events (number INTEGER NOT NULL, seq INTEGER NOT NULL, at BIGINT NOT NULL,
    action TEXT NOT NULL, label TEXT NOT NULL, actor TEXT, actor_kind TEXT NOT NULL, PRIMARY KEY (number, seq));
CREATE INDEX IF NOT EXISTS label_events_by_label ON label_events (label, at);
CREATE TABLE IF NOT EXISTS timeline (number INTEGER PRIMARY KEY, updated_at TEXT NOT NULL,
    first_response_at BIGINT, first_response_by TEXT, first_review_at BIGINT, first_approval_at BIGINT,
    merged_at BIGINT, merged_by TEXT, complete INTEGER NOT NULL);
"""
# The bot's decisions on each item (issue 26): what it did or, in shadow mode, would have done to the model's
# label (add, remove, suggest, none) when it decided by itself (not deferring to a person), for
# ``k8s-analysis bot report`` to compare with what people did later. ``decided``: epoch seconds.
DECISIONS = """
CREATE TABLE IF NOT EXISTS bot_decisions (repo TEXT NOT NULL, number INTEGER NOT NULL, decided REAL NOT NULL,
    mode TEXT NOT NULL, label TEXT NOT NULL, decision TEXT NOT NULL, probability REAL NOT NULL,
    PRIMARY KEY (repo, number));
CREATE INDEX IF NOT EXISTS bot_decisions_by_time ON bot_decisions (decided);
"""
# The analysis's columns as one blob (``snapshot.py``), stamped with the columns version: ``state`` key
# ``columns_version``, moved on by a trigger on every table the columns come from, in the writing transaction
# (SQLite: a row trigger per row written; PostgreSQL: a statement trigger per statement).
SNAPSHOT = """
CREATE TABLE IF NOT EXISTS columns_snapshot (name TEXT PRIMARY KEY, version BIGINT NOT NULL, data BLOB NOT NULL);
INSERT INTO state (key, value) VALUES ('columns_version', '0') ON CONFLICT (key) DO NOTHING;
"""
WATCHED = ("items", "derived", "labels", "closers", "timeline", "label_events")
BUMP = "UPDATE state SET value = {} WHERE key = 'columns_version'"
SQLITE_TRIGGER = ("CREATE TRIGGER IF NOT EXISTS {table}_{action}_columns AFTER {action} ON {table} BEGIN "
                  + BUMP.format("CAST(value AS INTEGER) + 1") + "; END")
POSTGRES_FUNCTION = ("CREATE OR REPLACE FUNCTION columns_changed() RETURNS trigger LANGUAGE plpgsql "
                     "SET search_path FROM CURRENT AS $$ BEGIN " + BUMP.format("(value::bigint + 1)::text")
                     + "; RETURN NULL; END $$")
POSTGRES_TRIGGER = ("DROP TRIGGER IF EXISTS {table}_columns ON {table}; CREATE TRIGGER {table}_columns AFTER INSERT "
                    "OR UPDATE OR DELETE OR TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION columns_changed()")
UNVERSIONED = (EXPORT, CLOSERS, DERIVED, MODELS, BOT)  # the releases before versions, in order


def _tables(ddl: str) -> Callable:
    def run(store) -> None:
        store.backend.script(ddl)
    return run


def _snapshot(store) -> None:
    """The snapshot's table, the columns version and its triggers (trigger syntax differs: written per backend)."""
    store.backend.script(SNAPSHOT)
    if isinstance(store.backend, SQLiteBackend):
        for table in WATCHED:
            for action in ("INSERT", "UPDATE", "DELETE"):
                store.execute(SQLITE_TRIGGER.format(table=table, action=action))
        return
    store.execute(POSTGRES_FUNCTION)
    for table in WATCHED:
        store.backend.script(POSTGRES_TRIGGER.format(table=table))


def _derive(store) -> None:
    store.backend.script(DERIVED)
    derived.fill(store)


MIGRATIONS: List[Migration] = [
    Migration("the export's tables", _tables(EXPORT), readable=False),
    Migration("who closed each item", _tables(CLOSERS), readable=False),
    Migration("derived columns", _derive, readable=True),  # derived.read derives them in memory meanwhile
    Migration("the model registry", _tables(MODELS), readable=True),
    Migration("the bot's memory", _tables(BOT), readable=True),
    Migration("the bot's queue indexed by state", _tables(QUEUE), readable=True),
    Migration("each item's timeline", _tables(TIMELINE), readable=True),  # readers without it: no timeline
    Migration("the bot's decisions", _tables(DECISIONS), readable=True),  # readers without it: no bot report
    Migration("the analysis's columns snapshot", _snapshot, readable=True),  # readers without it: SQL
]
DERIVED_AT = 3  # the version from which the derived columns are stored
KEY = "schema"


def latest() -> int:
    return len(MIGRATIONS)


def _columns(ddl: str) -> Dict[str, List[str]]:
    """Table name -> column names that ``ddl`` defines (read by an in-memory SQLite)."""
    db = sqlite3.connect(":memory:")
    db.executescript(ddl)
    names = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {name: [column for (column,) in db.execute("SELECT name FROM pragma_table_info(?)", (name,))]
            for name in names}


def as_unversioned(db: sqlite3.Connection, derived: bool = True) -> None:
    """Rewrite an open SQLite store as a release before schema versions left it: the later tables dropped,
    no version mark (``derived``: its derived columns complete, else the release before them). For the tests
    and bench/migrate.py, which meet such stores."""
    keep = set(_columns("".join(UNVERSIONED if derived else UNVERSIONED[:DERIVED_AT - 1])))
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        if name not in keep:
            db.execute(f'DROP TABLE "{name}"')
    db.execute("DELETE FROM state WHERE key IN (?, 'derived')", (KEY,))
    if derived:
        db.execute("INSERT INTO state (key, value) VALUES ('derived', '1')")
    db.commit()


def version(store, tables: Dict[str, List[str]]) -> Optional[int]:
    """The schema version of the store with ``tables``; None: not a k8s-analysis store."""
    if tables.get("state") == ["key", "value"]:
        rows = store.execute("SELECT value FROM state WHERE key = ?", (KEY,))
        if rows:
            try:
                number = json.loads(rows[0][0])
            except ValueError:
                number = None
            if not isinstance(number, int) or isinstance(number, bool) or number < 1:
                raise StoreError(f"store {store.name}: its schema version {rows[0][0]!r} is damaged; export "
                                 "again into a new store")
            return number
    known = _columns("".join(UNVERSIONED))
    if any(known.get(name) != columns for name, columns in tables.items()):
        return None
    found = 0
    while found < len(UNVERSIONED) and set(_columns(UNVERSIONED[found])) <= set(tables):
        found += 1
    if found >= DERIVED_AT:  # the derived columns were complete once the state key "derived" said so
        mark = store.sync.get("derived")
        if mark is None:
            return DERIVED_AT - 1
        if mark != 1:
            raise newer(store, f"derived columns of version {mark}", "1")
    return found


def newer(store, what: str, known: str) -> StoreError:
    return StoreError(f"store {store.name} was written by a newer k8s-analysis ({what}; this one knows up to "
                      f"{known}): upgrade k8s-analysis to use it")


def check(store, current: int, writing: bool) -> None:
    """StoreError unless a store of version ``current`` can be used as asked (or migrated, ``writing``)."""
    if current > latest():
        raise newer(store, f"schema version {current}", str(latest()))
    if not writing and not all(migration.readable for migration in MIGRATIONS[current:]):
        raise StoreError(f"store {store.name} is of schema version {current}, older than this k8s-analysis "
                         f"reads ({latest()}): open it for writing once to upgrade it (k8s-analysis export --update)")


def upgrade(store, current: int, quiet: bool) -> int:
    """Run the migrations after ``current``, each once in a transaction of its own (a new store's all in one,
    so that a reader opening it meanwhile finds it either absent or whole); the version reached."""
    pending = list(enumerate(MIGRATIONS[current:], current + 1))
    steps = [pending] if current == 0 else [[one] for one in pending]
    with tqdm(total=len(pending), unit="migration", desc=f"upgrading the store {store.name}",
              disable=quiet or not pending) as bar:
        for step in steps:
            with store.transaction():
                store.backend.lock_schema()
                reached = version(store, store.backend.tables()) or 0  # another process may have run some
                for number, migration in step:
                    bar.set_postfix_str(migration.name)
                    if reached < number:
                        migration.run(store)
                        store.execute("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                                      "SET value = excluded.value", (KEY, json.dumps(number)))
                        reached = number
                    bar.update()
    return latest()
