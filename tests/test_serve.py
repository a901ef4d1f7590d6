"""The prediction service: the original's routes, readiness, bad input, the CLI, and DFFML's HTTP service."""
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import time

import pytest
import requests

from dffml_k8s_analysis.model import artifacts
from dffml_k8s_analysis.http_limits import Limits
from dffml_k8s_analysis.serve.service import (MAX_BODY, MAX_INSTANCES, MAX_TEXT_BYTES, MODEL_ROUTE, PREDICT_ROUTE,
                                              ServeConfig, running)

from conftest import BUG, OTHER, ROOT, VENV_BIN, run_cli, serve_process

@pytest.fixture(scope="module")
def predictor(model_dir):
    return artifacts.load_predictor(model_dir)


@pytest.fixture(scope="module")
def url(model_dir):
    with running(ServeConfig(str(model_dir))) as base:
        yield base


def predict(url, **body):
    return requests.post(url + PREDICT_ROUTE, json=body)


def test_the_small_model_separates_a_bug_from_a_feature(predictor):
    bug, other = predictor.predict([BUG, OTHER])
    assert bug >= predictor.threshold > other


def test_single_and_batch_predictions_match_the_model(url, predictor):
    expected = predictor.predict([BUG, OTHER, ""])
    single = predict(url, text=BUG)
    assert single.status_code == 200
    assert single.json() == {"result": pytest.approx(expected[0], abs=1e-6), "band": predictor.band(expected[0])}
    batch = predict(url, instances=[BUG, OTHER, ""])
    assert batch.json() == {"predictions": pytest.approx(expected, abs=1e-6), "bands": [predictor.band(p) for p in expected]}
    assert predict(url, instances=[]).json() == {"predictions": [], "bands": []}


def test_the_prs_labels_are_optional_inputs_beside_the_text(url, predictor):
    labels = ["sig/node", "area/kubelet"]
    expected = predictor.predict([BUG, OTHER], [labels, []])
    assert predict(url, text=BUG, labels=labels).json()["result"] == pytest.approx(expected[0], abs=1e-6)
    batch = predict(url, instances=[{"text": BUG, "labels": labels}, OTHER])
    assert batch.json()["predictions"] == pytest.approx(expected, abs=1e-6)
    assert predict(url, instances=[{"text": BUG}]).json()["predictions"] == pytest.approx(predictor.predict([BUG]), abs=1e-6)


def test_readiness_and_health(url, predictor):
    ready = requests.get(url + MODEL_ROUTE)
    assert ready.status_code == 200
    assert ready.json() == {"name": "kubernetes-analysis", "ready": True, "label": "kind/bug",
                            "threshold": predictor.threshold, "labels": ["kind/bug"], "thresholds": predictor.thresholds,
                            "version": "toy-model", "canary": None}
    assert requests.get(url + "/healthz").json() == {"status": "ok"}


BAD = [
    (b'{"text": ', 400, "invalid JSON"),
    (b"\xff\xfe", 400, "invalid JSON"),
    (b"", 400, "invalid JSON"),
    (b'["fix"]', 400, "JSON object"),
    (b"{}", 400, 'missing "text"'),
    (b'{"txt": "fix"}', 400, 'missing "text"'),
    (b'{"text": 5}', 400, '"text" must be a string, got number'),
    (b'{"text": null}', 400, '"text" must be a string, got null'),
    (b'{"text": ["fix"]}', 400, '"text" must be a string, got array'),
    (b'{"instances": "fix"}', 400, '"instances" must be a list of strings, got string'),
    (b'{"instances": ["fix", 5]}', 400, '"instances"[1] must be a string or {"text": ..., "labels": [...]}, got number'),
    (b'{"instances": ["fix", {"txt": "x"}]}', 400, '"instances"[1] must be a string or {"text"'),
    (b'{"text": "fix", "labels": "sig/node"}', 400, '"labels" must be a list of strings, got string'),
    (b'{"instances": [{"text": "x", "labels": [1]}]}', 400, '"instances"[0]["labels"] must be a list of strings'),
    (b'{"text": "a", "instances": ["b"]}', 400, "not both"),
]


@pytest.mark.parametrize("body, status, message", BAD)
def test_bad_input_is_refused_and_the_service_keeps_answering(url, predictor, body, status, message):
    answer = requests.post(url + PREDICT_ROUTE, data=body)
    assert answer.status_code == status
    assert message in answer.json()["error"]
    assert predict(url, text=BUG).json()["result"] == pytest.approx(predictor.predict([BUG])[0], abs=1e-6)


def test_bodies_over_one_mebibyte_get_413_with_or_without_a_length(url, predictor):
    big = b'{"text": "' + b"a" * MAX_BODY + b'"}'
    sized = requests.post(url + PREDICT_ROUTE, data=big)
    assert sized.status_code == 413 and "limit" in sized.json()["error"]
    chunked = requests.post(url + PREDICT_ROUTE, data=iter([big[:1000], big[1000:]]))
    assert chunked.status_code == 413 and "limit" in chunked.json()["error"]
    just_under = {"instances": ["fix a panic " * 145] * 580}  # 1,012,100 bytes: each text within its limit
    assert len(json.dumps(just_under)) < MAX_BODY and predict(url, **just_under).status_code == 200
    assert predict(url, text=OTHER).json()["result"] == pytest.approx(predictor.predict([OTHER])[0], abs=1e-6)


@pytest.mark.parametrize("body, message", [
    ({"instances": ["a"] * (MAX_INSTANCES + 1)}, f"{MAX_INSTANCES + 1} instances; the limit is {MAX_INSTANCES} a request"),
    ({"instances": [""] * 200_000}, f"200000 instances; the limit is {MAX_INSTANCES} a request"),  # 800 KB of tiny texts
    ({"text": "é" * (MAX_TEXT_BYTES // 2 + 1)}, f'"text" is {MAX_TEXT_BYTES + 2} bytes; the limit is {MAX_TEXT_BYTES} a text'),
    ({"instances": ["a", {"text": "b" * (MAX_TEXT_BYTES + 1), "labels": []}]},
     f'"instances"[1] is {MAX_TEXT_BYTES + 1} bytes; the limit is {MAX_TEXT_BYTES} a text'),
])
def test_a_request_s_work_is_bounded_in_instances_and_bytes_per_text(url, predictor, body, message):
    answer = predict(url, **body)
    assert answer.status_code == 413 and answer.json()["error"] == message
    assert predict(url, instances=["a"] * MAX_INSTANCES).status_code == 200  # at the limit
    assert predict(url, text=BUG).json()["result"] == pytest.approx(predictor.predict([BUG])[0], abs=1e-6)


def test_health_probes_answer_while_four_clients_send_big_batches(model_dir):
    """Predictions are computed off the event loop: probes answer within 1 s while 1 MiB batches are worked on."""
    import concurrent.futures

    batch = {"instances": [("fix a panic in the kubelet when the node restarts " * 20)[:990]] * MAX_INSTANCES}
    assert len(json.dumps(batch)) <= MAX_BODY
    with serve_process("--models", str(model_dir)) as (_, base), concurrent.futures.ThreadPoolExecutor(4) as clients:
        started = time.perf_counter()
        sent = [clients.submit(lambda: [predict(base, **batch).status_code for _ in range(3)]) for _ in range(4)]
        probes = []
        while not all(future.done() for future in sent):
            began = time.perf_counter()
            for route in ("/healthz", MODEL_ROUTE):
                assert requests.get(base + route, timeout=5).status_code == 200
            probes.append(time.perf_counter() - began)
        busy = time.perf_counter() - started
        assert [future.result() for future in sent] == [[200] * 3] * 4
    assert busy > 2 and len(probes) >= 5, (busy, probes)  # the batches kept the server busy while probed
    assert max(probes) < 1.0, sorted(probes)[-5:]


def test_unknown_routes_and_methods_answer_json(url):
    missing = requests.get(url + "/v1/models/other:predict")
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found: GET /v1/models/other:predict"}
    wrong = requests.get(url + PREDICT_ROUTE)
    assert wrong.status_code == 405 and "Method Not Allowed" in wrong.json()["error"]


def test_without_a_model_predictions_and_readiness_answer_503(tmp_path):
    with running(ServeConfig(str(tmp_path / "none"))) as base:
        for answer in (predict(base, text=BUG), requests.get(base + MODEL_ROUTE)):
            assert answer.status_code == 503
            assert answer.json() == {"error": "model not loaded; the server's log says why"}  # no server path
        assert requests.get(base + "/healthz").status_code == 200
        assert requests.post(base + "/webhook", data=b"{}").status_code == 503  # no secret configured


def test_serve_command_binds_loopback_and_never_prints_the_secret(model_dir, predictor, tmp_path):
    env = dict(os.environ, WEBHOOK_SECRET="do-not-print-me")
    server = subprocess.Popen(  # in tmp_path, where the bot's memory goes by default (out/bot/state.sqlite)
        [str(VENV_BIN / "k8s-analysis"), "serve", "--model-dir", str(model_dir), "--port", "0"],
        cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        bound, loaded = server.stdout.readline(), server.stdout.readline()
        assert " on http://127.0.0.1:" in bound and loaded.strip() == "k8s-analysis serve: model ready", bound + loaded
        base = bound.split(" on ")[1].strip()
        answer = requests.post(base + PREDICT_ROUTE, json={"text": BUG})
        assert answer.json()["result"] == pytest.approx(predictor.predict([BUG])[0], abs=1e-6)
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "do-not-print-me" not in bound + loaded + out + err


def test_dffml_http_service_serves_the_same_model(model_dir, predictor):
    """The stock ``dffml service http server`` with the k8s-mlp model and its /model/{label}/predict/0 route."""
    server = subprocess.Popen(
        [str(VENV_BIN / "dffml"), "service", "http", "server", "-insecure", "-port", "0",
         "-log", "info", "-models", "kubernetes_analysis=k8s-mlp", "-model-kubernetes_analysis-directory", str(model_dir)],
        cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        for line in server.stderr:  # "INFO:dffml.Server:Serving on 127.0.0.1:PORT"
            if "Serving on" in line:
                break
        assert "Serving on" in line, line
        base = f"http://127.0.0.1:{line.rsplit(':', 1)[1].strip()}"
        records = {"bug": {"features": {"release_note": BUG}}, "other": {"features": {"release_note": OTHER}}}
        answer = requests.post(base + "/model/kubernetes_analysis/predict/0", json=records)
        assert answer.status_code == 200, answer.text
        got = {key: record["prediction"]["kind/bug"] for key, record in answer.json()["records"].items()}
        bug, other = predictor.predict([BUG, OTHER])
        assert got == {"bug": {"value": True, "confidence": pytest.approx(bug, abs=1e-6)},
                       "other": {"value": False, "confidence": pytest.approx(1 - other, abs=1e-6)}}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_promoted_model_is_served_without_a_restart(model_dir, tmp_path):
    from dffml_k8s_analysis.model.versions import promote

    versions = tmp_path / "model.versions"
    shutil.copytree(str(model_dir), str(versions / "1"))
    shutil.copytree(str(model_dir), str(versions / "2"))
    second = json.loads((versions / "2" / "predictor.json").read_text())
    second["thresholds"] = [0.77]  # the same model files otherwise, even the same times
    (versions / "2" / "predictor.json").write_text(json.dumps(second))
    stat = (versions / "1" / "predictor.json").stat()
    os.utime(str(versions / "2" / "predictor.json"), ns=(stat.st_atime_ns, stat.st_mtime_ns))
    link = tmp_path / "model"
    promote(str(versions / "1"), str(link))
    with running(ServeConfig(str(link))) as base:
        first = requests.get(base + MODEL_ROUTE).json()["threshold"]
        promote(str(versions / "2"), str(link))
        assert first != 0.77
        assert requests.get(base + MODEL_ROUTE).json()["threshold"] == 0.77
        assert requests.post(base + PREDICT_ROUTE, json={"text": BUG}).status_code == 200


def test_deeply_nested_json_gets_400(url):
    answer = requests.post(url + PREDICT_ROUTE, data=b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert answer.status_code == 400 and answer.json() == {"error": "invalid JSON: nested too deeply"}


def test_a_model_without_labels_is_refused_at_load(model_dir, tmp_path):
    broken = tmp_path / "model"
    shutil.copytree(str(model_dir), str(broken))
    meta = json.loads((broken / "predictor.json").read_text())
    (broken / "predictor.json").write_text(json.dumps(dict(meta, labels=[], thresholds=[])))
    with running(ServeConfig(str(broken))) as base:
        assert requests.get(base + MODEL_ROUTE).status_code == 503
        assert requests.post(base + PREDICT_ROUTE, json={"text": BUG}).status_code == 503
    result = run_cli("k8s-analysis", "predict", "--model-dir", str(broken), BUG)
    assert result.returncode == 1 and result.stdout == ""
    [line] = [line for line in result.stderr.splitlines() if line.startswith("k8s-analysis")]
    assert "it needs one or more labels, each with a threshold" in line


@pytest.mark.parametrize("where", ["port in use", "bad host"])
def test_serve_that_cannot_bind_exits_1_with_one_line_every_time(model_dir, where):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = ["--port", str(taken.getsockname()[1])] if where == "port in use" else ["--host", "256.0.0.1"]
        for _ in range(3):
            result = run_cli("k8s-analysis", "serve", "--model-dir", str(model_dir), *address, timeout=60)
            assert result.returncode == 1, result.stderr
            lines = [line for line in result.stderr.splitlines() if "k8s-analysis" in line]
            assert len(lines) == 1 and lines[0].startswith("k8s-analysis: error: cannot listen on "), result.stderr


@pytest.mark.serial  # timing-sensitive: run alone (Makefile)
def test_stalled_and_idle_connections_are_dropped_and_bounded(model_dir):
    """A client that never finishes its headers or its body is dropped; 1,500 idle ones (past the limit) use no
    more fds than the limit, and a new client is served at the latest once the idle ones' header timeout ends."""
    limits = Limits()
    with serve_process("--model-dir", str(model_dir)) as (server, base):
        host, port = base.rsplit("/", 1)[1].split(":")
        stalled = socket.create_connection((host, int(port)))
        stalled.sendall(b"POST " + PREDICT_ROUTE.encode() + b" HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        body = socket.create_connection((host, int(port)))
        body.sendall(b"POST " + PREDICT_ROUTE.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        started = time.monotonic()
        idle = [socket.create_connection((host, int(port))) for _ in range(1500)]
        # Those past the limit are closed as soon as the server accepts them, before any header timeout can end:
        # once they all are, the server holds every connection it will hold, and its fds can be counted.
        refused = refused_within(idle, 1500 + 2 - limits.max_connections, started, limits.header_timeout)
        assert refused < limits.header_timeout
        fds = len(os.listdir(f"/proc/{server.pid}/fd"))
        assert served_within(base, limits.header_timeout + 5) < limits.header_timeout + 5
        assert closed_within(stalled, limits.header_timeout + 5) < limits.header_timeout + 2
        assert closed_within(body, limits.body_timeout + 5) < limits.body_timeout + 2
        for connection in idle:
            connection.close()
    assert fds < limits.max_connections + 100, fds
    err = server.output[1]
    assert "Traceback" not in err and len(err) < 10_000, err[-2000:]


def served_within(base, timeout):
    """Seconds until a new client's prediction is answered 200 (connections refused past the limit are retried)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if requests.post(base + PREDICT_ROUTE, json={"text": BUG}, timeout=5).status_code == 200:
                return time.monotonic() - started
        except requests.ConnectionError:  # refused while the limit is reached
            continue
    return timeout


def refused_within(connections, count, started, timeout):
    """Seconds from ``started`` until the server closed ``count`` of ``connections`` (they sent nothing)."""
    with selectors.DefaultSelector() as selector:
        for connection in connections:
            selector.register(connection, selectors.EVENT_READ)
        closed = 0
        while closed < count and time.monotonic() - started < timeout:
            for key, _ in selector.select(timeout - (time.monotonic() - started)):
                assert key.fileobj.recv(1) == b""
                selector.unregister(key.fileobj)
                closed += 1
    return time.monotonic() - started if closed >= count else timeout


def closed_within(connection, timeout):
    """Seconds until the server closed ``connection`` (reading whatever it answered first)."""
    started = time.monotonic()
    connection.settimeout(timeout)
    with connection:
        while connection.recv(4096):
            pass
    return time.monotonic() - started


MALFORMED_REQUESTS = [b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                      b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                      b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 100_000 + b"\r\n\r\n",
                      b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64)]  # a TLS hello to plain HTTP


def test_malformed_requests_are_400_with_a_few_log_lines_and_no_traceback(model_dir):
    """Anyone can send them: each is answered 400, and a flood of them logs a few lines, never a traceback."""
    with serve_process("--model-dir", str(model_dir)) as (server, base):
        host, port = base.rsplit("/", 1)[1].split(":")
        for request in MALFORMED_REQUESTS * 50:
            with socket.create_connection((host, int(port)), timeout=10) as connection:
                connection.sendall(request)
                assert connection.recv(12).startswith(b"HTTP/1.")  # answered: 400 Bad Request
        assert requests.post(base + PREDICT_ROUTE, json={"text": BUG}).status_code == 200
    lines = [line for line in server.output[1].splitlines() if line]
    assert "Traceback" not in server.output[1] and 1 <= len(lines) <= 5, server.output[1][-2000:]
    assert all(line.startswith("k8s-analysis: ") and "malformed HTTP request" in line for line in lines), lines
