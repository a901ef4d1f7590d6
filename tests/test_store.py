"""The store's semantics on both backends (``store_spec``: SQLite, a real PostgreSQL), and PostgreSQL's own rules."""
import json
import shutil
import subprocess
import sys

import pytest

from dffml_k8s_analysis.store import (StoreError, StoreMissing, default_path, export_lock, migrations, open_store,
                                      redact)
from dffml_k8s_analysis.store.backend import Backend

from conftest import REPO, ROOT, VENV_BIN, export, run_cli, served, stored

ITEM = {"number": 7, "updated_at": "2024-01-02T03:04:05Z", "title": "ünïcode \u2603 % ? '\"", "body": None,
        "labels": [{"name": "kind/bug"}], "pull_request": {"url": "x"}}


def test_upserts_keep_the_newest_copy_as_github_returned_it(store_spec):
    older = dict(ITEM, updated_at="2024-01-01T00:00:00Z", title="old")
    with open_store(store_spec, create=True, repo=REPO) as store:
        store.save_page([ITEM, {"number": 3, "updated_at": "2020-01-01T00:00:00Z"}])
        store.save_page([older])  # an older copy of #7 (another window) loses
        assert list(store.raw_items()) == [{"number": 3, "updated_at": "2020-01-01T00:00:00Z"}, ITEM]
        assert store.count() == {"items": 2, "issues": 1, "pull_requests": 1}
        assert store.versions() == {3: "2020-01-01T00:00:00Z", 7: ITEM["updated_at"]}
        store.save_page([dict(ITEM, updated_at="2025-01-01T00:00:00Z", title="new")])
        assert store.max_updated_at() == "2025-01-01T00:00:00Z"


def test_a_page_its_checkpoint_and_plan_are_one_transaction(store_spec):
    with open_store(store_spec, create=True, repo=REPO) as store:
        store.sync.start_plan({"started_at": "2024-01-01T00:00:00Z"}, [{"idx": 0, "start": "a", "end": "b"}])
        store.save_page([ITEM], window=0, checkpoint="c1", resume="/next")
        with pytest.raises(StoreError, match="^cannot write the store "):
            store.save_page([dict(ITEM, number=8), dict(ITEM, number=9, updated_at=None)], window=0, checkpoint="c2")
        assert store.count()["items"] == 1 and store.sync.resume(0) == {"checkpoint": "c1", "url": "/next"}
        assert store.sync.windows() == [{"idx": 0, "start": "a", "end": "b", "checkpoint": "c1", "done": False}]
        store.sync.finish_window(0)
        store.sync.finish_plan("hw")
        assert (store.sync.plan(), store.sync.windows(), store.sync.get("high_water")) == (None, [], "hw")


def test_read_only_refuses_writes_and_a_missing_store_is_named(store_spec):
    with pytest.raises(StoreMissing, match="does not exist: run `k8s-analysis export` first"):
        open_store(store_spec + "#" + REPO if store_spec.startswith("postgresql") else store_spec)
    with open_store(store_spec, create=True, repo=REPO) as store:
        store.save_page([ITEM])
    with open_store(store_spec) as store:
        with pytest.raises(StoreError, match="^cannot write the store "):
            store.sync.set("key", 1)
        assert store.sync.get("key") is None and store.count()["items"] == 1


def test_a_migration_adds_a_table_and_a_column_once_and_a_newer_store_is_refused(store_spec, monkeypatch):
    with open_store(store_spec, create=True, repo=REPO) as store:  # a store made before the migration existed
        store.save_page([ITEM])
    spec = store.name if store_spec.startswith("postgresql") else store_spec
    ran = []

    def add(store):
        ran.append(store.name)
        store.backend.script("CREATE TABLE added (number INTEGER PRIMARY KEY, big BIGINT, score REAL, blob BLOB, "
                             "note TEXT NOT NULL); ALTER TABLE items ADD COLUMN note TEXT")

    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS + [migrations.Migration("a note", add, False)])
    new = len(migrations.MIGRATIONS)
    with pytest.raises(StoreError, match=rf"^store .* is of schema version {new - 1}, older than this k8s-analysis "
                                         rf"reads \({new}\): open it for writing once to upgrade it"):
        open_store(spec)
    row = (7, 2**40, 0.1 + 0.2, b"\x00\xff", "%?")
    upsert = ("INSERT INTO added (number, big, score, blob, note) VALUES (?, ?, ?, ?, ?) "
              "ON CONFLICT (number) DO UPDATE SET note = excluded.note")
    with open_store(spec, create=True) as store:
        assert store.version == new and ran == [store.name]
        with store.transaction():
            store.executemany(upsert, [row])
            store.executemany(upsert, [])
            store.execute("UPDATE items SET note = ? WHERE number = ?", ("it's ?", 7))
        with pytest.raises(StoreError):
            with store.transaction():
                store.executemany(upsert, [(7, 1, 1.0, b"", "lost")])
                store.execute("INSERT INTO added (number, note) VALUES (8, NULL)")  # fails: the batch goes too
        assert [tuple(r[:3]) + (bytes(r[3]), r[4]) for r in store.execute("SELECT * FROM added")] == [row]
        store.save_page([dict(ITEM, updated_at="2025-01-01T00:00:00Z")])  # the upsert leaves the new column be
    with open_store(spec, create=True) as store, open_store(spec) as reader:
        assert ran == [store.name] and reader.version == new  # once
        assert reader.execute("SELECT note FROM items WHERE number = ?", (7,)) == [("it's ?",)]
    monkeypatch.undo()  # this k8s-analysis again, older than the store
    for create in (True, False):
        with pytest.raises(StoreError) as raised:
            open_store(spec, create=create)
        assert str(raised.value) == (f"store {store.name} was written by a newer k8s-analysis (schema version {new}; "
                                     f"this one knows up to {new - 1}): upgrade k8s-analysis to use it")


def test_placeholders_are_translated_outside_literals_names_and_comments(store_spec):
    with open_store(store_spec, create=True, repo=REPO) as store:
        assert store.execute("SELECT 'it''s ?', ? /* a ? */, '%?', \"number\" FROM items WHERE \"number\" = ? -- ?\n",
                             ("x", 7)) == []
        store.save_page([ITEM])
        assert store.execute("SELECT 'it''s ?', ? /* a ? */, '%?', \"number\" FROM items WHERE \"number\" = ? -- ?\n",
                             ("x", 7)) == [("it's ?", "x", "%?", 7)]


def test_a_foreign_schema_is_refused_and_left_alone(postgres_server):
    uri = postgres_server.create_database()
    with postgres_server.admin(uri) as conn:
        conn.execute(f'CREATE SCHEMA "{REPO}"')
        conn.execute(f'CREATE TABLE "{REPO}".items (a TEXT)')
    message = f"{uri}#{REPO} is not a k8s-analysis store (its tables: items): choose another --store"
    for create in (True, False):
        with pytest.raises(StoreError) as raised:
            open_store(uri, create=create, repo=REPO)
        assert str(raised.value) == message


def test_one_database_holds_several_repositories(postgres_server):
    uri = postgres_server.create_database()
    for repo, number in (("a/one", 1), ("b/two", 2)):
        with open_store(uri, create=True, repo=repo) as store:
            store.save_page([{"number": number, "updated_at": "2024-01-01T00:00:00Z"}])
    with pytest.raises(StoreError, match=r"holds several repositories \(a/one, b/two\): name one with --repo"):
        open_store(uri)
    assert [i["number"] for i in open_store(uri + "#b/two").raw_items()] == [2]
    assert [i["number"] for i in open_store(uri, repo="a/one").raw_items()] == [1]
    with pytest.raises(StoreError, match="names the repository b/two, not a/one"):
        open_store(uri + "#b/two", repo="a/one")


def test_the_export_lock_is_an_advisory_lock_shared_only_by_pods(postgres_server):
    uri = postgres_server.create_database()
    pod = export_lock(uri, REPO, shared=True).acquire()
    other_pod = export_lock(uri, REPO, shared=True).acquire()
    with pytest.raises(StoreError, match=r"#kubernetes/kubernetes is in use by another export \(k8s-analysis export "
                                         r"\(process \d+ on "):
        export_lock(uri, REPO).acquire()
    export_lock(uri, "other/repo").acquire().release()  # another repository's schema is free
    pod.release()
    other_pod.release()
    export_lock(uri, REPO).acquire().release()


def test_the_password_never_shows(emulator, postgres_server, tmp_path, capsys):
    server = emulator(items=300)
    uri = postgres_server.create_database()
    secret = postgres_server.password
    with_password = uri.replace("postgres@", f"postgres:{secret}@")
    for args in (["export", "--base-url", server.url, "--store", with_password],
                 ["-v", "analyze", "--store", with_password + "#" + REPO]):
        result = run_cli("k8s-analysis", *args)
        assert result.returncode == 1 and secret not in result.stdout + result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 or args[0] == "-v"
        assert result.stderr.strip().splitlines()[-1:] == [  # -v: after a traceback that lacks it too
            f"k8s-analysis: error: store {uri.replace('postgres@', 'postgres:***@')}: a password in the URI is "
            "refused (it would show in process lists and logs): put it in a file named by "
            "K8S_ANALYSIS_DB_PASSWORD_FILE, or in ~/.pgpass"]
    wrong = tmp_path / "wrong"
    wrong.write_text("Wrong-Passw0rd-xyz\n")
    result = run_cli("k8s-analysis", "-v", "analyze", "--store", uri, env={"K8S_ANALYSIS_DB_PASSWORD_FILE": str(wrong)})
    assert result.returncode == 1 and "Wrong-Passw0rd-xyz" not in result.stdout + result.stderr
    assert "password authentication failed" in result.stderr
    assert export(server.url, uri) == 0  # the right one, from the file
    logged = capsys.readouterr()
    assert secret not in logged.out + logged.err
    assert stored(uri) == served(server)
    assert all(secret not in str(value) for value in open_store(uri).execute("SELECT key, value FROM state"))


def test_a_store_without_tables_yet_is_missing_to_a_reader(store_spec, request):
    if store_spec.startswith("postgresql"):
        with request.getfixturevalue("postgres_server").admin(store_spec) as conn:
            conn.execute('CREATE SCHEMA "empty/repo"')
        empty = store_spec + "#empty/repo"
    else:
        empty = store_spec
        open(empty, "w").close()  # what an export's first instant leaves
    with pytest.raises(StoreMissing, match="is empty: run `k8s-analysis export` first"):
        open_store(empty)


# The layouts of the releases before schema versions (git log -p dffml_k8s_analysis/store/), oldest first: each
# added tables, none changed a column. The bot's memory was a SQLite file of its own before it moved in.
OLD_EXPORT = """
CREATE TABLE items (number INTEGER PRIMARY KEY, updated_at TEXT NOT NULL, is_pull_request INTEGER NOT NULL,
    raw TEXT NOT NULL);
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE windows (idx INTEGER PRIMARY KEY, start TEXT NOT NULL, "end" TEXT, checkpoint TEXT,
    done INTEGER NOT NULL DEFAULT 0);
CREATE TABLE etags (url TEXT PRIMARY KEY, etag TEXT NOT NULL);
"""
OLD_CLOSERS = "CREATE TABLE closers (number INTEGER PRIMARY KEY, login TEXT, closed_at TEXT NOT NULL);"
OLD_DERIVED = """
CREATE TABLE derived (number INTEGER PRIMARY KEY, problem TEXT, pull_request INTEGER, state TEXT, created_at BIGINT,
    updated_at BIGINT, closed_at BIGINT, author TEXT, closed_by TEXT, release_note TEXT, action_required INTEGER);
CREATE TABLE labels (number INTEGER NOT NULL, position INTEGER NOT NULL, name TEXT NOT NULL,
    PRIMARY KEY (number, position));
"""
OLD_MODELS = """
CREATE TABLE model_versions (stamp TEXT PRIMARY KEY, created TEXT NOT NULL, data_version TEXT NOT NULL,
    status TEXT NOT NULL, archive BLOB NOT NULL, canary_share REAL, canary_until TEXT, decision TEXT);
CREATE TABLE canary_observations (id TEXT PRIMARY KEY, canary TEXT NOT NULL, serving TEXT NOT NULL,
    observed_at TEXT NOT NULL, answered_by TEXT NOT NULL, serving_probability REAL NOT NULL, canary_probability REAL,
    agree INTEGER, serving_ms REAL NOT NULL, canary_ms REAL, error TEXT);
"""
OLD_BOT = """
CREATE TABLE deliveries (id TEXT PRIMARY KEY, received REAL NOT NULL, repo TEXT NOT NULL, number INTEGER NOT NULL,
    updated_at TEXT, state TEXT NOT NULL, outcome TEXT);
CREATE TABLE applied (repo TEXT NOT NULL, number INTEGER NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (repo, number));
CREATE TABLE leases (repo TEXT NOT NULL, number INTEGER NOT NULL, holder TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (repo, number));
"""
LAYOUTS = {  # name: (its tables, whether a read-only reader could use it as it is)
    "export": (OLD_EXPORT, False),
    "closers": (OLD_EXPORT + OLD_CLOSERS, True),
    "derived": (OLD_EXPORT + OLD_CLOSERS + OLD_DERIVED, True),
    "models": (OLD_EXPORT + OLD_CLOSERS + OLD_DERIVED + OLD_MODELS, True),
    "bot": (OLD_EXPORT + OLD_CLOSERS + OLD_DERIVED + OLD_MODELS + OLD_BOT, True),
}
OLD_ITEM = {"number": 5, "updated_at": "2024-01-02T03:04:05Z", "created_at": "2024-01-01T00:00:00Z", "closed_at": None,
            "state": "open", "user": {"login": "ann"}, "labels": [{"name": "kind/bug"}], "body": "it's ? 100%"}


def old_backend(spec: str):
    """A backend on ``spec`` as an older k8s-analysis wrote it: no Store, so no migration."""
    from dffml_k8s_analysis.store.postgres import PostgresBackend
    from dffml_k8s_analysis.store.sqlite import SQLiteBackend

    return PostgresBackend(spec, True, REPO) if spec.startswith("postgresql") else SQLiteBackend(spec, True)


def make_old(spec: str, ddl: str, derived_mark=None) -> None:
    backend = old_backend(spec)
    with backend.transaction():
        backend.lock_schema()
        backend.script(ddl)
        if "items" in ddl:
            backend.execute("INSERT INTO items VALUES (?, ?, 0, ?)", (5, OLD_ITEM["updated_at"], json.dumps(OLD_ITEM)))
            backend.execute("INSERT INTO state VALUES ('high_water', ?)", (json.dumps(OLD_ITEM["updated_at"]),))
        if "closers" in ddl:
            backend.execute("INSERT INTO closers VALUES (5, 'bob', '2024-01-03T00:00:00Z')", ())
        if derived_mark is not None:
            backend.execute("INSERT INTO derived (number, author) VALUES (5, 'stale')", ())
            backend.execute("INSERT INTO state VALUES ('derived', ?)", (json.dumps(derived_mark),))
        if "leases" in ddl:
            backend.execute("INSERT INTO leases VALUES (?, 5, 'a', 1.5)", (REPO,))
    backend.close()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_earlier_layout_is_upgraded_once_on_its_first_open_for_writing(store_spec, layout, capfd):
    ddl, readable = LAYOUTS[layout]
    make_old(store_spec, ddl)
    spec = f"{store_spec}#{REPO}" if store_spec.startswith("postgresql") else store_spec
    if readable:
        with open_store(spec) as store:  # read-only: the derived columns derived in memory
            assert store.derived_columns(["number"], ["author"]).text_columns[0].tolist() == ["ann"]
    else:
        with pytest.raises(StoreError, match=r"is of schema version [0-9], older than this k8s-analysis reads "
                                             r"\([0-9]+\): open it for writing once to upgrade it"):
            open_store(spec)
    capfd.readouterr()
    with open_store(spec, create=True) as store:
        assert store.version == migrations.latest() and store.sync.get("schema") == migrations.latest()
        assert list(store.raw_items()) == [OLD_ITEM] and store.sync.get("high_water") == OLD_ITEM["updated_at"]
        columns = store.derived_columns(["number"], ["author", "closed_by"])
        assert [c.tolist() for c in columns.text_columns] == [["ann"], ["bob" if "closers" in ddl else None]]
        assert {name: numbers.tolist() for name, numbers in columns.labels.items()} == {"kind/bug": [5]}
        assert store.bot.take_lease(REPO, 6, "b", now=0, until=1) and store.models.model_versions() == []
    assert "upgrading the store" in capfd.readouterr().err  # with a progress bar
    with open_store(spec, create=True):
        pass
    assert capfd.readouterr().err == ""  # once


def test_the_bot_memory_file_of_an_older_release_is_completed(tmp_path):
    make_old(str(tmp_path / "state.sqlite"), OLD_BOT)
    with open_store(tmp_path / "state.sqlite", create=True) as store:
        assert store.version == migrations.latest() and not store.bot.take_lease(REPO, 5, "b", now=1, until=9)


def test_stored_derived_columns_are_not_derived_again_and_a_newer_mark_is_refused(store_spec):
    make_old(store_spec, LAYOUTS["bot"][0], derived_mark=1)
    spec = f"{store_spec}#{REPO}" if store_spec.startswith("postgresql") else store_spec
    with open_store(spec, create=True) as store:  # complete: marked with the one derived-columns version
        assert store.derived_columns(["number"], ["author"]).text_columns[0].tolist() == ["stale"]
    newer = store_spec.replace(".sqlite", "-newer.sqlite") if not spec.startswith("postgresql") else None
    if newer is None:
        with old_backend(spec).connection.conn as conn:
            conn.execute(f'DROP SCHEMA "{REPO}" CASCADE')
        newer = spec
    make_old(newer, LAYOUTS["bot"][0], derived_mark=2)
    for create in (True, False):
        with pytest.raises(StoreError, match=r"^store .* was written by a newer k8s-analysis \(derived columns of "
                                             r"version 2; this one knows up to 1\): upgrade k8s-analysis to use it$"):
            open_store(newer, create=create)
    backend = old_backend(newer)
    assert backend.execute("SELECT value FROM state WHERE key = 'derived'", ()) == [("2",)]  # left as it was
    backend.close()


SECRET = "Pa55:w@rd/x y"
SPELLINGS = [  # every way a libpq spec can carry a password
    "postgresql://postgres:Pa55%3Aw%40rd%2Fx%20y@127.0.0.1:5432/db",
    "postgres://postgres:Pa55%3Aw%40rd%2Fx%20y@127.0.0.1/db#o/n",
    "postgresql://postgres@127.0.0.1/db?password=Pa55%3Aw%40rd%2Fx%20y&sslmode=disable",
    "postgresql://postgres@127.0.0.1/db?pass%77ord=Pa55%3Aw%40rd%2Fx%20y",
    "postgresql://postgres@127.0.0.1/db?sslmode=disable&password=Pa55%3Aw%40rd%2Fx%20y",
    "host=127.0.0.1 dbname=db password='Pa55:w@rd/x y'",
    "host=127.0.0.1 dbname=db password = 'Pa55:w@rd/x y' user=postgres",
]


def spelled(spec: str) -> list:
    """The secret as ``spec`` may spell it, and a piece of it."""
    return [SECRET, SECRET.replace(":", "%3A").replace("@", "%40").replace("/", "%2F").replace(" ", "%20"), "Pa55"]


@pytest.mark.parametrize("spec", SPELLINGS)
def test_every_spelling_of_a_password_is_scrubbed_and_refused(spec, tmp_path, monkeypatch):
    assert all(secret not in redact(spec) for secret in spelled(spec))
    assert all(secret not in redact(f"cannot use {spec} now") for secret in spelled(spec))
    monkeypatch.chdir(tmp_path)
    for attempt in (lambda: open_store(spec, create=True, repo=REPO), lambda: open_store(spec),
                    lambda: export_lock(spec, REPO).acquire()):
        with pytest.raises(StoreError) as raised:
            attempt()
        message = str(raised.value)
        assert "\n" not in message and all(secret not in message for secret in spelled(spec)), message
        assert "password" in message and "K8S_ANALYSIS_DB_PASSWORD_FILE" in message
    assert list(tmp_path.iterdir()) == []  # never a file named after the spec


def test_a_damaged_sync_state_names_a_command_that_repairs_it(store_spec, request):
    client = "psql" if store_spec.startswith("postgresql") else "sqlite3"
    if shutil.which(client) is None:  # scripts/test-tools.sh installs it
        pytest.skip(f"the repair command runs {client}, which is not installed: apt-get install {client}")
    if store_spec.startswith("postgresql"):
        request.getfixturevalue("postgres_server")  # the password file the command reads, as the store does
    with open_store(store_spec, create=True, repo=REPO) as store:
        store.sync.start_plan({"started_at": "2024-01-01T00:00:00Z"}, [])
        store.execute("UPDATE state SET value = ? WHERE key = 'plan'", ('"it\'s broken"',))
        with pytest.raises(StoreError) as raised:
            store.sync.plan()
    message = str(raised.value)
    command = message.partition(" remove it with ")[2].rpartition(" and rerun")[0]
    assert message.startswith(f"store {store.name}: its sync state 'plan' is damaged;") and command
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    with open_store(store.name if store_spec.startswith("postgresql") else store_spec) as store:
        assert store.sync.plan() is None


def test_a_repository_in_any_letter_case_is_one_schema_and_one_lock(postgres_server, tmp_path, monkeypatch):
    uri = postgres_server.create_database()
    with open_store(uri, create=True, repo="Kubernetes/Kubernetes") as store:
        store.save_page([ITEM])
    with open_store(uri, create=True, repo="kubernetes/KUBERNETES") as store:
        assert store.count()["items"] == 1 and store.name == f"{uri}#kubernetes/kubernetes"
    with open_store(f"{uri}#KUBERNETES/kubernetes", repo="kubernetes/kubernetes") as store:
        assert store.count()["items"] == 1
    held = export_lock(uri, "Kubernetes/Kubernetes").acquire()
    with pytest.raises(StoreError, match="is in use by another export"):
        export_lock(uri, "kubernetes/kubernetes").acquire()
    held.release()
    monkeypatch.chdir(tmp_path)
    assert default_path("Kubernetes/Kubernetes") == default_path("kubernetes/kubernetes")


def test_serve_never_prints_the_password_of_its_models_spec():
    spec = "postgresql://postgres:Sekr1t-Pw@127.0.0.1:1/db"
    process = subprocess.Popen([str(VENV_BIN / "k8s-analysis"), "serve", "--port", "0", "--models", spec],
                               cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        while not any("model not loaded" in line for line in lines):
            lines.append(process.stdout.readline())
            assert lines[-1], lines  # it ended
    finally:
        process.terminate()
        process.communicate(timeout=60)
    assert "serving postgresql://postgres:***@127.0.0.1:1/db on http://" in "".join(lines)
    assert "Sekr1t" not in "".join(lines)


def test_the_migration_benchmark_runs_at_a_tiny_size():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "migrate.py"), "--smoke"], cwd=str(ROOT),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["items"] == 30 and figures["migrate_s"] > 0 and figures["baseline_s"] > 0


def test_both_backends_implement_one_interface_the_same_way(store_spec):
    with open_store(store_spec, create=True, repo=REPO) as store:
        backend = store.backend
        assert isinstance(backend, Backend)
        with backend.transaction():
            backend.executemany("INSERT INTO state (key, value) VALUES (?, ?)", [])  # nothing, on either
            backend.executemany("INSERT INTO state (key, value) VALUES (?, ?)", [("a", "1"), ("b", "2")])
        with pytest.raises(backend.Error):
            with backend.transaction():
                backend.execute("INSERT INTO state (key, value) VALUES (?, ?)", ("c", "3"))
                backend.execute("INSERT INTO state (key, value) VALUES (?, ?)", ("a", "again"))
        rows = backend.execute("SELECT key FROM state WHERE key IN ('a', 'b', 'c') ORDER BY key", ())
        assert rows == [("a",), ("b",)]
        with pytest.raises(backend.Error):
            backend.execute("SELECT nothing FROM nowhere", ())
        assert list(backend.stream("SELECT key FROM state WHERE key = 'b'")) == [("b",)]


def test_a_store_being_created_is_absent_or_whole_to_its_readers(store_spec, monkeypatch):
    """A reader polling a store its first export is creating (as tests and pods do) never meets it half made."""
    seen = []

    def peek():
        try:
            with open_store(store_spec, repo=REPO) as reader:
                seen.append(reader.version)
        except StoreMissing:
            seen.append("missing")
        except StoreError as error:
            seen.append(str(error))

    def then_peek(run):
        return lambda store: (run(store), peek())

    steps = [migration._replace(run=then_peek(migration.run)) for migration in migrations.MIGRATIONS]
    monkeypatch.setattr(migrations, "MIGRATIONS", steps)
    with open_store(store_spec, create=True, repo=REPO) as store:
        assert store.version == migrations.latest()
    assert seen == ["missing"] * len(steps)
    peek()
    assert seen[-1] == migrations.latest()
