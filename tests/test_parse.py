"""Release-note extraction and record parsing."""
import pytest

from dffml_k8s_analysis.records.parse import Note, label_groups, links_docs, model_inputs, record, records, release_note

TEMPLATE = (
    "**What type of PR is this?**\n\n/kind bug\n\n**What this PR does / why we need it**:\nFixes it.\n\n"
    "**Does this PR introduce a user-facing change?**\n{block}\n\n"
    "**Additional documentation e.g., KEPs, usage docs, etc.**:\n```docs\n\n```\n"
)


@pytest.mark.parametrize(
    "block, expected",
    [
        ("```release-note\nFixed a panic in kubelet.\n```", Note("Fixed a panic in kubelet.", False)),
        ("```release-note\nNONE\n```", None),
        ("```release-note\nnone\n```", None),
        ("```release-note\nN/A\n```", None),
        ("```release-note\nNA\n```", None),
        ("```release-note\nTODO\n```", None),
        ("```release-note\n\n```", None),
        ("```release-note\n`NONE`\n```", None),
        ("```release-note\n- Fixed a leak.\n```", Note("Fixed a leak.", False)),
        ("```release-note   \nTrailing spaces after the fence.\n```", Note("Trailing spaces after the fence.", False)),
        ("```release-note-action-required\nRemoved --foo.\n```", Note("Removed --foo.", True)),
        ("```release-note\nACTION REQUIRED: Removed --bar.\n```", Note("Removed --bar.", True)),
        ("```Release-Note\nCase of the info string.\n```", Note("Case of the info string.", False)),
        ("```release-note\nFirst line.\n- second item\n```", Note("First line.\n- second item", False)),
        ("```release-note\nNo closing fence", Note("No closing fence", False)),
        ("```release-note\nUnterminated,\ntwo lines.\n\nFixes #1", Note("Unterminated,\ntwo lines.", False)),
        ("no block at all", None),
        ("```\nanonymous fence\n```", None),
    ],
)
def test_release_note_rules(block, expected):
    assert release_note(TEMPLATE.format(block=block)) == expected


@pytest.mark.parametrize("body, linked", [
    ("```release-note\nAdd X\n```\n```docs\n- [KEP]: https://git.k8s.io/enhancements/keps/1\n```\n", True),
    ("```release-note\nAdd X\n```\r\n```DOCS \r\nhttps://kubernetes.io/docs/x\r\n```\r\n", True),
    ("```release-note\nAdd X\n```\n```docs\n\n```\n", False),  # the template's empty block
    ("```release-note\nAdd X https://kubernetes.io/docs/x\n```\n", False),  # a link in the note is no docs block
    (None, False),
])
def test_a_docs_block_with_a_link_adds_the_docs_input(body, linked):
    assert links_docs(body) is linked
    assert model_inputs(["sig/node"], body) == ["sig/node"] + (["docs/linked"] if linked else [])


def test_crlf_bodies_are_normalized():
    body = TEMPLATE.format(block="```release-note\nLine one.  \nLine two.\n```").replace("\n", "\r\n")
    assert release_note(body) == Note("Line one.\nLine two.", False)


@pytest.mark.parametrize("body", [None, "", 42, ["```release-note\nx\n```"]])
def test_bodies_that_are_not_text_have_no_note(body):
    assert release_note(body) is None


def test_first_release_note_block_wins():
    body = "```release-note\nFirst.\n```\n```release-note\nSecond.\n```"
    assert release_note(body).text == "First."


def test_record_of_a_pull_request():
    raw = {
        "number": 7, "title": "t", "body": "```release-note\nFixed it.\n```", "state": "closed",
        "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-02T00:00:00Z",
        "closed_at": "2020-01-02T00:00:00Z", "user": {"login": "alice"},
        "labels": [{"name": "kind/bug"}, {"name": "sig/node"}, {"name": "lgtm"}],
        "pull_request": {"url": "u"},
    }
    rec = record(raw)
    assert rec["pull_request"] is True
    assert rec["author"] == "alice"
    assert rec["release_note"] == "Fixed it."
    assert rec["labels"] == ["kind/bug", "sig/node", "lgtm"]
    assert rec["label_groups"] == {"kind": ["bug"], "sig": ["node"], "": ["lgtm"]}


T0 = "2020-01-01T00:00:00Z"


def test_issues_have_no_release_note_even_with_a_block():
    raw = {"number": 1, "created_at": T0, "updated_at": T0, "body": "```release-note\nx\n```", "user": None}
    rec = record(raw)
    assert rec["pull_request"] is False and rec["release_note"] is None and rec["author"] is None


def test_malformed_items_are_counted_not_fatal():
    good = {"number": 1, "created_at": T0, "updated_at": T0, "body": None, "user": None, "labels": None}
    garbage = dict(good, number=4, created_at="garbage")
    unfinished = dict(good, number=5, closed_at="2020-13-01T00:00:00Z")
    parsed, problems = records([good, None, {"number": "x"}, {"number": 3, "created_at": T0}, garbage, unfinished,
                                good])
    assert [r["number"] for r in parsed] == [1, 1]
    assert problems == ["not an object: NoneType", "no number: 'x'", "#3: no updated_at",
                        "#4: created_at is not a timestamp: 'garbage'",
                        "#5: closed_at is not a timestamp: '2020-13-01T00:00:00Z'"]


def test_label_groups_split_at_the_first_slash():
    assert label_groups(["area/kubelet/cri", "size/M"]) == {"area": ["kubelet/cri"], "size": ["M"]}
