"""Help that reads: examples keep their lines, no markup, every option says what it does and its default."""
import argparse
import os
import re
import subprocess

import pytest

from dffml_k8s_analysis.cli import main as cli
from dffml_k8s_analysis.cli.options import shows_default

from conftest import VENV_BIN, run_cli

PARSER = cli.build_parser()
COMMANDS = PARSER._subparsers._group_actions[0].choices
MARKUP = re.compile(r"(?<!`)``(?!`)|:(func|class|mod|data|meth):`")  # reST (```docs is a code fence's name)


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_option_has_help_and_its_default(name):
    parser = COMMANDS[name]
    text = parser.format_help()
    assert not MARKUP.search(text), text
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        if action.option_strings and shows_default(action):
            shown = parser._get_formatter()._get_help_string(action) % vars(action)
            assert "default" in shown, f"{name} {action.option_strings} does not show its default"


def test_descriptions_keep_their_examples_lines():
    text = run_cli("k8s-analysis", "canary", "--help").stdout
    assert "\n    k8s-analysis canary status --models data/kubernetes__kubernetes.sqlite\n" in text
    assert "\n    k8s-analysis canary decide --models data/kubernetes__kubernetes.sqlite [--force | --promote | --rollback]\n" in text


def test_emulate_github_shows_its_defaults():
    text = " ".join(COMMANDS["emulate-github"].format_help().split())
    assert "issues and pull requests in the sample (default: 3000)" in text
    assert "every Kth request hits a secondary rate limit (0: never) (default: 0)" in text


@pytest.mark.parametrize("argv", [["-v", "analyze"], ["analyze", "-v"], ["analyze", "--count", "3", "-v"]])
def test_verbose_is_taken_anywhere_on_the_line(argv):
    assert cli.build_parser(argv).parse_args(argv).verbose is True


def test_verbose_is_off_unless_given():
    assert cli.build_parser(["analyze"]).parse_args(["analyze"]).verbose is False


def serve_start(model_dir, env, cwd) -> str:
    """What ``k8s-analysis serve`` prints until its model is ready (it is stopped then); in ``cwd``, where the
    bot's memory goes by default."""
    server = subprocess.Popen([str(VENV_BIN / "k8s-analysis"), "serve", "--port", "0", "--models", str(model_dir)],
                              cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in server.stdout:
            lines.append(line)
            if "model ready" in line:
                break
    finally:
        server.terminate()
        lines.extend(server.communicate(timeout=60))
    return "".join(lines)


def test_serve_says_at_start_what_it_cannot_do(model_dir, tmp_path):
    env = {name: value for name, value in os.environ.items()
           if name not in ("WEBHOOK_SECRET", "GITHUB_TOKEN", "GITHUB_TOKEN_FILE")}
    out = serve_start(model_dir, env, tmp_path)
    assert "k8s-analysis serve: webhook off: WEBHOOK_SECRET is not set; POST /webhook answers 503" in out
    out = serve_start(model_dir, dict(env, WEBHOOK_SECRET="s3cret"), tmp_path)
    assert "webhook on, but no token (GITHUB_TOKEN or GITHUB_TOKEN_FILE): every delivery will fail to label" in out
    assert "s3cret" not in out
