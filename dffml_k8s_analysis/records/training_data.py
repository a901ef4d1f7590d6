"""Training examples for ``k8s-mlp`` outside DFFML: (texts, label lists) oldest first."""
import pathlib
from typing import List, Sequence, Tuple, Union

from .notes_source import is_note, labels_of
from .parse import model_inputs
from .shared_data import load_all, notes_paths

Examples = Tuple[List[str], List[List[str]]]
Paths = Union[None, str, pathlib.Path, Sequence[Union[str, pathlib.Path]]]


def from_notes(paths: Paths = None) -> Examples:
    """The notes of one or several files (default: every shared file), one per PR, by PR number, without
    what the parser drops; FileNotFoundError names a missing file and where the data come from."""
    if paths is None:
        paths = notes_paths()
    elif isinstance(paths, (str, pathlib.Path)):
        paths = [paths]
    notes = [note for note in load_all(paths) if is_note(note["text"])]
    return [note["text"] for note in notes], [labels_of(note) for note in notes]


def from_store(path) -> Examples:
    """The pull requests with a release note in an SQLite store written by ``k8s-analysis export``;
    their labels plus ``docs/linked`` when the body links documentation (as the bot gives them)."""
    from .issues_source import read_records

    records, _ = read_records(path)
    records = sorted((rec for rec in records if rec["release_note"]), key=lambda rec: rec["number"])
    return [rec["release_note"] for rec in records], [model_inputs(rec["labels"], rec["body"]) for rec in records]
