"""Where model versions live and which one serves: a directory, or a store every node can read.

``--models SPEC`` names the registry. A ``postgresql://`` URI, a path ending in ``.sqlite`` or
``.db``, or an existing file is a store (``dffml_k8s_analysis.store``; a PostgreSQL URI names its
repository with ``#OWNER/NAME``, else the database's only one): each version is a row of its
``model_versions`` table (stamp, created, the data version it learned, status, the model's files
as one zip archive, the canary's share, soak end and decision), so serving replicas on any node
load the promoted version from the database. Anything else is a directory, the embedded
default: ``SPEC`` is a link to ``SPEC.versions/STAMP`` (:mod:`.versions`); it has no canary.

Statuses: ``candidate`` (stored, not serving), ``canary`` (answers its share of predictions),
``serving`` (one at most), ``retired`` (served before), ``rolled_back`` (a canary that did not hold).
An archive holds only the artifact files (:data:`.artifacts.FILES`) and is read back with
:func:`.artifacts.load_predictor`, which never unpickles (``allow_pickle=False``).
"""
import contextlib
import datetime
import io
import os
import pathlib
import shutil
import tempfile
import zipfile
from typing import Dict, List, NamedTuple, Optional

from .. import timeutil
from ..errors import UserError
from ..store import Store, is_postgres, named, open_store
from . import artifacts, versions
from .artifacts import ArtifactError

MAX_UNPACKED = 1 << 30  # an archive member larger than this (1 GiB) is refused
KEEP_OTHERS = 2  # versions kept beside the serving one and the canary


class Routing(NamedTuple):
    """Who answers: ``token`` changes whenever any of it (or the serving model's files) does."""

    token: tuple
    serving: Optional[str]  # the serving version's stamp
    canary: Optional[str]
    share: float


def is_store(spec: str) -> bool:
    return is_postgres(spec) or spec.endswith((".sqlite", ".db")) or os.path.isfile(spec)


def open_registry(spec: str, keep_open: bool = False):
    """The registry ``spec`` names; ``keep_open``: one store connection for the object's life (one thread)."""
    if not spec:
        raise UserError("--models must name a model directory or a store")
    return StoreRegistry(spec, keep_open) if is_store(spec) else DirectoryRegistry(spec)


def pack(directory) -> bytes:
    """The artifact files of ``directory`` as one zip archive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in artifacts.FILES:
            archive.write(os.path.join(directory, name), name)
    return buffer.getvalue()


def unpack(archive: bytes, directory: pathlib.Path, what: str) -> None:
    """Write an archive's artifact files into ``directory``; ArtifactError (one line) for anything else."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as opened:
            members = opened.infolist()
            unexpected = sorted({member.filename for member in members} - set(artifacts.FILES))
            if unexpected:
                raise ValueError(f"unexpected members {', '.join(unexpected)}")
            for member in members:
                if member.file_size > MAX_UNPACKED:
                    raise ValueError(f"{member.filename} unpacks to {member.file_size} bytes")
            directory.mkdir(parents=True)
            for member in members:
                (directory / member.filename).write_bytes(opened.read(member))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as error:
        raise ArtifactError(f"{what}: its archive is corrupt ({type(error).__name__}: {error})") from None


class DirectoryRegistry:
    """Versions as ``SPEC.versions/STAMP`` directories, the serving one behind the link ``SPEC``."""

    canaries = False
    poll = False  # the link is checked at every request (a stat)

    def __init__(self, model_dir: str):
        self.spec = model_dir

    def routing(self) -> Routing:
        real, stamp = artifacts.version(self.spec)
        return Routing((real, stamp), os.path.basename(real), None, 0.0)  # load() says what is wrong

    def load(self, stamp: str):
        return artifacts.cached_predictor(self.spec)

    def directory(self, stamp: str) -> str:
        return self.spec

    def forget_others(self, live) -> None:
        """Nothing to drop: ``artifacts.cached_predictor`` keeps a few loads."""

    def latest_data_version(self):
        return versions.serving_version(self.spec)

    def train_dir(self, stamp: str) -> str:
        return str(versions.versions_dir(self.spec) / stamp)

    def add(self, candidate: str, data_version: dict) -> str:
        return os.path.basename(candidate)  # it already lives among the versions

    def discard(self, candidate: str) -> None:
        """A candidate not added stays among the versions (to look at) until promotions prune it."""

    def promote(self, stamp: str, decision: Optional[dict] = None) -> None:
        versions.promote(self.train_dir(stamp), self.spec)

    def canary(self) -> Optional[dict]:
        return None

    def close(self) -> None:
        pass


class StoreRegistry:
    """Versions as rows of a store's ``model_versions`` table, read by every node."""

    canaries = True
    poll = True  # the server asks the store every --poll seconds

    def __init__(self, spec: str, keep_open: bool = False):
        self.spec, self.keep_open = spec, keep_open
        self.db: Optional[Store] = None
        self.cache: Optional[pathlib.Path] = None  # unpacked versions of this process
        self.loaded: Dict[str, object] = {}

    @contextlib.contextmanager
    def store(self):
        if self.db is None:
            self.spec = named(self.spec)  # once: then it names its repository
            self.db = open_store(self.spec, create=True)
        try:
            yield self.db
        finally:
            if not self.keep_open:
                self.db.close()
                self.db = None

    def versions(self, *statuses: str) -> List[dict]:
        with self.store() as db:
            return db.model_versions(statuses)

    def routing(self) -> Routing:
        live = {row["status"]: row for row in self.versions("serving", "canary")}
        serving, canary = live.get("serving"), live.get("canary")
        share = canary["canary_share"] if canary else 0.0
        stamps = (serving and serving["stamp"], canary and canary["stamp"])
        return Routing(stamps + (share,), stamps[0], stamps[1], share)

    def load(self, stamp: str):
        """The Predictor of version ``stamp``, unpacked into this process's cache (kept for the webhook)."""
        if stamp not in self.loaded:
            if self.cache is None:
                self.cache = pathlib.Path(tempfile.mkdtemp(prefix="k8s-analysis-models-"))
            with self.store() as db:
                archive = db.model_archive(stamp)
            what = f"model version {stamp} in {self.spec}"
            if archive is None:
                raise ArtifactError(f"{what} is gone")
            target = self.cache / stamp
            shutil.rmtree(target, ignore_errors=True)
            unpack(archive, target, what)
            try:
                self.loaded[stamp] = artifacts.load_predictor(target)
            except ArtifactError as error:
                shutil.rmtree(target)
                raise ArtifactError(f"{what}: {error}") from None
        return self.loaded[stamp]

    def forget_others(self, live) -> None:
        """Drop the unpacked versions not in ``live`` (stamps)."""
        for stamp in set(self.loaded) - set(live):
            del self.loaded[stamp]
            shutil.rmtree(self.cache / stamp, ignore_errors=True)

    def directory(self, stamp: str) -> str:
        """Where :meth:`load` unpacked ``stamp``."""
        return str(self.cache / stamp)

    def latest_data_version(self):
        """The data version of the newest version rolled out, whatever became of it (a rolled-back one is not
        retrained); a ``candidate`` left by a run that stopped before its rollout does not count."""
        rows = self.versions("canary", "serving", "retired", "rolled_back")
        return rows[-1]["data_version"] if rows else None

    def train_dir(self, stamp: str) -> str:
        return os.path.join(tempfile.mkdtemp(prefix="k8s-analysis-candidate-"), stamp)

    def add(self, candidate: str, data_version: dict) -> str:
        stamp = os.path.basename(candidate)
        with self.store() as db:
            db.add_model_version(stamp, timeutil.now().isoformat(), data_version, pack(candidate))
        self.discard(candidate)
        return stamp

    def discard(self, candidate: str) -> None:
        shutil.rmtree(os.path.dirname(candidate), ignore_errors=True)

    def canary(self) -> Optional[dict]:
        rows = self.versions("canary")
        return rows[0] if rows else None

    def observations(self, stamp: str) -> list:
        with self.store() as db:
            return db.observations(stamp)

    def record(self, rows: list) -> None:
        with self.store() as db:
            db.save_observations(rows)

    def start_canary(self, stamp: str, share: float, soak_s: float) -> None:
        until = (timeutil.now() + datetime.timedelta(seconds=soak_s)).isoformat()
        self._change({stamp: dict(status="canary", canary_share=share, canary_until=until)})

    def promote(self, stamp: str, decision: Optional[dict] = None) -> None:
        """Serve ``stamp`` to all traffic; the one serving before retires; keep :data:`KEEP_OTHERS` others."""
        changes = {row["stamp"]: dict(status="retired") for row in self.versions("serving", "canary")}
        changes[stamp] = dict(status="serving", decision=decision)
        self._change(changes)

    def roll_back(self, stamp: str, decision: dict) -> None:
        self._change({stamp: dict(status="rolled_back", decision=decision)})

    def _change(self, changes: Dict[str, dict]) -> None:
        rows = {row["stamp"]: row for row in self.versions()}
        updated = [dict(rows[stamp], **change) for stamp, change in changes.items()]
        statuses = {stamp: row["status"] for stamp, row in rows.items()}
        statuses.update((row["stamp"], row["status"]) for row in updated)
        others = [stamp for stamp in sorted(statuses) if statuses[stamp] not in ("serving", "canary")]
        with self.store() as db:
            db.set_model_versions(updated, forget=others[:-KEEP_OTHERS])  # all but the newest KEEP_OTHERS

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
        if self.cache is not None:
            shutil.rmtree(self.cache, ignore_errors=True)
