"""``k8s-notes``: a read-only DFFML source over the shared release-notes files (xz JSON lines).

By default every shared file (both eras; see :mod:`.shared_data`), one record per PR. Records are keyed by PR number, oldest first, without the notes the parser drops (``NONE``, ``TBD``), with features ``release_note``
(the text), ``labels`` (``kind/*``, ``sig/*``, ``area/*`` rebuilt from the
note's kinds, sigs and areas: what the PR was labelled; plus ``docs/linked`` when
its PR linked documentation, as the bot finds in a PR body), ``kinds``, ``sigs``
and ``number``. ``skip``/``limit`` take a slice in PR-number order.

    dffml list records -sources n=k8s-notes -source-n-limit 3
"""
import pathlib
from typing import List

from dffml import Record, config, entrypoint, field

from .parse import DOCS_LABEL, release_note
from .readonly_source import ReadOnlyMemorySource
from .shared_data import load_all, notes_paths


def labels_of(note: dict) -> List[str]:
    """The PR labels a note stands for, e.g. ["kind/bug", "sig/node", "area/kubelet"], and
    ``docs/linked`` when the note records documentation links (its PR's ```docs block)."""
    labels = [
        f"{group}/{name}"
        for group, key in (("kind", "kinds"), ("sig", "sigs"), ("area", "areas"))
        for name in note.get(key) or []
    ]
    return labels + ([DOCS_LABEL] if note.get("documentation") else [])


def is_note(text) -> bool:
    """Whether the project's parser keeps ``text`` as a release note (``NONE``, ``TBD``, an empty block: no)."""
    return isinstance(text, str) and release_note(f"```release-note\n{text}\n```") is not None


def note_features(note: dict) -> dict:
    return {
        "release_note": note["text"],
        "labels": labels_of(note),
        "kinds": list(note.get("kinds") or []),
        "sigs": list(note.get("sigs") or []),
        "number": int(note["pr_number"]),
    }


class NotesMissing(SystemExit):
    """A release-notes file is absent: the message alone, exit status 1 (DFFML's CLI would print a traceback
    for any other exception)."""


@config
class ReleaseNotesSourceConfig:
    path: List[pathlib.Path] = field("xz JSON-lines release notes files (default: $K8S_NOTES or every shared file)",
                                     default_factory=notes_paths)
    skip: int = field("leave out the oldest N notes", default=0)
    limit: int = field("keep at most N notes after skip (0: all)", default=0)


@entrypoint("k8s-notes")
class ReleaseNotesSource(ReadOnlyMemorySource):
    """Real Kubernetes release notes with their PR's kind/sig/area labels."""

    CONFIG = ReleaseNotesSourceConfig

    @property
    def location(self) -> str:
        return ", ".join(map(str, self.config.path))

    async def __aenter__(self) -> "ReleaseNotesSource":
        cfg = self.config
        if cfg.skip < 0 or cfg.limit < 0:
            raise ValueError(f"k8s-notes: skip and limit must not be negative, got {cfg.skip} and {cfg.limit}")
        paths = [cfg.path] if isinstance(cfg.path, (str, pathlib.Path)) else cfg.path
        try:
            notes = [note for note in load_all(paths) if is_note(note["text"])][cfg.skip:]
        except FileNotFoundError as error:
            raise NotesMissing(f"k8s-notes: {error} (or -source-LABEL-path FILE ...)") from None
        if cfg.limit:
            notes = notes[: cfg.limit]
        self.mem = {str(note["pr_number"]): Record(str(note["pr_number"]), data={"features": note_features(note)}) for note in notes}
        return self
