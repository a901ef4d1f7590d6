"""GitHub's own published material, fetched with ``npm pack`` into a cache, for the tests.

``@octokit/openapi`` (the api.github.com OpenAPI description), ``@octokit/openapi-webhooks``
(the webhook payloads' schemas), ``@octokit/webhooks-examples`` (payloads GitHub sent),
``@octokit/fixtures`` (recorded exchanges with api.github.com) and ``@octokit/graphql-schema`` (the GraphQL
API's schema).
Tests that need them skip, saying why, where npm or the registry is not available.
"""
import fcntl
import functools
import json
import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile

import jsonschema
import pytest

CACHE_ROOT = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")) / "dffml-k8s-analysis"
CACHE = CACHE_ROOT / "npm"
PACKAGES = {
    "openapi": "@octokit/openapi@23.0.2",
    "webhooks": "@octokit/openapi-webhooks@12.1.0",
    "fixtures": "@octokit/fixtures@23.1.2",
    "webhook-examples": "@octokit/webhooks-examples@7.6.1",
    "graphql-schema": "@octokit/graphql-schema@15.26.1",
}


def package(kind: str) -> pathlib.Path:
    """The unpacked npm package's directory, fetched once into the cache (one process at a time: xdist workers)."""
    spec = PACKAGES[kind]
    target = CACHE / spec.replace("/", "__")
    if (target / "package" / "package.json").is_file():
        return target / "package"
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed: cannot fetch {spec} (GitHub's published material)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(target.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "package" / "package.json").is_file():  # not fetched meanwhile by another process
            fetch(npm, spec, target)
    return target / "package"


def fetch(npm: str, spec: str, target: pathlib.Path) -> None:
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        result = subprocess.run([npm, "pack", spec, "--silent", "--pack-destination", scratch],
                                capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            pytest.skip(f"npm pack {spec} failed (no registry?): {result.stderr.strip().splitlines()[-1:]}")
        partial = pathlib.Path(scratch, "unpacked")
        with tarfile.open(pathlib.Path(scratch, result.stdout.strip().splitlines()[-1])) as archive:
            archive.extractall(partial, filter="data")
        shutil.rmtree(target, ignore_errors=True)  # a partial copy a killed run left
        os.replace(partial, target)


def _json_schema(node):
    """OpenAPI 3.0's ``nullable`` written as JSON Schema, recursively."""
    if isinstance(node, list):
        return [_json_schema(value) for value in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False) is True:
        if "enum" in node:
            node["enum"] = node["enum"] + [None]
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@functools.lru_cache(maxsize=None)
def _description(kind: str) -> dict:
    with open(package(kind) / "generated" / "api.github.com.json") as fh:
        return _json_schema(json.load(fh))


def _validator(document: dict, pointer: str) -> jsonschema.Draft7Validator:
    # The document is the root, so that its "#/components/..." references resolve; draft 7
    # ignores the siblings of "$ref" when validating.
    return jsonschema.Draft7Validator(dict(document, **{"$ref": pointer}))


def response_errors(method: str, path: str, status: int, body) -> list:
    """What is wrong with ``body`` as api.github.com's answer to ``method path`` (an OpenAPI path)."""
    document = _description("openapi")
    operation = document["paths"][path][method.lower()]
    answer = operation["responses"][str(status)]
    if "$ref" in answer:
        answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
    pointer = "#/paths/{}/{}/responses/{}/content/application~1json/schema".format(
        path.replace("~", "~0").replace("/", "~1"), method.lower(), status)
    if "$ref" in operation["responses"][str(status)]:
        pointer = operation["responses"][str(status)]["$ref"] + "/content/application~1json/schema"
    assert "application/json" in answer["content"], (method, path, status)
    return sorted(_messages(_validator(document, pointer), body))


def webhook_errors(event: str, action, payload) -> list:
    """What is wrong with ``payload`` as GitHub's ``event`` webhook with ``action``."""
    document = _description("webhooks")
    name = event.replace("_", "-") + (f"-{action.replace('_', '-')}" if action else "")
    return sorted(_messages(_validator(document, f"#/webhooks/{name}/post/requestBody/content/application~1json/schema"),
                            payload))


def webhook_payload(event: str, action: str = None) -> dict:
    """A payload GitHub sent for ``event``, valid against today's schema for ``event`` and ``action``.

    Recorded examples of ``action`` come first; older examples lack newer fields, so the first
    that validates is taken, another action's turned into ``action`` if need be.
    """
    with open(package("webhook-examples") / "api.github.com" / "index.json") as fh:
        (examples,) = [entry["examples"] for entry in json.load(fh) if entry["name"] == event]
    ordered = sorted(examples, key=lambda example: example.get("action") != action)
    errors = []
    for example in ordered:
        payload = json.loads(json.dumps(example))
        if action is not None and payload.get("action") != action:
            payload["action"] = action
            if action == "edited":
                payload["changes"] = {"body": {"from": ""}}
        for side in ("base", "head"):  # a field newer than the recordings of some actions (labeled, unlabeled)
            repo = (payload.get("pull_request") or {}).get(side, {}).get("repo")
            if isinstance(repo, dict):
                repo.setdefault("has_discussions", False)
        errors = webhook_errors(event, action, payload)
        if not errors:
            return payload
    raise AssertionError(f"no example of {event} {action} validates: {errors[:3]}")


def _messages(validator, body) -> list:
    return ["{}: {}".format("/".join(map(str, error.absolute_path)), error.message[:300])
            for error in validator.iter_errors(body)]


def fixture(name: str) -> list:
    """The recorded exchanges of one ``@octokit/fixtures`` scenario, in order."""
    path = package("fixtures") / "scenarios" / "api.github.com" / name / "normalized-fixture.json"
    with open(path) as fh:
        return json.load(fh)
