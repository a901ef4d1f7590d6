"""Nothing missed: the items updated since a time, for a sweep that reconciles those whose deliveries were lost.

GitHub does not redeliver a failed webhook by itself. ``k8s-analysis label --since TIME`` and the
periodic sweep of ``serve`` (``serve/deliveries.py``) list the issues and PRs updated since a time
(GitHub's issues listing, ``since``, oldest update first) and reconcile each under the same rules and
leases as a delivery. The serve sweep turns each into a delivery of its own id, ``sweep-`` plus the
item and its ``updated_at``, so one already swept (by any replica) is not taken twice and one older than
what was applied is skipped.
"""
from typing import List, Tuple

from .. import timeutil
from ..errors import UserError
from ..github.client import check_repo, translated
from .reconcile import GITHUB_RETRIES, GITHUB_TIMEOUT, client

MAX_ITEMS = 10_000  # one sweep's items at most (the oldest updates first: the next sweep goes on from there)


def since_time(value: str):
    """``value``, a time as GitHub writes it, as a datetime; UserError when it is not one."""
    try:
        return timeutil.parse(value)
    except (TypeError, ValueError):
        raise UserError(f"--since must be a time as GitHub writes it, such as 2026-12-01T00:00:00Z, got {value!r}") \
            from None


def updated_since(base_url: str, repo: str, since: str) -> List[Tuple[int, str]]:
    """(number, updated_at) of the issues and PRs of ``repo`` updated at ``since`` or later, oldest update first
    (at most :data:`MAX_ITEMS`); GitHubError when GitHub fails."""
    when = since_time(since)
    found = []
    with translated(check_repo(repo), f"GitHub for {repo}", GITHUB_TIMEOUT, GITHUB_RETRIES + 1):
        listing = client(base_url).get_repo(repo).get_issues(state="all", since=when, sort="updated", direction="asc")
        for issue in listing:
            found.append((issue.number, timeutil.format(issue.updated_at)))
            if len(found) == MAX_ITEMS:
                break
    return found
