"""jobs/: the Kubernetes manifests validate offline, are good cluster citizens, and their commands work.

The manifests target Kubernetes 1.30 (jobs/README.md); kubernetes_validate holds the API
schemas. The export, merge and update containers' commands are run here as written in the
manifests, with the volumes mapped to tmp_path and GitHub replaced by the emulator.
"""
import configparser
import importlib.util
import os
import re
import subprocess

import kubernetes_validate
import pytest
import yaml

from dffml_k8s_analysis.github.pacing import Limits
from dffml_k8s_analysis.model import tuning
from dffml_k8s_analysis.store import open_store

from conftest import ROOT, VENV_BIN, admin, export, served, stored

JOBS = ROOT / "jobs"
TARGET = "1.30"
# jobs/export-job.yaml: pods x windows in flight, a quarter of GitHub's 100 concurrent requests
MAX_CONCURRENT_REQUESTS = 25
TEMPLATES = {"secrets.example.yaml"}
TOKEN = "token-from-the-secret"
UNTIL = "2025-11-01T00:00:00Z"
COMMON_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of")
SCRATCH_MOUNTS = {"/tmp"}  # emptyDirs used only as scratch space stay where they are


def load(name):
    return [doc for doc in yaml.safe_load_all((JOBS / name).read_text()) if doc]


KUSTOMIZATION = load("kustomization.yaml")[0]
MANIFESTS = sorted(path.name for path in JOBS.glob("*.yaml") if path.name != "kustomization.yaml")
APPLIED = [name for name in MANIFESTS if name not in TEMPLATES]
OBJECTS = [(name, doc) for name in APPLIED for doc in load(name)]


def find(kind, name):
    (doc,) = [doc for _, doc in OBJECTS if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return doc


def pod_spec(doc):
    """The pod template's spec of a Job, CronJob or Deployment (None for other kinds)."""
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if doc["kind"] in ("Job", "Deployment"):
        return doc["spec"]["template"]["spec"]
    return None


def job_specs():
    """(object name, Job spec) of every Job and CronJob job template."""
    for _, doc in OBJECTS:
        if doc["kind"] == "Job":
            yield doc["metadata"]["name"], doc["spec"]
        elif doc["kind"] == "CronJob":
            yield doc["metadata"]["name"], doc["spec"]["jobTemplate"]["spec"]


PODS = [(doc["metadata"]["name"], pod_spec(doc)) for _, doc in OBJECTS if pod_spec(doc)]
CONTAINERS = [(name, container) for name, spec in PODS for container in spec["containers"]]


def inputs_of(args):
    """The ``-inputs VALUE=DEFINITION`` of a `dffml dataflow run` command as {definition: value}."""
    values = args[args.index("-inputs") + 1:]
    return {definition: value for value, _, definition in (item.rpartition("=") for item in values)}


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_configmap", JOBS / "generate-configmap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Offline schema validation


@pytest.mark.parametrize("version", [TARGET, kubernetes_validate.utils.major_minor(kubernetes_validate.latest_version())])
@pytest.mark.parametrize("name", MANIFESTS)
def test_manifests_validate_against_the_kubernetes_api_schemas(name, version):
    for doc in load(name):
        assert kubernetes_validate.validate(doc, version, strict=True) == version


def test_validation_catches_a_misspelt_field():
    job = yaml.safe_load(yaml.safe_dump(find("Job", "export")))
    job["spec"]["backofLimitPerIndex"] = job["spec"].pop("backoffLimitPerIndex")
    with pytest.raises(kubernetes_validate.ValidationError, match="backofLimitPerIndex"):
        kubernetes_validate.validate(job, TARGET, strict=True)


def test_kustomization_applies_the_long_lived_resources_and_the_export():
    resources = KUSTOMIZATION["resources"]
    assert set(KUSTOMIZATION) <= {"apiVersion", "kind", "labels", "resources"}
    assert all((JOBS / name).is_file() for name in resources)
    assert not TEMPLATES & set(resources), "secret templates must never be applied"
    kinds = {doc["kind"] for name in resources for doc in load(name)}
    assert kinds == {"Namespace", "PersistentVolumeClaim", "ConfigMap", "Job", "CronJob", "Deployment",
                     "Service", "PodDisruptionBudget"}
    staged = set(APPLIED) - set(resources)
    assert staged == {"merge-job.yaml", "tune-job.yaml", "tune-summary-job.yaml"}
    # staged Jobs are applied with `kubectl apply -f`: they carry the common labels themselves
    common = {k: v for label in KUSTOMIZATION["labels"] for k, v in label["pairs"].items()}
    for name, doc in OBJECTS:
        labels = dict(doc["metadata"]["labels"], **(common if name in resources else {}))
        assert set(COMMON_LABELS) <= set(labels), (name, doc["metadata"]["name"])
        assert labels["app.kubernetes.io/part-of"] == "dffml-k8s-analysis"


def test_everything_lives_in_the_one_namespace():
    (namespace,) = [doc["metadata"]["name"] for _, doc in OBJECTS if doc["kind"] == "Namespace"]
    assert {doc["metadata"].get("namespace") for _, doc in OBJECTS if doc["kind"] != "Namespace"} == {namespace}
    assert find("Namespace", namespace)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# Cluster citizenship


@pytest.mark.parametrize("name, container", CONTAINERS, ids=[name for name, _ in CONTAINERS])
def test_every_container_has_requests_and_limits(name, container):
    for bound in ("requests", "limits"):
        assert set(container["resources"][bound]) >= {"cpu", "memory"}, (name, bound)


@pytest.mark.parametrize("name, spec", PODS, ids=[name for name, _ in PODS])
def test_pods_run_unprivileged_on_a_read_only_root(name, spec):
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    scratch = {vol["name"] for vol in spec["volumes"] if "emptyDir" in vol}
    for container in spec["containers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert "runAsUser" not in security or security["runAsUser"] != 0
        # HOME, TMPDIR and MPLCONFIGDIR point at /tmp in the image: it must be writable
        assert any(m["mountPath"] == "/tmp" and m["name"] in scratch for m in container["volumeMounts"])


def test_secrets_come_from_secret_objects_only():
    assert "Secret" not in {doc["kind"] for _, doc in OBJECTS}
    secret_like = re.compile(r"TOKEN|SECRET|PASSWORD|KEY", re.I)
    for name, container in CONTAINERS:
        for var in container.get("env", []):
            if secret_like.search(var["name"]):
                assert set(var) == {"name", "valueFrom"} and "secretKeyRef" in var["valueFrom"], (name, var)
    text = "".join((JOBS / name).read_text() for name in APPLIED)
    assert not re.search(r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_", text)
    examples = [doc for doc in load("secrets.example.yaml") if doc["kind"] == "Secret"]
    assert {doc["metadata"]["name"] for doc in examples} == {
        var["valueFrom"]["secretKeyRef"]["name"] for _, c in CONTAINERS for var in c.get("env", [])
        if "secretKeyRef" in var.get("valueFrom", {})
    }
    assert all(value.startswith("REPLACE-") for doc in examples for value in doc["stringData"].values())


def test_jobs_clean_up_and_bound_their_retries():
    specs = dict(job_specs())
    assert set(specs) == {"export", "merge", "tune", "tune-summary", "update"}
    for name, spec in specs.items():
        assert spec["ttlSecondsAfterFinished"] > 0, name
        assert spec["activeDeadlineSeconds"] > 0, name
        assert spec["template"]["spec"]["restartPolicy"] == "Never", name
        if spec.get("completionMode") == "Indexed":
            assert 0 <= spec["maxFailedIndexes"] <= spec["completions"] and spec["backoffLimitPerIndex"] >= 1
        else:
            assert spec["backoffLimit"] >= 1, name
    cron = find("CronJob", "update")["spec"]
    assert cron["concurrencyPolicy"] == "Forbid" and cron["startingDeadlineSeconds"] > 0
    assert cron["successfulJobsHistoryLimit"] >= 1 and cron["failedJobsHistoryLimit"] >= 1


def test_export_job_shards_match_its_input_and_stay_under_githubs_concurrency_limit():
    spec = find("Job", "export")["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    inputs = inputs_of(container["args"])
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == int(inputs["export.shards"]) > 1
    assert spec["parallelism"] < spec["completions"]
    assert spec["parallelism"] * int(inputs["export.workers"]) <= MAX_CONCURRENT_REQUESTS
    # the pods divide the token's pacing budget between them, and each pod's workers fit its share
    (share,) = [var for var in container["env"] if var["name"] == "GITHUB_PACE_SHARE"]
    assert int(share["value"]) == spec["parallelism"]
    assert int(inputs["export.workers"]) <= Limits.from_env({"GITHUB_PACE_SHARE": share["value"]}).max_in_flight
    assert "{index}" in inputs["export.store"]
    assert inputs["export.until"] == "$(EXPORT_UNTIL)"
    (until,) = [var for var in container["env"] if var["name"] == "EXPORT_UNTIL"]
    assert until["valueFrom"]["configMapKeyRef"] == {"name": "export-until", "key": "until"}


def test_tune_job_runs_one_pod_per_grid_point():
    spec = find("Job", "tune")["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == len(tuning.grid())
    (container,) = spec["template"]["spec"]["containers"]
    assert container["args"][0] == "tune" and "--index" not in container["args"]  # $JOB_COMPLETION_INDEX


def test_serving_deployment_probes_its_health_routes():
    deployment = find("Deployment", "serve")
    assert deployment["spec"]["replicas"] == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models/kubernetes-analysis"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["args"][:3] == ["serve", "--model-dir", "/data/model"]
    env = {var["name"]: var["valueFrom"]["secretKeyRef"]["name"] for var in container["env"]}
    assert env == {"WEBHOOK_SECRET": "webhook-secret", "GITHUB_TOKEN": "github-token"}  # the bot writes labels
    assert container["args"][container["args"].index("--repo") + 1] == "kubernetes/kubernetes"
    mount = {m["name"]: m for m in container["volumeMounts"]}["data"]
    assert mount["readOnly"] is True
    service = find("Service", "serve")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]


def test_dataflows_configmap_is_in_step_with_dataflows():
    generator = load_generator()
    assert (JOBS / "dataflows-configmap.yaml").read_text() == generator.render()
    configmap = find("ConfigMap", "dataflows")
    assert configmap["data"] == {path.name: path.read_text() for path in (ROOT / "dataflows").glob("*.yaml")}
    mounted = {vol["configMap"]["name"] for _, spec in PODS for vol in spec["volumes"] if "configMap" in vol}
    assert mounted == {"dataflows"}


def test_image_is_the_same_everywhere_and_tagged_with_the_package_version():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert {c["image"] for _, c in CONTAINERS} == {f"dffml-k8s-analysis:{setup['metadata']['version']}"}
    assert {c["imagePullPolicy"] for _, c in CONTAINERS} == {"IfNotPresent"}  # kind load, no registry
    assert "dffml-k8s-analysis:" + setup["metadata"]["version"] in (JOBS / "README.md").read_text()


def test_dockerfile_builds_a_non_root_python_311_slim_image_without_secrets_or_test_tools():
    lines = [line.strip() for line in (JOBS / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    text = "\n".join(lines)
    (base,) = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", base)
    user = [line.split()[1] for line in lines if line.startswith("USER ")][-1]
    assert re.fullmatch(r"\d+(:\d+)?", user) and int(user.split(":")[0]) == 10001
    assert "pip install --no-cache-dir --no-deps -r /src/requirements/py311.txt" in text
    assert re.search(r"pip install --no-cache-dir --no-deps --no-build-isolation /src\b", text)
    assert "test.txt" not in text and "pytest" not in (ROOT / "requirements" / "py311.txt").read_text()
    copied = [line.split()[1:-1] for line in lines if line.startswith(("COPY ", "ADD "))]
    sources = {source.rstrip("/") for group in copied for source in group}
    assert sources == {"requirements/py311.txt", "setup.py", "setup.cfg", "pyproject.toml", "README.md", "dffml_k8s_analysis",
                       "operations", "dataflows"}
    assert not re.search(r"GITHUB_TOKEN|WEBHOOK_SECRET|ARG .*(TOKEN|SECRET)", text)
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "data", "out", "__pycache__", ".pytest_cache", "*.sqlite"} <= ignored


# The containers' commands, run locally


class LocalPod:
    """A container of a manifest, run as a local process: volumes under ``root``, GitHub emulated."""

    def __init__(self, doc, root):
        spec = pod_spec(doc)
        (self.container,) = spec["containers"]
        self.workdir = root / "workdir"  # the image's /app: no checkout to lean on
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.paths = {}
        for mount in self.container.get("volumeMounts", []):
            if mount["mountPath"] in SCRATCH_MOUNTS:
                continue
            (volume,) = [vol for vol in spec["volumes"] if vol["name"] == mount["name"]]
            if "persistentVolumeClaim" in volume:
                local = root / "pvc" / volume["persistentVolumeClaim"]["claimName"]
            elif "configMap" in volume:
                local = root / "configmap" / volume["configMap"]["name"]
                local.mkdir(parents=True, exist_ok=True)
                for key, value in find("ConfigMap", volume["configMap"]["name"])["data"].items():
                    (local / key).write_text(value)
            else:
                raise AssertionError(f"no local stand-in for volume {volume}")
            local.mkdir(parents=True, exist_ok=True)
            self.paths[mount["mountPath"]] = str(local)

    def local(self, value):
        for mount, local in self.paths.items():
            if value == mount or value.startswith(mount + "/"):
                return local + value[len(mount):]
        return value

    def env(self, refs):
        """The container's env, ConfigMap and Secret keys taken from ``refs``, paths made local."""
        env = {}
        for var in self.container.get("env", []):
            if "value" in var:
                env[var["name"]] = self.local(var["value"])
            else:
                (kind, ref), = var["valueFrom"].items()
                env[var["name"]] = refs[kind, ref["name"], ref["key"]]
        return env

    def argv(self, env):
        """command + args as Kubernetes runs them: $(VAR) expanded, paths made local."""
        def expand(arg):
            return re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), arg)
        command = self.container["command"]
        head = [str(VENV_BIN / command[0])] if not command[0].startswith("/") else command[:1]
        return head + command[1:] + [self.local(expand(arg)) for arg in self.container["args"]]

    def start(self, argv, env):
        merged = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", **env)
        return subprocess.Popen(argv, cwd=str(self.workdir), env=merged, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


def finish(process):
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    return out


REFS = {("secretKeyRef", "github-token", "token"): TOKEN, ("configMapKeyRef", "export-until", "until"): UNTIL}


def test_export_and_merge_jobs_commands_run_locally_equal_what_github_serves(emulator, tmp_path):
    server = emulator(items=2000, token=TOKEN)
    job = find("Job", "export")
    pod = LocalPod(job, tmp_path)
    env = pod.env(REFS)
    argv = pod.argv(env)
    argv.insert(argv.index("-inputs") + 1, f"{server.url}=github.base_url")
    processes = [pod.start(argv, dict(env, JOB_COMPLETION_INDEX=str(index)))
                 for index in range(job["spec"]["completions"])]
    for process in processes:
        finish(process)
    shard_dir = tmp_path / "pvc" / "data" / "shards"
    assert sorted(path.name for path in shard_dir.glob("*.sqlite")) == [
        f"shard-{index}.sqlite" for index in range(job["spec"]["completions"])]

    merge = LocalPod(find("Job", "merge"), tmp_path)
    merge_env = merge.env(REFS)
    merge_argv = merge.argv(merge_env)
    merge_argv[2:2] = ["--base-url", server.url]
    store = tmp_path / "pvc" / "data" / "store" / "kubernetes__kubernetes.sqlite"
    for _ in range(2):  # a Job's pod may run twice
        assert "2000 items stored" in finish(merge.start(merge_argv, merge_env))
        assert stored(store) == served(server)


def test_a_rejected_token_fails_the_export_pod_with_a_clear_error_that_hides_it(emulator, tmp_path):
    server = emulator(items=50, token=TOKEN)
    pod = LocalPod(find("Job", "export"), tmp_path)
    env = pod.env({**REFS, ("secretKeyRef", "github-token", "token"): "not-the-token-5f3a"})
    argv = pod.argv(env)
    argv.insert(argv.index("-inputs") + 1, f"{server.url}=github.base_url")
    process = pod.start(argv, dict(env, JOB_COMPLETION_INDEX="0"))
    _, err = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "GitHub rejected the token in GITHUB_TOKEN (401 Bad credentials)" in err
    assert "not-the-token-5f3a" not in err


def update_pod(tmp_path, server):
    pod = LocalPod(find("CronJob", "update"), tmp_path)
    env = dict(pod.env(REFS), BASE_URL=server.url)
    return pod, env


def test_update_cronjob_waits_for_the_store_then_runs_the_pipeline(emulator, tmp_path, monkeypatch):
    server = emulator(items=1500, token=TOKEN, use_notes=True)
    pod, env = update_pod(tmp_path, server)
    out = finish(pod.start(pod.argv(env), env))
    assert "no store at" in out and not os.path.exists(env["STORE"])

    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    assert export(server.url, env["STORE"]) == 0
    monkeypatch.delenv("GITHUB_TOKEN")
    finish(pod.start(pod.argv(env), env))  # first model: trained, gated, promoted
    first = os.readlink(env["MODEL_DIR"])
    assert os.path.isfile(os.path.join(env["MODEL_DIR"], "metrics.json"))
    with open_store(env["STORE"]) as db:
        assert db.closers()  # the closers dataflow ran

    finish(pod.start(pod.argv(env), env))  # nothing changed: the same model serves
    assert os.readlink(env["MODEL_DIR"]) == first

    admin(server, "POST", "touch", count=20)
    finish(pod.start(pod.argv(env), env))  # new data: a new model serves
    assert os.readlink(env["MODEL_DIR"]) != first
    assert stored(env["STORE"]) == served(server)
