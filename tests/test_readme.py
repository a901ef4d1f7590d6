"""The README's commands match the code: every command line parses, names real files and definitions."""
import json
import re
import shlex

import pytest
import yaml

from dffml_k8s_analysis.cli import main as cli
from dffml_k8s_analysis.serve.service import MODEL_ROUTE, PREDICT_ROUTE

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def commands():
    """Each shell command of the README's ```sh blocks, continuation lines joined, comments dropped."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL):
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


COMMANDS = commands()


def test_the_readme_has_the_two_commands():
    assert COMMANDS[:2] == ["make demo", "make test"]
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


DFFML_ROUTES = {json.loads(path.read_text())["path"] for path in (ROOT / "services" / "dffml" / "mc" / "http").glob("*.json")}


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
