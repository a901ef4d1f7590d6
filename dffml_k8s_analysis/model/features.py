"""The members' inputs: release notes to sparse matrices, fitted and applied as plain functions.

Three vectorizers, each a vocabulary (and idf vector) learned from the training notes:

- ``word``: sublinear TF-IDF of word 1..``word_ngrams``-grams (+ label tokens);
- ``nb``: binary word 1..``nb_ngrams``-grams (+ label tokens), for the NB-weighted member;
- ``char``: sublinear TF-IDF of char_wb ``char_min``..``char_max``-grams.

:func:`fit_features` learns them, :func:`transform` applies them; both are
NumPy/SciPy only, with the TF-IDF of scikit-learn's TfidfVectorizer
(smoothed idf, l2-normalised rows). With ``label_features``, the word and
nb vocabularies end with the training notes' label tokens, and training
sees every note twice, with and without them (label dropout), so a note
given without labels still gets a sound prediction.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

from . import text as notes

def _matrix(cols: np.ndarray, lengths: Sequence[int], width: int) -> sp.csr_matrix:
    """Note x column counts from each note's column ids (``cols``, -1: not counted) laid end to end."""
    rows = np.repeat(np.arange(len(lengths)), lengths)
    keep = cols >= 0
    return sp.csr_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(len(lengths), width))


def count(gram_lists: Sequence[Sequence[str]], index: Dict[str, int]) -> sp.csr_matrix:
    """Note x term counts of the grams found in ``index`` (term -> column)."""
    get = index.get
    cols = np.fromiter((get(g, -1) for grams in gram_lists for g in grams), dtype=np.int64)
    return _matrix(cols, [len(grams) for grams in gram_lists], len(index))


def counts_of_all(gram_lists: Sequence[Sequence[str]]) -> Tuple[sp.csr_matrix, np.ndarray]:
    """Counts over every gram seen, and the gram names (columns in name order)."""
    index: Dict[str, int] = {}
    seen = np.fromiter((index.setdefault(g, len(index)) for grams in gram_lists for g in grams), dtype=np.int64)
    names = np.array(list(index), dtype=object)
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return _matrix(rank[seen], [len(grams) for grams in gram_lists], len(names)), names[order]


def char_counts(norms: Sequence[str], low: int, high: int, index: Optional[Dict[str, int]] = None):
    """(counts, names) of char_wb n-grams, computed once per distinct whitespace token.

    With ``index`` None: over every gram seen, with the sorted names; else over ``index`` (names None).
    """
    tokens: Dict[str, int] = {}
    per_note = [[tokens.setdefault(t, len(tokens)) for t in norm.split()] for norm in norms]
    indptr = np.cumsum([0] + [len(t) for t in per_note])
    cols = np.fromiter((j for t in per_note for j in t), dtype=np.int64, count=int(indptr[-1]))
    D = sp.csr_matrix((np.ones(len(cols)), cols, indptr), shape=(len(norms), len(tokens)))
    D.sum_duplicates()
    grams = [notes.char_grams(t, low, high) for t in tokens]
    if index is None:
        G, names = counts_of_all(grams)
        return (D @ G).tocsr(), names
    return (D @ count(grams, index)).tocsr(), None


def idf_of(C: sp.csr_matrix) -> np.ndarray:
    """Smoothed idf, as TfidfVectorizer(smooth_idf=True)."""
    df = np.bincount(C.indices, minlength=C.shape[1])
    return np.log((1.0 + C.shape[0]) / (1.0 + df)) + 1.0


def tfidf(C: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf times idf, rows l2-normalised (TfidfVectorizer(sublinear_tf=True))."""
    X = C.astype(np.float64, copy=True).tocsr()
    X.data = (1.0 + np.log(X.data)) * idf[X.indices]
    lengths = np.diff(X.indptr)
    norms = np.sqrt(np.bincount(np.repeat(np.arange(X.shape[0]), lengths), weights=X.data ** 2, minlength=X.shape[0]))
    norms[norms == 0] = 1.0
    X.data /= np.repeat(norms, lengths)
    return X


def binary(C: sp.csr_matrix) -> sp.csr_matrix:
    X = C.astype(np.float64, copy=True).tocsr()
    X.data[:] = 1.0
    return X


class Docs:
    """Tokenised notes: normalised texts, word grams up to the longest n, label tokens."""

    def __init__(self, texts: Sequence[str], label_lists, longest: int):
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings, not one string")
        label_lists = list(label_lists) if label_lists is not None else [None] * len(texts)
        if len(label_lists) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(label_lists)} label lists")
        self.norms = [notes.normalize(t) for t in texts]
        self.grams = [notes.word_grams(norm, longest) for norm in self.norms]
        self.labels = [notes.label_tokens(labels) for labels in label_lists]

    def __len__(self):
        return len(self.norms)

    def grams_upto(self, n: int, with_labels: bool) -> List[List[str]]:
        out = [[g for g in grams if g.count(" ") < n] for grams in self.grams]
        return [g + labels for g, labels in zip(out, self.labels)] if with_labels else out


class Features:
    """Fitted vectorizers: settings, each input's vocabulary (term by column) and idf vectors.

    ``params`` is anything with ``word_ngrams``, ``nb_ngrams``, ``char_min``,
    ``char_max`` and ``label_features`` (a :class:`classifier.Params`, or the saved settings).
    """

    SETTINGS = ("word_ngrams", "nb_ngrams", "char_min", "char_max", "label_features")

    def __init__(self, settings: dict, vocab: Dict[str, List[str]], idf: Dict[str, np.ndarray]):
        self.settings, self.vocab, self.idf = {k: settings[k] for k in self.SETTINGS}, vocab, idf
        self.index = {name: {g: i for i, g in enumerate(terms)} for name, terms in vocab.items()}

    def docs(self, texts, label_lists=None) -> Docs:
        return Docs(texts, label_lists, max(self.settings["word_ngrams"], self.settings["nb_ngrams"]))

    def state(self) -> Tuple[dict, Dict[str, np.ndarray]]:
        """(JSON-able settings and vocabularies, arrays) for saving."""
        return {"settings": self.settings, "vocab": self.vocab}, {f"{k}_idf": v for k, v in self.idf.items()}

    @classmethod
    def from_state(cls, meta: dict, arrays: Dict[str, np.ndarray]) -> "Features":
        return cls(meta["settings"], meta["vocab"], {k: arrays[f"{k}_idf"] for k in ("word", "char")})


class TrainingCounts:
    """The training notes' counts over every gram seen; each fit takes its rows and columns."""

    def __init__(self, docs: Docs, params):
        self.docs = docs
        self.words, self.word_names = counts_of_all(docs.grams)
        self.word_order = np.array([g.count(" ") + 1 for g in self.word_names], dtype=np.int64)
        self.labels, self.label_names = counts_of_all(docs.labels)
        self.chars, self.char_names = char_counts(docs.norms, params.char_min, params.char_max)

    @staticmethod
    def pick(C, names, rows, min_df, extra=None):
        """Rows ``rows`` of C, with the columns of document frequency >= min_df there (and ``extra``)."""
        C = C[rows]
        keep = np.bincount(C.indices, minlength=C.shape[1]) >= min_df
        if extra is not None:
            keep &= extra
        cols = np.flatnonzero(keep)
        return C[:, cols].tocsr(), [str(g) for g in names[cols]]


def fit_counts(counts: TrainingCounts, rows: np.ndarray, params) -> Tuple[Features, Dict[str, sp.csr_matrix]]:
    """Fit the vectorizers on the notes ``rows``; (features, their training matrices).

    With ``label_features`` the word and nb matrices have 2 x len(rows) rows:
    the notes with their label tokens, then the same notes without.
    """
    labels, label_names = counts.pick(counts.labels, counts.label_names, rows, 1)

    def words(n):
        C, names = counts.pick(counts.words, counts.word_names, rows, params.min_df, counts.word_order <= n)
        if not params.label_features:
            return C, names
        with_labels = sp.hstack([C, labels]).tocsr()
        without = sp.hstack([C, sp.csr_matrix(labels.shape)]).tocsr()
        return sp.vstack([with_labels, without]).tocsr(), names + label_names

    vocab, idf, matrices = {}, {}, {}
    C, vocab["word"] = words(params.word_ngrams)
    idf["word"] = idf_of(C[: len(rows)])
    matrices["word"] = tfidf(C, idf["word"])
    C, vocab["nb"] = words(params.nb_ngrams)
    matrices["nb"] = binary(C)
    C, vocab["char"] = counts.pick(counts.chars, counts.char_names, rows, params.min_df)
    idf["char"] = idf_of(C)
    matrices["char"] = tfidf(C, idf["char"])
    settings = {name: getattr(params, name) for name in Features.SETTINGS}
    return Features(settings, vocab, idf), matrices


def fit_features(texts: Sequence[str], label_lists, params) -> Tuple[Features, Dict[str, sp.csr_matrix]]:
    """Learn the vectorizers from training notes (oldest first); (features, the training matrices)."""
    n = max(params.word_ngrams, params.nb_ngrams)
    counts = TrainingCounts(Docs(texts, label_lists, n), params)
    return fit_counts(counts, np.arange(len(texts)), params)


def transform(features: Features, texts: Sequence[str], label_lists=None) -> Dict[str, sp.csr_matrix]:
    """The word, nb and char matrices of notes (label tokens used when given and learned)."""
    docs = features.docs(texts, label_lists)
    with_labels = label_lists is not None and features.settings["label_features"]
    s, index = features.settings, features.index
    chars, _ = char_counts(docs.norms, s["char_min"], s["char_max"], index=index["char"])
    return {
        "word": tfidf(count(docs.grams_upto(s["word_ngrams"], with_labels), index["word"]), features.idf["word"]),
        "nb": binary(count(docs.grams_upto(s["nb_ngrams"], with_labels), index["nb"])),
        "char": tfidf(chars, features.idf["char"]),
    }
