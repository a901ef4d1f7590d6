"""The bot measured on its own repository: its recorded decisions against what people later did.

Each decision of the bot's own (``store.bot.decisions``: in shadow mode what it would have done) is set
against the item as GitHub has it now, read as a reconcile reads it (its labels and who set them):

- people said *yes* when the model's label is on the item and not the bot's;
- people said *no* when a person removed it, or chose another ``kind/*``;
- else people have not decided yet, and the item is not judged.

A would-be ``add`` that people said yes to is a match and one they said no to a mismatch (a wrong
label the bot would have written); ``none`` is a match on no and a miss on yes; a ``suggest`` is
counted apart (taken or not), and so is a ``skipped`` one (its label missing on the repository). The gate is dotnet's issue-labeler's: 65 % matches or more and fewer
than 15 % mismatches of the judged decisions.
"""
from typing import Any, Dict, List, Tuple

import github

from . import rules
from .reconcile import client, github_errors, own_login, provenance

MATCHES, MISMATCHES = 0.65, 0.15  # the gate: share of judged decisions


def verdict(labels: List[str], seen: rules.Provenance, label: str) -> str:
    """What people said about ``label`` on an item: yes, no or undecided."""
    if label in labels and not seen.by_bot(label):
        return "yes"
    chose_other = any(name.startswith(rules.KIND) and name != label and not seen.by_bot(name) for name in labels)
    return "no" if seen.removed_by_person(label) or chose_other else "undecided"


def people(base_url: str, repo: str, numbers: List[int], label: str) -> Dict[int, str]:
    """Per item, what people said about ``label`` (a 404/410 item: ``gone``)."""
    gh = client(base_url)
    login, said = own_login(gh, base_url), {}
    for number in numbers:
        with github_errors(repo, number):
            try:
                issue = gh.get_repo(repo).get_issue(number)
                said[number] = verdict([lab.name for lab in issue.labels], provenance(issue, login), label)
            except github.GithubException as error:
                if error.status not in (404, 410):
                    raise
                said[number] = "gone"
    return said


def compare(decisions: List[Tuple[int, str]], said: Dict[int, str]) -> Dict[str, Any]:
    """The counts and shares of (number, decision) against what people said."""
    counts = {key: 0 for key in ("decisions", "judged", "matches", "mismatches", "misses", "suggested",
                                 "suggestions_taken", "undecided", "skipped")}
    for number, decision in decisions:
        counts["decisions"] += 1
        if decision == "skipped":  # its label missing on the repository: nothing to judge
            counts["skipped"] += 1
            continue
        answer = said.get(number, "undecided")
        if answer not in ("yes", "no"):
            counts["undecided"] += 1
            continue
        if decision == "suggest":
            counts["suggested"] += 1
            counts["suggestions_taken"] += answer == "yes"
            continue
        counts["judged"] += 1
        would = decision == "add"
        if would == (answer == "yes"):
            counts["matches"] += 1
        elif would:
            counts["mismatches"] += 1
        else:
            counts["misses"] += 1
    judged = counts["judged"]
    shares = {"match_share": counts["matches"] / judged if judged else None,
              "mismatch_share": counts["mismatches"] / judged if judged else None}
    passes = judged > 0 and shares["match_share"] >= MATCHES and shares["mismatch_share"] < MISMATCHES
    return dict(counts, **shares, gate_passed=passes)


def text(report: Dict[str, Any], mode: str) -> str:
    """The report for people, a few lines."""
    def share(value):
        return "-" if value is None else f"{value:.0%}"

    return (f"{report['decisions']} {mode} decisions; {report['judged']} judged by people since "
            f"({report['undecided']} not yet)\n"
            f"matches {report['matches']} ({share(report['match_share'])}), would-be wrong labels "
            f"{report['mismatches']} ({share(report['mismatch_share'])}), missed {report['misses']}\n"
            f"suggestions taken {report['suggestions_taken']} of {report['suggested']}\n"
            f"gate (matches >= {MATCHES:.0%}, mismatches < {MISMATCHES:.0%}): "
            f"{'passed' if report['gate_passed'] else 'not passed'}\n"
            f"skipped as {report['label']} is missing on the repository (it is never created): {report['skipped']}\n"
            f"deliveries its own label writes caused, skipped: {report['own_writes_skipped']}")
