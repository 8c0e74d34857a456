"""Terms of a text: the tokenizer every lexical method and explanation shares, and counting against a vocabulary."""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Sequence

import numpy as np
import scipy.sparse as sp

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
