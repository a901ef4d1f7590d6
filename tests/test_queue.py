"""The bot's delivery queue under outages and kills: rolling updates, dead replicas, a full queue, lost
model files, SIGTERM, hostile payloads, and the bound on one attempt (issue 22, issue 23 item 3)."""
import asyncio
import contextlib
import json
import logging
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
import requests
import yaml

from dffml_k8s_analysis import background
from dffml_k8s_analysis.bot import reconcile
from dffml_k8s_analysis.bot.state import LEASE_S, BotState
from dffml_k8s_analysis.bot.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, Secret
from dffml_k8s_analysis.github import transport
from dffml_k8s_analysis.github.client import GitHubError
from dffml_k8s_analysis.model.registry import StoreRegistry
from dffml_k8s_analysis.serve import deliveries
from dffml_k8s_analysis.serve.deliveries import settled
from dffml_k8s_analysis.serve.service import STATE, ServeConfig, running, start
from dffml_k8s_analysis.store import open_store

from conftest import BUG, REPO, ROOT, admin, serve_process
from test_label import MUTATING, SECRET, START_LABELS, Bot

run = asyncio.run


def post(url, raw, delivery=None, event="pull_request"):
    headers = {"X-GitHub-Event": event, SIGNATURE_HEADER: Secret(SECRET).sign(raw),
               DELIVERY_HEADER: delivery or str(uuid.uuid4())}
    return requests.post(url + "/webhook", data=raw, headers=headers)


def until(check, timeout=60.0, every=0.05):
    """Poll ``check()`` (an observable state, never a fixed sleep) until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(every)


@contextlib.contextmanager
def serving(config):
    """The service in this process: yields (URL, its ModelState) once the first model load ended."""
    with background.in_thread(lambda: start(config, "127.0.0.1", 0), "k8s-analysis-serve") as (loop, runner):
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(runner.app[STATE].loading, None), loop).result()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", runner.app[STATE]


def store_with_model(path, model_dir, tmp_path, promote=True) -> str:
    spec = str(path)
    copy = tmp_path / "v1" / "v1"
    shutil.copytree(str(model_dir), str(copy))
    StoreRegistry(spec).add(str(copy), {"items": 1, "stamp": "v1"})
    if promote:
        StoreRegistry(spec).promote("v1")
    return spec


# 7. Hostile payloads -------------------------------------------------------------------------------

@pytest.fixture
def bot(emulator, model_dir, tmp_path):
    github = emulator(items=40)
    config = ServeConfig(str(model_dir), base_url=github.url, repo=REPO, secret=Secret(SECRET),
                         state=str(tmp_path / "bot.sqlite"), retry_backoff_s=0.1)
    with running(config) as url:
        yield Bot(github, url)


@pytest.mark.parametrize("number, shown", [(2**70, "1.18059e+21"), (2**31, "2.14748e+09"), (0, "0"), (-7, "-7")])
def test_a_signed_payload_with_a_number_out_of_range_gets_400_in_one_line(bot, number, shown):
    raw = json.loads(bot.delivery(BUG, edit=False))
    raw["pull_request"]["number"] = number
    answer = post(bot.url, json.dumps(raw).encode())
    assert answer.status_code == 400
    assert answer.json() == {"error": f"pull_request.number must be 1..2147483647, got {shown}"}
    assert bot.stats()["requests"] == 0


@pytest.mark.parametrize("garbage", ["zzzz", "9999-12-31T23:59:59Z", "2024-1-1T1:1:1Z", 5, None, ["x"]])
def test_a_garbage_updated_at_never_poisons_the_replay_check(bot, garbage):
    raw = json.loads(bot.delivery(BUG))
    raw["pull_request"]["updated_at"] = garbage
    first = post(bot.url, json.dumps(raw).encode())
    assert first.status_code == 202 and settled(bot.url, first.json()["queued"])["state"] == "done"
    later = bot.label(BUG, action="edited")  # a real delivery after it: never "older than" the garbage
    assert "ignored" not in later and later["label"] == "kept"


# 3. A full queue refuses before answering 202; nothing queued is pruned ------------------------------

def test_a_full_queue_answers_503_with_retry_after_before_any_202_and_drops_nothing(bot, monkeypatch, caplog):
    monkeypatch.setattr("dffml_k8s_analysis.bot.state.MAX_QUEUED", 2)
    monkeypatch.setattr("dffml_k8s_analysis.bot.state.KEEP", 1)
    admin(bot.github, "PATCH", "config", latency_ms=3000)  # the first two stay queued while GitHub is slow
    numbers = [n for n in range(1, 41) if bot.sample.is_pr[n]][:3]
    raws = [bot.delivery(BUG, number=n, edit=False) for n in numbers]
    accepted = [post(bot.url, raw) for raw in raws[:2]]
    assert [a.status_code for a in accepted] == [202, 202]
    with caplog.at_level(logging.ERROR):
        refused = post(bot.url, raws[2], delivery="third")
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "60"
    assert refused.json() == {"error": "the queue is full (2 deliveries are queued already); try again later"}
    assert "delivery third refused: 2 deliveries are queued already" in caplog.text
    assert requests.get(bot.url + "/webhook/deliveries/third").status_code == 404  # never recorded
    admin(bot.github, "PATCH", "config", latency_ms=0)
    assert [settled(bot.url, a.json()["queued"])["state"] for a in accepted] == ["done", "done"]
    again = post(bot.url, raws[2], delivery="third")  # GitHub's redelivery is taken now
    assert again.status_code == 202 and settled(bot.url, "third")["state"] == "done"


# 1. A rolling update: nothing is taken before the model has loaded -----------------------------------

def test_a_delivery_left_queued_waits_for_the_model_of_a_new_replica(emulator, model_dir, tmp_path):
    github = emulator(items=40)
    spec = store_with_model(tmp_path / "store.sqlite", model_dir, tmp_path, promote=False)  # no model serves yet
    bot = Bot(github, "")
    raw = json.loads(bot.delivery(BUG))
    state = BotState(spec)
    assert run(state.receive("left", REPO, bot.number, raw["pull_request"]["updated_at"]))  # an old replica's
    run(state.close())
    config = ServeConfig(spec, base_url=github.url, repo=REPO, secret=Secret(SECRET), poll_s=0.05,
                         retry_backoff_s=0.1)
    with serving(config) as (url, models):
        assert models.models is None  # the new replica has no model yet; the delivery must not be tried
        assert requests.get(f"{url}/webhook/deliveries/left").json()["state"] == "queued"
        StoreRegistry(spec).promote("v1")
        found = settled(url, "left")
    assert found["state"] == "done" and found["outcome"]["label"] == "added", found
    assert bot.labels() == START_LABELS + ["kind/bug"]


# 4. Unpacked model files removed: the delivery stays queued and is tried again ----------------------

def test_a_delivery_failing_for_model_reasons_stays_queued_and_is_done_once_the_files_are_back(
        emulator, model_dir, tmp_path):
    github = emulator(items=40)
    spec = store_with_model(tmp_path / "store.sqlite", model_dir, tmp_path)
    config = ServeConfig(spec, base_url=github.url, repo=REPO, secret=Secret(SECRET), retry_backoff_s=0.05)
    with serving(config) as (url, models):
        bot = Bot(github, url)
        unpacked = models.registry.directory("v1")
        shutil.move(unpacked, str(tmp_path / "aside"))  # a tmp cleaner's work
        answer = bot.deliver(BUG)
        assert answer.status_code == 202
        delivery = answer.json()["queued"]
        waiting = until(lambda: requests.get(f"{url}/webhook/deliveries/{delivery}").json()["outcome"])
        assert waiting["retrying"] == "model not loaded; the server's log says why"
        assert requests.get(f"{url}/webhook/deliveries/{delivery}").json()["state"] == "queued"
        shutil.move(str(tmp_path / "aside"), unpacked)
        found = settled(url, delivery)
    assert found["state"] == "done" and found["outcome"]["label"] == "added"


# 2. A SIGKILLed replica's leases lapse promptly --------------------------------------------------

def leases(spec):
    with open_store(spec) as db:
        return db.execute("SELECT number FROM leases")


def test_the_successor_of_a_sigkilled_replica_labels_its_items_within_a_lease(emulator, model_dir, tmp_path):
    # GitHub hangs: the first replica holds its leases (those minutes of response time would trip the
    # emulator's secondary limits, which are not what this is about)
    github = emulator(items=40, latency_ms=60_000, secondary_limits=False)
    state = str(tmp_path / "bot.sqlite")
    args = ["--model-dir", str(model_dir), "--base-url", github.url, "--repo", REPO, "--state", state]
    bot = Bot(github, "")
    numbers = [n for n in range(1, 41) if bot.sample.is_pr[n] and "kind/bug" not in bot.sample.labels(n)]
    numbers = numbers[:deliveries.WORKERS + 1]
    for number in numbers:  # labels a person set: no kind/* chosen, no kind/bug removed
        bot.sample.set_labels(number, START_LABELS, time.time())
    with serve_process(*args, env={"WEBHOOK_SECRET": SECRET}) as (first, url):
        for number in numbers:
            assert post(url, bot.delivery(BUG, number=number), delivery=f"d{number}").status_code == 202
        until(lambda: len(leases(state)) == deliveries.WORKERS)  # every worker in a GitHub call
        first.kill()
        first.wait()
    admin(github, "PATCH", "config", latency_ms=0)
    killed = time.monotonic()
    with serve_process(*args, env={"WEBHOOK_SECRET": SECRET}) as (_, url):
        found = [settled(url, f"d{number}", timeout=60) for number in numbers]
        took = time.monotonic() - killed
    assert [f["state"] for f in found] == ["done"] * len(numbers), found
    assert LEASE_S <= 30 and took < LEASE_S + 30, took
    for number in numbers:
        assert len(bot.comments(number)) == 1 and bot.labels(number).count("kind/bug") == 1


def test_a_working_holder_renews_its_lease_past_the_lease_time(emulator, model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(deliveries, "LEASE_S", 1.0)
    monkeypatch.setattr(deliveries, "RENEW_S", 0.2)
    github = emulator(items=40, latency_ms=700)  # an attempt takes several seconds, many leases long
    state = str(tmp_path / "bot.sqlite")
    config = ServeConfig(str(model_dir), base_url=github.url, repo=REPO, secret=Secret(SECRET), state=state)
    with running(config) as url:
        bot = Bot(github, url)
        answer = bot.deliver(BUG)
        assert answer.status_code == 202
        until(lambda: leases(state))
        taken = time.monotonic()
        with open_store(state, create=True) as db:
            while requests.get(f"{url}/webhook/deliveries/{answer.json()['queued']}").json()["state"] == "queued":
                assert not db.bot.take_lease(REPO, bot.number, "another", now=time.time(), until=time.time() + 1), \
                    f"the lease lapsed {time.monotonic() - taken:.1f} s into the attempt"
                time.sleep(0.1)
        assert time.monotonic() - taken > 3  # several lease times
        assert settled(url, answer.json()["queued"])["state"] == "done"


# 5. SIGTERM stops serve within the grace period -----------------------------------------------------

def grace_period() -> int:
    with open(ROOT / "jobs" / "base" / "serve.yaml") as file:
        deployment = next(doc for doc in yaml.safe_load_all(file) if doc["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)


@pytest.mark.parametrize("github_does", ["a rate limit with a reset in 10 minutes", "hang"])
def test_sigterm_stops_serve_within_the_grace_period_and_leaves_the_delivery_queued(
        emulator, model_dir, tmp_path, github_does):
    if github_does == "hang":
        github = emulator(items=40, latency_ms=120_000)
    else:
        github = emulator(items=40, rate_limit=1, rate_reset_s=600)
    state = str(tmp_path / "bot.sqlite")
    bot = Bot(github, "")
    args = ["--model-dir", str(model_dir), "--base-url", github.url, "--repo", REPO, "--state", state]
    with serve_process(*args, env={"WEBHOOK_SECRET": SECRET}) as (server, url):
        assert post(url, bot.delivery(BUG), delivery="in-flight").status_code == 202
        if github_does == "hang":
            until(lambda: leases(state))  # a worker is in a GitHub call
        else:
            until(lambda: github.emulator.stats["by_status"].get("403"))  # GitHub said: wait 10 minutes
        stopping = time.monotonic()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=grace_period() + 30)
        finally:
            took = time.monotonic() - stopping
            server.kill()
    assert server.returncode == 0 and took < grace_period() / 2, took
    assert run(BotState(state).delivery("in-flight"))["state"] == "queued"  # for another replica


# 6. One owner of retries, bounded -------------------------------------------------------------------

def test_one_attempts_worst_case_is_bounded_by_the_settings_and_within_the_hold():
    # one request: every try connecting at the timeout's edge and answering at the whole answer's deadline, every
    # wait the longest
    tries = reconcile.GITHUB_RETRIES + 1
    waits = reconcile.GITHUB_RETRIES * max(reconcile.MAX_WAIT_S, reconcile.BACKOFF_FACTOR * 2 ** reconcile.GITHUB_RETRIES)
    request = tries * (reconcile.GITHUB_TIMEOUT + max(transport.ANSWER_S, reconcile.GITHUB_TIMEOUT)) + waits
    assert reconcile.request_worst_s() <= request
    # an attempt given up at its deadline keeps the item until its request in flight has ended
    assert request < deliveries.ABANDONED_HOLD_S
    # a working holder renews its lease well before it lapses
    assert deliveries.RENEW_S * 2 < LEASE_S
    # a whole delivery: every attempt to its deadline, every backoff
    worst = deliveries.ATTEMPTS * deliveries.ATTEMPT_S + sum(
        deliveries.BACKOFF_S * 2 ** tried for tried in range(deliveries.ATTEMPTS - 1))
    assert worst < 600, worst  # about 4 minutes, against 800 s of timeouts before any rate-limit wait


def test_no_write_starts_after_the_attempts_deadline(emulator):
    github = emulator(items=40)
    bot = Bot(github, "")
    prediction = {"note": BUG, "label": "kind/bug", "probability": 0.99, "threshold": 0.5, "act": 0.9, "band": "act"}
    token = reconcile.ATTEMPT.set(reconcile.Attempt(deadline=time.monotonic() - 1))
    try:
        with pytest.raises(GitHubError, match="passed its deadline before writing") as late:
            reconcile.reconcile(github.url, REPO, bot.number, prediction)
    finally:
        reconcile.ATTEMPT.reset(token)
    assert late.value.transient
    assert not set(github.emulator.stats["by_route"]) & MUTATING and bot.comments() == []
    assert reconcile.reconcile(github.url, REPO, bot.number, prediction)["label"] == "added"  # no deadline


def test_reconcile_is_one_attempt_and_a_long_rate_limit_is_the_queues_to_wait(emulator):
    github = emulator(items=40, rate_limit=2, rate_reset_s=600)
    bot = Bot(github, "")
    prediction = {"note": BUG, "label": "kind/bug", "probability": 0.99, "threshold": 0.5, "act": 0.9, "band": "act"}
    started = time.monotonic()
    with pytest.raises(reconcile.RateLimited) as limited:
        reconcile.reconcile(github.url, REPO, bot.number, prediction)
    assert time.monotonic() - started < reconcile.MAX_WAIT_S
    assert 590 < limited.value.wait <= 602 and limited.value.transient
    assert github.emulator.stats["by_status"]["403"] == 1  # asked once: not retried here


def test_bench_bot_state_smoke_runs():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "bot_state.py"), "--smoke"], cwd=str(ROOT),
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["deliveries"] == 20 and set(figures["results"]) == {"sqlite", "postgresql"}
