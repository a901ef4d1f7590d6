"""The canary decides only from traffic it can trust; the registry survives a PostgreSQL restart; no password shows."""
import json
import os
import subprocess
import time

import pytest
import requests
from requests.adapters import HTTPAdapter

from dffml_k8s_analysis.model import canary
from dffml_k8s_analysis.model.registry import StoreRegistry
from dffml_k8s_analysis.serve.service import MODEL_ROUTE, PREDICT_ROUTE, VERSION_HEADER
from dffml_k8s_analysis.store.postgres import redact

from conftest import BUG, REPO, ROOT, VENV_BIN, run_cli, serve_process
from test_registry import TEXTS, predictor_of, store_spec, stored  # noqa: F401  (store_spec: the fixture)
from test_registry_rows import start_serving, started, stopped


class FromAddress(HTTPAdapter):
    """Connections from a given loopback address: another client, as the server sees it."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


def client(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


def canary_of(spec, model_dir, tmp_path, shift=0.0):
    """v1 serving, v2 (shifted by ``shift``) the canary at share 0.5, its soak over."""
    models = StoreRegistry(spec)
    models.promote(stored(spec, model_dir, tmp_path, "v1"))
    stored(spec, model_dir, tmp_path, "v2", shift)
    models.start_canary("v2", 0.5, 0)
    return models


def send(session, base, body):
    answer = session.post(base + PREDICT_ROUTE, json=body)
    assert answer.status_code == 200, answer.text
    return answer


def decide(spec, *options):
    return run_cli("k8s-analysis", "canary", "decide", "--models", spec, "--max-latency-ratio", "50", *options)


def test_one_client_s_batch_is_one_observation_and_cannot_decide(store_spec, model_dir, tmp_path):
    canary_of(store_spec, model_dir, tmp_path)  # the same model: it agrees on everything
    one = client("127.0.0.1")
    with serve_process("--models", store_spec, "--poll", "0") as (_, base):
        send(one, base, {"instances": [BUG] * 500})
        for _ in range(3):
            send(one, base, {"instances": TEXTS})
    rows = StoreRegistry(store_spec).observations("v2", 100)
    assert len(rows) == 4 and len({row["id"].partition("/")[0] for row in rows}) == 1
    held = decide(store_spec, "--min-requests", "4")
    assert held.returncode == 1, held
    assert held.stdout.startswith("canary v2 rolled back (observations from 1 clients, fewer than 2): 4 observations"), held
    assert [row["status"] for row in StoreRegistry(store_spec).versions()] == ["serving", "rolled_back"]


def test_observations_are_capped_per_client_and_each_client_weighs_alike(store_spec, model_dir, tmp_path):
    canary_of(store_spec, model_dir, tmp_path, shift=1.5)
    both = {stamp: predictor_of(store_spec, stamp) for stamp in ("v1", "v2")}

    def agree(text):
        return (both["v1"].predict([text])[0] >= both["v1"].threshold) == (both["v2"].predict([text])[0] >= both["v2"].threshold)

    alike = [text for text in TEXTS if agree(text)]
    unlike = [text for text in TEXTS if not agree(text)]
    assert alike and unlike
    loud, quiet = client("127.0.0.2"), client("127.0.0.3")
    with serve_process("--models", store_spec, "--poll", "0") as (_, base):
        for index in range(canary.MAX_PER_CLIENT + 30):  # past its cap: the rest are answered, not recorded
            send(loud, base, {"text": alike[index % len(alike)]})
        for index in range(10):
            send(quiet, base, {"text": unlike[index % len(unlike)]})
    found = canary.figures(StoreRegistry(store_spec).observations("v2", 10_000))
    assert found["observations"] == canary.MAX_PER_CLIENT + 10 and found["clients"] == 2
    assert found["agreement"] == pytest.approx(0.5)  # 100% from one, 0% from the other: 200 rows do not outvote 10
    result = decide(store_spec, "--min-requests", "10")
    assert result.returncode == 1 and "(agreement 0.500, below 0.9)" in result.stdout, result


def test_two_clients_that_agree_promote_and_the_operator_can_always_decide(store_spec, model_dir, tmp_path):
    models = canary_of(store_spec, model_dir, tmp_path)
    with serve_process("--models", store_spec, "--poll", "0") as (_, base):
        for address in ("127.0.0.2", "127.0.0.3"):
            for text in TEXTS[:6]:
                send(client(address), base, {"text": text})
    result = decide(store_spec, "--min-requests", "12")
    assert result.returncode == 0, result
    assert result.stdout.startswith("canary v2 promoted: 12 observations (") and "from 2 clients" in result.stdout

    stored(store_spec, model_dir, tmp_path, "v3")
    models.start_canary("v3", 0.5, 3600)
    by_hand = decide(store_spec, "--promote")  # no traffic at all, soak not over: the operator's gate
    assert by_hand.returncode == 0 and by_hand.stdout.startswith("canary v3 promoted by the operator: 0 observations")
    stored(store_spec, model_dir, tmp_path, "v4")
    models.start_canary("v4", 0.5, 3600)
    back = decide(store_spec, "--rollback")
    assert back.returncode == 1 and back.stdout.startswith("canary v4 rolled back (rolled back by the operator)")
    assert [(row["stamp"], row["status"]) for row in models.versions("serving", "rolled_back")] == [
        ("v3", "serving"), ("v4", "rolled_back")]
    both = run_cli("k8s-analysis", "canary", "decide", "--models", store_spec, "--promote", "--rollback")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def restart(server) -> None:
    """Restart the throwaway PostgreSQL server (fast shutdown: every connection is cut)."""
    server._run(os.path.join(server.bin, "pg_ctl"), "restart", "-m", "fast", "-w", "-D", server.data,
                "-l", os.path.join(server.root, "log"))


def eventually(check, timeout=60.0):
    """Poll ``check()`` until it is true (the server's next poll), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.2)


def test_the_registry_reconnects_after_a_postgresql_restart(postgres_server, model_dir, tmp_path):
    spec = postgres_server.create_database() + "#" + REPO
    models = canary_of(spec, model_dir, tmp_path)
    with serve_process("--models", spec, "--poll", "0.2") as (process, base):
        send(requests, base, {"text": BUG})
        restart(postgres_server)
        stored(spec, model_dir, tmp_path, "v3")
        models.promote("v3")
        eventually(lambda: requests.post(base + PREDICT_ROUTE, json={"text": BUG}).headers.get(VERSION_HEADER) == "v3")
        stored(spec, model_dir, tmp_path, "v4")
        models.start_canary("v4", 0.5, 3600)
        eventually(lambda: send(requests, base, {"text": BUG}) and models.observations("v4", 10))
    out, err = process.output
    assert "export again" not in err and "Traceback" not in err, err
    assert "cannot read the model registry (tried again every poll): lost the connection to the store" in err, err


@pytest.mark.parametrize("spec, secret", [
    ("postgresql://postgres:Pa55word@127.0.0.1:1/db", "Pa55word"),
    ("postgresql://postgres:p@ss/w?rd@127.0.0.1:1/db", "p@ss/w?rd"),
    ("postgresql://postgres@127.0.0.1:1/db?password=Pa55word&sslmode=disable", "Pa55word"),
    ("postgresql://postgres@127.0.0.1:1/db?pass%77ord=Pa55word", "Pa55word"),
    ("postgresql://postgres@127.0.0.1:1/db?PASSWORD=Pa55word", "Pa55word"),
    ("postgres://postgres:Pa%35%35word@127.0.0.1:1/db#kubernetes/kubernetes", "Pa%35%35word"),
])
def test_no_spelling_of_a_password_in_a_models_uri_is_printed(spec, secret):
    assert secret not in redact(spec) and "***" in redact(spec)
    server = start_serving("--models", spec)
    try:
        base, loaded = started(server)
        assert loaded.startswith("k8s-analysis serve: model not loaded: "), loaded
        assert requests.get(base + MODEL_ROUTE).status_code == 503
    finally:
        out, err = stopped(server)
    assert server.announced.startswith("k8s-analysis serve: serving postgres")
    for printed in (out, err, server.announced, loaded):
        assert secret not in printed and "Pa55word" not in printed, printed


def test_the_canary_benchmark_runs_at_a_tiny_size(model_dir):
    result = subprocess.run([str(VENV_BIN / "python"), "bench/canary.py", "--smoke", "--model-dir", str(model_dir)],
                            cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.splitlines()[-1])
    for name in ("directory", "store", "store+canary"):
        assert figures[name]["requests"] == 20 and figures[name]["errors"] == 0, figures


def test_one_host_is_one_client_whichever_of_its_ipv6_addresses_it_sends_from():
    # an IPv6 host holds a whole /64: were each address a client, one host would be 2**64 clients, meet the
    # two-client rule alone and fill every replica's observations
    same_host = ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2:a:b:c:d"]
    assert len({canary.client_key(address) for address in same_host}) == 1
    assert canary.client_key("::ffff:10.0.0.7") == canary.client_key("10.0.0.7")  # a dual-stack listener's IPv4
    others = ["2001:db8:1:3::1", "10.0.0.7", "10.0.0.8", None, "unix-socket"]
    assert len({canary.client_key(address) for address in same_host[:1] + others}) == 6
