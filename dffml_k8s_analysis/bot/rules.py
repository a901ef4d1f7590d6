"""What the bot does to one item: its provenance rules, bands and modes, and the one comment that says so.

Pure functions of the prediction, the item's labels now and who last labeled or unlabeled each
(:class:`Provenance`); ``reconcile.py`` reads those from GitHub and writes the result.

- a label is the bot's when its newest ``labeled`` event is the bot's own login; any other label,
  including one with no event known (set before the events were kept) or set by a deleted account,
  was chosen by a person;
- the bot never removes a label it did not add, never adds one a person removed (until a person adds
  it back), and where a person chose a ``kind/*`` it adds no ``kind/bug`` (it suggests it in the act
  band, else says nothing); its own label gone with no ``unlabeled`` event was renamed or deleted on the
  repository: it writes nothing;
- the model's label is added only in the *act* band (precision >= 0.90 on the training data),
  suggested in a comment in the *suggest* band, left alone below; the bot removes its own label once
  the note falls below the act band;
- modes: ``act`` writes, ``suggest`` writes comments but never labels, ``shadow`` writes nothing;
  every mode's :class:`Decision` says what it did or would do;
- SIGs: an item with ``needs-sig`` or no ``sig/*`` gets the router's top SIGs (when confident) in the same
  comment; a ``sig/*`` label only with ``apply_sigs`` in act mode;
- a label the repository lacks is never added (GitHub would create it): the decision is ``skipped``;
- one comment at most, and none where the bot neither did nor suggests anything; it says what, the
  probability, the note's words that weighed most and how to overrule it.
"""
import dataclasses
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

MARKER = "<!-- RELNOTE_PREDICTION -->"
MODES = ("act", "suggest", "shadow")
KIND, SIG, NEEDS_SIG = "kind/", "sig/", "needs-sig"


class BotMode(NamedTuple):
    """How the bot runs: ``mode`` (act, suggest, shadow) and whether it adds a ``sig/*`` label (``apply_sigs``)."""

    mode: str = "act"
    apply_sigs: bool = False


def managed(label: str) -> bool:
    """Whether the bot reads or writes ``label``: the kinds, the SIGs and ``needs-sig``."""
    return label.startswith((KIND, SIG)) or label == NEEDS_SIG


@dataclasses.dataclass
class Provenance:
    """Who last labeled or unlabeled each label of an item, and the bot's own login.

    ``last``: label -> (``labeled``|``unlabeled``, login or None); ``complete`` False when the item had more
    events than were read: the bot then writes no label (it cannot know who set them).
    """

    login: str
    last: Dict[str, Tuple[str, Optional[str]]]
    complete: bool = True

    @classmethod
    def of(cls, login: str, events: Sequence[Tuple[str, str, Optional[str]]], complete: bool = True) -> "Provenance":
        """From (event, label, actor) triples, oldest first; other events than labeled/unlabeled are skipped."""
        last = {label: (event, actor) for event, label, actor in events if event in ("labeled", "unlabeled")}
        return cls(login, last, complete)

    def by_bot(self, label: str, event: str = "labeled") -> bool:
        return self.last.get(label) == (event, self.login)

    def removed_by_person(self, label: str) -> bool:
        event = self.last.get(label)
        return event is not None and event[0] == "unlabeled" and event[1] != self.login


@dataclasses.dataclass
class Decision:
    """What the bot does (``act`` mode) or would do: the label writes, the comment, and why."""

    add: List[str] = dataclasses.field(default_factory=list)
    remove: List[str] = dataclasses.field(default_factory=list)
    kind: Optional[str] = None  # the comment's line on the model's label: added, removed, suggested
    why: str = ""
    sigs: List[Dict[str, Any]] = dataclasses.field(default_factory=list)  # SIGs the comment names
    sig_added: Optional[str] = None  # a sig/* label that is (or would be) the bot's
    deferred: bool = False  # a person chose: the bot's own judgement was not asked
    skipped: bool = False  # the model's label is missing on the repository: not added (GitHub would create it)

    @property
    def verdict(self) -> str:
        """add, remove, suggest, skipped or none: the model's label, as a shadow record compares it with people."""
        if self.skipped:
            return "skipped"
        return {"added": "add", "removed": "remove", "suggested": "suggest"}.get(self.kind or "", "none")

    def without(self, missing: Sequence[str], label: str, repo: str) -> None:
        """Add none of ``missing``, labels the repository lacks (adding one would create it): the model's
        ``label`` is then skipped, a SIG's label left to the comment's suggestion; the reason in ``why``."""
        self.add = [name for name in self.add if name not in missing]
        if label in missing:
            self.kind, self.skipped, self.why = None, True, f"{label} is not a label of {repo}: not created"
        if self.sig_added in missing:
            self.why += f"; {self.sig_added} is not a label of {repo}: not created"
            self.sig_added = None


def decide(prediction: Dict[str, Any], labels: Sequence[str], provenance: Provenance, mode: str = "act",
           apply_sigs: bool = False) -> Decision:
    """The bot's decision on an item with ``labels`` now (see the module's rules)."""
    label, band = prediction["label"], prediction["band"]
    present, writes = label in labels, mode != "suggest" and provenance.complete  # shadow: as act, never written
    person_kind = [name for name in labels if name.startswith(KIND) and name != label and not provenance.by_bot(name)]
    decision = Decision()
    if present and not provenance.by_bot(label):
        decision.why, decision.deferred = f"a person set {label}", True
    elif provenance.removed_by_person(label):
        decision.why, decision.deferred = f"a person removed {label}", True
    elif not present and provenance.by_bot(label):  # gone without an unlabeled event; its comment stands as written
        decision.kind, decision.why = "added", f"{label} was renamed or deleted on the repository: nothing written"
    elif present:  # the bot's own label
        if band == "act":
            decision.kind, decision.why = "added", "the act band"
        elif writes:
            decision.remove.append(label)
            decision.kind, decision.why = "removed", "below the act band now"
        else:
            decision.why = "below the act band, but suggest mode writes no label" if provenance.complete else \
                "too many events to know who set the labels"
    elif person_kind:
        decision.kind = "suggested" if band == "act" else None
        decision.why, decision.deferred = f"a person chose {', '.join(person_kind)}", True
    elif band == "act":
        if writes:
            decision.add.append(label)
            decision.kind = "added"
        else:
            decision.kind = "suggested"
        decision.why = "the act band"
    elif band == "suggest":
        decision.kind, decision.why = "suggested", "the suggest band"
    elif provenance.by_bot(label, "unlabeled"):
        decision.kind, decision.why = "removed", "below the act band"
    else:
        decision.why = "below the suggest band"
    _sigs(decision, prediction, labels, provenance, writes and apply_sigs)
    return decision


def _sigs(decision: Decision, prediction: Dict[str, Any], labels: Sequence[str], provenance: Provenance,
          apply: bool) -> None:
    """The SIGs of the comment, and the sig/* label to add with ``apply``."""
    ours = [name for name in labels if name.startswith(SIG) and provenance.by_bot(name)]
    if ours:
        decision.sig_added = ours[0]
        return
    routed = prediction.get("sigs") or {}
    needs = NEEDS_SIG in labels or not any(name.startswith(SIG) for name in labels)
    if not (needs and routed.get("confident") and routed.get("sigs")):
        return
    decision.sigs = list(routed["sigs"])
    top = decision.sigs[0]["sig"]
    if apply and top not in labels and not provenance.removed_by_person(top):
        decision.add.append(top)
        decision.sig_added = top


def comment(decision: Decision, prediction: Dict[str, Any]) -> Optional[str]:
    """The bot's comment for ``decision``, or None where it neither did nor suggests anything."""
    label, probability, act = prediction["label"], prediction["probability"], prediction["act"]
    words = ", ".join(f"`{word}`" for word in prediction.get("words") or ())
    weighed = f" The note's words that weighed most: {words}." if words else ""
    lines = []
    if decision.kind == "added":
        lines.append(f"Added `{label}`: probability {probability:.2f}, at or above {act:.2f}, where this bot is "
                     f"right at least 9 times in 10.{weighed}")
        lines.append(f"Not a bug fix? Remove `{label}`: this bot will not add it again.")
    elif decision.kind == "suggested":
        lines.append(f"Suggestion: `{label}`? probability {probability:.2f}.{weighed}")
        lines.append(f"This bot adds no label here; add `{label}` yourself if it fits, or ignore this.")
    elif decision.kind == "removed":
        lines.append(f"Removed `{label}`, which this bot had added: probability {probability:.2f} is now below "
                     f"{act:.2f}.")
    if decision.sig_added:
        lines.append(f"Added `{decision.sig_added}` from the release note. Wrong SIG? Remove it: this bot will "
                     "not add it again.")
    elif decision.sigs:
        named = ", ".join(f"`{s['sig']}` ({s['probability']:.2f})" for s in decision.sigs)
        lines.append(f"SIGs that may own this, from the release note: {named}.")
    return f"{MARKER}\n" + "\n".join(lines) + "\n" if lines else None
