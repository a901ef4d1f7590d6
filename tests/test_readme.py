"""The README's and docs/'s commands match the code: every command line parses, names real files and
definitions; every link between the pages leads somewhere."""
import json
import re
import shlex

import pytest
import yaml

from dffml_k8s_analysis.cli import main as cli
from dffml_k8s_analysis.serve.service import MODEL_ROUTE, PREDICT_ROUTE

from conftest import ROOT

README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def commands(text):
    """Each shell command of ``text``'s ```sh blocks, continuation lines joined, comments dropped."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                found.append(line)
    return found


def words(command):
    parts = shlex.split(command)
    while parts and re.match(r"^[A-Z_0-9]+=", parts[0]):  # leading VAR=value
        parts.pop(0)
    return parts[:-1] if parts[-1:] == ["&"] else parts


COMMANDS = [command for page in PAGES for command in commands(page.read_text())]


def test_the_readme_has_the_two_commands():
    assert commands(README)[:2] == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("command", [c for c in COMMANDS if words(c)[:1] == [".venv/bin/k8s-analysis"]])
def test_k8s_analysis_commands_parse(command):
    args = cli.build_parser().parse_args(words(command)[1:])
    assert callable(args.func)


@pytest.mark.parametrize("command", [c for c in COMMANDS if words(c)[1:3] == ["dataflow", "run"]])
def test_dataflow_commands_name_real_files_and_definitions(command):
    parts = words(command)
    dataflow = yaml.safe_load((ROOT / parts[parts.index("-dataflow") + 1]).read_text())
    values = parts[parts.index("-inputs") + 1:]
    assert values
    for value in values:
        assert value.rsplit("=", 1)[1] in dataflow["definitions"], value


@pytest.mark.parametrize("command", [c for c in COMMANDS if words(c)[0] == ".venv/bin/dffml"
                                     and words(c)[1:3] != ["dataflow", "run"]])
def test_dffml_commands_name_our_plugins(command):
    from pkg_resources import iter_entry_points

    plugins = {entry.name for group in ("dffml.model", "dffml.source") for entry in iter_entry_points(group)}
    named = set(re.findall(r"(?:=|-model |-source-\w+-source )(k8s-[a-z]+)", command))
    assert named and named <= plugins


DFFML_ROUTES = {json.loads(path.read_text())["path"] for path in (ROOT / "dataflows" / "dffml-service" / "mc" / "http").glob("*.json")}


@pytest.mark.parametrize("command", [c for c in COMMANDS if words(c)[0] == "curl"])
def test_curl_commands_use_real_routes(command):
    port, path = re.search(r"localhost:(\d+)(/\S*)", command).groups()
    emulated = re.fullmatch(r"/repos/kubernetes/kubernetes/issues/\d+/(labels|comments)", path)
    if port == "8081":  # k8s-analysis dffml-service, whose guard wants JSON
        assert path in DFFML_ROUTES and "Content-Type: application/json" in command
    else:
        assert path in (PREDICT_ROUTE, MODEL_ROUTE, "/healthz") or emulated


@pytest.mark.parametrize("command", [c for c in COMMANDS if words(c)[0] == ".venv/bin/python"])
def test_scripts_exist(command):
    assert (ROOT / words(command)[1]).is_file()


def anchor(heading):
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


LINKS = [(page, target) for page in PAGES
         for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()) if not target.startswith("http")]


def test_the_pages_link_to_one_another():
    assert {page.name for page in PAGES} >= {
        "README.md", "export.md", "analyse.md", "learn.md", "serve-and-bot.md", "pipeline.md", "kubernetes.md",
        "dffml.md", "configuration.md", "troubleshooting.md", "benchmarks.md", "architecture.md"}
    linked = {(page.parent / target.split("#")[0]).resolve() for page, target in LINKS if not target.startswith("#")}
    assert set(PAGES) <= linked | {ROOT / "README.md"}, "a page no other page links to"


@pytest.mark.parametrize("page,target", LINKS, ids=[f"{page.name}->{target}" for page, target in LINKS])
def test_links_lead_to_a_file_and_heading(page, target):
    path, _, fragment = target.partition("#")
    linked = (page.parent / path).resolve() if path else page
    assert linked.exists(), f"{page.name}: {target} is not a file"
    if fragment:
        headings = re.findall(r"^#+ (.*)$", linked.read_text(), re.M)
        assert fragment in {anchor(heading) for heading in headings}, f"{page.name}: no heading #{fragment}"


def test_the_readme_is_a_front_page():
    assert len(README.splitlines()) <= 150
    picture = re.search(r"!\[[^\]]*\]\(([^)]+)\)", README).group(1)
    assert (ROOT / picture).stat().st_size < 200_000


def dffml_users_commands():
    section = (ROOT / "docs" / "dffml.md").read_text().split("## For DFFML users", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


@pytest.mark.slow
def test_the_dffml_users_commands_run_end_to_end_against_the_emulator(emulator, tmp_path):
    """The section's block as written, in a fresh working directory, GitHub being the emulator."""
    import subprocess

    import requests

    from conftest import VENV_BIN

    server = emulator(items=1200)
    service, service_url = None, ""
    try:
        for command in dffml_users_commands():
            parts = [str(VENV_BIN / part[len(".venv/bin/"):]) if part.startswith(".venv/bin/") else
                     str(ROOT / part) if part.startswith("dataflows/") else part
                     for part in words(command)]
            if "github.repo" in command:
                parts.append(f"{server.url}=github.base_url")
            if parts[0] == "curl":
                path, body = re.search(r"localhost:\d+(/\S*)", command).group(1), parts[parts.index("-d") + 1]
                answer = requests.post(service_url + path, data=body, headers={"Content-Type": "application/json"})
                assert answer.status_code == 200, (command, answer.text)
                assert {"/predict": "predict.probabilities", "/analyze": "analyze.numbers"}[path] in answer.text
                continue
            if "dffml-service" in command:
                parts[parts.index("--port") + 1] = "0"
                service = subprocess.Popen(parts, cwd=str(tmp_path), stdout=subprocess.PIPE, text=True)
                service_url = service.stdout.readline().split(" on ", 1)[1].split(": ", 1)[0]
                continue
            result = subprocess.run(parts, cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, (command, result.stderr[-2000:])
    finally:
        if service:
            service.terminate()
            service.wait(timeout=30)
    assert (tmp_path / "out" / "model" / "predictor.json").is_file()
    assert (tmp_path / "out" / "vectorizer" / "vectorizer.json").is_file()
