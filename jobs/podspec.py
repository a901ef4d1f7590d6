"""Read jobs/ as Kubernetes would: a kustomization's objects, and each container as it would run.

tests/test_jobs.py runs the containers as local processes and scripts/smoke-k8s.py inside the
image; both take a container's command line, environment and mounts from here, so they run
what the manifests say. Only what jobs/ uses of kustomize is done (resources, components,
images); `kubectl kustomize` renders the rest (patches), which these runners do not need.
"""
import dataclasses
import pathlib
import re
from typing import Callable, Dict, Iterator, List, Tuple

import yaml

JOBS = pathlib.Path(__file__).resolve().parent
ROOTS = ("overlays/kind", "overlays/managed", "base", "run/export", "run/final-pass", "run/tune")
WORKLOADS = ("CronJob", "Job", "Deployment", "StatefulSet")


def kustomization(directory: pathlib.Path) -> dict:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def objects(root: str) -> List[dict]:
    """The objects of the kustomization ``root`` (relative to jobs/), images set as kustomize sets them."""
    docs, images = [], {}

    def walk(directory: pathlib.Path) -> None:
        spec = kustomization(directory)
        for entry in spec.get("resources", []) + spec.get("components", []):
            path = directory / entry
            if path.is_dir():
                walk(path)
            else:
                docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
        for image in spec.get("images", []):
            images[image["name"]] = image

    walk(JOBS / root)
    for _, spec in pods(docs):
        for container in spec.get("initContainers", []) + spec["containers"]:
            image = images.get(container["image"])
            if image:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    return docs


def pod_spec(doc: dict):
    """The pod template's spec of a workload (None for other kinds)."""
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if doc["kind"] in WORKLOADS:
        return doc["spec"]["template"]["spec"]
    return None


def pods(docs: List[dict]) -> Iterator[Tuple[str, dict]]:
    """(workload name, pod spec) of every workload in ``docs``."""
    for doc in docs:
        spec = pod_spec(doc)
        if spec is not None:
            yield doc["metadata"]["name"], spec


@dataclasses.dataclass
class Mount:
    path: str
    kind: str  # "secret", "emptyDir" or "configMap"
    source: str  # the Secret's or ConfigMap's name, the emptyDir's volume name
    items: Dict[str, str]  # key -> file name (all keys when empty)
    read_only: bool


@dataclasses.dataclass
class Container:
    workload: str
    name: str
    init: bool
    image: str
    argv: List[str]
    env: Dict[str, str]
    mounts: List[Mount]
    user: Tuple[int, int]
    read_only_root: bool
    dropped: List[str]
    no_new_privileges: bool
    cpu_limit: str
    memory_limit: str


def containers(docs: List[dict], refs: Callable[[str, str, str], str]) -> Iterator[Container]:
    """Every container of ``docs`` in run order (init containers first), as it would run.

    ``refs(kind, name, key)`` gives the value of a ``secretKeyRef``/``configMapKeyRef``
    (kind "secret" or "configMap"); ``$(VAR)`` in command and args is expanded as the kubelet does.
    """
    for workload, spec in pods(docs):
        volumes = {vol["name"]: vol for vol in spec.get("volumes", [])}
        pod = spec.get("securityContext", {})
        for init, container in [(True, c) for c in spec.get("initContainers", [])] + [(False, c) for c in spec["containers"]]:
            env = {}
            for var in container.get("env", []):
                if "value" in var:
                    env[var["name"]] = var["value"]
                else:
                    (kind, ref), = var["valueFrom"].items()
                    env[var["name"]] = refs(kind[:-len("KeyRef")], ref["name"], ref["key"])
            expand = lambda arg: re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), arg)  # noqa: E731, B023 - used in this iteration
            mounts = []
            for mount in container.get("volumeMounts", []):
                volume = volumes[mount["name"]]
                kind = next(k for k in ("secret", "emptyDir", "configMap") if k in volume)
                source = volume[kind].get("secretName") or volume[kind].get("name") or mount["name"]
                items = {item["key"]: item["path"] for item in (volume[kind] or {}).get("items", [])}
                mounts.append(Mount(mount["mountPath"], kind, source, items, bool(mount.get("readOnly"))))
            security = container.get("securityContext", {})
            limits = container["resources"]["limits"]
            yield Container(
                workload, container["name"], init, container["image"],
                [expand(arg) for arg in container.get("command", []) + container.get("args", [])], env, mounts,
                (security.get("runAsUser", pod.get("runAsUser")), security.get("runAsGroup", pod.get("runAsGroup"))),
                bool(security.get("readOnlyRootFilesystem")), security.get("capabilities", {}).get("drop", []),
                security.get("allowPrivilegeEscalation") is False, str(limits["cpu"]), str(limits["memory"]),
            )


def stand_ins(container: Container, store: str, shards: str) -> Tuple[List[str], List[str]]:
    """The container's argv as it runs on a SQLite ``store`` (the local tests), and what was changed
    (empty: as written).

    One SQLite file cannot take every export pod at once: the export pods write the
    shards ``shards`` (a path holding ``{index}``) and the final pass merges them.
    """
    argv, notes = list(container.argv), []
    if not store.startswith("postgresql://"):
        if "--shards" in argv:
            argv[argv.index("--store") + 1] = shards
            notes.append(f"SQLite: --store {shards}")
        elif container.workload == "final-pass":
            argv = [argv[0], "merge"] + [arg for arg in argv[2:] if arg != "--update"] + [shards.replace("{index}", "*")]
            notes.append(f"SQLite: merges {shards.replace('{index}', '*')}")
    return argv, notes
