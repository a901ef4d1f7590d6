"""``k8s-notes``: a read-only DFFML source over the shared release-notes file (xz JSON lines).

Records are keyed by PR number, oldest first, with features ``release_note``
(the text), ``labels`` (``kind/*``, ``sig/*``, ``area/*`` rebuilt from the
note's kinds, sigs and areas: what the PR was labelled; plus ``docs/linked`` when
its PR linked documentation, as the bot finds in a PR body), ``kinds``, ``sigs``
and ``number``. ``skip``/``limit`` take a slice in PR-number order.

    dffml list records -sources n=k8s-notes -source-n-limit 3
"""
import pathlib
from typing import List

from dffml import Record, config, entrypoint, field

from .parse import DOCS_LABEL
from .readonly_source import ReadOnlyMemorySource
from .shared_data import load_notes, notes_path


def labels_of(note: dict) -> List[str]:
    """The PR labels a note stands for, e.g. ["kind/bug", "sig/node", "area/kubelet"], and
    ``docs/linked`` when the note records documentation links (its PR's ```docs block)."""
    labels = [
        f"{group}/{name}"
        for group, key in (("kind", "kinds"), ("sig", "sigs"), ("area", "areas"))
        for name in note.get(key) or []
    ]
    return labels + ([DOCS_LABEL] if note.get("documentation") else [])


def note_features(note: dict) -> dict:
    return {
        "release_note": note["text"],
        "labels": labels_of(note),
        "kinds": list(note.get("kinds") or []),
        "sigs": list(note.get("sigs") or []),
        "number": int(note["pr_number"]),
    }


@config
class ReleaseNotesSourceConfig:
    path: pathlib.Path = field("xz JSON-lines release notes file", default_factory=notes_path)
    skip: int = field("leave out the oldest N notes", default=0)
    limit: int = field("keep at most N notes after skip (0: all)", default=0)


@entrypoint("k8s-notes")
class ReleaseNotesSource(ReadOnlyMemorySource):
    """Real Kubernetes release notes with their PR's kind/sig/area labels."""

    CONFIG = ReleaseNotesSourceConfig

    @property
    def location(self) -> str:
        return str(self.config.path)

    async def __aenter__(self) -> "ReleaseNotesSource":
        cfg = self.config
        if cfg.skip < 0 or cfg.limit < 0:
            raise ValueError(f"k8s-notes: skip and limit must not be negative, got {cfg.skip} and {cfg.limit}")
        notes = load_notes(pathlib.Path(cfg.path))
        if notes is None:
            raise FileNotFoundError(
                f"k8s-notes: release notes file not found at {cfg.path}; set K8S_NOTES or -source-path"
            )
        notes = sorted(notes, key=lambda note: note["pr_number"])[cfg.skip:]
        if cfg.limit:
            notes = notes[: cfg.limit]
        self.mem = {str(note["pr_number"]): Record(str(note["pr_number"]), data={"features": note_features(note)}) for note in notes}
        return self
