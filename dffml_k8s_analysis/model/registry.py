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
import json
import shutil
import tempfile
import zipfile
import zlib
from typing import Dict, List, NamedTuple, Optional

from .. import timeutil
from ..errors import UserError
from ..store import Store, StoreError, is_postgres, named, open_store
from ..store.model_versions import MAX_TEXT
from ..store.postgres import redact
from . import artifacts, versions
from .artifacts import ArtifactError

KEEP_OTHERS = 2  # versions kept beside the serving one and the canary
MAX_ARCHIVE = sum(artifacts.MAX_BYTES.values())  # a stored archive, and all it unpacks to
STATUSES = ("candidate", "canary", "serving", "retired", "rolled_back")


class Routing(NamedTuple):
    """Who answers: ``token`` changes whenever any of it (or the serving model's files) does."""

    token: tuple
    serving: Optional[str]  # the serving version's stamp
    canary: Optional[str]
    share: float
    intact: bool = True  # every version loaded still has its files (a tmp cleaner may remove them): else load again


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


def unpack(archive, directory: pathlib.Path, what: str) -> None:
    """Write an archive's artifact files into the empty ``directory``, each within :data:`artifacts.MAX_BYTES`
    (from the archive's headers, before anything is unpacked); ArtifactError (one line) for anything else."""
    try:
        if not isinstance(archive, bytes):
            raise ValueError(f"it is stored as {type(archive).__name__}, not bytes")
        with zipfile.ZipFile(io.BytesIO(archive)) as opened:
            members = opened.infolist()
            names = [member.filename for member in members]
            if sorted(names) != sorted(artifacts.FILES):
                raise ValueError(f"its members are {', '.join(map(ascii, names[:8]))}"
                                 f"{' ...' if len(names) > 8 else ''}, not {', '.join(artifacts.FILES)}")
            for member in members:
                if member.file_size > artifacts.MAX_BYTES[member.filename]:
                    raise ValueError(f"{member.filename} unpacks to {member.file_size} bytes, over the limit "
                                     f"of {artifacts.MAX_BYTES[member.filename]}")
            for member in members:  # zipfile reads no more than the header's size, and checks the CRC
                with opened.open(member) as source, open(directory / member.filename, "xb") as target:
                    shutil.copyfileobj(source, target)
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, NotImplementedError, RuntimeError) as error:
        raise ArtifactError(f"{what}: its archive is corrupt ({type(error).__name__}: {error})") from None


def checked(row: dict) -> dict:
    """A ``model_versions`` row as read, validated like input: ``problem`` says why the version is unusable
    (None: usable); its JSON columns decoded (None where they are not JSON objects)."""
    problems = []
    if not versions.is_name(row["stamp"]):
        problems.append("its name is not a version name (letters, digits, ._-)")
    try:
        if isinstance(row["data_version"], str) and len(row["data_version"]) > MAX_TEXT:
            raise ValueError(f"over {MAX_TEXT} characters")
        data_version = json.loads(row["data_version"])
        if not isinstance(data_version, dict):
            raise ValueError(f"a {type(data_version).__name__}")
    except (TypeError, ValueError, RecursionError) as error:
        data_version = None
        problems.append(f"its data_version is not a JSON object ({str(error)[:100]})")
    try:
        decision = json.loads(row["decision"]) if row["decision"] is not None else None
    except (TypeError, ValueError, RecursionError):
        decision = None  # what was decided is for people; the status says it
    if row["status"] not in STATUSES:
        problems.append(f"its status {ascii(row['status'])} is not one of {', '.join(STATUSES)}")
    if row["status"] == "canary":
        share = row["canary_share"]
        if not (isinstance(share, (int, float)) and 0 <= share <= 1):
            problems.append(f"its canary share {share!r} is not a number from 0 to 1")
        try:
            until = datetime.datetime.fromisoformat(row["canary_until"])
            if until.tzinfo is None:
                raise ValueError("no timezone")
        except (TypeError, ValueError) as error:
            problems.append(f"its canary_until {ascii(row['canary_until'])} is not a time with a timezone ({error})")
    return dict(row, data_version=data_version, decision=decision, problem="; ".join(problems) or None)


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
    """Versions as rows of a store's ``model_versions`` table, read by every node.

    Every row read is validated (:func:`checked`): a bad one makes its version unavailable, with one log
    line, never the others. A failed store call drops the connection, so the next call (the next poll)
    connects again: a database restart is survived.
    """

    canaries = True
    poll = True  # the server asks the store every --poll seconds

    def __init__(self, spec: str, keep_open: bool = False):
        self.spec, self.keep_open = spec, keep_open
        self.shown = redact(spec)  # the spec in messages: never a password
        self.db: Optional[Store] = None
        self.cache: Optional[pathlib.Path] = None  # unpacked versions of this process
        self.loaded: Dict[str, object] = {}
        self.directories: Dict[str, pathlib.Path] = {}  # stamp -> a directory the registry made in its cache
        self.problems: Dict[str, str] = {}  # stamp -> why the live version read last is unusable (logged once)

    @contextlib.contextmanager
    def store(self):
        if self.db is None:
            self.spec = named(self.spec)  # once: then it names its repository
            self.db = open_store(self.spec, create=True)
        try:
            yield self.db
        except StoreError:
            self._drop()  # a restarted database: the next call connects again
            raise
        finally:
            if not self.keep_open:
                self._drop()

    def _drop(self) -> None:
        if self.db is not None:
            with contextlib.suppress(Exception):
                self.db.close()
            self.db = None

    def versions(self, *statuses: str) -> List[dict]:
        """The rows (of ``statuses``) by stamp, each :func:`checked`."""
        with self.store() as db:
            return [checked(row) for row in db.models.model_versions(statuses)]

    def routing(self) -> Routing:
        live = {row["status"]: row for row in self.versions("serving", "canary")}
        serving, canary = live.get("serving"), live.get("canary")
        self.problems = {row["stamp"]: row["problem"] for row in live.values() if row["problem"]}  # load() says
        share = canary["canary_share"] if canary and not canary["problem"] else 0.0
        stamps = (serving and serving["stamp"], canary and canary["stamp"])
        intact = all(self._intact(stamp) for stamp in self.loaded)
        return Routing(stamps + (share,), stamps[0], stamps[1], share, intact)

    def _intact(self, stamp: str) -> bool:
        return all((self.directories[stamp] / name).is_file() for name in artifacts.FILES)

    def load(self, stamp: str):
        """The Predictor of version ``stamp``, unpacked into a directory of this process's cache (kept for the
        webhook, unpacked again if its files were removed); ArtifactError (one line) if it is unusable."""
        what = f"model version {versions.shown(stamp)} in {self.shown}"
        if stamp in self.problems:
            raise ArtifactError(f"{what} is unusable: {self.problems[stamp]}")
        if not versions.is_name(stamp):
            raise ArtifactError(f"{what} is unusable: its name is not a version name (letters, digits, ._-)")
        if stamp in self.loaded and self._intact(stamp):
            return self.loaded[stamp]
        self._forget(stamp)
        with self.store() as db:
            size = db.models.model_archive_size(stamp)
            if size is None:
                raise ArtifactError(f"{what} is gone")
            if size > MAX_ARCHIVE:
                raise ArtifactError(f"{what}: its archive is {size} bytes, over the limit of {MAX_ARCHIVE}")
            archive = db.models.model_archive(stamp)
        if self.cache is None:
            self.cache = pathlib.Path(tempfile.mkdtemp(prefix="k8s-analysis-models-"))
        target = pathlib.Path(tempfile.mkdtemp(dir=str(self.cache), prefix="version-"))
        try:
            unpack(archive, target, what)
            predictor = artifacts.load_predictor(target)
        except ArtifactError as error:
            shutil.rmtree(target, ignore_errors=True)
            raise ArtifactError(str(error) if str(error).startswith(what) else f"{what}: {error}") from None
        self.loaded[stamp], self.directories[stamp] = predictor, target
        return predictor

    def _forget(self, stamp: str) -> None:
        self.loaded.pop(stamp, None)
        directory = self.directories.pop(stamp, None)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def forget_others(self, live) -> None:
        """Drop the unpacked versions not in ``live`` (stamps)."""
        for stamp in set(self.loaded) - set(live):
            self._forget(stamp)

    def directory(self, stamp: str) -> str:
        """Where :meth:`load` unpacked ``stamp``."""
        return str(self.directories[stamp])

    def latest_data_version(self):
        """The data version of the newest version rolled out, whatever became of it (a rolled-back one is not
        retrained); a ``candidate`` left by a run that stopped before its rollout does not count."""
        rows = self.versions("canary", "serving", "retired", "rolled_back")
        return rows[-1]["data_version"] if rows else None

    def train_dir(self, stamp: str) -> str:
        return os.path.join(tempfile.mkdtemp(prefix="k8s-analysis-candidate-"), stamp)

    def add(self, candidate: str, data_version: dict) -> str:
        stamp = os.path.basename(candidate)
        if not versions.is_name(stamp):
            raise UserError(f"{versions.shown(stamp)} is not a model version name (letters, digits, ._-)")
        with self.store() as db:
            db.models.add_model_version(stamp, timeutil.now().isoformat(), data_version, pack(candidate))
        self.discard(candidate)
        return stamp

    def discard(self, candidate: str) -> None:
        shutil.rmtree(os.path.dirname(candidate), ignore_errors=True)

    def canary(self) -> Optional[dict]:
        rows = self.versions("canary")
        return rows[0] if rows else None

    def observations(self, stamp: str, limit: int) -> list:
        """At most ``limit`` of the canary ``stamp``'s observations."""
        with self.store() as db:
            return db.models.observations(stamp, limit)

    def record(self, rows: list) -> None:
        with self.store() as db:
            db.models.save_observations(rows)

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
            db.models.set_model_versions(updated, forget=others[:-KEEP_OTHERS])  # all but the newest KEEP_OTHERS

    def close(self) -> None:
        self._drop()
        if self.cache is not None:
            shutil.rmtree(self.cache, ignore_errors=True)
