"""Lexical weightings as small strategies (TF-IDF, BM25, PMRA): idf and document-side weights of term-count rows.

Adding a weighting = one Weighting subclass here, listed in WEIGHTINGS; methods.py makes it a ranking method.
Only numpy is imported up front, so the CLI can list methods without loading scipy or scikit-learn."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp

# Okapi BM25 as Lucene and Anserini set it
BM25_K1, BM25_B = 1.2, 0.75
# PMRA (Lin & Wilbur 2007, BMC Bioinformatics 8:423): Poisson rates of elite / non-elite term use, per word
PMRA_LAMBDA, PMRA_MU = 0.022, 0.013
# title words count twice in PMRA (as in the paper); TF-IDF uses the same weight
TITLE_WEIGHT = 2.0


def _row_scale(matrix: sp.csr_matrix, factors: np.ndarray) -> sp.csr_matrix:
    """Each row times its factor, in place of the data: the entries keep their order (sorted within rows, as the
    counts: every weighting of a row then has the counts' pattern, which the stored lists' kernel reads)."""
    out = matrix.copy()
    out.data = out.data * np.repeat(factors.astype(np.float32), np.diff(out.indptr))
    return out


def _l2_normalize(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return _row_scale(matrix, 1.0 / norms).tocsr()


def tfidf_weights(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf times smoothed idf, rows L2-normalized (cosine by dot product)."""
    w = counts.copy().tocsr()
    w.data = 1.0 + np.log(w.data)
    w.data *= idf[w.indices]  # column scaling in place: O(non-zeros), not O(vocabulary)
    return _l2_normalize(w)


def bm25_weights(counts: sp.csr_matrix, idf: np.ndarray, avgdl: float) -> sp.csr_matrix:
    """Document-side Okapi BM25 term scores; a query's score is its term counts dotted with these rows."""
    w = counts.copy().tocsr()
    doclen = np.asarray(counts.sum(axis=1)).ravel()
    norm = BM25_K1 * (1.0 - BM25_B + BM25_B * doclen / max(avgdl, 1e-9))
    row_norm = np.repeat(norm, np.diff(w.indptr))
    tf = w.data
    w.data = (tf * (BM25_K1 + 1.0) / (tf + row_norm)).astype(np.float32)
    w.data *= idf[w.indices]
    return w


def pmra_weights(counts: sp.csr_matrix, sqrt_idf: np.ndarray) -> sp.csr_matrix:
    """PMRA term weights: P(term is elite | k occurrences in a document of l words) times sqrt(idf)."""
    w = counts.copy().tocsr()
    doclen = np.asarray(counts.sum(axis=1)).ravel()
    row_len = np.repeat(doclen, np.diff(w.indptr))
    k = w.data
    ratio = PMRA_MU / PMRA_LAMBDA
    # 1 / (1 + (mu/lambda)^(k-1) * exp(-(mu-lambda) * l)), computed in logs to stay finite on long documents
    log_term = (k - 1.0) * np.log(ratio) + (PMRA_LAMBDA - PMRA_MU) * row_len
    elite = 1.0 / (1.0 + np.exp(np.clip(log_term, -50, 50)))
    w.data = elite.astype(np.float32) * sqrt_idf[w.indices]
    return w


def stack_rows(blocks: list[sp.csr_matrix], shape: tuple[int, int], dtype: type) -> sp.csr_matrix:
    """CSR blocks of consecutive rows as one matrix; each block is taken off the list (and freed) once copied."""
    import scipy.sparse as sp

    nnz = sum(b.nnz for b in blocks)
    data, indices = np.empty(nnz, dtype=np.float32), np.empty(nnz, dtype=dtype)
    indptr: np.ndarray = np.zeros(shape[0] + 1, dtype=dtype)
    row, at = 0, 0
    blocks.reverse()
    while blocks:
        block = blocks.pop()
        data[at : at + block.nnz], indices[at : at + block.nnz] = block.data, block.indices
        indptr[row + 1 : row + 1 + block.shape[0]] = np.asarray(block.indptr[1:]) + at
        row, at = row + block.shape[0], at + block.nnz
    return sp.csr_matrix((data, indices, indptr), shape=shape)


class Weighting:
    """One lexical weighting: its title weight, its idf and its document-side weights (a strategy of LexicalBackend).

    Adding a weighting = one subclass here, listed in WEIGHTINGS; methods.py makes it a ranking method."""

    name = ""
    summary = ""
    title_weight = TITLE_WEIGHT  # title words count twice (as PMRA does) unless a weighting says otherwise
    queries_with_counts = False  # True: a query is its raw term counts (Okapi), not its weights

    def idf(self, df: np.ndarray, n: int) -> np.ndarray:
        raise NotImplementedError

    def weigh(self, counts: sp.csr_matrix, idf: np.ndarray, avgdl: float) -> sp.csr_matrix:
        raise NotImplementedError


class TfIdf(Weighting):
    name = "tfidf"
    summary = "TF-IDF cosine: sublinear term frequency times smoothed idf, rows L2-normalized."

    def idf(self, df, n):
        return np.log((1.0 + n) / (1.0 + df)) + 1.0  # smoothed, as scikit-learn's

    def weigh(self, counts, idf, avgdl):
        return tfidf_weights(counts, idf)


class Bm25(Weighting):
    name = "bm25"
    summary = "Okapi BM25 (k1 1.2, b 0.75, as Lucene): the seed's raw term counts against BM25 document weights."
    title_weight = 1.0  # a standard Okapi query counts title words once
    queries_with_counts = True

    def idf(self, df, n):
        return np.log(1.0 + (n - df + 0.5) / (df + 0.5))  # Lucene's

    def weigh(self, counts, idf, avgdl):
        return bm25_weights(counts, idf, avgdl)


class Pmra(Weighting):
    name = "pmra"
    summary = "PubMed's related-articles model (Lin & Wilbur 2007): elite-term probability times sqrt(idf)."

    def idf(self, df, n):
        return np.sqrt(np.maximum(np.log(n / np.maximum(df, 1.0)), 0.0))  # PMRA uses sqrt(idf)

    def weigh(self, counts, idf, avgdl):
        return pmra_weights(counts, idf)


WEIGHTINGS: dict[str, Weighting] = {w.name: w for w in (TfIdf(), Bm25(), Pmra())}
METHODS = tuple(WEIGHTINGS)


def weighting(method: str) -> Weighting:
    if method not in WEIGHTINGS:
        raise ValueError(f"unknown lexical method {method!r}")
    return WEIGHTINGS[method]
