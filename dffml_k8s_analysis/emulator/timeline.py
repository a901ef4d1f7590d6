"""Each emulated item's timeline as GitHub's GraphQL types: label events, comments, reviews, merge, close.

Deterministic per item and consistent with what REST serves: the label events are
:meth:`Sample.label_events` (the generated history, then writes), the comments are the item's
comments, the close is by the item's ``closed_by`` and a pull request's merge is at its
``merged_at``. Actors are people, the author, Prow's robots (ordinary ``User`` accounts), GitHub
Apps (``Bot``, logins ending in ``[bot]``) and deleted accounts (``null``).
"""
import random
from typing import List, Optional

from .sample import GHOST, LOGINS, Sample, iso, pick

REVIEW_STATES = ("COMMENTED", "COMMENTED", "APPROVED", "APPROVED", "CHANGES_REQUESTED")


def actor(login: Optional[str]) -> Optional[dict]:
    """An ``Actor``: a ``Bot`` for a GitHub App's login, else a ``User``; None for a deleted account."""
    if login is None or login == GHOST:
        return None
    return {"__typename": "Bot" if login.endswith("[bot]") else "User", "login": login}


def events(sample: Sample, number: int) -> List[dict]:
    """The item's timeline items, oldest first, each with its ``__typename``."""
    item = sample.item(number, "", detail=True)
    found = [{"__typename": "LabeledEvent" if event["event"] == "labeled" else "UnlabeledEvent",
              "createdAt": iso(event["created_at"]), "actor": actor(event["actor"]),
              "label": {"__typename": "Label", "name": event["label"]}}
             for event in sample.label_events(number)]
    for comment_id in sample.comment_ids(number):
        comment = sample.comment(comment_id, "")
        found.append({"__typename": "IssueComment", "createdAt": comment["created_at"],
                      "author": actor(comment["user"]["login"])})
    closer = actor(item["closed_by"]["login"]) if item["closed_by"] else None
    merged_at = (item.get("pull_request") or {}).get("merged_at")
    if "pull_request" in item:
        found += _reviews(sample, number, item["user"]["login"], merged_at)
    if merged_at:
        found.append({"__typename": "MergedEvent", "createdAt": merged_at, "actor": closer})
    if item["closed_at"]:
        found.append({"__typename": "ClosedEvent", "createdAt": item["closed_at"], "actor": closer})
    found.sort(key=lambda event: event["createdAt"])
    return found


def _reviews(sample: Sample, number: int, author: str, merged_at: Optional[str]) -> List[dict]:
    """A pull request's reviews: a few, by people (now and then the author or a deleted account); one
    approval at least before a merge."""
    rng = random.Random(sample.seed * 1_000_081 + number)
    created = sample.created[number]
    span = max(1, (sample.closed[number] or sample.generated_updated[number]) - created)
    reviews = []
    for _ in range(min(6, int(rng.expovariate(1 / 1.5)))):
        roll = rng.random()
        reviewer = None if roll < 0.04 else author if roll < 0.1 else pick(rng, LOGINS)
        state = "COMMENTED" if reviewer == author else pick(rng, REVIEW_STATES)
        reviews.append((created + int(span * rng.random()), reviewer, state))
    if merged_at and not any(state == "APPROVED" for _, _, state in reviews):
        reviews.append((created + int(span * rng.random()), pick(rng, LOGINS), "APPROVED"))
    return [{"__typename": "PullRequestReview", "createdAt": iso(at), "submittedAt": iso(at),
             "author": actor(reviewer), "state": state} for at, reviewer, state in reviews]
