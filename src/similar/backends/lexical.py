"""Lexical similarity on sparse term-count matrices: TF-IDF cosine, Okapi BM25 and PubMed's PMRA, memory-mapped."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import scipy.sparse as sp

from .. import checks
from ..checks import ready
from ..store import LEXICAL, LEXICAL_LEGACY, LEXICAL_PREFIX, LEXICAL_VOCABULARY, lexical_array
from . import prefetch, top_k
from .terms import count_terms, make_vectorizer
from .weightings import METHODS, TITLE_WEIGHT, stack_rows, weighting

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import CountVectorizer

# above this many rows a search gathers candidates from the postings of its highest-impact terms, then scores them
# exactly; at or below it, one sparse product over the postings of every query term (exact: the same scores, bit for
# bit, as the product over every row that every quality figure was measured with)
EXACT_LIMIT = 200_000
POSTINGS_BUDGET = 2_000_000  # postings a pruned search reads at most (about 2% of them at 1M papers)
CANDIDATES = 1000  # rows a pruned search scores exactly
ROW_BLOCK = 8_192  # rows weighed at a time: a build holds one block's temporaries, not the whole matrix's
LAYOUT = "similar-lexical"
LAYOUT_VERSION = 1
SPARSE_PARTS = ("data", "indices", "indptr")
SMALL_ARRAYS = (
    "rows.indptr",
    "postings.indptr",
    "maxweight",
    "idf",
    "self",
)  # a method's arrays of one value a row or term


def index_dtype(nnz: int, *dims: int) -> type:
    """Indices and indptr share this dtype, so scipy builds a matrix over memory-mapped arrays without copying."""
    return np.int32 if max(nnz, *dims) < 2**31 else np.int64


def live_key(live: np.ndarray | None, count: int) -> str:
    """Fingerprint of a live mask (None: every row live): stored weights answer only under the mask they were made with."""
    mask = np.ones(count, dtype=bool) if live is None else np.asarray(live, dtype=bool)
    return hashlib.sha256(np.packbits(mask).tobytes() + str(len(mask)).encode()).hexdigest()


def max_per_column(csc: sp.csc_matrix) -> np.ndarray:
    """Largest stored value of each column (0 for empty columns): a term's upper bound in a pruned search."""
    out = np.zeros(csc.shape[1], dtype=np.float32)
    filled = np.flatnonzero(np.diff(csc.indptr) > 0)
    if len(filled):
        out[filled] = np.maximum.reduceat(np.asarray(csc.data), np.asarray(csc.indptr[:-1])[filled])
    return out


def write_array(folder: Path, name: str, array: np.ndarray) -> str:
    """One array as an .npy file, written beside and renamed over the old one (whose memory maps stay valid)."""
    final = Path(folder) / lexical_array(name)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        np.save(f, np.asarray(array), allow_pickle=False)
    os.replace(tmp, final)
    return final.name


def open_array(folder: Path, name: str, dtype, length: int | None = None) -> np.ndarray:
    """A float array memory-mapped read-only, its header checked now and its values on first use (checks.py)."""
    return checks.finite_later(
        folder, lexical_array(name), checks.open_npy(folder, lexical_array(name), dtype, (length,))
    )


def open_sparse(folder: Path, name: str, kind, shape: tuple[int, int], dtype, counts: bool = False) -> sp.spmatrix:
    """A CSR (or CSC) matrix over memory-mapped arrays; building it reads only their headers and the pointers' ends."""
    return checks.sparse_parts(folder, name, kind, shape, dtype, lexical_array, counts)


def write_sparse(folder: Path, name: str, matrix: sp.spmatrix, dtype) -> list[str]:
    return [
        write_array(folder, f"{name}.data", np.asarray(matrix.data, dtype=np.float32)),
        write_array(folder, f"{name}.indices", np.asarray(matrix.indices, dtype=dtype)),
        write_array(folder, f"{name}.indptr", np.asarray(matrix.indptr, dtype=dtype)),
    ]


@dataclass(frozen=True)
class StoredMethod:
    """One method's weights as saved (memory-mapped): CSR rows, CSC postings, per-term max weight, idf, self scores."""

    rows: sp.csr_matrix
    postings: sp.csc_matrix
    maxweight: np.ndarray
    idf: np.ndarray
    self_scores: np.ndarray
    avgdl: float


class LexicalBackend:
    """Title and abstract term counts (rows aligned with the index) and per-method weights.

    Built or added to: weights are computed from the counts on demand (with the live mask of `set_live`) and saved.
    Loaded: every array is memory-mapped, weights included, and nothing is recomputed while the live mask is the one
    they were saved with. Above EXACT_LIMIT rows (or with `exact=False`) a search reads the postings of the query's
    highest-impact terms only, then scores its candidates exactly."""

    filename = LEXICAL  # the name is the index format's (store.py)

    def __init__(
        self,
        vocabulary: dict | None,
        title_counts: sp.csr_matrix,
        abstract_counts: sp.csr_matrix,
        vocabulary_file: Path | None = None,
    ):
        self._vocabulary = vocabulary
        self._vocabulary_file = vocabulary_file  # read on first use: a query by row never needs the terms
        self._vectorizer = None
        self.title_counts = title_counts.tocsr()
        self.abstract_counts = abstract_counts.tocsr()
        self._live: np.ndarray | None = None
        self._cache: dict = {}
        self._stored: dict[str, StoredMethod] = {}  # a loaded backend's saved weights, memory-mapped
        self._weights_live = live_key(None, self.count)  # the live mask that the saved or cached weights reflect
        self.folder: Path | None = None  # where a loaded backend's arrays are mapped from
        self.exact: bool | None = None  # None: exact up to EXACT_LIMIT rows, pruned above; True/False force it
        self.budget = POSTINGS_BUDGET
        self.candidates = CANDIDATES

    @classmethod
    def build(cls, titles: Sequence[str], abstracts: Sequence[str]) -> "LexicalBackend":
        vec = make_vectorizer()
        vec.fit(list(titles) + list(abstracts))
        vocab = {t: int(i) for t, i in vec.vocabulary_.items()}
        fixed = make_vectorizer(vocab)
        return cls(vocab, fixed.transform(titles).tocsr(), fixed.transform(abstracts).tocsr())

    def add(self, titles: Sequence[str], abstracts: Sequence[str]) -> None:
        """Append rows. Words new to the index get new columns: no earlier row can hold them (every word of every
        indexed text is in the vocabulary), so the counts equal those of one build over all the texts, columns aside.
        The counts move into memory and every weight is recomputed (set_live, then save)."""
        fresh = make_vectorizer()
        try:
            fresh.fit(list(titles) + list(abstracts))
            words = sorted(w for w in fresh.vocabulary_ if w not in self.vocabulary)
        except ValueError:  # nothing but stop words
            words = []
        if words:
            self.vocabulary = {**self.vocabulary, **{w: len(self.vocabulary) + i for i, w in enumerate(words)}}
        width = len(self.vocabulary)
        self.title_counts = sp.vstack(
            [self._widened(ready(self.title_counts), width), self.vectorizer.transform(titles)]
        )
        self.abstract_counts = sp.vstack(
            [self._widened(ready(self.abstract_counts), width), self.vectorizer.transform(abstracts)]
        )
        self.title_counts, self.abstract_counts = self.title_counts.tocsr(), self.abstract_counts.tocsr()
        self._stored, self._live, self._weights_live = {}, None, live_key(None, self.count)
        self._cache.clear()

    @staticmethod
    def _widened(counts: sp.csr_matrix, width: int) -> sp.csr_matrix:
        return sp.csr_matrix((counts.data, counts.indices, counts.indptr), shape=(counts.shape[0], width))

    @property
    def vocabulary(self) -> dict:
        """Term -> column, read from disk on first use (a text query, an add, an explanation)."""
        if self._vocabulary is None:
            assert self._vocabulary_file is not None
            self._vocabulary = checks.read_vocabulary(self._vocabulary_file, self.terms)
        return self._vocabulary

    @vocabulary.setter
    def vocabulary(self, value: dict) -> None:
        self._vocabulary = value
        self._vectorizer = None

    @property
    def vectorizer(self) -> "CountVectorizer":
        """Made on first use (texts to count): a query by PMID never needs it, nor scikit-learn's import time."""
        if self._vectorizer is None:
            self._vectorizer = make_vectorizer(self.vocabulary)
        return self._vectorizer

    @property
    def count(self) -> int:
        return self.title_counts.shape[0]

    @property
    def terms(self) -> int:
        """Columns of the matrices: the vocabulary's size, known without reading it."""
        return self.title_counts.shape[1]

    def set_live(self, live: np.ndarray | None) -> None:
        """Rows outside `live` (tombstones) are left out of document frequencies. Weights made under this very mask
        (saved ones included: opening an index recomputes nothing) are kept; any other mask recomputes them from
        the counts, on first use."""
        self._live = live
        key = live_key(live, self.count)
        if key == self._weights_live:
            return
        self._stored, self._weights_live = {}, key
        self._cache.clear()

    # -- weights ----------------------------------------------------------------------------------------
    def counts(self, title_weight: float = TITLE_WEIGHT) -> sp.csr_matrix:
        """Every row's counts, title words weighed: in memory, for writers and tests (queries use count_rows)."""
        key = ("counts", title_weight)
        if key not in self._cache:
            self._cache[key] = (ready(self.title_counts) * title_weight + ready(self.abstract_counts)).tocsr()
        return self._cache[key]

    def count_rows(self, rows: np.ndarray, title_weight: float = TITLE_WEIGHT) -> sp.csr_matrix:
        """Counts of some rows, from their title and abstract rows only (the same values as counts()[rows])."""
        key = ("counts", title_weight)
        if key in self._cache:
            return self._cache[key][rows]
        return (ready(self.title_counts)[rows] * title_weight + ready(self.abstract_counts)[rows]).tocsr()

    def _stats(self, title_weight: float) -> tuple[np.ndarray, int, float]:
        """Document frequencies, live document count and mean length over the live rows, a block of rows at a time
        (never the whole weighed count matrix at once: a build's peak memory)."""
        key = ("stats", title_weight)
        if key not in self._cache:  # once per index, not once per text query
            df = np.zeros(self.terms, dtype=np.float64)
            n_docs, total = 0, 0.0
            for start, stop in self.blocks():
                block = self.count_block(start, stop, title_weight)
                if self._live is not None:
                    block = block[self._live[start:stop]]
                df += np.bincount(block.indices[block.data > 0], minlength=self.terms)
                n_docs, total = n_docs + block.shape[0], total + float(np.sum(block.data, dtype=np.float64))
            self._cache[key] = df, n_docs, total / max(n_docs, 1)
        return self._cache[key]

    def blocks(self) -> list[tuple[int, int]]:
        """[start, stop) row ranges of ROW_BLOCK rows: the unit in which weights are computed."""
        return [(a, min(a + ROW_BLOCK, self.count)) for a in range(0, self.count, ROW_BLOCK)]

    def count_block(self, start: int, stop: int, title_weight: float = TITLE_WEIGHT) -> sp.csr_matrix:
        """Counts of rows [start, stop), title words weighed (the same values as counts()[start:stop])."""
        key = ("counts", title_weight)
        if key in self._cache:
            return self._cache[key][start:stop]
        return (ready(self.title_counts)[start:stop] * title_weight + ready(self.abstract_counts)[start:stop]).tocsr()

    def statistics(self, method: str) -> tuple[np.ndarray, float]:
        """A method's idf and mean document length under the live mask: what weighing any block of rows needs."""
        return self._idf(method), self._avgdl(method)

    def use_weights(self, method: str, rows: sp.csr_matrix, self_scores: np.ndarray) -> None:
        """Weights made block by block elsewhere (distributed.py) under the live mask set now, for save() to write."""
        self._cache[method], self._cache[("self", method)] = rows, self_scores

    def weights(self, method: str) -> sp.csr_matrix:
        """Document-side weight matrix for a method: the saved one, else computed once."""
        w = weighting(method)
        if method in self._stored:
            return ready(self._stored[method].rows)
        if method not in self._cache:  # a block of rows at a time (weights are row-local): no whole-matrix temporaries
            blocks = [self._weigh(method, self.count_block(a, b, w.title_weight)) for a, b in self.blocks()]
            shape = (self.count, self.terms)
            self._cache[method] = stack_rows(blocks, shape, index_dtype(sum(b.nnz for b in blocks), *shape))
        return self._cache[method]

    def postings(self, method: str) -> sp.csc_matrix:
        """The weights by term (an inverted index): column t holds the rows that use term t and their weights."""
        if method in self._stored:
            return ready(self._stored[method].postings)
        key = ("postings", method)
        if key not in self._cache:
            self._cache[key] = self.weights(method).tocsc()
        return self._cache[key]

    def max_weights(self, method: str) -> np.ndarray:
        """Each term's largest document weight: query weight times it bounds what the term adds to any score."""
        if method in self._stored:
            return ready(self._stored[method].maxweight)
        key = ("maxweight", method)
        if key not in self._cache:
            self._cache[key] = max_per_column(self.postings(method))
        return self._cache[key]

    def _idf(self, method: str) -> np.ndarray:
        if method in self._stored:
            return ready(self._stored[method].idf)
        key = ("idf", method)
        if key not in self._cache:
            df, n_docs, _ = self._stats(weighting(method).title_weight)
            self._cache[key] = weighting(method).idf(df, n_docs).astype(np.float32)
        return self._cache[key]

    def _avgdl(self, method: str) -> float:
        if method in self._stored:
            return self._stored[method].avgdl
        return self._stats(weighting(method).title_weight)[2]

    def _weigh(self, method: str, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Weights of any count rows (indexed or outside texts) with this index's statistics."""
        return weighting(method).weigh(counts, self._idf(method), self._avgdl(method))

    def self_scores(self, method: str) -> np.ndarray:
        """Each document's score against itself, to put a method's scores on a 0-1 scale."""
        if method in self._stored:
            return ready(self._stored[method].self_scores)
        key = ("self", method)
        if key not in self._cache:  # a block of rows at a time, as the weights
            w, weights, parts = weighting(method), self.weights(method), []
            for a, b in self.blocks():
                queries = self.count_block(a, b, w.title_weight) if w.queries_with_counts else weights[a:b]
                parts.append(np.asarray(queries.multiply(weights[a:b]).sum(axis=1)).ravel().astype(np.float32))
            self._cache[key] = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
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
        return self.count_rows(rows, w.title_weight) if w.queries_with_counts else self.weights(method)[rows]

    def query_texts(self, method: str, titles: Sequence[str], abstracts: Sequence[str]) -> sp.csr_matrix:
        """Query weights for documents outside the index, weighed like indexed ones."""
        counts = self._text_counts(method, titles, abstracts)
        return counts if weighting(method).queries_with_counts else self._weigh(method, counts)

    # -- scoring ----------------------------------------------------------------------------------------
    def pruned(self, exact: bool | None = None) -> bool:
        """Whether a search reads postings (True) or scores every row (False): `exact`, else self.exact, else size."""
        choice = self.exact if exact is None else exact
        return self.count > EXACT_LIMIT if choice is None else not choice

    def score_all(self, method: str, queries: sp.csr_matrix) -> np.ndarray:
        """Dense (queries x documents) score matrix, exact at any size: one sparse product of the queries with the
        postings (the weights by term, whose transpose is a CSR matrix as stored), so it reads only the postings of
        the query's terms, never every row. Each score sums the same products in the same order (the query's terms,
        ascending) as `queries @ weights.T`, so the values are identical to it, bit for bit (tests: the oracle)."""
        product = sp.csr_matrix(queries, dtype=np.float32) @ self.postings(method).T
        return np.asarray(product.todense(), dtype=np.float32)

    def _accumulate(self, method: str, terms: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Scores of every row from the postings of some query terms (term at a time, numpy's bincount)."""
        post = self.postings(method)
        if not len(terms):
            return np.zeros(self.count, dtype=np.float64)
        parts = [(post.indptr[t], post.indptr[t + 1], v) for t, v in zip(terms.tolist(), values.tolist())]
        rows = np.concatenate([post.indices[a:b] for a, b, _ in parts])
        weights = np.concatenate([np.asarray(post.data[a:b], dtype=np.float64) * v for a, b, v in parts])
        return np.bincount(rows, weights, minlength=self.count)

    def score_rows(self, method: str, queries: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        """Scores of one query against some rows only."""
        return np.asarray((queries @ self.weights(method)[rows].T).todense(), dtype=np.float32).ravel()

    def search(
        self,
        method: str,
        queries: sp.csr_matrix,
        k: int,
        exclude: np.ndarray | None = None,
        exact: bool | None = None,
        budget: int | None = None,
        candidates: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rows) per query row, like the dense backend's search; `exclude` rows are never returned and
        short rows are padded with -inf / -1. Exact (score_all: the postings of every query term) up to EXACT_LIMIT
        rows or with exact=True; else pruned: see pruned_search."""
        queries = sp.csr_matrix(queries)
        out_s = np.full((queries.shape[0], k), -np.inf, np.float32)
        out_r = np.full((queries.shape[0], k), -1, np.int64)
        exclude = np.asarray([] if exclude is None else exclude, dtype=np.int64)
        pruned = self.pruned(exact)
        scores = None if pruned else self.score_all(method, queries)
        for i in range(queries.shape[0]):
            if scores is not None:
                s, r = top_k(scores[i], k, exclude)
            else:
                s, r = self.pruned_search(method, queries[i], k, exclude, budget, candidates)
            out_s[i, : len(s)], out_r[i, : len(r)] = s, r
        return out_s, out_r

    def pruned_search(
        self,
        method: str,
        query: sp.csr_matrix,
        k: int,
        exclude: np.ndarray,
        budget: int | None = None,
        candidates: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k of one query without scanning the corpus. The query's terms are taken by their upper bound (query
        weight x the term's largest document weight) while their postings fit in `budget` (the low-impact,
        frequent terms are the ones left out, as Lucene's MoreLikeThis does); partial scores summed over those
        postings pick `candidates` rows, which are then scored exactly: every returned score is the exact one."""
        budget = self.budget if budget is None else budget
        wanted = max(self.candidates if candidates is None else candidates, k)
        terms, values = query.indices, np.asarray(query.data, dtype=np.float64)
        post = self.postings(method)
        lengths = np.asarray(post.indptr[terms + 1]) - np.asarray(post.indptr[terms])
        bounds = values * self.max_weights(method)[terms]
        chosen: list[int] = []
        read = 0
        for j in np.argsort(-bounds, kind="stable").tolist():
            if bounds[j] <= 0 or (chosen and read + lengths[j] > budget):
                continue
            chosen.append(j)
            read += int(lengths[j])
        partial = self._accumulate(method, terms[chosen], values[chosen])
        partial[exclude] = -1.0
        hits = int((partial > 0).sum())
        if hits > wanted:
            cands = np.argpartition(-partial, wanted - 1)[:wanted]
        else:
            cands = np.flatnonzero(partial > 0)
        if len(cands) < k:  # fewer rows share a chosen term than asked for: pad as the exact search does, lowest rows
            spare = np.ones(min(self.count, k + len(exclude) + len(cands)), dtype=bool)
            spare[exclude[exclude < len(spare)]] = False
            spare[cands[cands < len(spare)]] = False
            cands = np.concatenate([cands, np.flatnonzero(spare)[: k - len(cands)]])
        cands = np.sort(cands)  # row order: ties break by lower row, as in the exact search
        best, order = top_k(self.score_rows(method, query, cands), k)
        return best, cands[order]

    def prefetch(self) -> None:
        """Have the kernel read ahead the small arrays that every query reads a few values of (row and term pointers,
        idf, per-term maxima, self scores): a cold query then faults only on the rows and postings it reads."""
        if self.folder is None:
            return
        names = ["title.indptr", "abstract.indptr"] + [
            f"{method}.{part}" for method in self._stored for part in SMALL_ARRAYS
        ]
        prefetch(self.folder / lexical_array(name) for name in names)

    # -- disk -------------------------------------------------------------------------------------------
    def describe(self) -> dict:
        return {"vocabulary": self.terms, "title_weight": TITLE_WEIGHT, "methods": list(METHODS)}

    def check(self) -> str | None:
        """What is wrong with the arrays, read whole (for `similar verify`), or None; a damaged file raises the
        CorruptIndex line naming it (checks.py), as its first use by a query would."""
        self.vocabulary  # noqa: B018 - read it: lexical.vocabulary.txt is checked against the matrices' width
        parts = {"title counts": ready(self.title_counts), "abstract counts": ready(self.abstract_counts)}
        for method in METHODS:
            parts[f"{method} weights"], parts[f"{method} postings"] = self.weights(method), self.postings(method)
            for what, values in (("idf", self._idf(method)), ("self scores", self.self_scores(method))):
                if not checks.finite(values):
                    return f"{method} {what} hold non-finite values"
        return next(filter(None, (checks.matrix_problem(m, what) for what, m in parts.items())), None)

    def save(self, folder: Path) -> None:
        """Write the memory-mapped layout into `folder`, one method at a time (each freed once written, so a build's
        peak holds one method's weights); lexical.json last, then any lexical file this layout no longer has."""
        folder = Path(folder)
        shape = (self.count, self.terms)
        dtype = index_dtype(max(self.title_counts.nnz, self.abstract_counts.nnz), *shape)
        if self._vocabulary is not None or self._vocabulary_file != folder / LEXICAL_VOCABULARY:
            terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
            tmp = folder / f".{LEXICAL_VOCABULARY}.tmp-{os.getpid()}"
            tmp.write_text("".join(f"{t}\n" for t in terms), encoding="utf-8")
            os.replace(tmp, folder / LEXICAL_VOCABULARY)
        written = [LEXICAL_VOCABULARY, LEXICAL]
        written += write_sparse(folder, "title", self.title_counts, dtype)
        written += write_sparse(folder, "abstract", self.abstract_counts, dtype)
        methods = {}
        order = sorted(METHODS, key=lambda m: weighting(m).title_weight)  # the methods sharing counts in a row
        for i, method in enumerate(order):
            rows = self.weights(method)
            method_dtype = index_dtype(rows.nnz, *shape)
            written += write_sparse(folder, f"{method}.rows", rows, method_dtype)
            written += write_sparse(folder, f"{method}.postings", self.postings(method), method_dtype)
            written.append(write_array(folder, f"{method}.maxweight", self.max_weights(method)))
            written.append(write_array(folder, f"{method}.idf", self._idf(method)))
            written.append(write_array(folder, f"{method}.self", self.self_scores(method)))
            methods[method] = {
                "title_weight": weighting(method).title_weight,
                "avgdl": self._avgdl(method),
                "index_dtype": np.dtype(method_dtype).name,
            }
            for key in (method, ("postings", method), ("maxweight", method), ("self", method)):
                self._cache.pop(key, None)  # computed weights are freed once written: the next method has the room
            title_weight = weighting(method).title_weight
            if i + 1 == len(order) or weighting(order[i + 1]).title_weight != title_weight:
                self._cache.pop(("counts", title_weight), None)  # and so are counts no later method weighs
                self._cache.pop(("stats", title_weight), None)
        info = {
            "format": LAYOUT,
            "version": LAYOUT_VERSION,
            "rows": self.count,
            "terms": self.terms,
            "index_dtype": np.dtype(dtype).name,
            "live": int(self.count if self._live is None else np.count_nonzero(self._live)),
            "live_sha256": self._weights_live,
            "methods": methods,
        }
        tmp = folder / f".{LEXICAL}.tmp-{os.getpid()}"
        tmp.write_text(json.dumps(info, indent=2) + "\n")
        os.replace(tmp, folder / LEXICAL)
        for stale in folder.iterdir():
            if stale.is_file() and stale.name.startswith(LEXICAL_PREFIX) and stale.name not in written:
                stale.unlink()  # lexical.joblib of an older index, or arrays of a method no longer saved

    @classmethod
    def load(cls, folder: Path, expect: tuple[int, int | None] | None = None) -> "LexicalBackend":
        """Open the memory-mapped layout (reads lexical.json, the arrays' headers and pointers' ends: checks.py), or an
        older index's lexical.joblib (read whole; weights computed on first use). `expect`: the manifest's (rows, terms)."""
        folder = Path(folder)
        if not (folder / LEXICAL).exists() and (folder / LEXICAL_LEGACY).exists():
            import joblib

            data = joblib.load(checks.regular(folder, LEXICAL_LEGACY))
            return cls(data["vocabulary"], data["title_counts"], data["abstract_counts"])
        try:
            info = json.loads(checks.regular(folder, LEXICAL).read_text())
            if not isinstance(info, dict) or info.get("format") != LAYOUT or info.get("version") != LAYOUT_VERSION:
                raise ValueError(f"it does not describe a {LAYOUT} layout version {LAYOUT_VERSION}")
            shape, dtype = (int(info["rows"]), int(info["terms"])), np.dtype(info["index_dtype"])
            methods = {m: (np.dtype(meta["index_dtype"]), float(meta["avgdl"])) for m, meta in info["methods"].items()}
            live_sha256, unknown = str(info["live_sha256"]), sorted(set(methods) - set(METHODS))
            if unknown:
                raise ValueError(f"it names unknown methods {unknown}")
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise checks.unreadable(folder, LEXICAL, exc) from exc
        if expect is not None and (shape[0] != expect[0] or expect[1] not in (None, shape[1])):
            raise checks.corrupt(
                folder, LEXICAL, f"describes {shape[0]} rows x {shape[1]} terms, not {expect[0]} x {expect[1]}"
            )
        if not checks.regular(folder, LEXICAL_VOCABULARY).is_file():
            raise checks.corrupt(folder, LEXICAL_VOCABULARY, "is missing")
        backend = cls(
            None,
            open_sparse(folder, "title", sp.csr_matrix, shape, dtype, counts=True),
            open_sparse(folder, "abstract", sp.csr_matrix, shape, dtype, counts=True),
            vocabulary_file=folder / LEXICAL_VOCABULARY,
        )
        for method, (method_dtype, avgdl) in methods.items():
            backend._stored[method] = StoredMethod(
                rows=open_sparse(folder, f"{method}.rows", sp.csr_matrix, shape, method_dtype),
                postings=open_sparse(folder, f"{method}.postings", sp.csc_matrix, shape, method_dtype),
                maxweight=open_array(folder, f"{method}.maxweight", np.float32, shape[1]),
                idf=open_array(folder, f"{method}.idf", np.float32, shape[1]),
                self_scores=open_array(folder, f"{method}.self", np.float32, shape[0]),
                avgdl=avgdl,
            )
        backend._weights_live = live_sha256
        backend.folder = folder
        return backend
