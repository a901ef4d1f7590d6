"""Release notes out of PR bodies: the rules, and the parser the store, the records and the model share.

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
"""
import re
from typing import NamedTuple, Optional

FENCE = re.compile(r"```[ \t]*release-note(?P<action>-action-required)?[ \t]*(?:\n|$)", re.IGNORECASE)
CLOSING = re.compile(r"```(?P<info>[^\s`]*)")
NO_NOTE = re.compile(r"^\W*(none|n/?a|todo|tbd)?\W*$", re.IGNORECASE)
BULLET = re.compile(r"^[-*][ \t]+")
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
