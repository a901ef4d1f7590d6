"""Deterministic, GitHub-shaped issues and pull requests for the GitHub emulator.

Only compact per-item arrays are kept (times, state, kind, labels); each item's JSON
dict is rebuilt on demand from ``random.Random(seed * 1_000_003 + number)``, so a
130,000-item sample stays small.  Writes (labels, comments, touches) are kept as
overrides and reflected by :meth:`Sample.item`.
"""
import array
import base64
import functools
import math
import random
import sys
import urllib.parse
import zlib
from typing import Dict, List, Optional, Sequence, Set, Tuple

from .. import timeutil

START = 1401580800  # 2014-06-01T00:00:00Z, creation time of item 1
END_CREATED = 1759276800  # 2025-10-01T00:00:00Z, creation time of the last item
END_UPDATED = 1761955200  # 2025-11-01T00:00:00Z, latest generated updated_at
GHOST = "ghost"
GHOST_ID = 10137

KINDS = ("bug", "feature", "cleanup", "api-change", "regression", "deprecation",
         "documentation", "failing-test", "flake", "design")
KIND_WEIGHTS = (40, 28, 18, 6, 2, 2, 1.5, 1, 1, 0.5)
SIGS = ("node", "network", "storage", "api-machinery", "apps", "cli", "auth",
        "scheduling", "cluster-lifecycle", "instrumentation", "cloud-provider",
        "testing", "release", "windows", "architecture", "autoscaling")
AREAS = ("kubelet", "apiserver", "kubectl", "kubeadm", "test", "dependency",
         "code-generation", "e2e-test-framework", "ipvs", "cloudprovider")
SIZES = ("size/XS", "size/S", "size/M", "size/L", "size/XL", "size/XXL")
EXTRA_LABELS = ("lgtm", "approved", "needs-rebase", "lifecycle/stale",
                "priority/important-soon", "ok-to-test", "triage/accepted")
FIRST_NAMES = ("alice", "bob", "chen", "dmitri", "emma", "farid", "gita", "hiro",
               "ines", "jun", "kofi", "lena", "mateo", "nadia", "omar", "priya",
               "quinn", "ravi", "sofia", "tomas", "uma", "vik", "wei", "xin",
               "yara", "zane", "aiko", "bruno", "carla", "deniz")
SUFFIXES = ("", "-dev", "-k8s", "99", "x", "-io", "dev", "-sre", "42", "-gh")
LOGINS = tuple(first + suffix for first in FIRST_NAMES for suffix in SUFFIXES)
ASSOCIATIONS = ("MEMBER", "MEMBER", "CONTRIBUTOR", "CONTRIBUTOR",
                "FIRST_TIME_CONTRIBUTOR", "NONE")
REACTIONS = ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")
REACTION_COUNTS = (0,) * 12 + (1, 1, 2, 4)

# Shapes of a PR's release-note block; the first NOTE_SHAPES carry a note.
SHAPES = ("plain", "dash", "crlf", "fence_spaces", "action", "unclosed",
          "NONE", "none", "N/A", "empty", "null")
SHAPE_WEIGHTS = (52, 6, 5, 4, 4, 2, 15, 4, 3, 3, 2)
NOTE_SHAPES = 6

WORDS = {
    "c": ("kubelet", "kube-apiserver", "kube-scheduler", "kube-proxy",
          "kube-controller-manager", "kubectl", "kubeadm", "the CSI volume plugin",
          "the endpoint slice controller", "the garbage collector", "the volume manager"),
    "symptom": ("leak memory on restart", "report stale pod status",
                "drop events under load", "fail to mount volumes",
                "hang during shutdown", "return a 500 error",
                "leave pods stuck in ContainerCreating", "leave pods stuck in Terminating"),
    "cond": ("the node is deleted", "a watch times out", "the config file is empty",
             "a pod has no containers"),
    "thing": ("the --v flag", "pod priority", "the resourceVersion parameter",
              "custom resource defaults"),
    "feature": ("sidecar containers", "in-place pod resize", "IPv6 dual-stack",
                "structured logging", "graceful node shutdown", "volume snapshots"),
    "flag": ("max-pods", "watch-cache-sizes", "profiling", "feature-gates", "log-format"),
    "field": ("spec.hostUsers", "status.resize", "spec.schedulingGates",
              "spec.minReadySeconds"),
    "api": ("Pod", "Deployment", "Job", "Service", "PersistentVolumeClaim"),
    "dep": ("golang.org/x/net", "etcd client", "grpc", "cAdvisor", "go"),
}
NOTE_TEMPLATES = {
    "bug": ("Fix a bug where {c} could {symptom}.", "Fixed panic in {c} when {cond}.",
            "Fixed a race condition in {c} that could {symptom}.",
            "Fix an issue where {c} ignored {thing}."),
    "feature": ("Add support for {feature} in {c}.", "Added `--{flag}` flag to {c}.",
                "{c} now supports {feature}.", "Introduce {feature} as an alpha feature."),
    "cleanup": ("Removed deprecated {thing} from {c}.",
                "Refactored {c} to use contextual logging.", "Updated {dep} to v1.{minor}.0."),
    "api-change": ("Added `{field}` field to the {api} API.",
                   "Promoted the {feature} API to GA."),
    "regression": ("Fixed a regression in {c} that caused it to {symptom}.",),
    "deprecation": ("The `--{flag}` flag of {c} is deprecated and will be removed "
                    "in a future release.",),
    "documentation": ("Clarified the documentation of `{field}`.",),
    "failing-test": ("Fixed the failing e2e test for {feature}.",),
    "flake": ("Fixed a flake in the {feature} integration test.",),
    "design": ("Added a design proposal for {feature}.",),
}
WHY = ("This fixes the behaviour reported by users on the mailing list.",
       "Needed for the KEP graduation.", "Reduces load on the API server.",
       "Keeps our dependencies up to date.", "See the linked issue for details.")
ISSUE_TITLES = ("{c} fails to {symptom_short}", "[Flaky test] {feature} e2e",
                "{c}: {feature} does not work", "Support {feature} in {c}")
COMMENT_BODIES = ("/lgtm", "/approve", "/retest", "/assign", "/triage accepted", "/sig node",
                  "Thanks for the fix!", "Could you add a unit test for this?",
                  "I can reproduce this on v1.30.", "This looks good to me, one nit inline.")
# Generated comments have ids GENERATED_COMMENTS + number * COMMENTS_PER_ITEM + index;
# comments created through the API count up from 1,000,000,001.
GENERATED_COMMENTS = 10_000_000_000
COMMENTS_PER_ITEM = 1000
# Who else acts on items: Prow's robots are ordinary user accounts, GitHub Apps are Bot actors ("[bot]" logins)
ROBOTS = ("k8s-ci-robot", "k8s-triage-robot")
APPS = ("dependabot[bot]", "github-actions[bot]")
CHURN = ("needs-triage", "needs-sig", "needs-kind", "needs-rebase", "do-not-merge/hold")  # labeled, then removed
HEAVY = "do-not-merge/work-in-progress"  # toggled dozens of times on a few items: longer than one timeline page
HEAVY_SHARE = 0.005
SYMPTOM_SHORT = ("start pods after restart", "update node status", "mount volumes",
                 "shut down cleanly")


def pick(rng: random.Random, options: Sequence):
    """Like ``rng.choice`` but cheaper: a single C-level draw."""
    return options[int(rng.random() * len(options))]


def iso(epoch: int) -> str:
    """ISO 8601 UTC timestamp as GitHub writes it."""
    return timeutil.from_epoch(epoch)


def node_id(kind: str, ident: int) -> str:
    """GitHub's legacy global node id, e.g. ``MDU6SXNzdWUx`` for Issue 1."""
    return base64.b64encode("{:02d}:{}{}".format(len(kind), kind, ident).encode()).decode()


def user_id(login: str) -> int:
    """A stable numeric id for a login."""
    return GHOST_ID if login == GHOST else 1_000_000 + zlib.crc32(login.encode()) % 90_000_000


def user_json(login: str, api: str) -> dict:
    """A GitHub simple-user object."""
    return dict(_user_json(login, api))


@functools.lru_cache(maxsize=4096)
def _user_json(login: str, api: str) -> dict:
    ident = user_id(login)
    url = "{}/users/{}".format(api, login)
    return {
        "login": login, "id": ident, "node_id": node_id("User", ident),
        "avatar_url": "https://avatars.githubusercontent.com/u/{}?v=4".format(ident),
        "gravatar_id": "", "url": url, "html_url": "https://github.com/" + login,
        "followers_url": url + "/followers", "following_url": url + "/following{/other_user}",
        "gists_url": url + "/gists{/gist_id}", "starred_url": url + "/starred{/owner}{/repo}",
        "subscriptions_url": url + "/subscriptions", "organizations_url": url + "/orgs",
        "repos_url": url + "/repos", "events_url": url + "/events{/privacy}",
        "received_events_url": url + "/received_events", "type": "User", "user_view_type": "public",
        "site_admin": False,
    }


# A repository's URL templates, as GitHub writes them after its API URL
REPOSITORY_URLS = {
    "forks_url": "/forks", "keys_url": "/keys{/key_id}", "collaborators_url": "/collaborators{/collaborator}",
    "teams_url": "/teams", "hooks_url": "/hooks", "issue_events_url": "/issues/events{/number}",
    "events_url": "/events", "assignees_url": "/assignees{/user}", "branches_url": "/branches{/branch}",
    "tags_url": "/tags", "blobs_url": "/git/blobs{/sha}", "git_tags_url": "/git/tags{/sha}",
    "git_refs_url": "/git/refs{/sha}", "trees_url": "/git/trees{/sha}", "statuses_url": "/statuses/{sha}",
    "languages_url": "/languages", "stargazers_url": "/stargazers", "contributors_url": "/contributors",
    "subscribers_url": "/subscribers", "subscription_url": "/subscription", "commits_url": "/commits{/sha}",
    "git_commits_url": "/git/commits{/sha}", "comments_url": "/comments{/number}",
    "issue_comment_url": "/issues/comments{/number}", "contents_url": "/contents/{+path}",
    "compare_url": "/compare/{base}...{head}", "merges_url": "/merges", "archive_url": "/{archive_format}{/ref}",
    "downloads_url": "/downloads", "issues_url": "/issues{/number}", "pulls_url": "/pulls{/number}",
    "milestones_url": "/milestones{/number}", "notifications_url": "/notifications{?since,all,participating}",
    "labels_url": "/labels{/name}", "releases_url": "/releases{/id}", "deployments_url": "/deployments",
}
APACHE = {"key": "apache-2.0", "name": "Apache License 2.0", "spdx_id": "Apache-2.0",
          "url": "https://api.github.com/licenses/apache-2.0", "node_id": "MDc6TGljZW5zZTI="}


def repository_json(owner: dict, name: str, ident: int, api: str, open_count: int, created: int, now: int) -> dict:
    """A GitHub full-repository object for ``owner`` (a user object) and ``name``."""
    full_name = "{}/{}".format(owner["login"], name)
    url = "{}/repos/{}".format(api, full_name)
    html = "https://github.com/" + full_name
    repository = {"id": ident, "node_id": node_id("Repository", ident), "name": name, "full_name": full_name,
                  "private": False, "owner": owner, "html_url": html, "description": "Emulated repository",
                  "fork": False, "url": url}
    repository.update((field, url + suffix) for field, suffix in REPOSITORY_URLS.items())
    repository.update({
        "created_at": iso(created), "updated_at": iso(now), "pushed_at": iso(now),
        "git_url": "git://github.com/{}.git".format(full_name), "ssh_url": "git@github.com:{}.git".format(full_name),
        "clone_url": html + ".git", "svn_url": html, "homepage": "https://kubernetes.io", "size": 1250000,
        "stargazers_count": 118000, "watchers_count": 118000, "language": "Go", "has_issues": True,
        "has_projects": True, "has_downloads": True, "has_wiki": True, "has_pages": False,
        "has_discussions": False, "forks_count": 41000, "mirror_url": None, "archived": False, "disabled": False,
        "open_issues_count": open_count, "license": APACHE, "allow_forking": True, "is_template": False,
        "web_commit_signoff_required": False, "topics": ["kubernetes"], "visibility": "public", "forks": 41000,
        "open_issues": open_count, "watchers": 118000, "default_branch": "master", "network_count": 41000,
        "subscribers_count": 3200,
    })
    return repository


def label_json(name: str, repo_api: str) -> dict:
    """A GitHub label object; id and colour derive from the name."""
    return dict(_label_json(name, repo_api))


@functools.lru_cache(maxsize=4096)
def _label_json(name: str, repo_api: str) -> dict:
    crc = zlib.crc32(name.encode())
    prefix, _, rest = name.partition("/")
    descriptions = {"kind": "Categorizes issue or PR as related to {}.",
                    "sig": "Categorizes an issue or PR as relevant to SIG {}.",
                    "area": "Issues or PRs related to {}."}
    description = descriptions[prefix].format(rest) if rest and prefix in descriptions else None
    return {
        "id": 100_000_000 + crc % 900_000_000, "node_id": node_id("Label", crc),
        "url": "{}/labels/{}".format(repo_api, urllib.parse.quote(name, safe="")),
        "name": name, "color": "{:06x}".format(crc & 0xFFFFFF), "default": False,
        "description": description,
    }


def _note_text(rng: random.Random, kind: str) -> str:
    """A generated release note matching ``kind``."""
    words = {key: pick(rng, values) for key, values in WORDS.items()}
    text = pick(rng, NOTE_TEMPLATES.get(kind, NOTE_TEMPLATES["cleanup"]))
    return text.format(minor=rng.randint(1, 30), **words)


def _note_block(rng: random.Random, shape: str, text: str, action: bool) -> str:
    """The ```release-note block of a PR body in the given shape."""
    if shape in ("NONE", "none", "N/A"):
        text = shape
    elif shape == "empty":
        text = ""
    elif shape == "dash":
        text = "- " + text
    lang = "release-note"
    if action:
        if rng.random() < 0.5:
            lang = "release-note-action-required"
        else:
            text = "ACTION REQUIRED: " + text
    fence = "```" + lang + ("   " if shape == "fence_spaces" else "")
    closing = "" if shape == "unclosed" else "\n```"
    return "{}\n{}{}".format(fence, text, closing)


def _pr_body(rng: random.Random, shape: str, kinds: Sequence[str], text: str,
             action: bool) -> Optional[str]:
    """A body following the Kubernetes pull request template."""
    why = pick(rng, WHY)
    fixes = "Fixes #{}\n\n".format(rng.randint(1, 99999)) if rng.random() < 0.4 else ""
    docs = rng.random() < 0.3
    block = _note_block(rng, shape, text, action)
    if shape == "null":
        return None
    body = ("**What type of PR is this?**\n\n{}\n\n**What this PR does / why we need it**:\n"
            "{}\n\n{}**Does this PR introduce a user-facing change?**\n{}\n").format(
        "\n".join("/kind " + kind for kind in kinds), why, fixes, block)
    if docs and shape != "unclosed":
        body += "\n**Additional documentation e.g., KEPs, usage docs, etc.**:\n```docs\n\n```\n"
    return body.replace("\n", "\r\n") if shape == "crlf" else body


def _issue_body(rng: random.Random) -> Optional[str]:
    """A body following the Kubernetes bug report template, sometimes null."""
    body = ("### What happened?\n\n{} started to {}.\n\n### What did you expect to happen?"
            "\n\nIt keeps working.\n\n### Kubernetes version\n\n```console\n$ kubectl version\n"
            "v1.{}.{}\n```\n").format(pick(rng, WORDS["c"]), pick(rng, WORDS["symptom"]),
                                      rng.randint(10, 34), rng.randint(0, 12))
    return None if rng.random() < 0.05 else body


def _pr_labels(rng: random.Random, kinds: Sequence[str], sigs: Sequence[str],
               areas: Sequence[str], shape: int, action: bool) -> Tuple[str, ...]:
    """Label names of a pull request."""
    names = ["kind/" + kind for kind in dict.fromkeys(kinds)]
    names += ["sig/" + sig for sig in sigs] + ["area/" + area for area in areas]
    if action:
        names.append("release-note-action-required")
    else:
        names.append("release-note" if shape < NOTE_SHAPES else "release-note-none")
    names.append(pick(rng, SIZES))
    names += [name for name in EXTRA_LABELS if rng.random() < 0.15]
    return tuple(sys.intern(name) for name in names)


def _issue_labels(rng: random.Random) -> Tuple[str, ...]:
    """Label names of an issue."""
    names = ["kind/" + pick(rng, ("bug", "bug", "feature", "support", "flake")),
             "sig/" + pick(rng, SIGS)]
    names += [name for name in ("needs-triage", "lifecycle/stale", "triage/accepted")
              if rng.random() < 0.2]
    return tuple(sys.intern(name) for name in names)


class Sample:
    """The issues and pull requests of one repository, numbered 1..count."""

    def __init__(self, count: int, seed: int = 0, owner: str = "kubernetes",
                 repo: str = "kubernetes", notes: Optional[List[dict]] = None):
        self.count, self.seed, self.owner, self.repo = count, seed, owner, repo
        self.notes = sorted(notes or [], key=lambda note: note["pr_number"])
        self.modulus = count + 1  # composite sort key: key * modulus + number
        size = count + 1  # index 0 unused so arrays are indexed by number
        self.created = array.array("q", [0]) * size
        self.updated = array.array("q", [0]) * size
        self.closed = array.array("q", [0]) * size
        self.comment_counts = array.array("q", [0]) * size
        self.is_pr = bytearray(size)
        self._shape = bytearray(size)
        self._note = array.array("l", [-1]) * size
        self._labels: List[Tuple[str, ...]] = [()] * size
        self._label_overrides: Dict[int, List[str]] = {}
        self._label_log: Dict[int, List[dict]] = {}  # number -> label events written since generation
        # the repository's labels beyond those the generated items carry: created by writes, deleted
        self._generated_labels: Optional[set] = None
        self._created_labels: set = set()
        self._deleted_labels: set = set()
        self._comments: Dict[int, dict] = {}  # id -> number, body, login, times
        self._issue_comments: Dict[int, List[int]] = {}  # number -> comment ids
        self._next_comment_id = 1_000_000_001
        self._edited: Set[int] = set()
        self._bodies: Dict[int, Optional[str]] = {}  # number -> body written since generation
        self.deleted: Set[int] = set()  # items deleted since generation: the API answers 410 for them
        self._sorted: Dict[Tuple[str, str], array.array] = {}
        self._generate()
        self.generated_updated = array.array("q", self.updated)  # before any write: what the history spans

    # Generation of the compact arrays

    def _generate(self) -> None:
        """Fill the per-item arrays from one RNG seeded with ``seed``."""
        rng = random.Random(self.seed)
        slot = (END_CREATED - START) / max(self.count, 1)
        median_delay = math.log(10 * 86400)
        next_note = 0
        for number in range(1, self.count + 1):
            created = START + int((number - 1 + rng.random()) * slot)
            delay = max(60, int(rng.lognormvariate(median_delay, 1.7)))
            updated = created + delay
            if updated > END_UPDATED:  # spread, not pile up at the end
                updated = created + int((END_UPDATED - created) * rng.random())
            self.created[number], self.updated[number] = created, updated
            if rng.random() < 0.85:
                self.closed[number] = created + int((updated - created) * rng.uniform(0.8, 1.0))
            self.comment_counts[number] = min(COMMENTS_PER_ITEM - 1, int(rng.expovariate(1 / 6)))
            if rng.random() >= 0.6:
                self._labels[number] = _issue_labels(rng)
                continue
            self.is_pr[number] = 1
            shape = rng.choices(range(len(SHAPES)), SHAPE_WEIGHTS)[0]
            self._shape[number] = shape
            if shape < NOTE_SHAPES and next_note < len(self.notes):
                note = self.notes[next_note]
                self._note[number] = next_note
                next_note += 1
                self._labels[number] = _pr_labels(
                    rng, note.get("kinds", ()), note.get("sigs", ()), note.get("areas", ()),
                    shape, bool(note.get("action_required")))
            else:
                kinds = rng.choices(KINDS, KIND_WEIGHTS, k=1 + (rng.random() < 0.1))
                sigs = rng.sample(SIGS, 1 + (rng.random() < 0.3))
                areas = [pick(rng, AREAS)] if rng.random() < 0.4 else []
                self._labels[number] = _pr_labels(rng, kinds, sigs, areas, shape,
                                                  SHAPES[shape] == "action")

    # Reading

    def labels(self, number: int) -> List[str]:
        """Current label names of an item."""
        return list(self._label_overrides.get(number, self._labels[number]))

    def state(self, number: int) -> str:
        """``open`` or ``closed``."""
        return "closed" if self.closed[number] else "open"

    def sorted_keys(self, sort: str, state: str) -> array.array:
        """Ascending ``key * modulus + number`` of the items in ``state`` (cached)."""
        cache_key = (sort, state)
        if cache_key not in self._sorted:
            values = {"created": self.created, "updated": self.updated,
                      "comments": self.comment_counts}[sort]
            closed, modulus = self.closed, self.modulus
            want_closed = {"open": False, "closed": True}.get(state)
            self._sorted[cache_key] = array.array("q", sorted(
                values[n] * modulus + n for n in range(1, self.count + 1)
                if want_closed is None or bool(closed[n]) == want_closed))
        return self._sorted[cache_key]

    def item(self, number: int, api: str, detail: bool = False) -> dict:
        """The item as GitHub's issue list serves it; ``detail`` adds ``closed_by``."""
        rng = random.Random(self.seed * 1_000_003 + number)
        repo_api = "{}/repos/{}/{}".format(api, self.owner, self.repo)
        url = "{}/issues/{}".format(repo_api, number)
        is_pr = bool(self.is_pr[number])
        login, title, body = self._content(rng, number)
        closed = self.closed[number]
        author_association = "NONE" if login == GHOST else pick(rng, ASSOCIATIONS)
        item = {
            "url": url, "repository_url": repo_api,
            "labels_url": url + "/labels{/name}", "comments_url": url + "/comments",
            "events_url": url + "/events",
            "html_url": "https://github.com/{}/{}/{}/{}".format(
                self.owner, self.repo, "pull" if is_pr else "issues", number),
            "id": 100_000_000 + number, "node_id": node_id("PullRequest" if is_pr else "Issue",
                                                           100_000_000 + number),
            "number": number, "title": title + (" (edited)" if number in self._edited else ""),
            "user": user_json(login, api),
            "labels": [label_json(name, repo_api) for name in self.labels(number)],
            "state": self.state(number), "locked": False, "assignee": None, "assignees": [],
            "milestone": None, "comments": self.comment_counts[number],
            "created_at": iso(self.created[number]), "updated_at": iso(self.updated[number]),
            "closed_at": iso(closed) if closed else None,
            "author_association": author_association, "active_lock_reason": None,
        }
        if is_pr:
            merged = closed and rng.random() < 0.75
            item["draft"] = not closed and rng.random() < 0.08
            item["pull_request"] = self._pull_request(repo_api, number,
                                                      iso(closed) if merged else None)
        item["body"] = self._bodies.get(number, body)
        closer = pick(rng, LOGINS)
        if detail:
            item["closed_by"] = user_json(closer, api) if closed else None
        item["reactions"] = self._reactions(rng, url)
        item["timeline_url"] = url + "/timeline"
        item["performed_via_github_app"] = None
        item["state_reason"] = "completed" if closed else None
        return item

    def _content(self, rng: random.Random, number: int) -> Tuple[str, str, Optional[str]]:
        """Author login, title and body of an item."""
        login = GHOST if rng.random() < 0.01 else pick(rng, LOGINS)
        if not self.is_pr[number]:
            title = pick(rng, ISSUE_TITLES).format(
                c=pick(rng, WORDS["c"]), feature=pick(rng, WORDS["feature"]),
                symptom_short=pick(rng, SYMPTOM_SHORT))
            return login, title, _issue_body(rng)
        shape = SHAPES[self._shape[number]]
        kinds = [name[5:] for name in self._labels[number] if name.startswith("kind/")]
        if self._note[number] >= 0:
            note = self.notes[self._note[number]]
            text, action = note["text"], bool(note.get("action_required"))
            login = note.get("author") or login
        else:
            text, action = _note_text(rng, kinds[0]), shape == "action"
        title = text.strip().splitlines()[0][:90].rstrip(" .") if text.strip() else "Update"
        return login, title, _pr_body(rng, shape, kinds, text, action)

    def _pull_request(self, repo_api: str, number: int, merged_at: Optional[str]) -> dict:
        """The ``pull_request`` member of a PR in the issues API."""
        html = "https://github.com/{}/{}/pull/{}".format(self.owner, self.repo, number)
        return {"url": "{}/pulls/{}".format(repo_api, number), "html_url": html,
                "diff_url": html + ".diff", "patch_url": html + ".patch",
                "merged_at": merged_at}

    @staticmethod
    def _reactions(rng: random.Random, url: str) -> dict:
        """A reactions rollup with small random counts, mostly zero."""
        counts = {name: pick(rng, REACTION_COUNTS) for name in REACTIONS}
        return dict(url=url + "/reactions", total_count=sum(counts.values()), **counts)

    # Writes

    def touch(self, number: int, now: float) -> None:
        """Mark an item edited: its title gains " (edited)" and updated_at becomes now."""
        self._edited.add(number)
        self._bump(number, now)

    def _bump(self, number: int, now: float) -> None:
        """Move updated_at to ``now`` (at least one second forward) and drop stale indexes."""
        self.updated[number] = max(int(now), self.updated[number] + 1)
        self._sorted = {key: value for key, value in self._sorted.items()
                        if key[0] == "created"}

    def set_body(self, number: int, body: Optional[str], now: float) -> None:
        """Replace an item's body (as its author editing it would)."""
        self._bodies[number] = body
        self._bump(number, now)

    def has_label(self, name: str) -> bool:
        """Whether the repository has the label ``name``: one the generated items carry or a write created, not
        deleted since."""
        if self._generated_labels is None:
            self._generated_labels = {label for labels in self._labels for label in labels}
        return name in self._created_labels or (name in self._generated_labels and name not in self._deleted_labels)

    def set_labels(self, number: int, names: Sequence[str], now: float, actor: Optional[str] = None) -> List[str]:
        """Replace an item's labels (duplicates dropped, order kept); ``actor`` (a login) is recorded as
        the one who labeled or unlabeled each label that changed, as GitHub's issue events say. A label the
        repository lacks is created, as GitHub does."""
        before, after = self.labels(number), list(dict.fromkeys(names))
        self._created_labels.update(name for name in after if not self.has_label(name))
        log = self._label_log.setdefault(number, [])
        for action, changed in (("unlabeled", [n for n in before if n not in after]),
                                ("labeled", [n for n in after if n not in before])):
            log.extend({"event": action, "label": name, "actor": actor, "created_at": int(now)} for name in changed)
        self._label_overrides[number] = after
        self._bump(number, now)
        return self.labels(number)

    def rename_label(self, name: str, new: Optional[str], now: float) -> None:
        """Rename a label on the repository (``new`` None: delete it): every item carrying it changes, with no
        labeled/unlabeled event, as on GitHub."""
        self._created_labels.discard(name)
        self._deleted_labels.add(name)
        if new is not None:
            self._created_labels.add(new)
        for number in range(1, self.count + 1):
            labels = self.labels(number)
            if name in labels:
                self._label_overrides[number] = [new if label == name else label for label in labels if label != name
                                                 or new is not None]
                self._bump(number, now)

    def label_events(self, number: int) -> List[dict]:
        """The item's labeled/unlabeled events, its generated history (oldest first) then the writes since:
        ``event``, ``label``, ``actor`` (a login, None for a deleted account) and ``created_at`` (epoch seconds).
        A login ending in ``[bot]`` is a GitHub App (a Bot)."""
        return self._label_history(number) + list(self._label_log.get(number, ()))

    def author(self, number: int) -> str:
        """The login of the item's author (``ghost`` for a deleted account)."""
        return self._content(random.Random(self.seed * 1_000_003 + number), number)[0]

    def _label_history(self, number: int) -> List[dict]:
        """Generated label events: each generated label applied once, some labels added then removed, and on a
        few items one label toggled dozens of times; replayed in order they leave the generated labels."""
        rng = random.Random(self.seed * 1_000_039 + number)
        created, span = self.created[number], max(2, self.generated_updated[number] - self.created[number])
        author = self.author(number)
        events = [("labeled", name, self._labeler(rng, name, author), created + int(span * 0.2 * rng.random()))
                  for name in self._labels[number]]
        for name in CHURN:
            if name not in self._labels[number] and rng.random() < 0.12:
                start = created + int(span * rng.random())
                stop = start + int((created + span - start) * rng.random())
                events += [("labeled", name, ROBOTS[0], start), ("unlabeled", name, self._labeler(rng, name, author),
                                                                 stop)]
        if rng.random() < HEAVY_SHARE:
            toggles = rng.randint(30, 90)
            for index in range(toggles):
                start = created + span * index // toggles
                events += [("labeled", HEAVY, ROBOTS[0], start),
                           ("unlabeled", HEAVY, ROBOTS[0], start + span // (2 * toggles))]
        events.sort(key=lambda event: event[3])
        return [{"event": event, "label": label, "actor": actor, "created_at": at} for event, label, actor, at in events]

    @staticmethod
    def _labeler(rng: random.Random, name: str, author: str) -> Optional[str]:
        """Who applied or removed a generated label: Prow's robot mostly, the author, other people, an App, or a
        deleted account (None)."""
        roll = rng.random()
        if name.startswith("lifecycle/"):
            return ROBOTS[1]
        if not name.startswith(("kind/", "sig/", "area/")):
            return ROBOTS[0] if roll < 0.85 else pick(rng, LOGINS)
        if roll < 0.45:
            return ROBOTS[0]
        if roll < 0.65:
            return None if author == GHOST else author
        if roll < 0.9:
            return pick(rng, LOGINS)
        return pick(rng, APPS) if roll < 0.96 else None

    def comment_ids(self, number: int) -> List[int]:
        """Ids of an item's comments, oldest first: as many as its ``comments`` count says."""
        return list(self._thread(number))

    def _thread(self, number: int) -> List[int]:
        """The item's comment ids; its generated comments are made on first use."""
        if number not in self._issue_comments:
            rng = random.Random(self.seed * 1_000_033 + number)
            created, updated = self.created[number], self.updated[number]
            ids = []
            for index in range(self.comment_counts[number]):
                comment_id = GENERATED_COMMENTS + number * COMMENTS_PER_ITEM + index
                moment = created + int((updated - created) * (index + rng.random()) / self.comment_counts[number])
                body, login = pick(rng, COMMENT_BODIES), pick(rng, LOGINS)
                if zlib.crc32(b"%d:%d" % (number, index)) % 5 == 0:  # one comment in five is Prow's
                    login = ROBOTS[0]
                self._comments[comment_id] = {"number": number, "body": body, "login": login,
                                              "created": moment, "updated": moment}
                ids.append(comment_id)
            self._issue_comments[number] = ids
        return self._issue_comments[number]

    def comment(self, comment_id: int, api: str) -> Optional[dict]:
        """A comment as GitHub serves it, or None."""
        number = (comment_id - GENERATED_COMMENTS) // COMMENTS_PER_ITEM
        if comment_id >= GENERATED_COMMENTS and 1 <= number <= self.count:
            self._thread(number)
        record = self._comments.get(comment_id)
        if record is None:
            return None
        repo_api = "{}/repos/{}/{}".format(api, self.owner, self.repo)
        return {
            "id": comment_id, "node_id": node_id("IssueComment", comment_id),
            "url": "{}/issues/comments/{}".format(repo_api, comment_id),
            "html_url": "https://github.com/{}/{}/issues/{}#issuecomment-{}".format(
                self.owner, self.repo, record["number"], comment_id),
            "issue_url": "{}/issues/{}".format(repo_api, record["number"]),
            "body": record["body"], "user": user_json(record["login"], api),
            "created_at": iso(record["created"]), "updated_at": iso(record["updated"]),
            "author_association": "MEMBER",
        }

    def add_comment(self, number: int, body: str, login: str, now: float) -> int:
        """Store a new comment on an item; returns its id."""
        comment_id = self._next_comment_id
        self._next_comment_id += 1
        self._comments[comment_id] = {"number": number, "body": body, "login": login,
                                      "created": int(now), "updated": int(now)}
        self._thread(number).append(comment_id)
        self._comments_changed(number, now)
        return comment_id

    def edit_comment(self, comment_id: int, body: str, now: float) -> bool:
        """Change a comment's body; False when it does not exist."""
        if self.comment(comment_id, "") is None:
            return False
        record = self._comments[comment_id]
        record["body"], record["updated"] = body, int(now)
        self._bump(record["number"], now)
        return True

    def delete_comment(self, comment_id: int, now: float) -> bool:
        """Delete a comment; False when it does not exist."""
        if self.comment(comment_id, "") is None:
            return False
        record = self._comments.pop(comment_id)
        self._issue_comments[record["number"]].remove(comment_id)
        self._comments_changed(record["number"], now)
        return True

    def _comments_changed(self, number: int, now: float) -> None:
        """Make the item's comment count match its stored comments."""
        self.comment_counts[number] = len(self._issue_comments[number])
        self._bump(number, now)
