"""The bot's memory in a store, on SQLite and on a real PostgreSQL: leases, deliveries, what was applied."""
import asyncio
import sqlite3
import threading
import time

import pytest

from dffml_k8s_analysis.bot.state import DEFAULT_PATH, BotState, QueueFull, state_spec
from dffml_k8s_analysis.errors import UserError
from dffml_k8s_analysis.store import is_postgres, open_store

from conftest import REPO

run = asyncio.run  # BotState's methods are coroutines (the store is used from a thread of its own)

OLD_SCHEMA = """
CREATE TABLE deliveries (id TEXT PRIMARY KEY, received REAL NOT NULL, repo TEXT NOT NULL,
    number INTEGER NOT NULL, updated_at TEXT, state TEXT NOT NULL, outcome TEXT);
CREATE INDEX deliveries_by_time ON deliveries(received);
CREATE TABLE applied (repo TEXT NOT NULL, number INTEGER NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (repo, number));
CREATE TABLE leases (repo TEXT NOT NULL, number INTEGER NOT NULL, holder TEXT NOT NULL,
    expires REAL NOT NULL, PRIMARY KEY (repo, number));
"""


@pytest.fixture
def spec(store_spec):
    """A store for the bot; a PostgreSQL one names its repository (the export would have made it)."""
    return f"{store_spec}#{REPO}" if is_postgres(store_spec) else store_spec


def test_a_lease_is_held_by_one_holder_until_it_expires_or_is_released(spec):
    with open_store(spec, create=True) as a, open_store(spec, create=True) as b:
        assert a.bot.take_lease(REPO, 1, "a", now=100, until=200)
        assert not b.bot.take_lease(REPO, 1, "b", now=150, until=250)
        assert b.bot.take_lease(REPO, 2, "b", now=150, until=250)  # another item is free
        assert b.bot.take_lease(REPO, 1, "b", now=200, until=300)  # a's expired
        a.bot.release_lease(REPO, 1, "a")  # not a's any more: nothing released
        assert not a.bot.take_lease(REPO, 1, "c", now=250, until=350)
        b.bot.release_lease(REPO, 1, "b")
        assert a.bot.take_lease(REPO, 1, "c", now=250, until=350)


def test_replicas_racing_for_one_lease_get_one_winner(spec):
    rounds, racers = 20, 6
    BotState(spec)  # creates the tables
    barrier = threading.Barrier(racers)
    won = [[] for _ in range(racers)]

    def race(index):
        with open_store(spec, create=True) as db:
            for round_ in range(rounds):
                barrier.wait()
                won[index].append(db.bot.take_lease(REPO, round_, f"racer {index}", now=0, until=10))

    threads = [threading.Thread(target=race, args=(index,)) for index in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [sum(won[index][round_] for index in range(racers)) for round_ in range(rounds)] == [1] * rounds


def test_a_delivery_is_received_once_by_any_replica(spec):
    first, second = BotState(spec), BotState(spec)
    assert run(first.receive("d1", "Kubernetes/Kubernetes", 7, "2024-01-01T00:00:00Z"))
    assert not run(second.receive("d1", REPO, 7, "2024-01-01T00:00:00Z"))
    assert run(second.delivery("d1")) == {"id": "d1", "repo": REPO, "number": 7, "updated_at": "2024-01-01T00:00:00Z",
                                          "state": "queued", "outcome": None}
    assert run(second.queued()) == ["d1"]
    run(second.finish("d1", "done", {"label": "added"}))
    assert run(first.delivery("d1"))["outcome"] == {"label": "added"} and run(first.queued()) == []


def test_a_queued_delivery_is_never_pruned_and_a_full_queue_refuses_before_recording(spec, monkeypatch):
    monkeypatch.setattr("dffml_k8s_analysis.bot.state.KEEP", 2)
    monkeypatch.setattr("dffml_k8s_analysis.bot.state.MAX_QUEUED", 4)
    state = BotState(spec)
    for index in range(1, 5):  # more queued than KEEP: every one stays
        assert run(state.receive(f"d{index}", REPO, index, None))
    with pytest.raises(QueueFull, match="4 deliveries are queued already"):
        run(state.receive("d5", REPO, 5, None))
    assert run(state.delivery("d5")) is None and run(state.queued()) == ["d1", "d2", "d3", "d4"]
    for index in range(1, 4):
        run(state.finish(f"d{index}", "done", {}))
    assert run(state.receive("d5", REPO, 5, None))  # room again; of the finished, the newest KEEP stay
    assert [run(state.delivery(f"d{index}")) is not None for index in range(1, 6)] == [False, True, True, True, True]
    assert run(state.queued()) == ["d4", "d5"]


def test_a_lease_is_renewed_only_by_its_holder_and_lapses_when_it_is_not(spec):
    state = BotState(spec)
    holder = run(state.take(REPO, 1, time.time() + 0.5))
    assert holder and run(state.take(REPO, 1, time.time() + 10)) is None
    assert run(state.renew(REPO, 1, holder, time.time() + 60))
    assert not run(state.renew(REPO, 1, "another", time.time() + 60))
    with open_store(spec, create=True) as db:  # 30 s later: still held, renewed
        assert not db.bot.take_lease(REPO, 1, "x", now=time.time() + 30, until=time.time() + 40)
        assert db.bot.take_lease(REPO, 1, "x", now=time.time() + 61, until=time.time() + 70)  # not renewed: lapsed
    assert not run(state.renew(REPO, 1, holder, time.time() + 60))  # lost it
    run(state.release(REPO, 1, holder))  # not its own any more: nothing released
    assert run(state.take(REPO, 1, time.time() + 10)) is None


def test_the_newest_applied_updated_at_wins(spec):
    state = BotState(spec)
    run(state.applied(REPO, 7, "2024-01-02T00:00:00Z"))
    run(state.applied(REPO, 7, "2024-01-01T00:00:00Z"))  # an older delivery finishing late
    assert run(state.older_than_applied(REPO, 7, "2024-01-01T12:00:00Z")) == "2024-01-02T00:00:00Z"
    assert run(state.older_than_applied(REPO, 7, "2024-01-03T00:00:00Z")) is None
    assert run(state.older_than_applied(REPO, 8, "2024-01-01T00:00:00Z")) is None


def test_the_newest_decision_per_item_is_kept_and_a_persons_is_not_the_bots(spec):
    state = BotState(spec)
    outcome = {"repo": REPO, "number": 7, "note": True, "mode": "shadow", "model_label": "kind/bug",
               "decision": "suggest", "probability": 0.6, "deferred": False}
    run(state.decided(outcome))
    run(state.decided(dict(outcome, decision="add", probability=0.95)))  # the note edited: the newest wins
    run(state.decided(dict(outcome, decision="none", deferred=True)))  # a person chose: not the bot's decision
    run(state.decided(dict(outcome, number=8, mode="act")))
    run(state.decided({"repo": REPO, "number": 9, "mode": "shadow", "note": False}))  # no note: nothing
    with open_store(spec) as db:
        assert [row[0::2][:3] for row in db.bot.decisions(REPO.lower(), "shadow", 10)] == [(7, "kind/bug", 0.95)]
        assert [row[3] for row in db.bot.decisions(REPO.lower(), "shadow", 10)] == ["add"]
        assert [row[0] for row in db.bot.decisions(REPO.lower(), "act", 10)] == [8]
    assert run(state.swept(REPO)) is None
    run(state.set_swept(REPO, 1_700_000_000.5))
    assert run(state.swept(REPO.upper())) == 1_700_000_000.5
    run(state.close())


def test_a_state_file_of_an_earlier_version_is_completed_and_remembers(tmp_path):
    path = tmp_path / "state.sqlite"
    with sqlite3.connect(str(path)) as db:
        db.executescript(OLD_SCHEMA)
        db.execute("INSERT INTO deliveries VALUES ('seen', 1.0, ?, 7, NULL, 'done', '{}')", (REPO,))
    state = BotState(str(path))
    assert not run(state.receive("seen", REPO, 7, None))
    assert run(state.receive("new", REPO, 7, None))


def test_a_database_of_another_program_is_refused_in_one_line(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(str(path)) as db:
        db.execute("CREATE TABLE accounts (id INTEGER)")
    with pytest.raises(UserError, match=r"^cannot use the bot's state store: .* is not a k8s-analysis store "
                                        r"\(its tables: accounts\)"):
        BotState(str(path))


def test_the_bots_memory_defaults_to_the_models_store():
    assert state_spec("", "postgresql://bot@db:5432/k8s") == "postgresql://bot@db:5432/k8s"
    assert state_spec("", "data/kubernetes__kubernetes.sqlite") == "data/kubernetes__kubernetes.sqlite"
    assert state_spec("", "out/model") == DEFAULT_PATH
    assert state_spec("elsewhere.sqlite", "postgresql://bot@db:5432/k8s") == "elsewhere.sqlite"


def test_a_postgresql_state_store_with_a_password_is_refused_in_one_line_without_it():
    with pytest.raises(UserError) as refused:
        BotState("postgresql://bot:hunter2@127.0.0.1:1/k8s")
    assert str(refused.value).startswith("cannot use the bot's state store: store postgresql://bot:***@127.0.0.1:1/k8s: "
                                         "a password in the URI is refused")
    assert "hunter2" not in str(refused.value)
