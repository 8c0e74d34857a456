"""Lexical similarity on sparse term-count matrices: TF-IDF cosine, Okapi BM25 and PubMed's PMRA."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import joblib
import numpy as np
import scipy.sparse as sp

from ..store import LEXICAL
from . import top_k
from .weightings import METHODS, TITLE_WEIGHT, weighting

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import CountVectorizer

TOKEN_PATTERN = r"(?u)\b\w[\w\-]*\w\b|\b\w\b"  # keeps gene names like il-6, p53, brca1 whole


def make_vectorizer(vocabulary: dict | None = None) -> "CountVectorizer":
    from sklearn.feature_extraction.text import (
        CountVectorizer,
    )  # imported on first use: 1 s that opening an index does not need

    return CountVectorizer(
        lowercase=True,
        token_pattern=TOKEN_PATTERN,
        stop_words="english",
        vocabulary=vocabulary,
        dtype=np.float32,
    )


_TOKEN = re.compile(TOKEN_PATTERN)


def count_terms(texts: Sequence[str], vocabulary: dict) -> sp.csr_matrix:
    """make_vectorizer(vocabulary).transform(texts) without scikit-learn's 1 s import, for text queries: lowercase,
    TOKEN_PATTERN, counts of in-vocabulary terms (stop words never enter a vocabulary, so dropping them is implicit)."""
    indptr: list[int] = [0]
    indices: list[int] = []
    data: list[int] = []
    for text in texts:
        counts = Counter(j for j in map(vocabulary.get, _TOKEN.findall(text.lower())) if j is not None)
        indices.extend(counts.keys())
        data.extend(counts.values())
        indptr.append(len(indices))
    matrix = sp.csr_matrix(
        (np.asarray(data, np.float32), np.asarray(indices, np.int64), np.asarray(indptr, np.int64)),
        shape=(len(texts), len(vocabulary)),
    )
    matrix.sort_indices()
    return matrix


class LexicalBackend:
    """Title and abstract term counts (rows aligned with the index), with per-method weights derived on demand."""

    filename = LEXICAL  # the name is the index format's (store.py)

    def __init__(self, vocabulary: dict, title_counts: sp.csr_matrix, abstract_counts: sp.csr_matrix):
        self.vocabulary = vocabulary
        self._vectorizer = None
        self.title_counts = title_counts.tocsr()
        self.abstract_counts = abstract_counts.tocsr()
        self._live: np.ndarray | None = None
        self._cache: dict = {}

    @classmethod
    def build(cls, titles: Sequence[str], abstracts: Sequence[str]) -> "LexicalBackend":
        vec = make_vectorizer()
        vec.fit(list(titles) + list(abstracts))
        vocab = {t: int(i) for t, i in vec.vocabulary_.items()}
        fixed = make_vectorizer(vocab)
        return cls(vocab, fixed.transform(titles).tocsr(), fixed.transform(abstracts).tocsr())

    def add(self, titles: Sequence[str], abstracts: Sequence[str]) -> None:
        """Append rows. Words new to the index get new columns: no earlier row can hold them (every word of every
        indexed text is in the vocabulary), so the counts equal those of one build over all the texts, columns aside."""
        fresh = make_vectorizer()
        try:
            fresh.fit(list(titles) + list(abstracts))
            words = sorted(w for w in fresh.vocabulary_ if w not in self.vocabulary)
        except ValueError:  # nothing but stop words
            words = []
        if words:
            self.vocabulary = {**self.vocabulary, **{w: len(self.vocabulary) + i for i, w in enumerate(words)}}
            self._vectorizer = None
            width = len(self.vocabulary)
            self.title_counts = sp.csr_matrix(
                (self.title_counts.data, self.title_counts.indices, self.title_counts.indptr),
                shape=(self.title_counts.shape[0], width),
            )
            self.abstract_counts = sp.csr_matrix(
                (self.abstract_counts.data, self.abstract_counts.indices, self.abstract_counts.indptr),
                shape=(self.abstract_counts.shape[0], width),
            )
        self.title_counts = sp.vstack([self.title_counts, self.vectorizer.transform(titles)]).tocsr()
        self.abstract_counts = sp.vstack([self.abstract_counts, self.vectorizer.transform(abstracts)]).tocsr()
        self._cache.clear()

    @property
    def vectorizer(self) -> "CountVectorizer":
        """Made on first use (texts to count): a query by PMID never needs it, nor scikit-learn's import time."""
        if self._vectorizer is None:
            self._vectorizer = make_vectorizer(self.vocabulary)
        return self._vectorizer

    @property
    def count(self) -> int:
        return self.title_counts.shape[0]

    def set_live(self, live: np.ndarray | None) -> None:
        """Rows outside `live` (tombstones) are left out of document frequencies."""
        self._live = live
        self._cache.clear()

    # -- weights ----------------------------------------------------------------------------------------
    def counts(self, title_weight: float = TITLE_WEIGHT) -> sp.csr_matrix:
        key = ("counts", title_weight)
        if key not in self._cache:
            self._cache[key] = (self.title_counts * title_weight + self.abstract_counts).tocsr()
        return self._cache[key]

    def _stats(self, title_weight: float) -> tuple[np.ndarray, int, float]:
        key = ("stats", title_weight)
        if key not in self._cache:  # once per index, not once per text query
            self._cache[key] = self._count_stats(self.counts(title_weight))
        return self._cache[key]

    def _count_stats(self, counts: sp.csr_matrix) -> tuple[np.ndarray, int, float]:
        """Document frequencies, live document count and mean length over the live rows."""
        live = counts if self._live is None else counts[self._live]
        n_docs = live.shape[0]
        df = np.asarray((live > 0).sum(axis=0)).ravel().astype(np.float64)
        avgdl = float(live.sum() / max(n_docs, 1))
        return df, n_docs, avgdl

    def weights(self, method: str) -> sp.csr_matrix:
        """Document-side weight matrix for a method, computed once."""
        w = weighting(method)
        if method not in self._cache:
            self._cache[method] = self._weigh(method, self.counts(w.title_weight))
        return self._cache[method]

    def _idf(self, method: str) -> np.ndarray:
        key = ("idf", method)
        if key not in self._cache:
            df, n_docs, _ = self._stats(weighting(method).title_weight)
            self._cache[key] = weighting(method).idf(df, n_docs).astype(np.float32)
        return self._cache[key]

    def _weigh(self, method: str, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Weights of any count rows (indexed or outside texts) with this index's statistics."""
        w = weighting(method)
        return w.weigh(counts, self._idf(method), self._stats(w.title_weight)[2])

    def self_scores(self, method: str) -> np.ndarray:
        """Each document's score against itself, to put a method's scores on a 0-1 scale."""
        key = ("self", method)
        if key not in self._cache:
            w = weighting(method)
            queries = self.counts(w.title_weight) if w.queries_with_counts else self.weights(method)
            self._cache[key] = np.asarray(queries.multiply(self.weights(method)).sum(axis=1)).ravel().astype(np.float32)
        return self._cache[key]

    def _text_counts(self, method: str, titles: Sequence[str], abstracts: Sequence[str]) -> sp.csr_matrix:
        title_weight = weighting(method).title_weight
        return (count_terms(titles, self.vocabulary) * title_weight + count_terms(abstracts, self.vocabulary)).tocsr()

    def text_query(
        self, method: str, titles: Sequence[str], abstracts: Sequence[str]
    ) -> tuple[sp.csr_matrix, np.ndarray]:
        """Query weights of outside texts and their self scores, weighed as if they were indexed (counted once)."""
        counts = self._text_counts(method, titles, abstracts)
        weighed = self._weigh(method, counts)
        queries = counts if weighting(method).queries_with_counts else weighed
        return queries, np.asarray(queries.multiply(weighed).sum(axis=1)).ravel().astype(np.float32)

    def query_rows(self, method: str, rows: Sequence[int] | np.ndarray) -> sp.csr_matrix:
        """Query weights for indexed documents: BM25 queries with the seed's raw term counts."""
        rows = np.asarray(rows, dtype=np.int64)  # type: ignore[assignment]
        w = weighting(method)
        return self.counts(w.title_weight)[rows] if w.queries_with_counts else self.weights(method)[rows]

    def query_texts(self, method: str, titles: Sequence[str], abstracts: Sequence[str]) -> sp.csr_matrix:
        """Query weights for documents outside the index, weighed like indexed ones."""
        counts = self._text_counts(method, titles, abstracts)
        return counts if weighting(method).queries_with_counts else self._weigh(method, counts)

    def score_all(self, method: str, queries: sp.csr_matrix) -> np.ndarray:
        """Dense (queries x documents) score matrix: one sparse matrix product."""
        return np.asarray((queries @ self.weights(method).T).todense(), dtype=np.float32)

    def score_rows(self, method: str, queries: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        """Scores of one query against some rows only."""
        return np.asarray((queries @ self.weights(method)[rows].T).todense(), dtype=np.float32).ravel()

    def search(self, method: str, queries: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rows) per query row, like the dense backend's search."""
        scores = self.score_all(method, queries)
        out_s = np.full((scores.shape[0], k), -np.inf, np.float32)
        out_r = np.full((scores.shape[0], k), -1, np.int64)
        for i, row in enumerate(scores):
            s, r = top_k(row, k)
            out_s[i, : len(s)], out_r[i, : len(r)] = s, r
        return out_s, out_r

    # -- disk -------------------------------------------------------------------------------------------
    def describe(self) -> dict:
        return {"vocabulary": len(self.vocabulary), "title_weight": TITLE_WEIGHT, "methods": list(METHODS)}

    def save(self, folder: Path) -> None:
        joblib.dump(
            {"vocabulary": self.vocabulary, "title_counts": self.title_counts, "abstract_counts": self.abstract_counts},
            Path(folder) / self.filename,
            compress=3,
        )

    @classmethod
    def load(cls, folder: Path) -> "LexicalBackend":
        data = joblib.load(Path(folder) / cls.filename)
        return cls(data["vocabulary"], data["title_counts"], data["abstract_counts"])
