#!/usr/bin/env python3
"""Smoke run of jobs/: build the image, run every workload's containers in it as a pod would.

    scripts/smoke-k8s.sh [--store SPEC] [--engine podman|docker] [--base-image IMAGE] [--items N]

Each container runs with its manifest's command line, environment, user, read-only root,
dropped capabilities, no privilege escalation, CPU and memory limits, /tmp as a tmpfs (the
emptyDir) and its Secrets as read-only files, on the host's network, against the GitHub
emulator (`k8s-analysis emulate-github`) on the host. The order is the newcomer's of
jobs/README.md: export (every index), the final pass (twice: a Job's pod may run twice), one
tuning point, the update CronJob (its closers init container, then the pipeline), the serving
Deployment (health, readiness, a prediction), and a rejected token (exit 1, one line).

--store is the store's spec: postgresql://USER@HOST:PORT/DB (the password file's content in
$SMOKE_DB_PASSWORD, never on a command line; --start-postgres USER starts a throwaway server
as USER, e.g. postgres, with initdb and pg_ctl, and stops it at the end), or by default an SQLite file in a host directory
mounted into the containers, a stand-in that pods on one machine can share and a cluster cannot
(jobs/podspec.py stand_ins: the export pods then write SQLite shards that the final pass merges). With no --base-image and no registry, the base is built from Debian's
packages (debootstrap) and imported as a local tag. Prints a table and ends with one line of JSON.
"""
import argparse
import hashlib
import hmac
import importlib.util
import json
import os
import pathlib
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
LOCAL_BASE = "localhost/python:3.11-bookworm-local"
IMAGE = "localhost/dffml-k8s-analysis:smoke"
TOKEN = "smoke-token"
REPO = "kubernetes/kubernetes"  # the repository of the manifests' --repo
UNTIL = "2025-11-01T00:00:00Z"
# the host's pip configuration, so that a mirror or a proxy's CA also serves the build
# Open files and processes at or below the host's limits: a machine without CAP_SYS_RESOURCE refuses
# podman's defaults ("error setting rlimit type 6/7"); a pod needs far fewer
ULIMITS = ["--ulimit", "nproc=4096:4096", "--ulimit", "nofile=%d:%d" % ((min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 65536),) * 2)]
PIP_MOUNTS = ["/etc/pip.conf", "/etc/xdg/pip", "/opt/wheels", "/opt/pypi", "/opt/pypi-more", "/etc/ssl/certs"]


def load_podspec():
    spec = importlib.util.spec_from_file_location("podspec", ROOT / "jobs" / "podspec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


podspec = load_podspec()


def sh(*argv, **kwargs):
    return subprocess.run(argv, check=True, text=True, capture_output=True, **kwargs).stdout


def base_image(engine: str, work: pathlib.Path) -> str:
    """A local Python 3.11 base: Debian bookworm's python3.11 and venv, from the apt mirror."""
    if subprocess.run([engine, "image", "exists", LOCAL_BASE]).returncode == 0:
        return LOCAL_BASE
    rootfs = work / "rootfs"
    sh("debootstrap", "--variant=minbase", "--include=python3.11,python3.11-venv,ca-certificates",
       "bookworm", str(rootfs), "http://deb.debian.org/debian")
    shutil.rmtree(rootfs / "var" / "lib" / "apt" / "lists", ignore_errors=True)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run([engine, "import", "-", LOCAL_BASE], stdin=tar.stdout, check=True, capture_output=True)
    tar.wait()
    return LOCAL_BASE


def build(engine: str, base: str, no_cache: bool) -> dict:
    mounts = [arg for path in PIP_MOUNTS if os.path.exists(path) for arg in ("-v", f"{path}:{path}:ro")]
    started = time.monotonic()
    sh(engine, "build", "--network", "host", *mounts, *(["--no-cache"] if no_cache else []), "--build-arg", f"BASE_IMAGE={base}",
       "-f", "jobs/Dockerfile", "-t", IMAGE, ".", cwd=str(ROOT))
    seconds = time.monotonic() - started
    size = int(sh(engine, "image", "inspect", "--format", "{{.Size}}", IMAGE).strip())
    return {"build_s": round(seconds, 1), "image_mb": round(size / 1e6)}


def start_postgres(work: pathlib.Path, user: str, port: int) -> Tuple[str, str, pathlib.Path]:
    """A throwaway PostgreSQL server on 127.0.0.1:``port``, run as ``user`` (not root); (spec, password, data)."""
    data, password = work / "pgdata", secrets.token_hex(16)
    data.mkdir(mode=0o700)
    pwfile = work / "pgpass"
    pwfile.write_text(password)
    for path in (work, data, pwfile):
        shutil.chown(path, user)
    run_as = ["runuser", "-u", user, "--"]
    # the socket (only USER can reach it) trusts, for createdb below; TCP, what the pods use, needs the password
    sh(*run_as, "initdb", "-D", str(data), "-U", "k8s", "--pwfile", str(pwfile), "--auth-local=trust",
       "--auth-host=scram-sha-256")
    pwfile.unlink()
    sh(*run_as, "pg_ctl", "-D", str(data), "-l", str(data / "log"), "-w", "start",
       "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1")
    sh(*run_as, "createdb", "-h", str(data), "-p", str(port), "-U", "k8s", "k8s")
    return f"postgresql://k8s@127.0.0.1:{port}/k8s", password, data


def stop_postgres(user: str, data: pathlib.Path) -> None:
    subprocess.run(["runuser", "-u", user, "--", "pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop"],
                   capture_output=True)


def memory_mb(value: str) -> int:
    units = {"": 1, "k": 2 ** 10, "m": 2 ** 20, "g": 2 ** 30, "ki": 2 ** 10, "mi": 2 ** 20, "gi": 2 ** 30}
    number = value.rstrip("KMGimgk")
    return int(float(number) * units[value[len(number):].lower()]) // 2 ** 20


class Pods:
    """Runs containers of the manifests in the image; records each one's status, time and peak memory."""

    def __init__(self, engine, work, server_url, store, secrets):
        self.engine, self.work, self.server_url, self.store = engine, work, server_url, store
        self.secrets = secrets  # (kind, name, key) -> value
        self.shared = work / "shared"  # the SQLite store stand-in and its shards (jobs/podspec.py stand_ins)
        self.shared.mkdir(exist_ok=True)
        self.shared.chmod(0o777)
        self.results = []
        self.shards = "/smoke/shard-{index}.sqlite"
        docs = [doc for root in ("overlays/kind", "run/export", "run/final-pass", "run/tune")
                for doc in podspec.objects(root)]
        self.docs = docs

    def containers(self, workload):
        docs = [doc for doc in self.docs if doc["metadata"]["name"] == workload and podspec.pod_spec(doc)]
        return list(podspec.containers(docs, lambda kind, name, key: self.secrets[kind, name, key]))

    def argv(self, container, name, env):
        argv, notes = podspec.stand_ins(container, self.store, self.shards)
        argv = [self.server_url if arg == "https://api.github.com" else arg for arg in argv]
        run = [self.engine, "run", "--name", name, "--network", "host", *ULIMITS,
               "--user", "%d:%d" % container.user, "--cap-drop", "ALL", "--cpus", container.cpu_limit,
               "--memory", f"{memory_mb(container.memory_limit)}m", "--entrypoint", argv[0]]
        if container.read_only_root:
            run.append("--read-only")
        if container.no_new_privileges:
            run += ["--security-opt", "no-new-privileges"]
        for mount in container.mounts:
            if mount.kind == "emptyDir":
                run += ["--tmpfs", f"{mount.path}:rw,mode=1777"]
            elif mount.kind == "secret":
                directory = self.work / "secrets" / f"{container.workload}-{mount.source}"
                directory.mkdir(parents=True, exist_ok=True)
                for (kind, secret, key), value in self.secrets.items():
                    if kind == "secret" and secret == mount.source and (not mount.items or key in mount.items):
                        path = directory / mount.items.get(key, key)
                        path.write_text(value)
                        os.chown(path, *container.user)
                        path.chmod(0o400)
                run += ["-v", f"{directory}:{mount.path}:ro"]
        if notes or not self.store.startswith("postgresql://"):
            run += ["-v", f"{self.shared}:/smoke"]
        for key, value in dict(container.env, **env).items():
            run += ["-e", f"{key}={value}"]
        return run + [IMAGE] + argv[1:], notes

    def start(self, container, label, **env):
        name = "smoke-%s-%d" % (re.sub(r"[^a-zA-Z0-9_.-]+", "-", label).strip("-"), os.getpid())
        argv, notes = self.argv(container, name, env)
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = [0]

        def watch():
            while process.poll() is None:
                out = subprocess.run([self.engine, "stats", "--no-stream", "--format", "{{.MemUsage}}", name],
                                     capture_output=True, text=True).stdout.strip()
                if out:
                    peak[0] = max(peak[0], memory_mb(out.split("/")[0].strip().replace("B", "")))
                time.sleep(1)

        threading.Thread(target=watch, daemon=True).start()
        return {"label": label, "process": process, "peak": peak, "notes": notes, "started": time.monotonic(),
                "name": name}

    def finish(self, run, expect=0):
        out, err = run["process"].communicate(timeout=1800)
        subprocess.run([self.engine, "rm", "-f", run["name"]], capture_output=True)
        status = run["process"].returncode
        last = (err.strip() or out.strip()).splitlines()[-1:] or [""]
        result = {"workload": run["label"], "status": status, "ok": status == expect,
                  "seconds": round(time.monotonic() - run["started"], 1), "peak_mb": run["peak"][0],
                  "last_line": last[0][:160], "stand_ins": run["notes"]}
        self.results.append(result)
        print(f"{'ok  ' if result['ok'] else 'FAIL'} {result['workload']:<22} exit {status:<3} "
              f"{result['seconds']:>6.1f} s {result['peak_mb']:>5} MiB  {result['last_line']}", flush=True)
        return out, err

    def run(self, container, label, expect=0, **env):
        return self.finish(self.start(container, label, **env), expect)


def wait_http(url, deadline_s, status=200):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == status:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def webhook(base: str, server_url: str, secret: str) -> Tuple[str, str]:
    """A signed pull_request delivery for one of the emulator's PRs, sent twice: (what became of the first,
    the answer to the second), the bot's memory being in the store."""
    listing = urllib.request.Request(f"{server_url}/repos/{REPO}/issues?state=all&per_page=100",
                                     headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(listing, timeout=30) as response:
        pull = next(item for item in json.load(response) if "pull_request" in item)
    body = json.dumps({"action": "opened", "number": pull["number"], "pull_request": pull,
                       "repository": {"full_name": REPO}}).encode()
    delivery = secrets.token_hex(16)
    headers = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery, "Content-Type": "application/json",
               "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}
    answers = []
    for _ in range(2):
        with urllib.request.urlopen(urllib.request.Request(f"{base}/webhook", data=body, headers=headers),
                                    timeout=30) as response:
            answers.append(response.status)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{base}/webhook/deliveries/{delivery}", timeout=10) as response:
                state = json.load(response)["state"]
            if state != "queued":
                break
            time.sleep(0.5)
    return state, f"{answers[0]} then {answers[1]}"


def serve(pods, port):
    (container,) = pods.containers("serve")
    container.argv[container.argv.index("--port") + 1] = str(port)
    run = pods.start(container, "serve")
    base = f"http://127.0.0.1:{port}"
    healthy = wait_http(f"{base}/healthz", 150)
    ready = healthy and wait_http(f"{base}/v1/models/kubernetes-analysis", 120)
    answer, delivered, answers = "", "", ""
    if ready:
        request = urllib.request.Request(f"{base}/v1/models/kubernetes-analysis:predict",
                                         data=json.dumps({"text": "Fix a panic in kubelet"}).encode())
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = response.read().decode()[:120]
        delivered, answers = webhook(base, pods.server_url, pods.secrets["secret", "webhook-secret", "secret"])
        time.sleep(2)  # one more sample of the memory watcher after the prediction
    subprocess.run([pods.engine, "stop", "-t", "10", run["name"]], capture_output=True)
    pods.finish(run)  # stopped with SIGTERM: a graceful exit, 0
    bot_ok = ready and delivered == "done" and answers == "202 then 200"
    pods.results[-1].update(ok=bot_ok and pods.results[-1]["ok"], healthy=healthy, ready=ready, prediction=answer,
                            delivery=delivered, answers=answers)
    print(f"     serve: healthy {healthy}, ready {ready}, prediction {answer}; webhook delivery {delivered}, "
          f"answered {answers}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="/smoke/store.sqlite", help="store spec (default: an SQLite stand-in)")
    parser.add_argument("--start-postgres", metavar="USER",
                        help="start a throwaway PostgreSQL server as USER (not root) and use it as the store")
    parser.add_argument("--postgres-port", type=int, default=55432)
    parser.add_argument("--engine", default=shutil.which("podman") and "podman" or "docker")
    parser.add_argument("--base-image", help="the Dockerfile's BASE_IMAGE (default: a local Debian build)")
    parser.add_argument("--items", type=int, default=3000, help="emulated issues and PRs (default: %(default)s)")
    parser.add_argument("--skip-build", action="store_true", help=f"reuse {IMAGE}")
    parser.add_argument("--no-cache", action="store_true", help="build every layer anew (the build time of a fresh machine)")
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="smoke-k8s-"))
    postgres = None
    if args.start_postgres:
        args.store, password, postgres = start_postgres(work, args.start_postgres, args.postgres_port)
        os.environ["SMOKE_DB_PASSWORD"] = password
    figures = {"engine": args.engine, "store": args.store}
    started = time.monotonic()
    base = args.base_image or base_image(args.engine, work)
    figures["base_image"] = base
    figures["base_s"] = round(time.monotonic() - started, 1)
    if not args.skip_build:
        figures.update(build(args.engine, base, args.no_cache))
    print(f"image {IMAGE}: {figures.get('build_s', '-')} s build, {figures.get('image_mb', '-')} MB, base {base}", flush=True)

    portfile = work / "port"
    emulator = subprocess.Popen([str(VENV_BIN / "k8s-analysis"), "emulate-github", "--items", str(args.items),
                                 "--token", TOKEN, "--portfile", str(portfile)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not portfile.exists() or not portfile.read_text().strip():
            assert emulator.poll() is None and time.monotonic() < deadline, "the emulator did not start"
            time.sleep(0.2)
        server_url = f"http://127.0.0.1:{portfile.read_text().strip()}"
        secrets = {("secret", "github-token-read", "token"): TOKEN, ("secret", "github-token-write", "token"): TOKEN,
                   ("secret", "store", "spec"): args.store,
                   ("secret", "store", "password"): os.environ.get("SMOKE_DB_PASSWORD", "unused-by-sqlite"),
                   ("secret", "webhook-secret", "secret"): "smoke-webhook-secret",
                   ("configMap", "export-until", "until"): UNTIL}
        pods = Pods(args.engine, work, server_url, args.store, secrets)
        (export,) = pods.containers("export")
        job = next(doc for doc in pods.docs if doc["metadata"]["name"] == "export")["spec"]
        indexes = list(range(job["completions"]))
        for first in range(0, len(indexes), job["parallelism"]):  # parallelism pods at a time
            batch = [pods.start(export, f"export[{i}]", JOB_COMPLETION_INDEX=str(i))
                     for i in indexes[first:first + job["parallelism"]]]
            for run in batch:
                pods.finish(run)
        (final,) = pods.containers("final-pass")
        pods.run(final, "final-pass")
        pods.run(final, "final-pass (again)")
        (tune,) = pods.containers("tune")
        pods.run(tune, "tune[0]", JOB_COMPLETION_INDEX="0")
        closers, pipeline = pods.containers("update")
        pods.run(closers, "update: closers")
        pods.run(pipeline, "update: pipeline")
        serve(pods, 18080)
        bad = dict(secrets)
        bad["secret", "github-token-read", "token"] = "not-the-token"
        pods.secrets, pods.shards = bad, "/smoke/bad-token/shard-{index}.sqlite"  # a pod that has work to do
        _, err = pods.run(export, "export, bad token", expect=1, JOB_COMPLETION_INDEX="0")
        pods.results[-1]["ok"] &= len(err.strip().splitlines()) == 1 and "not-the-token" not in err
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
        if postgres:
            stop_postgres(args.start_postgres, postgres)
    figures["workloads"] = pods.results
    figures["stand_ins"] = sorted({note for result in pods.results for note in result["stand_ins"]})
    figures["ok"] = all(result["ok"] for result in pods.results)
    figures["total_s"] = round(time.monotonic() - started, 1)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
