"""The model registry trusts none of its rows: names, archives, arrays and canary columns are validated where read."""
import io
import os
import subprocess
import tempfile
import zipfile

import numpy as np
import pytest
import requests

from dffml_k8s_analysis.model import artifacts
from dffml_k8s_analysis.model.artifacts import ArtifactError
from dffml_k8s_analysis.model.registry import StoreRegistry, pack
from dffml_k8s_analysis.serve.service import MODEL_ROUTE, PREDICT_ROUTE, VERSION_HEADER
from dffml_k8s_analysis.store import open_store

from conftest import BUG, ROOT, VENV_BIN
from test_registry import predictor_of, store_spec, stored  # noqa: F401  (store_spec: the fixture)

@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch):
    """The registry's cache under this test's own directory: were a name ever taken as a path again, what it
    climbs to is the test's, never the machine's /tmp (a regression once emptied it)."""
    (tmp_path / "tempdir").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tempdir"))


BAD_NAMES = ["../escape", "/absolute", "v2\r\nX-Injected: 1", "v\x002", "..", ".hidden", "a" * 65, "v 2", ""]


def add_row(spec, stamp, packed, status, **columns):
    """A row written by other hands: ``columns`` set as they are (SQL values), no validation."""
    with open_store(spec, create=True) as db:
        db.models.add_model_version(stamp, "2026-01-01T00:00:00+00:00", {"items": 1}, packed)
        assignments = dict(columns, status=status)
        with db.transaction():
            db.execute(f"UPDATE model_versions SET {', '.join(f'{name} = ?' for name in assignments)} WHERE stamp = ?",
                       (*assignments.values(), stamp))


def archive_with(model_dir, **members) -> bytes:
    """``pack(model_dir)`` with some members replaced (bytes) or added; ``None`` drops one."""
    found = zipfile.ZipFile(io.BytesIO(pack(model_dir)))
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in found.namelist():
            if members.get(name, b"") is not None:
                archive.writestr(name, members.get(name) or found.read(name))
        for name, data in members.items():
            if name not in found.namelist():
                archive.writestr(name, data)
    return packed.getvalue()


def npz(model_dir, **extra) -> bytes:
    """The model's arrays.npz, deflated, with ``extra`` arrays: (shape, dtype) are written as zeros in chunks,
    so a huge one costs no memory here."""
    packed = io.BytesIO()
    with np.load(str(model_dir / "arrays.npz")) as found, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as out:
        arrays = {name: found[name] for name in found.files}
        for name, array in arrays.items():
            if name not in extra:
                with out.open(name + ".npy", "w") as member:
                    np.lib.format.write_array(member, array)
        for name, (shape, dtype) in extra.items():
            with out.open(name + ".npy", "w", force_zip64=True) as member:
                header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                          "shape": shape}
                np.lib.format.write_array_header_1_0(member, header)
                left = int(np.prod(shape)) * np.dtype(dtype).itemsize
                chunk = bytes(1 << 20)
                while left > 0:
                    member.write(chunk[:left])
                    left -= len(chunk)
    return packed.getvalue()


def corrupted_deflate(model_dir) -> bytes:
    """A well-formed zip whose arrays.npz deflate stream is damaged (headers and sizes intact)."""
    data = bytearray(pack(model_dir))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("arrays.npz")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start] = 0b111  # the first block: final, of the reserved type 3 (zlib.error: invalid block type)
    return bytes(data)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_version_name_is_never_a_path(store_spec, model_dir, tmp_path, name):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("x")
    if name == "../escape":  # from the cache directory (under the temporary directory) to the victim
        name = "../" + os.path.relpath(victim, tempfile.gettempdir())
    elif name == "/absolute":
        name = str(victim)
    if "\x00" in name and "postgresql" in store_spec:
        pytest.skip("PostgreSQL text holds no NUL")
    add_row(store_spec, name, pack(model_dir), "serving")
    with pytest.raises(ArtifactError) as refused:
        predictor_of(store_spec, name)
    message = str(refused.value)
    assert message.endswith("is unusable: its name is not a version name (letters, digits, ._-)"), message
    assert message.isprintable() and ascii(name) in message
    assert sorted(path.name for path in victim.iterdir()) == ["keep"]


def test_the_cache_path_is_made_by_the_server(store_spec, model_dir, tmp_path):
    stamp = stored(store_spec, model_dir, tmp_path, "v1")
    models = StoreRegistry(store_spec)
    try:
        models.load(stamp)
        directory = models.directory(stamp)
        assert os.path.dirname(directory) == str(models.cache) and os.path.basename(directory) != stamp
        assert sorted(os.listdir(directory)) == sorted(artifacts.FILES)
    finally:
        models.close()


def extra_member(model_dir):
    return archive_with(model_dir, **{"notes.txt": b"x"})


@pytest.mark.parametrize("archive, why", [
    (lambda model_dir: archive_with(model_dir, **{"vectorizer.json": b" " * (artifacts.MAX_BYTES["vectorizer.json"] + 1)}),
     f"vectorizer.json unpacks to {artifacts.MAX_BYTES['vectorizer.json'] + 1} bytes, over the limit of "),
    (lambda model_dir: archive_with(model_dir, **{"arrays.npz": npz(model_dir, spare=((8,), "f8"))}),
     "arrays the model does not use: 'spare'"),
    (lambda model_dir: archive_with(model_dir, **{"arrays.npz": npz(model_dir, word_idf=((17 << 20,), "f8"))}),
     f"its arrays exceed {artifacts.MAX_ARRAY_BYTES} bytes (at word_idf, shape (17825792,))"),
    (lambda model_dir: archive_with(model_dir, **{"arrays.npz": npz(model_dir, mlp_w0=((1 << 20, 64), "f8"))}),
     f"its arrays exceed {artifacts.MAX_ARRAY_BYTES} bytes (at mlp_w0, shape (1048576, 64))"),
    (lambda model_dir: archive_with(model_dir, **{"arrays.npz": npz(model_dir, word_idf=((4,), "U8"))}),
     "array word_idf holds <U8, not numbers"),
    (extra_member, "its members are "),
    (lambda model_dir: archive_with(model_dir, **{"metrics.json": None}), "its members are "),
])
def test_archives_and_arrays_are_bounded_before_anything_is_allocated(store_spec, model_dir, archive, why):
    add_row(store_spec, "v1", archive(model_dir), "serving")
    models = StoreRegistry(store_spec)
    try:
        with pytest.raises(ArtifactError) as refused:
            models.load("v1")
        assert why in str(refused.value) and "\n" not in str(refused.value), str(refused.value)
        assert os.listdir(models.cache) == []  # nothing left unpacked
    finally:
        models.close()


def start_serving(*args, env=None):
    return subprocess.Popen([str(VENV_BIN / "k8s-analysis"), "serve", "--port", "0", "--poll", "0", *args],
                            cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, **(env or {})))


def started(server) -> tuple:
    """(base URL, the line after it: whether the model loaded)."""
    line = server.stdout.readline()
    while line and " on http://" not in line:
        line = server.stdout.readline()
    assert " on http://" in line, server.communicate(timeout=30)
    server.announced = line  # the start-up line
    return line.split(" on ")[1].strip(), server.stdout.readline().strip()


def stopped(server) -> tuple:
    server.terminate()
    return server.communicate(timeout=60)


BAD_ROWS = {  # what goes wrong -> (what to write, the row's columns, the one-line reason)
    "corrupted deflate": (corrupted_deflate, {}, "its archive is corrupt (error: Error -3 while decompressing data"),
    "archive stored as text": (pack, {"archive": "PK\x03\x04 text"}, "its archive is corrupt (ValueError: it is stored as str"),
    "data_version not JSON": (pack, {"data_version": "{not json"}, "its data_version is not a JSON object"),
    "name with CR LF": (pack, {"stamp": "v2\r\nX-Injected: 1"}, "its name is not a version name"),
    "data_version nested deep": (pack, {"data_version": "[" * 100_000}, "its data_version is not a JSON object"),
    "data_version of 64 MiB": (pack, {"data_version": '{"items": "' + "x" * (64 << 20) + '"}'},
                               "its data_version is not a JSON object (over 65536 characters)"),
}
CANARY_ONLY = {
    "NULL share": (pack, {"canary_share": None}, "its canary share None is not a number from 0 to 1"),
    "canary_until without timezone": (pack, {"canary_until": "2026-01-01T00:00:00"},
                                      "its canary_until '2026-01-01T00:00:00' is not a time with a timezone"),
}


def bad_row(spec, model_dir, kind, status):
    make, columns, why = {**BAD_ROWS, **CANARY_ONLY}[kind]
    if kind == "archive stored as text" and "postgresql" in spec:
        pytest.skip("a bytea column holds no text")
    columns = dict(columns)
    stamp = columns.pop("stamp", "v2")
    if status == "canary":
        columns = dict({"canary_share": 0.5, "canary_until": "2099-01-01T00:00:00+00:00"}, **columns)
    add_row(spec, stamp, make(model_dir), status, **columns)
    return why


@pytest.mark.parametrize("kind", list(BAD_ROWS) + list(CANARY_ONLY))
def test_a_bad_canary_is_unavailable_in_one_line_and_the_serving_version_answers(store_spec, model_dir, tmp_path,
                                                                                  kind):
    StoreRegistry(store_spec).promote(stored(store_spec, model_dir, tmp_path, "v1"))
    why = bad_row(store_spec, model_dir, kind, "canary")
    server = start_serving("--models", store_spec)
    try:
        base, loaded = started(server)
        assert loaded == "k8s-analysis serve: model ready"
        for text in (BUG, "Add a flag to kubectl", "Fix a race in the scheduler"):
            answer = requests.post(base + PREDICT_ROUTE, json={"text": text})
            assert answer.status_code == 200 and answer.headers[VERSION_HEADER] == "v1", answer.text
        assert requests.get(base + MODEL_ROUTE).status_code == 200
    finally:
        out, err = stopped(server)
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == 1 and "canary not loaded: " in lines[0] and why in lines[0], err
    assert lines[0].isprintable()


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_a_bad_serving_version_is_not_ready_in_one_line_and_no_traceback(store_spec, model_dir, kind):
    why = bad_row(store_spec, model_dir, kind, "serving")
    server = start_serving("--models", store_spec)
    try:
        base, loaded = started(server)
        assert loaded.startswith("k8s-analysis serve: model not loaded: model version ") and why in loaded, loaded
        ready = requests.get(base + MODEL_ROUTE)
        assert ready.status_code == 503 and requests.get(base + "/healthz").status_code == 200
        assert requests.post(base + PREDICT_ROUTE, json={"text": BUG}).status_code == 503
        assert server.poll() is None  # no exit 70
    finally:
        out, err = stopped(server)
    assert "Traceback" not in err and len([line for line in err.splitlines() if line]) == 1, err


def test_a_bad_serving_version_leaves_a_good_canary_answering(store_spec, model_dir, tmp_path):
    bad_row(store_spec, model_dir, "data_version not JSON", "serving")
    stored(store_spec, model_dir, tmp_path, "v3")
    StoreRegistry(store_spec).start_canary("v3", 0.1, 3600)
    server = start_serving("--models", store_spec)
    try:
        base, loaded = started(server)
        assert loaded == "k8s-analysis serve: model ready"
        answer = requests.post(base + PREDICT_ROUTE, json={"text": BUG})
        assert answer.status_code == 200 and answer.headers[VERSION_HEADER] == "v3"
    finally:
        out, err = stopped(server)
    assert "Traceback" not in err and "the canary v3 answers every prediction" in err, err


def test_unpacked_files_removed_by_a_tmp_cleaner_are_unpacked_again_or_readiness_says_not_ready(
        store_spec, model_dir, tmp_path):
    import shutil

    StoreRegistry(store_spec).promote(stored(store_spec, model_dir, tmp_path, "v1"))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server = start_serving("--models", store_spec, env={"TMPDIR": str(scratch)})

    def unpacked():
        return sorted(str(path.relative_to(scratch)) for path in scratch.glob("*/*/*"))

    try:
        base, loaded = started(server)
        assert loaded == "k8s-analysis serve: model ready" and len(unpacked()) == len(artifacts.FILES)
        for cache in scratch.iterdir():
            shutil.rmtree(cache / os.listdir(cache)[0])  # what a tmp cleaner does
        assert unpacked() == []
        assert requests.get(base + MODEL_ROUTE).status_code == 200
        assert len(unpacked()) == len(artifacts.FILES)  # loaded again from the store
        with open_store(store_spec, create=True) as db, db.transaction():
            db.execute("UPDATE model_versions SET archive = ? WHERE stamp = 'v1'", (b"PK gone",))
        for cache in scratch.iterdir():
            shutil.rmtree(cache / os.listdir(cache)[0])
        ready = requests.get(base + MODEL_ROUTE)
        assert ready.status_code == 503, ready.text  # it cannot be: readiness says so
    finally:
        out, err = stopped(server)
    assert "Traceback" not in err and "its archive is corrupt" in err, err
