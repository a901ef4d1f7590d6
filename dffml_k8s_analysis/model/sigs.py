"""The SIG router's learning and scoring: which sig/* labels a release note belongs to.

One-vs-rest L2 logistic regressions (``c_sig``), one per sig/* label with MIN_SUPPORT
training notes or more, on the kind model's word and char TF-IDF of the note's text alone
(never its labels: a just-opened PR has few), fitted by ``classifier.fit_router``. ``classifier.Predictor`` holds them
(``sig_coef``, ``sig_bias``) and routes; its ``confident`` threshold on the top SIG's
probability is chosen like the act band, on the training data's newest share.
A note counts as routed right (top-k) when one of its k most probable SIGs is among its own.
"""
from typing import List, Sequence

import numpy as np
import scipy.sparse as sp

PREFIX = "sig/"
MIN_SUPPORT = 15  # SIGs with fewer training notes are never routed to
TOP = 3


def names_of(label_lists: Sequence[Sequence[str]]) -> List[str]:
    """The sig/* labels with MIN_SUPPORT notes or more, sorted."""
    counts = {}
    for labels in label_lists:
        for label in set(labels):
            if label.startswith(PREFIX):
                counts[label] = counts.get(label, 0) + 1
    return sorted(label for label, count in counts.items() if count >= MIN_SUPPORT)


def inputs(word: sp.csr_matrix, char: sp.csr_matrix) -> sp.csr_matrix:
    """The router's input: a note's word and char TF-IDF side by side."""
    return sp.hstack([word, char]).tocsr()


def top(P: np.ndarray, k: int = TOP) -> np.ndarray:
    """The k most probable SIG columns per note, most probable first."""
    return np.argsort(-P, axis=1, kind="stable")[:, :k]


def hits(P: np.ndarray, S: np.ndarray, k: int) -> np.ndarray:
    """Per note: one of its k most probable SIGs is its own."""
    best = top(P, k)
    return S[np.arange(len(S))[:, None], best].any(axis=1)


def with_sig(label_lists: Sequence[Sequence[str]]) -> np.ndarray:
    """Per note: it has a sig/* label (the notes the router is scored on)."""
    return np.array([any(label.startswith(PREFIX) for label in labels) for labels in label_lists], dtype=bool)


def scores(P: np.ndarray, S: np.ndarray, has: np.ndarray, confident: float) -> dict:
    """Top-1 and top-3 accuracy and the confident band's precision and coverage, over the notes ``has``
    (``S``: their SIG targets)."""
    if not has.any():
        return {"notes": 0}
    S, P = S[has], P[has]
    first, sure = hits(P, S, 1), P.max(axis=1) >= confident
    return {"notes": int(has.sum()), "top1": float(first.mean()), "top3": float(hits(P, S, TOP).mean()),
            "confident": float(confident), "confident_precision": float(first[sure].mean()) if sure.any() else 0.0,
            "confident_coverage": float(sure.mean())}
