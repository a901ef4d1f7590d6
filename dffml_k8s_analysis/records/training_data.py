"""Training examples for ``k8s-mlp`` outside DFFML: (texts, label lists) oldest first."""
import pathlib
from typing import List, Optional, Tuple

from .notes_source import labels_of
from .parse import model_inputs
from .shared_data import load_notes, notes_path

Examples = Tuple[List[str], List[List[str]]]


def from_notes(path: Optional[pathlib.Path] = None) -> Examples:
    """The shared release notes; FileNotFoundError names the path when it is absent."""
    path = pathlib.Path(path) if path is not None else notes_path()
    notes = load_notes(path)
    if notes is None:
        raise FileNotFoundError(f"release notes file not found at {path}; set K8S_NOTES")
    notes.sort(key=lambda note: note["pr_number"])
    return [note["text"] for note in notes], [labels_of(note) for note in notes]


def from_store(path) -> Examples:
    """The pull requests with a release note in an SQLite store written by ``k8s-analysis export``;
    their labels plus ``docs/linked`` when the body links documentation (as the bot gives them)."""
    from .issues_source import read_records

    records, _ = read_records(path)
    records = sorted((rec for rec in records if rec["release_note"]), key=lambda rec: rec["number"])
    return [rec["release_note"] for rec in records], [model_inputs(rec["labels"], rec["body"]) for rec in records]
