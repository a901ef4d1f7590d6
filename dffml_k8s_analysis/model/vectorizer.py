"""Release notes to feature vectors: TF-IDF n-grams, then the SelectKBest columns, fitted once.

``fit`` learns a :class:`Vectorizer` from notes and their labels; ``Vectorizer.transform``
turns notes into the sparse rows the classifier sees. The ``k8s-mlp`` model and the
``k8s.fit_vectorizer`` / ``k8s.transform_note`` operations both use these two, so there is
one implementation of the features.
"""
import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.feature_selection import SelectKBest, f_classif

MAX_CHARS = 100_000
LABEL_PREFIXES = ("sig/", "area/")  # PR labels usable as features (the bot has them)


def check_text(text) -> str:
    if not isinstance(text, str):
        raise ValueError(f"release note text must be a string, got {type(text).__name__}")
    return text[:MAX_CHARS]


def document(text: str, labels: Sequence[str] = (), label_features: bool = False) -> str:
    """What the TF-IDF sees: the text, plus sig/area labels as ``label_sig_node`` words."""
    text = check_text(text)
    if not label_features:
        return text
    extra = ["label_" + "_".join(lab.replace("-", "_").split("/")) for lab in labels if lab.startswith(LABEL_PREFIXES)]
    return " ".join([text] + extra)


def max_f_classif(X, Y):
    """ANOVA F per feature, the best over the label columns (SelectKBest for multi-label)."""
    Y = np.asarray(Y)
    if Y.ndim == 1:
        return f_classif(X, Y)
    scores = np.nan_to_num(np.vstack([f_classif(X, column)[0] for column in Y.T]))
    return scores.max(axis=0), np.zeros(X.shape[1])


@dataclasses.dataclass
class Vectorizer:
    """A fitted TF-IDF and the columns of it that SelectKBest kept."""

    tfidf: TfidfVectorizer
    columns: np.ndarray
    label_features: bool = False

    @property
    def feature_names(self) -> List[str]:
        return self.tfidf.get_feature_names_out()[self.columns].tolist()

    def transform(self, texts: Sequence[str], labels: Optional[Sequence[Sequence[str]]] = None):
        """The notes' feature rows (a sparse matrix, one row per text)."""
        labels = labels if labels is not None else [()] * len(texts)
        docs = [document(text, labs, self.label_features) for text, labs in zip(texts, labels)]
        return self.tfidf.transform(docs)[:, self.columns]


def fit(texts: Sequence[str], label_lists: Sequence[Sequence[str]], Y: np.ndarray, ngram_max: int, min_df: int,
        max_df: float, top_k: int, label_features: bool) -> Tuple[Vectorizer, "scipy.sparse.csr_matrix"]:
    """Fit on the notes and their targets ``Y`` (one column per label); the vectorizer and the notes' rows."""
    tfidf = TfidfVectorizer(ngram_range=(1, ngram_max), min_df=min_df, max_df=max_df, sublinear_tf=True,
                            strip_accents="unicode", dtype=np.float32)
    X = tfidf.fit_transform([document(text, labs, label_features) for text, labs in zip(texts, label_lists)])
    Y = np.asarray(Y)
    selector = SelectKBest(max_f_classif, k=min(top_k, X.shape[1])).fit(X, Y[:, 0] if Y.shape[1] == 1 else Y)
    return Vectorizer(tfidf, selector.get_support(indices=True), label_features), selector.transform(X).tocsr()
