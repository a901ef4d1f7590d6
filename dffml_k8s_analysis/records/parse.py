"""Raw GitHub items as records: ``derive`` checks them and derives their fields, ``notes`` reads release notes."""
import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ..derive import Malformed, derive
from ..notes import Note, release_note  # noqa: F401 - the parser's home for operations and the model

# Documentation: a PR whose template ```docs block holds a link (as the release-notes
# tool's ``documentation`` field records) gets the input label DOCS_LABEL beside its
# labels; the model reads it like a sig/area label.
DOCS = re.compile(r"```[ \t]*docs[ \t]*\n(?P<block>.*?)(?:```|$)", re.IGNORECASE | re.DOTALL)
LINK = re.compile(r"https?://\S")
DOCS_LABEL = "docs/linked"


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


def record(raw: Any) -> Dict[str, Any]:
    """Features of one raw issue or PR; raises Malformed when it has no usable number or dates."""
    row, labels = derive(raw)
    return {
        "number": row.number,
        "pull_request": bool(row.pull_request),
        "title": raw.get("title") or "",
        "body": raw.get("body") if isinstance(raw.get("body"), str) else "",
        "state": row.state,
        "created_at": raw["created_at"],
        "updated_at": raw["updated_at"],
        "closed_at": raw.get("closed_at"),
        "author": row.author,
        "closed_by": row.closed_by,
        "labels": labels,
        "label_groups": label_groups(labels),
        "release_note": row.release_note,
        "action_required": bool(row.action_required),
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
