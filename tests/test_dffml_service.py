"""DFFML's own HTTP service serving dataflows/dffml-service (our predict and analysis dataflows), over real HTTP:
the stock ``dffml service http server`` and ``k8s-analysis dffml-service``, which starts it safely."""
import contextlib
import json
import socket
import subprocess
import time

import pytest
import requests

from dffml_k8s_analysis.analysis.columns import load
from dffml_k8s_analysis.analysis.views import run_view
from dffml_k8s_analysis.emulator.rest import EmulatorConfig, running
from dffml_k8s_analysis.records.selection import Filter
from dffml_k8s_analysis.serve import service

from conftest import BUG, OTHER, ROOT, VENV_BIN, export, run_cli

MC_CONFIG = str(ROOT / "dataflows" / "dffml-service")
NOTES = [BUG, OTHER, "", "Update etcd to 3.5.9"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, model_dir):
    """A working directory as the dataflows expect it: out/model (the test model), data/ (an exported store)."""
    directory = tmp_path_factory.mktemp("workdir")
    (directory / "out").mkdir()
    (directory / "out" / "model").symlink_to(model_dir)
    (directory / "data").mkdir()
    with running(EmulatorConfig(items=400, use_notes=False)) as server:
        assert export(server.url, directory / "data" / "kubernetes__kubernetes.sqlite") == 0
    return directory


@pytest.fixture(scope="module")
def ours(model_dir):
    """Our own route's probabilities for NOTES (``k8s-analysis serve``'s app on loopback)."""
    with service.running(service.ServeConfig(str(model_dir))) as base:
        answer = requests.post(base + service.PREDICT_ROUTE, json={"instances": NOTES})
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"]


@contextlib.contextmanager
def process(args, cwd, url_of):
    """Run a server until the test is done; ``url_of(process)`` waits until it serves and gives its URL."""
    server = subprocess.Popen(args, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield url_of(server)
    finally:
        server.terminate()
        server.wait(timeout=30)


def portfile_url(portfile):
    def url_of(server):
        deadline = time.monotonic() + 60  # DFFML writes the port once every route is registered
        while not (portfile.exists() and portfile.read_text().strip().isdigit()):
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "dffml service http server did not start"
            time.sleep(0.1)
        return f"http://127.0.0.1:{portfile.read_text().strip()}"
    return url_of


def announced_url(server):
    line = server.stdout.readline()  # printed once every route is registered
    assert "serving the dataflows of" in line, line + server.stderr.read()
    return line.split(" on ", 1)[1].split(": ", 1)[0]


@pytest.fixture(scope="module")
def stock(workdir, tmp_path_factory):
    """``dffml service http server -mc-atomic -mc-config dataflows/dffml-service``, DFFML's own command."""
    portfile = tmp_path_factory.mktemp("port") / "port"
    args = [str(VENV_BIN / "dffml"), "service", "http", "server", "-insecure", "-mc-atomic", "-mc-config", MC_CONFIG,
            "-port", "0", "-portfile", str(portfile)]
    with process(args, workdir, portfile_url(portfile)) as url:
        yield url


@pytest.fixture(scope="module")
def guarded(workdir):
    """``k8s-analysis dffml-service``: the same service with the guard."""
    args = [str(VENV_BIN / "k8s-analysis"), "dffml-service", "--mc-config", MC_CONFIG, "--port", "0"]
    with process(args, workdir, announced_url) as url:
        yield url


def dffml_predict(url, notes, **headers):
    """POST /predict in DFFML's input format: one context per note."""
    body = {str(index): [{"value": note, "definition": "release_note"}] for index, note in enumerate(notes)}
    return requests.post(url + "/predict", json=body, headers=headers)


def probabilities(answer):
    assert answer.status_code == 200, answer.text
    contexts = answer.json()
    return [contexts[str(index)]["predict.probabilities"]["kind/bug"] for index in range(len(contexts))]


@pytest.mark.parametrize("server", ["stock", "guarded"])
def test_post_predict_gives_the_probabilities_of_our_route(server, request, ours):
    url = request.getfixturevalue(server)
    assert probabilities(dffml_predict(url, NOTES)) == pytest.approx(ours, abs=1e-9)


@pytest.mark.parametrize("server", ["stock", "guarded"])
def test_post_analyze_gives_the_views_numbers_of_the_configured_store(server, request, workdir):
    url = request.getfixturevalue(server)
    answer = requests.post(url + "/analyze", json="created,labels-by-name")
    assert answer.status_code == 200, answer.text
    found = answer.json()["post_input"]
    records, _ = load(workdir / "data" / "kubernetes__kubernetes.sqlite")
    expected = {name: json.loads(json.dumps(run_view(name, records, "all", Filter.of("", ""), 25, "month")))
                for name in ("created", "labels-by-name")}
    assert {numbers["view"]: numbers for numbers in found["analyze.numbers"]} == expected
    assert found["analyze.loaded"][0]["records"] == len(records)


# Every route of DFFML's API that configures, trains, reads sources or touches files
DFFML_API = [
    ("POST", "/model/kubernetes_analysis/train", ["n"]),
    ("POST", "/model/kubernetes_analysis/accuracy", ["n"]),
    ("POST", "/configure/model/k8s-mlp/m", {"directory": "/tmp/anywhere"}),
    ("POST", "/configure/source/csv/etc", {"filename": "/etc/passwd"}),
    ("GET", "/context/source/etc/etc", None),
    ("GET", "/source/etc/records/10", None),
    ("GET", "/list/sources", None),
    ("GET", "/list/models", None),
    ("POST", "/multicomm/self/register", {"path": "/x", "dataflow": {}}),
    ("GET", "/service/files", None),
    ("POST", "/service/upload/x.txt", {}),  # no such route: DFFML would read a multipart body
]


@pytest.mark.parametrize("server", ["stock", "guarded"])
@pytest.mark.parametrize("method, path, body", DFFML_API)
def test_training_sources_models_and_files_are_not_served(server, request, method, path, body, workdir):
    url = request.getfixturevalue(server)
    before = sorted(str(path) for path in workdir.rglob("*"))
    answer = requests.request(method, url + path, json=body)
    assert answer.status_code == 404, answer.text
    assert sorted(str(path) for path in workdir.rglob("*")) == before
    assert not (ROOT / "anywhere").exists()


CROSS_SITE = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
BODY = json.dumps({"0": [{"value": BUG, "definition": "release_note"}]})


def test_the_stock_service_answers_a_web_page_of_any_origin(stock):
    """Why the guard: a form or fetch() of any page may POST text/plain without a preflight, and DFFML runs it."""
    assert requests.post(stock + "/predict", data=BODY, headers=CROSS_SITE).status_code == 200


@pytest.mark.parametrize("headers, status, message", [
    (CROSS_SITE, 403, "cross-origin request from 'http://evil.example' refused"),
    ({"Origin": "http://evil.example", "Content-Type": "application/json"}, 403, "cross-origin request"),
    ({"Content-Type": "text/plain"}, 415, "the body must be application/json, got 'text/plain'"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "the body must be application/json"),
    ({}, 415, "the body must be application/json"),
    ({"Host": "evil.example", "Content-Type": "application/json"}, 403, "host 'evil.example' is not served here"),
])
def test_the_guard_refuses_other_origins_hosts_and_content_types(guarded, headers, status, message):
    answer = requests.post(guarded + "/predict", data=BODY, headers=headers)
    assert answer.status_code == status
    assert message in answer.json()["error"]


def test_the_guard_lets_the_same_origin_through(guarded):
    host = guarded.split("//", 1)[1]
    answer = requests.post(guarded + "/predict", data=BODY,
                           headers={"Origin": f"http://{host}", "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text


def test_the_launcher_stops_on_sigterm_with_status_0(workdir):
    args = [str(VENV_BIN / "k8s-analysis"), "dffml-service", "--mc-config", MC_CONFIG, "--port", "0"]
    server = subprocess.Popen(args, cwd=str(workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    announced_url(server)
    server.terminate()
    assert server.wait(timeout=30) == 0


def test_launcher_errors_are_one_line(tmp_path):
    missing = run_cli("k8s-analysis", "dffml-service", "--mc-config", str(tmp_path), "--port", "0")
    assert (missing.returncode, missing.stderr.strip()) == (
        1, f"k8s-analysis: error: --mc-config {tmp_path} has no mc/http/ directory of routes")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_cli("k8s-analysis", "dffml-service", "--mc-config", MC_CONFIG, "--port", str(port))
    assert busy.returncode == 1
    assert busy.stderr.strip().startswith(f"k8s-analysis: error: cannot listen on 127.0.0.1:{port}: ")
    assert len(busy.stderr.strip().splitlines()) == 1
