"""Access to the shared, real Kubernetes release notes (kept outside the repository).

The files are ``k8s-release-notes*.jsonl.xz`` in ``../shared/data/`` beside the
checkout (one era each), or the files named in ``$K8S_NOTES`` (several joined
with ``os.pathsep``; a directory stands for its ``k8s-release-notes*.jsonl.xz``). :data:`WHERE` says where they come from, for error messages.
"""
import json
import lzma
import os
import pathlib
from typing import Iterable, List, Optional

PATTERN = "k8s-release-notes*.jsonl.xz"
WHERE = ("the release notes are not part of the repository: they are the kubernetes-sigs/release-notes data "
         "files (src/assets/release-notes-*.json) and the kubernetes/sig-release release-notes drafts as xz JSON "
         f"lines, looked for as ../shared/data/{PATTERN} beside the checkout (see its README.md); "
         "name others with K8S_NOTES (files or directories joined by ':') or --notes, or train on an exported store "
         "instead: `k8s-analysis export` then `k8s-analysis train --source store --store SPEC`")


def data_dir() -> pathlib.Path:
    """``../shared/data/`` beside the checkout."""
    return pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data"


def notes_paths() -> List[pathlib.Path]:
    """Every release-notes file: those of ``$K8S_NOTES``, else every shared one (oldest era first)."""
    named = [pathlib.Path(part) for part in os.environ.get("K8S_NOTES", "").split(os.pathsep) if part]
    found = [path for part in named for path in (in_dir(part) if part.is_dir() else [part])]
    return found or in_dir(data_dir()) or [data_dir() / "k8s-release-notes.jsonl.xz"]


def in_dir(directory: pathlib.Path) -> List[pathlib.Path]:
    """The release-notes files of a directory, the undated (oldest) one first."""
    return sorted(directory.glob(PATTERN), key=lambda path: (len(path.name), path.name))


def notes_path() -> pathlib.Path:
    """The first (oldest) release notes file."""
    return notes_paths()[0]


def load_notes(path: Optional[pathlib.Path] = None) -> Optional[List[dict]]:
    """The release notes of one file as a list of dicts, or None when the file is absent."""
    path = pathlib.Path(path) if path is not None else notes_path()
    if not path.is_file():
        return None
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_all(paths: Iterable[pathlib.Path]) -> List[dict]:
    """The notes of every file, one per PR (the first file naming it wins), by PR number;
    FileNotFoundError naming a missing file and where the data come from."""
    by_number = {}
    for path in paths:
        notes = load_notes(pathlib.Path(path))
        if notes is None:
            raise FileNotFoundError(f"release notes file not found at {path}; {WHERE}")
        for note in notes:
            by_number.setdefault(note["pr_number"], note)
    return [by_number[number] for number in sorted(by_number)]
