"""The store's semantics on both backends (``store_spec``: SQLite, a real PostgreSQL), and PostgreSQL's own rules."""
import pytest

from dffml_k8s_analysis.store import StoreError, StoreMissing, export_lock, migrations, open_store

from conftest import REPO, export, run_cli, served, stored

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
