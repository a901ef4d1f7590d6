"""Access to the shared, real Kubernetes release notes (kept outside the repository)."""
import json
import lzma
import os
import pathlib
from typing import List, Optional


def notes_path() -> pathlib.Path:
    """Path of the release notes file: ``$K8S_NOTES`` or ``../shared/data/`` beside the repo."""
    if os.environ.get("K8S_NOTES"):
        return pathlib.Path(os.environ["K8S_NOTES"])
    repo_root = pathlib.Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared" / "data" / "k8s-release-notes.jsonl.xz"


def load_notes(path: Optional[pathlib.Path] = None) -> Optional[List[dict]]:
    """The release notes as a list of dicts, or None when the file is absent."""
    path = pathlib.Path(path) if path is not None else notes_path()
    if not path.is_file():
        return None
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
