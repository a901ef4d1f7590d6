"""What the model reads in a release note: normalised text, word and char n-grams, label tokens.

The text is cut to ``MAX_CHARS``, accent-folded and lowercased; URLs become
``xurlx`` and versions (``v1.2.3``, ``1.28``) ``xverx``. Word tokens follow
TfidfVectorizer's default pattern, after a start token (so ``xstartx fix`` is
a bigram), plus a leading-verb token: the first word after an optional short
``component:`` prefix, crudely stemmed (``kubeadm: Fixed ...`` ->
``xlead_fix``). A PR's ``sig/*`` and ``area/*`` labels, and ``docs/linked``
(its body's ```docs block links documentation; ``records.parse.model_inputs``
adds it), become tokens of their own (``sig/node``); they hold a ``/``, so no
word n-gram equals one.
"""
import re
import unicodedata
from typing import List, Optional, Sequence

MAX_CHARS = 100_000  # longer notes are cut
LABEL_PREFIXES = ("sig/", "area/", "docs/")  # input labels usable as features (the bot has them); kind/* never is

_URL = re.compile(r"https?://\S+|www\.\S+")
_VERSION = re.compile(r"\bv?\d+(?:\.\d+)+(?:[-+][\w.]+)?\b|\bv\d+\b")
_WORD = re.compile(r"(?u)\b\w\w+\b")
_PREFIX = re.compile(r"^[^:\n]{1,40}:\s")
_STEM = re.compile(r"(?:ing|ed|es|s|e)$")
START = "xstartx"


def check_text(text) -> str:
    """The note cut to MAX_CHARS; ValueError for None and non-strings."""
    if not isinstance(text, str):
        raise ValueError(f"release note text must be a string, got {type(text).__name__}")
    return text[:MAX_CHARS]


def fold(text: str) -> str:
    """NFKD, combining marks dropped, lowercased (as TfidfVectorizer(strip_accents='unicode'))."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def normalize(text) -> str:
    """The checked note, folded, with URLs and versions masked."""
    text = _URL.sub(" xurlx ", fold(check_text(text)))
    return _VERSION.sub(" xverx ", text)


def lead_token(norm: str) -> Optional[str]:
    """``xlead_<stem>`` of the first word after an optional short ``component:`` prefix."""
    body = norm.lstrip(" \t\n-*\"'")
    match = _PREFIX.match(body)
    if match:
        body = body[match.end():]
    words = _WORD.findall(body)
    if not words:
        return None
    word = words[0]
    return "xlead_" + (_STEM.sub("", word) if len(word) > 4 else word)


def label_tokens(labels: Optional[Sequence[str]]) -> List[str]:
    """The sig/*, area/* and docs/* labels as tokens, sorted; anything else (kind/*, non-strings) is ignored."""
    found = {re.sub(r"\s+", "-", label.strip().lower()) for label in labels or ()
             if isinstance(label, str) and label.strip().lower().startswith(LABEL_PREFIXES)}
    return sorted(found)


def word_grams(norm: str, n: int) -> List[str]:
    """Word 1..n-grams of a normalised note (after the start token), then its leading-verb token."""
    tokens = [START] + _WORD.findall(norm)
    grams = list(tokens)
    for k in range(2, n + 1):
        grams.extend(" ".join(tokens[i:i + k]) for i in range(len(tokens) - k + 1))
    lead = lead_token(norm)
    return grams + [lead] if lead else grams


def char_grams(token: str, low: int, high: int) -> List[str]:
    """char_wb n-grams (low..high) of one whitespace token, padded with a space each side."""
    padded = f" {token} "
    out: List[str] = []
    for k in range(low, min(high, len(padded)) + 1):
        out.extend(padded[i:i + k] for i in range(len(padded) - k + 1))
    return out
