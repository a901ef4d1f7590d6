"""jobs/: the Kubernetes manifests validate offline, are good citizens of a multi-node cluster, and
their commands work.

The manifests need Kubernetes 1.29 (MIN_VERSION, jobs/README.md); kubernetes_validate holds the
API schemas. The export, final-pass and update containers' commands are run here as written in
the manifests (jobs/podspec.py reads them), with Secrets as files under tmp_path and GitHub
replaced by the emulator. scripts/smoke-k8s.py runs them inside the image.
"""
import configparser
import importlib.util
import os
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from dffml_k8s_analysis import errors
from dffml_k8s_analysis.cli.main import build_parser
from dffml_k8s_analysis.github.pacing import Limits
from dffml_k8s_analysis.model import tuning
from dffml_k8s_analysis.model.registry import StoreRegistry
from dffml_k8s_analysis.store import open_store

from conftest import ROOT, VENV_BIN, admin, export, served, stored

JOBS = ROOT / "jobs"
MIN_VERSION = "1.29"
# The newest field each manifest uses, and the release from which it is on by default (beta or GA)
FEATURES = {
    "backoffLimitPerIndex": "1.29",  # Job, beta 1.29 (GA 1.33)
    "maxFailedIndexes": "1.29",
    "podFailurePolicy": "1.26",  # Job, beta 1.26 (GA 1.31)
    "batch.kubernetes.io/job-completion-index": "1.28",  # the pod label jobs/README.md selects logs by
    "unhealthyPodEvictionPolicy": "1.27",  # PodDisruptionBudget, beta 1.27 (GA 1.31)
    "matchLabelKeys": "1.27",  # topologySpreadConstraints, beta 1.27
    "persistentVolumeClaimRetentionPolicy": "1.27",  # StatefulSet, beta 1.27 (GA 1.32)
    "timeZone": "1.27",  # CronJob, GA 1.27
}
# jobs/run/export: pods x windows in flight, a quarter of GitHub's 100 concurrent requests
MAX_CONCURRENT_REQUESTS = 25
TOKEN = "token-from-the-secret"
UNTIL = "2025-11-01T00:00:00Z"
IMAGE = "dffml-k8s-analysis"
WORKLOAD_COMPONENTS = {"export", "final-pass", "tune", "update", "serve"}
SECRET_DIR = "/var/run/secrets/k8s-analysis/"


def load_module(name):
    spec = importlib.util.spec_from_file_location(name, JOBS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


podspec = load_module("podspec")
FILES = sorted(path for path in JOBS.rglob("*.yaml") if path.name != "kustomization.yaml")
TEMPLATES = {JOBS / "secrets.example.yaml"}
RENDERED = {root: podspec.objects(root) for root in podspec.ROOTS}
ALL = [doc for root in ("overlays/kind", "run/export", "run/final-pass", "run/tune") for doc in RENDERED[root]]
PODS = list(podspec.pods(ALL))
CONTAINERS = [(name, c) for name, spec in PODS for c in spec.get("initContainers", []) + spec["containers"]]
OURS = [(name, c) for name, c in CONTAINERS if c["image"].startswith(IMAGE + ":")]


def load(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def find(kind, name, docs=ALL):
    (doc,) = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return doc


def job_specs():
    """(object name, Job spec) of every Job and CronJob job template."""
    for doc in ALL:
        if doc["kind"] == "Job":
            yield doc["metadata"]["name"], doc["spec"]
        elif doc["kind"] == "CronJob":
            yield doc["metadata"]["name"], doc["spec"]["jobTemplate"]["spec"]


def env_of(container):
    return {var["name"]: var for var in container.get("env", [])}


def version_key(version):
    return tuple(int(part) for part in version.split("."))


# Offline schema validation


@pytest.mark.parametrize("version", [MIN_VERSION, kubernetes_validate.utils.major_minor(kubernetes_validate.latest_version())])
@pytest.mark.parametrize("path", FILES, ids=[str(path.relative_to(JOBS)) for path in FILES])
def test_manifests_validate_against_the_kubernetes_api_schemas(path, version):
    for doc in load(path):
        assert kubernetes_validate.validate(doc, version, strict=True) == version


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (for `kubectl kustomize`) is not installed")
@pytest.mark.parametrize("root", podspec.ROOTS)
def test_every_kustomization_renders_and_validates(root):
    out = subprocess.run(["kubectl", "kustomize", str(JOBS / root)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    docs = [doc for doc in yaml.safe_load_all(out.stdout) if doc]
    for doc in docs:
        kubernetes_validate.validate(doc, MIN_VERSION, strict=True)
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "dffml-k8s-analysis"
    # jobs/podspec.py reads the same objects and images as kustomize renders
    simple = lambda objs: sorted((d["kind"], d["metadata"]["name"]) for d in objs)  # noqa: E731
    assert simple(docs) == simple(RENDERED[root])
    images = lambda objs: sorted(c["image"] for _, s in podspec.pods(objs) for c in s.get("initContainers", []) + s["containers"])  # noqa: E731
    assert images(docs) == images(RENDERED[root])


def test_validation_catches_a_misspelt_field():
    job = yaml.safe_load(yaml.safe_dump(find("Job", "export")))
    job["spec"]["backofLimitPerIndex"] = job["spec"].pop("backoffLimitPerIndex")
    with pytest.raises(kubernetes_validate.ValidationError, match="backofLimitPerIndex"):
        kubernetes_validate.validate(job, MIN_VERSION, strict=True)


def test_the_minimum_kubernetes_version_is_the_newest_feature_used_and_is_stated():
    text = "".join(path.read_text() for path in FILES) + (JOBS / "README.md").read_text()
    used = {field: version for field, version in FEATURES.items() if field in text}
    assert max(used.values(), key=version_key) == MIN_VERSION
    assert set(used) == set(FEATURES), "a feature of the table is no longer used: drop it"
    assert f"**Kubernetes {MIN_VERSION}**" in (JOBS / "README.md").read_text()
    namespace = find("Namespace", "k8s-analysis")["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce-version"] == f"v{MIN_VERSION}"


# Layout: long-running objects apart from one-shot Jobs


def test_the_base_holds_the_long_running_objects_and_run_the_one_shot_jobs():
    kinds = lambda root: {doc["kind"] for doc in RENDERED[root]}  # noqa: E731
    assert kinds("base") == {"Namespace", "NetworkPolicy", "CronJob", "Deployment", "Service", "PodDisruptionBudget"}
    assert kinds("overlays/kind") == kinds("base") | {"StatefulSet", "StorageClass"}
    assert kinds("overlays/managed") == kinds("base")  # an external database
    for root in ("run/export", "run/final-pass", "run/tune"):
        # `kubectl delete -k jobs/run/...` deletes the Job and nothing else: never the Namespace or a volume
        assert kinds(root) == {"Job"}, root
    assert not any(doc["kind"] == "Job" for doc in RENDERED["overlays/kind"])
    for root in podspec.ROOTS:
        assert not {JOBS / name for name in podspec.kustomization(JOBS / root).get("resources", [])} & TEMPLATES


def test_everything_lives_in_the_one_namespace_under_restricted_pod_security():
    namespace = find("Namespace", "k8s-analysis")
    cluster_scoped = {"Namespace", "StorageClass"}
    assert {doc["metadata"].get("namespace") for doc in ALL if doc["kind"] not in cluster_scoped} == {"k8s-analysis"}
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", mode


def test_no_pod_mounts_a_volume_that_pods_on_other_nodes_mount():
    """Pods are stateless: scratch emptyDirs and Secrets only; the one volume is the database server's own."""
    for name, spec in PODS:
        for volume in spec.get("volumes", []):
            assert set(volume) - {"name"} <= {"emptyDir", "secret"}, (name, volume)
    (database,) = [doc for doc in ALL if doc["kind"] == "StatefulSet"]
    assert database["spec"]["replicas"] == 1
    assert [t["spec"]["accessModes"] for t in database["spec"]["volumeClaimTemplates"]] == [["ReadWriteOnce"]]
    assert database["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert find("StorageClass", "k8s-analysis-retain")["reclaimPolicy"] == "Retain"
    assert not any(doc["kind"] == "PersistentVolumeClaim" for root in podspec.ROOTS for doc in RENDERED[root])


# Cluster citizenship


@pytest.mark.parametrize("name, container", CONTAINERS, ids=[f"{n}/{c['name']}" for n, c in CONTAINERS])
def test_every_container_has_requests_and_limits(name, container):
    for bound in ("requests", "limits"):
        assert set(container["resources"][bound]) >= {"cpu", "memory"}, (name, bound)


@pytest.mark.parametrize("name, spec", PODS, ids=[name for name, _ in PODS])
def test_pods_run_unprivileged_on_a_read_only_root(name, spec):
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] in (10001, 999)
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    scratch = {vol["name"] for vol in spec["volumes"] if "emptyDir" in vol}
    for container in spec.get("initContainers", []) + spec["containers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert "runAsUser" not in security or security["runAsUser"] != 0
        # HOME, TMPDIR and MPLCONFIGDIR point at /tmp in the image: it must be writable
        assert any(m["mountPath"] == "/tmp" and m["name"] in scratch for m in container["volumeMounts"])


def test_secrets_reach_pods_as_read_only_files_and_tokens_by_least_privilege():
    assert "Secret" not in {doc["kind"] for doc in ALL}
    secret_like = re.compile(r"TOKEN|SECRET|PASSWORD|KEY", re.I)
    tokens = {}
    for name, container in CONTAINERS:
        env = env_of(container)
        assert "GITHUB_TOKEN" not in env and "POSTGRES_PASSWORD" not in env, name  # never an environment variable
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        volumes = {vol["name"]: vol for vol in dict(PODS)[name]["volumes"]}
        for var in env.values():
            if not secret_like.search(var["name"]):
                continue
            if var["name"].endswith("_FILE"):  # a file of a Secret volume mounted read-only
                directory, file_name = var["value"].rsplit("/", 1)
                assert var["value"].startswith(SECRET_DIR) and mounts[directory]["readOnly"] is True, (name, var)
                volume = volumes[mounts[directory]["name"]]["secret"]
                assert volume["defaultMode"] == 0o400
                if var["name"] == "GITHUB_TOKEN_FILE":
                    tokens[name] = volume["secretName"]
            else:
                assert set(var) == {"name", "valueFrom"} and "secretKeyRef" in var["valueFrom"], (name, var)
    assert tokens == {"export": "github-token-read", "final-pass": "github-token-read", "update": "github-token-read",
                      "serve": "github-token-write"}  # the bot alone writes; tuning needs no token
    text = "".join(path.read_text() for path in FILES)
    assert not re.search(r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_", text)
    examples = [doc for doc in load(JOBS / "secrets.example.yaml") if doc["kind"] == "Secret"]
    referenced = {vol["secret"]["secretName"] for _, spec in PODS for vol in spec["volumes"] if "secret" in vol} | {
        var["valueFrom"]["secretKeyRef"]["name"] for _, c in CONTAINERS for var in c.get("env", [])
        if "secretKeyRef" in var.get("valueFrom", {})}
    assert {doc["metadata"]["name"] for doc in examples} == referenced
    assert all(value.startswith("REPLACE-") for doc in examples for key, value in doc["stringData"].items() if key != "spec")
    assert not re.search(r"postgresql://[^@\s]*:[^@\s]*@", text), "a password inside a store spec"


def test_one_shot_jobs_fail_fast_on_configuration_errors_and_ignore_disruptions():
    specs = dict(job_specs())
    assert set(specs) == {"export", "final-pass", "tune", "update"}
    fail_fast = sorted([errors.EXIT_ERROR, errors.EXIT_USAGE])
    assert errors.EXIT_TRANSIENT not in fail_fast and errors.EXIT_BUG not in fail_fast
    for name, spec in specs.items():
        assert spec["ttlSecondsAfterFinished"] > 0, name
        assert spec["activeDeadlineSeconds"] > 0, name
        assert spec["template"]["spec"]["restartPolicy"] == "Never", name  # podFailurePolicy needs it
        if spec.get("completionMode") == "Indexed":
            assert 0 <= spec["maxFailedIndexes"] <= spec["completions"] and spec["backoffLimitPerIndex"] >= 1
        else:
            assert spec["backoffLimit"] >= 1, name
        rules = spec["podFailurePolicy"]["rules"]
        (fail,) = [rule for rule in rules if rule["action"] == "FailJob"]
        assert fail["onExitCodes"]["operator"] == "In" and sorted(fail["onExitCodes"]["values"]) == fail_fast, name
        names = {c["name"] for c in spec["template"]["spec"]["containers"]}
        assert fail["onExitCodes"].get("containerName", next(iter(names))) in names
        (ignore,) = [rule for rule in rules if rule["action"] == "Ignore"]
        assert ignore["onPodConditions"] == [{"type": "DisruptionTarget", "status": "True"}], name
    cron = find("CronJob", "update")["spec"]
    assert cron["concurrencyPolicy"] == "Forbid" and cron["startingDeadlineSeconds"] > 0
    assert cron["successfulJobsHistoryLimit"] >= 1 and cron["failedJobsHistoryLimit"] >= 1


def test_containers_run_k8s_analysis_commands_and_no_shell():
    """One-line errors in the logs: k8s-analysis prints one, `dffml dataflow run` a traceback."""
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, container in OURS:
        assert container["command"] == ["k8s-analysis"], name
        assert container["args"][0] in commands, name


@pytest.mark.parametrize("name, container", OURS, ids=[f"{n}/{c['name']}" for n, c in OURS])
def test_thread_pools_are_sized_to_the_cpu_limit(name, container):
    cpus = int(container["resources"]["limits"]["cpu"])
    env = {var["name"]: var.get("value") for var in container["env"]}
    assert env["OMP_NUM_THREADS"] == str(cpus)
    if container["args"][0] in ("serve", "pipeline", "tune") or "TF_NUM_INTRAOP_THREADS" in env:
        assert (env["TF_NUM_INTRAOP_THREADS"], env["TF_NUM_INTEROP_THREADS"]) == (str(cpus), "1"), name


def test_the_image_is_set_once_through_kustomize_images():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    for path in FILES:  # the manifests name the image without a tag: kustomize sets it
        for doc in load(path):
            for _, spec in podspec.pods([doc]):
                for container in spec.get("initContainers", []) + spec["containers"]:
                    assert ":" not in container["image"] and "@" not in container["image"], path
    (image,) = podspec.kustomization(JOBS / "components" / "common")["images"]
    assert image == {"name": IMAGE, "newName": IMAGE, "newTag": setup["metadata"]["version"]}
    for root in podspec.ROOTS:  # every kustomization includes it, directly or through the base
        assert {c["image"] for _, s in podspec.pods(RENDERED[root]) for c in s["containers"]} - {"postgres:15-bookworm"} \
            <= {f"{IMAGE}:{image['newTag']}"}, root
    assert f"{IMAGE}:{image['newTag']}" in (JOBS / "README.md").read_text()


def test_serving_survives_drains_and_spreads_over_nodes():
    deployment = find("Deployment", "serve")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pdb = find("PodDisruptionBudget", "serve")["spec"]
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"  # a 503 (no model yet) pod never blocks a drain
    assert pdb["selector"] == spec["selector"]
    spread = spec["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert all(c["labelSelector"] == spec["selector"] and c["whenUnsatisfiable"] == "ScheduleAnyway" for c in spread)
    (container,) = spec["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models/kubernetes-analysis"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["args"][:3] == ["serve", "--models", "$(K8S_ANALYSIS_STORE)"]
    assert container["args"][container["args"].index("--repo") + 1] == "kubernetes/kubernetes"
    service = find("Service", "serve")
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]


def test_network_policies_deny_by_default_and_allow_what_the_workloads_need():
    policies = {doc["metadata"]["name"]: doc["spec"] for doc in ALL if doc["kind"] == "NetworkPolicy"}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policies["serve-ingress"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    egress = policies["egress"]
    (selector,) = egress["podSelector"]["matchExpressions"]
    components = {doc["metadata"]["labels"]["app.kubernetes.io/component"] for doc in ALL
                  if podspec.pod_spec(doc) is not None and doc["kind"] != "StatefulSet"}
    assert set(selector["values"]) == components == WORKLOAD_COMPONENTS
    ports = sorted((p["port"], p["protocol"]) for rule in egress["egress"] for p in rule["ports"])
    assert ports == [(53, "TCP"), (53, "UDP"), (443, "TCP"), (5432, "TCP")]
    (database,) = policies["postgres-ingress"]["ingress"]
    assert set(database["from"][0]["podSelector"]["matchExpressions"][0]["values"]) == WORKLOAD_COMPONENTS
    managed = {doc["metadata"]["name"]: doc["spec"] for doc in RENDERED["overlays/managed"] if doc["kind"] == "NetworkPolicy"}
    assert "postgres-ingress" not in managed


def test_export_job_shards_match_its_flags_and_stay_under_githubs_concurrency_limit():
    spec = find("Job", "export")["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    args = container["args"]
    flag = lambda name: args[args.index(name) + 1]  # noqa: E731
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == int(flag("--shards")) > 1
    assert spec["parallelism"] < spec["completions"]
    assert spec["parallelism"] * int(flag("--workers")) <= MAX_CONCURRENT_REQUESTS
    # the pods divide the token's pacing budget between them, and each pod's workers fit its share
    share = env_of(container)["GITHUB_PACE_SHARE"]
    assert int(share["value"]) == spec["parallelism"]
    assert int(flag("--workers")) <= Limits.from_env({"GITHUB_PACE_SHARE": share["value"]}).max_in_flight
    assert flag("--until") == "$(EXPORT_UNTIL)" and flag("--store") == "$(K8S_ANALYSIS_STORE)"
    assert env_of(container)["EXPORT_UNTIL"]["valueFrom"]["configMapKeyRef"] == {"name": "export-until", "key": "until"}


def test_tune_job_runs_one_pod_per_grid_point():
    spec = find("Job", "tune")["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == len(tuning.grid())
    (container,) = spec["template"]["spec"]["containers"]
    assert container["args"][0] == "tune" and "--index" not in container["args"]  # $JOB_COMPLETION_INDEX


def test_dockerfile_builds_a_non_root_python_311_image_without_secrets_or_test_tools():
    lines = [line.strip() for line in (JOBS / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    text = "\n".join(lines)
    (default,) = [line.split("=", 1)[1] for line in lines if line.startswith("ARG BASE_IMAGE=")]
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", default)
    # pinned by --build-arg; the serving stage has no TensorFlow, the default one adds it
    assert [line for line in lines if line.startswith("FROM ")] == ["FROM ${BASE_IMAGE} AS serving", "FROM serving"]
    user = [line.split()[1] for line in lines if line.startswith("USER ")][-1]
    assert re.fullmatch(r"\d+(:\d+)?", user) and int(user.split(":")[0]) == 10001
    assert "slim-lock /src/requirements/py311.txt > /src/requirements/slim.txt" in text
    assert "pip install --no-cache-dir --no-deps -r /src/requirements/slim.txt" in text
    assert "pip install --no-cache-dir --no-deps -r /tmp/py311.txt" in text.split("FROM serving")[1]
    assert re.search(r"pip install --no-cache-dir --no-deps --no-build-isolation /src\b", text)
    assert "test.txt" not in text and "pytest" not in (ROOT / "requirements" / "py311.txt").read_text()
    copied = [line.split()[1:-1] for line in lines if line.startswith(("COPY ", "ADD "))]
    sources = {source.rstrip("/") for group in copied for source in group}
    assert sources == {"requirements/py311.txt", "requirements/train-only.txt", "scripts/slim-lock", "setup.py", "setup.cfg", "pyproject.toml", "README.md", "dffml_k8s_analysis",
                       "operations", "dataflows"}
    assert not re.search(r"GITHUB_TOKEN|WEBHOOK_SECRET|ARG .*(TOKEN|SECRET|PASSWORD)", text)
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "data", "out", "__pycache__", ".pytest_cache", "*.sqlite", "tests", "bench"} <= ignored


# The containers' commands, run locally


class Local:
    """Runs the containers of a workload as local processes: Secrets as files under ``root``, GitHub emulated."""

    def __init__(self, root, server, store, secrets):
        self.root, self.server, self.store = root, server, str(store)
        self.values = {("secret", "store", "spec"): self.store, ("secret", "store", "password"): "unused-by-sqlite",
                       ("configMap", "export-until", "until"): UNTIL, **secrets}
        self.shards = str(root / "shards" / "shard-{index}.sqlite")

    def containers(self, workload):
        docs = [doc for doc in ALL if doc["metadata"]["name"] == workload and podspec.pod_spec(doc)]
        return list(podspec.containers(docs, lambda kind, name, key: self.values[kind, name, key]))

    def start(self, container, **env):
        paths = {}
        for mount in container.mounts:
            if mount.kind == "secret":
                local = self.root / "secrets" / mount.source
                local.mkdir(parents=True, exist_ok=True)
                for (kind, name, key), value in self.values.items():
                    if kind == "secret" and name == mount.source and (not mount.items or key in mount.items):
                        (local / mount.items.get(key, key)).write_text(value)
                paths[mount.path] = str(local)
        local = lambda value: next((path + value[len(mount):] for mount, path in paths.items()  # noqa: E731
                                    if value.startswith(mount + "/")), value)
        argv, _ = podspec.stand_ins(container, self.store, self.shards)
        argv = [str(VENV_BIN / argv[0])] + [self.server.url if arg == "https://api.github.com" else local(arg)
                                             for arg in argv[1:]]
        environ = {key: value for key, value in os.environ.items() if not key.startswith("GITHUB_TOKEN")}
        environ.update({key: local(value) for key, value in container.env.items()}, **env)
        workdir = self.root / "workdir"  # the image's /app: no checkout to lean on
        workdir.mkdir(exist_ok=True)
        return subprocess.Popen(argv, cwd=str(workdir), env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)


def finish(process, status=0):
    out, err = process.communicate(timeout=300)
    assert process.returncode == status, err
    return out, err


SECRETS = {("secret", "github-token-read", "token"): TOKEN, ("secret", "github-token-write", "token"): TOKEN}


def test_export_and_final_pass_jobs_commands_run_locally_equal_what_github_serves(emulator, tmp_path):
    server = emulator(items=2000, token=TOKEN)
    local = Local(tmp_path, server, tmp_path / "store.sqlite", SECRETS)
    (export_pod,) = local.containers("export")
    completions = find("Job", "export")["spec"]["completions"]
    for process in [local.start(export_pod, JOB_COMPLETION_INDEX=str(index)) for index in range(completions)]:
        finish(process)
    (final,) = local.containers("final-pass")
    for _ in range(2):  # a Job's pod may run twice
        out, _ = finish(local.start(final))
        assert "2000 items stored" in out and "timelines of 2000 items" in out
        assert stored(local.store) == served(server)


def test_a_rejected_token_fails_the_export_pod_with_the_status_that_fails_the_job(emulator, tmp_path):
    server = emulator(items=50, token=TOKEN)
    local = Local(tmp_path, server, tmp_path / "store.sqlite",
                  {**SECRETS, ("secret", "github-token-read", "token"): "not-the-token-5f3a"})
    (export_pod,) = local.containers("export")
    _, err = finish(local.start(export_pod, JOB_COMPLETION_INDEX="0"), status=errors.EXIT_ERROR)
    assert err.strip() == ("k8s-analysis: error: GitHub rejected the token in GITHUB_TOKEN_FILE "
                           f"({tmp_path}/secrets/github-token-read/token) (401 Bad credentials)")
    assert errors.EXIT_ERROR in find("Job", "export")["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"]


def test_update_cronjob_fails_in_one_line_until_the_store_exists_then_runs_the_pipeline(emulator, tmp_path, monkeypatch):
    server = emulator(items=1500, token=TOKEN, use_notes=True)
    local = Local(tmp_path, server, tmp_path / "store.sqlite", SECRETS)
    walk, pipeline = local.containers("update")
    assert (walk.init, pipeline.init) == (True, False)
    _, err = finish(local.start(walk), status=errors.EXIT_ERROR)
    assert err.strip() == f"k8s-analysis: error: store {local.store} does not exist: run `k8s-analysis export` first"

    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    assert export(server.url, local.store) == 0
    monkeypatch.delenv("GITHUB_TOKEN")

    def run():
        finish(local.start(walk))
        return finish(local.start(pipeline))[0]

    def statuses():
        return [row["status"] for row in StoreRegistry(local.store).versions()]

    assert "promoted" in run()  # first model: trained, gated, promoted in the store (--models)
    assert statuses() == ["serving"]
    with open_store(local.store) as db:
        assert db.closers()  # the timeline step ran, who closed each item with it
        assert db.execute("SELECT COUNT(*) FROM timeline")[0][0] == 1500
    # (nothing changed: the same model serves; tested in-process by test_pipeline.py and test_registry.py, so the
    # containers' processes, each importing TensorFlow, run twice rather than three times)
    admin(server, "POST", "touch", count=20)
    run()  # new data: a candidate answers its share beside the serving model
    assert statuses() == ["serving", "canary"]
    assert stored(local.store) == served(server)
