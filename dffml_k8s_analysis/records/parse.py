"""Parse raw GitHub items into records, and release notes out of PR bodies.

Release-note rules (the original's and Kubernetes' own, made explicit):

- The note is the text of the first fenced block whose info string is
  ``release-note`` or ``release-note-action-required`` (any case; spaces may
  follow the info string, as PR authors often leave them).
- CRLF and CR line endings become LF; trailing spaces on each line and blank
  lines around the note are dropped.
- A missing closing fence (none follows, or the next fence opens another
  block such as the template's ```docs): the note ends at its first blank
  line, so the template's next heading never leaks into it.
- ``NONE``, ``none``, ``N/A``, ``NA``, ``TODO``, ``TBD`` (any case, with
  surrounding punctuation or spaces) and an empty block mean no note.
- A leading ``- `` or ``* `` bullet on the first line is stripped.
- Action required: the ``-action-required`` info string, or a note starting
  with ``ACTION REQUIRED:`` (which is then stripped from the text).

Documentation: a PR whose template ```docs block holds a link (as the
release-notes tool's ``documentation`` field records) gets the input label
``DOCS_LABEL`` beside its labels; the model reads it like a sig/area label.
"""
import re
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Tuple

from ..github import timeutil

FENCE = re.compile(r"```[ \t]*release-note(?P<action>-action-required)?[ \t]*(?:\n|$)", re.IGNORECASE)
CLOSING = re.compile(r"```(?P<info>[^\s`]*)")
NO_NOTE = re.compile(r"^\W*(none|n/?a|todo|tbd)?\W*$", re.IGNORECASE)
BULLET = re.compile(r"^[-*][ \t]+")
DOCS = re.compile(r"```[ \t]*docs[ \t]*\n(?P<block>.*?)(?:```|$)", re.IGNORECASE | re.DOTALL)
LINK = re.compile(r"https?://\S")
DOCS_LABEL = "docs/linked"
ACTION_PREFIX = re.compile(r"^[*_ ]*action required[*_ ]*:?[*_ ]*\s*", re.IGNORECASE)


class Note(NamedTuple):
    text: str
    action_required: bool


def release_note(body: Optional[str]) -> Optional[Note]:
    """The release note of a PR body, or None when it has none (see module docstring)."""
    if not isinstance(body, str) or "```" not in body:
        return None
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    fence = FENCE.search(body)
    if fence is None:
        return None
    rest = body[fence.end():]
    closing = CLOSING.search(rest)
    if closing is None or closing.group("info"):  # unterminated: up to the first blank line
        block = rest[: closing.start() if closing else len(rest)].split("\n\n")[0]
    else:
        block = rest[: closing.start()]
    text = "\n".join(line.rstrip() for line in block.split("\n")).strip()
    if NO_NOTE.match(text):
        return None
    action = bool(fence.group("action"))
    prefix = ACTION_PREFIX.match(text)
    if prefix:
        action, text = True, text[prefix.end():]
    text = BULLET.sub("", text, count=1).strip()
    if NO_NOTE.match(text):
        return None
    return Note(text, action)


def links_docs(body: Optional[str]) -> bool:
    """Whether a PR body's ```docs block holds a link (a KEP, usage docs)."""
    if not isinstance(body, str):
        return False
    return any(LINK.search(found.group("block")) for found in DOCS.finditer(body.replace("\r\n", "\n")))


def model_inputs(labels: List[str], body: Optional[str]) -> List[str]:
    """A PR's labels plus ``DOCS_LABEL`` when its body links documentation: what the model is given."""
    return list(labels) + ([DOCS_LABEL] if links_docs(body) else [])


def label_groups(labels: Iterable[str]) -> Dict[str, List[str]]:
    """``kind/bug`` -> {"kind": ["bug"]}; labels without a ``/`` go under ""."""
    groups: Dict[str, List[str]] = {}
    for name in labels:
        group, _, value = name.partition("/") if "/" in name else ("", "", name)
        groups.setdefault(group, []).append(value)
    return groups


class Malformed(ValueError):
    """A raw item that cannot become a record (counted, never fatal)."""


def record(raw: Any) -> Dict[str, Any]:
    """Features of one raw issue or PR; raises Malformed when it has no usable number or dates."""
    if not isinstance(raw, dict):
        raise Malformed(f"not an object: {type(raw).__name__}")
    number = raw.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise Malformed(f"no number: {number!r}")
    for key in ("created_at", "updated_at", "closed_at"):
        if key == "closed_at" and raw.get(key) is None:
            continue
        if not isinstance(raw.get(key), str):
            raise Malformed(f"#{number}: no {key}")
        try:
            timeutil.parse(raw[key])
        except ValueError:
            raise Malformed(f"#{number}: {key} is not a timestamp: {raw[key][:40]!r}") from None
    user = raw.get("user") if isinstance(raw.get("user"), dict) else {}
    labels = [label.get("name") for label in raw.get("labels") or [] if isinstance(label, dict)]
    labels = [name for name in labels if isinstance(name, str)]
    is_pr = isinstance(raw.get("pull_request"), dict)
    note = release_note(raw.get("body")) if is_pr else None
    closed_by = raw.get("closed_by") if isinstance(raw.get("closed_by"), dict) else {}
    return {
        "number": number,
        "pull_request": is_pr,
        "title": raw.get("title") or "",
        "body": raw.get("body") if isinstance(raw.get("body"), str) else "",
        "state": raw.get("state") or "",
        "created_at": raw["created_at"],
        "updated_at": raw["updated_at"],
        "closed_at": raw.get("closed_at"),
        "author": user.get("login"),
        "closed_by": closed_by.get("login"),
        "labels": labels,
        "label_groups": label_groups(labels),
        "release_note": note.text if note else None,
        "action_required": bool(note and note.action_required),
    }


def records(raws: Iterable[Any]) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Records of every parseable item, and one message per malformed one."""
    parsed, problems = [], []
    for raw in raws:
        try:
            parsed.append(record(raw))
        except Malformed as error:
            problems.append(str(error))
    return parsed, problems
