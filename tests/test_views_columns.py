"""The views over the store's derived columns give the numbers of the pure-Python views, exactly;
the columns follow every write, and a store from before them is migrated once (read-only: derived in memory)."""
import functools
import json
import sqlite3

import pytest

from dffml_k8s_analysis.analysis.columns import FIELDS, load
from dffml_k8s_analysis.analysis.views import VIEWS, needs, run_view
from dffml_k8s_analysis.records.issues_source import read_records
from dffml_k8s_analysis.records.selection import Filter, select
from dffml_k8s_analysis.store import StoreError, derived, migrations, open_store
from reference_views import REFERENCE, attach_timeline
from test_analysis import walked_store
from test_source import BODY, make_store, raw

EDGES = [
    raw(1, "2021-01-04T00:00:00Z", labels=["sig/node", "sig/node", "kind/bug"]),  # a label twice, never closed
    dict(raw(2, "2021-01-04T00:00:00Z", "2021-01-04T00:00:00Z", pr=True, body=BODY.format("Fixed.")), labels=None),
    {k: v for k, v in raw(3, "2021-02-28T23:59:59Z", "2021-03-01T00:00:00Z", pr=True).items() if k != "labels"},
    raw(4, "2020-12-31T23:59:59Z", "2021-06-01T12:00:00Z", user=None, labels=["/odd", "", "sig/apps"],
        closed_by="dave"),
    raw(5, "2021-01-10T00:00:00Z", pr=True, labels=["kind/feature"], body="no note here"),
    dict(raw(6, "2021-01-11T00:00:00Z"), closed_at="2021-13-01T00:00:00Z"),
]
FILTERS = [("", ""), ("^sig/", ""), ("", "kind"), ("node|bug", "apps")]


def edge_store(path):
    with open_store(path, create=True) as store:
        store.save_page(EDGES)
    return str(path)


def strip(path) -> None:
    """Make ``path`` a store as written before the derived columns (and before schema versions)."""
    db = sqlite3.connect(path)
    migrations.as_unversioned(db, derived=False)
    db.close()


@functools.lru_cache(maxsize=None)
def records_of(path):
    """The records of a store with their timelines, read once per test session (the views never change them)."""
    return attach_timeline(read_records(path)[0], path)


def reference(path, name, subset, keep, period):
    return REFERENCE[name](select(records_of(path), subset), keep, 25, period)


def columnar(path, name, subset, keep, period, fields=FIELDS):
    numbers = run_view(name, load(path, fields)[0].subset(subset), subset, keep, 25, period)
    return {key: value for key, value in numbers.items() if key not in ("view", "subset", "title", "include", "exclude")}


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    directory = tmp_path_factory.mktemp("stores")
    return {"fixture": make_store(directory / "f.sqlite"), "edges": edge_store(directory / "e.sqlite"),
            "sample": walked_store(directory / "s.sqlite", 400)}


@pytest.mark.parametrize("kind", ["fixture", "edges", "sample"])
@pytest.mark.parametrize("period", ["week", "month", "year"])
def test_every_view_gives_the_pure_python_numbers(stores, kind, period):
    path = stores[kind]
    for subset in ("all", "issues", "pull_requests"):
        for include, exclude in FILTERS:
            keep = Filter.of(include, exclude)
            for name in VIEWS:
                theirs = json.dumps(reference(path, name, subset, keep, period), sort_keys=True)
                for fields in (FIELDS, needs([name], subset, keep)):  # every column, and only the view's own
                    ours = columnar(path, name, subset, keep, period, fields)
                    assert json.dumps(ours, sort_keys=True) == theirs, (name, subset, keep, fields)


def test_edge_cases_are_counted_as_the_records_say(stores):
    items, problems = load(stores["edges"])
    assert problems == ["#6: closed_at is not a timestamp: '2021-13-01T00:00:00Z'"]
    assert items.number.tolist() == [1, 2, 3, 4, 5]
    assert run_view("labels-by-name", items)["top"][:1] == [["sig/node", 2]]  # twice on #1, counted twice
    assert run_view("sig-backlog", items)["sigs"]["sig/node"][-1] == 1  # but #1 is one open item of sig/node
    stats = run_view("release-notes-stats", items)
    assert (stats["items"], stats["pull_requests"], stats["without_kind"]) == (1, 3, 1)
    assert run_view("users-by-closed", items)["top"] == [["dave", 1]]


def test_the_columns_follow_every_write_newer_wins(tmp_path):
    path = tmp_path / "k.sqlite"
    with open_store(path, create=True) as store:
        store.save_page([raw(1, "2021-01-01T00:00:00Z", labels=["sig/node"])])
        store.save_page([dict(raw(1, "2021-01-01T00:00:00Z", "2021-02-01T00:00:00Z", labels=["sig/apps"])),
                         raw(2, "2021-01-02T00:00:00Z")])
        store.save_page([raw(1, "2021-01-01T00:00:00Z", labels=["sig/old"])])  # older updated_at: loses
        columns = store.derived_columns(["number", "is_closed", "closed"], ["author"])
    assert {name: numbers.tolist() for name, numbers in columns.labels.items()} == {"sig/apps": [1]}
    assert columns.number_table.tolist() == [[1, 1, 1612137600], [2, 0, 0]] and len(columns.text_columns[0]) == 2


def test_a_view_reads_only_its_columns(stores):
    items, _ = load(stores["edges"], needs(["created"]))
    assert items.fields == ("number", "created")
    with pytest.raises(AttributeError):
        items.label_code  # --include would have asked for the labels
    assert "labels" in load(stores["edges"], needs(["created"], keep=Filter.of("sig/")))[0].fields
    sigs = load(stores["edges"], needs(["sig-backlog"]))[0]
    assert sigs.names and all(name.startswith("sig/") for name in sigs.names)
    counted = load(stores["edges"], needs(["labels-by-name"]))[0]  # counted in SQL, no label arrays
    assert "labels" not in counted.fields and dict(zip(counted.names, counted.label_counts().tolist()))["sig/node"] == 2


def plain(columns: derived.Columns) -> tuple:
    """The columns as lists, to compare."""
    return (columns.numbers, columns.texts, columns.number_table.tolist(), [c.tolist() for c in columns.text_columns],
            {name: numbers.tolist() for name, numbers in columns.labels.items()}, columns.problems)


def test_an_old_store_is_read_in_memory_then_migrated_once_with_a_progress_bar(tmp_path, capfd):
    path = make_store(tmp_path / "old.sqlite")
    with open_store(path) as store:
        current = plain(store.derived_columns())
    strip(path)
    before = open(path, "rb").read()
    with open_store(path) as store:
        assert plain(store.derived_columns()) == current  # read-only: derived in memory, the file untouched
    assert open(path, "rb").read() == before
    capfd.readouterr()
    with open_store(path, create=True) as store:
        assert store.derived_stored and plain(store.derived_columns()) == current
    err = capfd.readouterr().err
    assert "deriving columns of" in err and "8/8" in err
    with open_store(path, create=True) as store:
        pass
    assert "deriving columns" not in capfd.readouterr().err  # once


def test_a_foreign_database_is_still_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE items (number INTEGER, raw TEXT); CREATE TABLE derived (x TEXT);")
    db.close()
    for create in (True, False):
        with pytest.raises(StoreError, match="is not a k8s-analysis store"):
            open_store(path, create=create)
