"""The ``k8s.release_note`` operation: a PR body's release note, by the rules of ``dffml_k8s_analysis.records.parse``."""
from typing import Dict, Optional

from dffml import Definition, op

from dffml_k8s_analysis.records.parse import release_note

BODY = Definition(name="github.body", primitive="str")
RELEASE_NOTE = Definition(name="release_note", primitive="str")


@op(name="k8s.release_note", inputs={"body": BODY}, outputs={"note": RELEASE_NOTE})
def extract_release_note(body: str) -> Dict[str, Optional[str]]:
    """The release note of a PR body, None when there is none."""
    note = release_note(body)
    return {"note": note.text if note else None}
