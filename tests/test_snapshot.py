"""The columns snapshot: the same columns as SQL for every request, stale after any write to the tables they
come from (never wrong), a damaged blob read by SQL instead, on both backends; writers refresh it."""
import json
import logging
import shutil

import numpy
import pytest

from conftest import ROOT, export, run_cli
from dffml_k8s_analysis.analysis.columns import FIELDS, load
from dffml_k8s_analysis.analysis.views import VIEWS
from dffml_k8s_analysis.records.selection import Filter
from dffml_k8s_analysis.store import derived, migrations, open_store, snapshot
from test_source import REPO, raw
from test_timeline_views import ITEMS, fill_timeline
from test_views_columns import columnar, reference, stores  # noqa: F401 - a fixture

REQUESTS = [  # numbers, texts, labels, counts, events: what the views ask for, and odd mixes
    (tuple(derived.NUMBERS), tuple(derived.TEXTS), ("",), True, ("",)),
    (("number", "created"), (), None, False, None),
    (("number", "merged", "walked"), ("closed_by",), ("sig/",), False, ("needs-",)),
    (("number",), ("author",), None, True, ("kind/", "sig/", "area/")),
    (("number", "closed", "is_closed"), (), ("kind/", "nothing/"), False, ("nothing/",)),
]


def plain(columns: derived.Columns) -> tuple:
    """Every field of the columns as lists, to compare."""
    return (columns.numbers, columns.texts, columns.number_table.tolist(), [c.tolist() for c in columns.text_columns],
            None if columns.labels is None else {name: uses.tolist() for name, uses in columns.labels.items()},
            columns.problems, columns.counts, columns.timelines,
            None if columns.events is None else columns.events.tolist(), columns.event_names)


def by_sql(store, request) -> tuple:
    return plain(derived.read(store, *request))


def snapshotted(store_spec) -> str:
    """A store with items (one malformed), closers, a timeline and label events, its snapshot written."""
    with open_store(store_spec, create=True, repo=REPO) as store:
        store.save_page(ITEMS + [dict(raw(10, "2021-03-05T00:00:00Z"), created_at="not a time")])
        fill_timeline(store)
        store.save_closers([(3, "zed", "2021-03-01T00:00:00Z")], {})
        assert snapshot.current(store) is None  # written after no snapshot: none
        assert store.refresh_columns() and not store.refresh_columns()  # current: not rewritten
        assert snapshot.current(store) is not None
    return store_spec


def test_the_snapshot_gives_the_sql_columns_for_every_request(store_spec):
    with open_store(snapshotted(store_spec)) as store:
        for request in REQUESTS:
            assert plain(store.derived_columns(*request)) == by_sql(store, request)
        assert len(store.derived_columns().problems) == 1  # the malformed item


def in_transaction(sql: str):
    def write(store) -> None:
        with store.transaction():
            store.execute(sql)
    return write


WRITES = {  # one write to each table the columns come from
    "items": lambda store: store.save_page([raw(2, "2021-04-01T00:00:00Z", user="mallory", pr=True)]),
    "derived": in_transaction("UPDATE derived SET author = 'mallory' WHERE number = 1"),
    "labels": in_transaction("DELETE FROM labels WHERE number = 1"),
    "closers": in_transaction("UPDATE closers SET login = 'mallory'"),
    "timeline": in_transaction("UPDATE timeline SET merged_at = NULL"),
    "label_events": in_transaction("DELETE FROM label_events WHERE label = 'kind/bug'"),
}


@pytest.mark.parametrize("table", sorted(WRITES))
def test_a_write_after_the_snapshot_makes_it_stale_never_wrong(store_spec, table):
    assert set(WRITES) == set(migrations.WATCHED)
    with open_store(snapshotted(store_spec), create=True, repo=REPO) as store:
        before = by_sql(store, REQUESTS[0])
        WRITES[table](store)
        assert by_sql(store, REQUESTS[0]) != before  # the write changed what the views read
        assert snapshot.current(store) is None
        for request in REQUESTS:
            assert plain(store.derived_columns(*request)) == by_sql(store, request)
        assert store.refresh_columns()
        assert plain(store.derived_columns()) == by_sql(store, (tuple(derived.NUMBERS), tuple(derived.TEXTS), ("",),
                                                                 False, None))


def test_a_rolled_back_write_leaves_the_snapshot_current(store_spec):
    with open_store(snapshotted(store_spec), create=True, repo=REPO) as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.execute("DELETE FROM labels")
            raise RuntimeError("crash")
        assert snapshot.current(store) is not None


def damage(blob: bytes) -> list:
    """Damaged copies of a good blob: a byte flipped inside an array, cut short, not a zip, arrays of other shapes."""
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0xFF
    full = snapshot.unpack(blob)
    wrong = full._replace(number_table=full.number_table[:, :3])
    return [bytes(flipped), blob[:len(blob) // 2], b"not a snapshot", snapshot.pack(wrong)]


def test_a_damaged_snapshot_is_read_by_sql_with_a_warning(store_spec, caplog):
    with open_store(snapshotted(store_spec), create=True, repo=REPO) as store:
        ((blob,),) = store.execute("SELECT data FROM columns_snapshot")
        expected = [by_sql(store, request) for request in REQUESTS]
        for bad in damage(bytes(blob)):
            with store.transaction():
                store.execute("UPDATE columns_snapshot SET data = ?", (bad,))
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                assert [plain(store.derived_columns(*request)) for request in REQUESTS] == expected
            assert "columns snapshot is damaged" in caplog.text


def test_every_view_from_the_snapshot_gives_the_pure_python_numbers(stores, tmp_path):  # noqa: F811
    path = str(tmp_path / "s.sqlite")
    shutil.copy(stores["sample"], path)
    with open_store(path, create=True) as store:
        assert store.refresh_columns()
    for name in VIEWS:
        for keep in (Filter(), Filter.of("^sig/", "kind")):
            assert columnar(path, name, "all", keep, "month") == reference(path, name, "all", keep, "month")
    items = load(path, FIELDS)[0]
    assert numpy.array_equal(items.event_item, load(stores["sample"], FIELDS)[0].event_item)


def test_an_export_and_an_update_leave_the_snapshot_current(emulator, tmp_path):
    server = emulator(items=120)
    path = str(tmp_path / "e.sqlite")
    export(server.url, path)
    with open_store(path) as store:
        assert snapshot.current(store) is not None
    export(server.url, path, "--update")
    with open_store(path) as store:
        assert snapshot.current(store) is not None
        assert plain(store.derived_columns()) == by_sql(store, (tuple(derived.NUMBERS), tuple(derived.TEXTS), ("",),
                                                                 False, None))


def test_the_write_cost_benchmark_runs_at_its_smoke_size():
    result = run_cli("python", str(ROOT / "bench" / "analyze.py"), "--smoke", "--write-cost", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["items"] == 300 and figures["refresh_after_export_cpu_s"] > 0 and figures["snapshot_mib"] > 0


def test_a_store_too_large_to_read_at_once_keeps_no_snapshot(store_spec, monkeypatch):
    snapshotted(store_spec)
    monkeypatch.setattr(snapshot, "MOST", 3)
    with open_store(store_spec, create=True, repo=REPO) as store:
        store.save_page([raw(2, "2021-04-01T00:00:00Z", user="mallory", pr=True)])
        assert not store.refresh_columns()  # memory bounded: every column is never held at once
        assert not store.execute("SELECT 1 FROM columns_snapshot")
        assert plain(store.derived_columns(*REQUESTS[1])) == by_sql(store, REQUESTS[1])
