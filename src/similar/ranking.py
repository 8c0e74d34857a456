"""Ranking over rows: single methods, and the hybrid (dense + lexical fusion with neighbour expansion)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

from . import methods as registry
from .backends import top_k
from .backends.dense import DenseBackend
from .backends.lexical import LexicalBackend
from .encoders import DEFAULT_MODEL


@dataclass(frozen=True)
class HybridParams:
    """One setting of the hybrid, chosen by its worst benchmark across the quality suite (benchmarks/quality.yaml).

    Over a candidate pool (the query's dense top `pool`):
      lex(x, c)  = mean over the `lexical` weightings of score(x, c) / score(x, x)
      base(x, c) = dense_weight * cos(x, c) + (1 - dense_weight) * lex(x, c)
      hop1(x, c) = base(x, c) + expansion * mean of base(v, c) over x's top `neighbours` papers v by base
      final(c)   = hop1(seed, c) + second_hop * mean of hop1(v, c) over the seed's top `neighbours` papers v by hop1,
                   divided by (1 + expansion) * (1 + second_hop) so that scores stay on a 0-1 scale

    Dividing a lexical score by the paper's score against itself puts BM25 and TF-IDF on the 0-1 scale of the cosine.
    The expansion steps let the seed's closest papers, and theirs, vote (pseudo-relevance feedback over the similarity
    graph); mild weights keep each list about *this* paper rather than its field. Everything is computed on one
    (1 + pool) x pool block: a query costs one dense search, sparse products and a few small dense products.
    """

    dense_weight: float = 0.3
    lexical: tuple[str, ...] = ("bm25", "tfidf")
    neighbours: int = 20
    expansion: float = 1.0
    second_hop: float = 0.5
    pool: int = 100

    def __post_init__(self):
        if isinstance(self.lexical, str):  # one weighting may be named alone
            object.__setattr__(self, "lexical", (self.lexical,))

    @property
    def expands(self) -> bool:
        return self.neighbours > 0 and bool(self.expansion or self.second_hop)

    def describe(self) -> dict:
        return {**asdict(self), "lexical": list(self.lexical)}


# A short text (a pasted sentence, a claim, a title) carries few words: expansion around it drowns its own signal
# (SciFact claims: 0.46 with the paper setting, 0.84 without), so it is ranked by plain fusion, dense-heavy.
SHORT_TEXT_PARAMS = HybridParams(dense_weight=0.7, lexical=("bm25",), neighbours=0, expansion=0.0, second_hop=0.0)
SHORT_TEXT_WORDS = 60  # a text query with fewer words is short; a longer one (an abstract) is ranked like a paper

# The hybrid's settings per model, (papers and long texts, short texts): the one place that decides them. A better
# representation needs its own (all-mpnet-base-v2 with MiniLM's: MeSH-overlap dense 0.312 -> 0.342 but hybrid
# 0.364 -> 0.350). Each row is chosen on the dev benchmarks by its worst benchmark (`similar bench tune --model NAME`
# prints the row to put here); a key is a model's name or its fingerprint (encoders.fingerprint_dir). A model with no
# row is ranked with the default model's settings.
MODEL_SETTINGS: dict[str, tuple[HybridParams, HybridParams]] = {
    DEFAULT_MODEL: (HybridParams(), SHORT_TEXT_PARAMS),
    # the tuned row (benchmarks/results/ranking-ideas-all-mpnet-base-v2.md): its sharper neighbourhoods want fewer
    # voters (12, not 20) and a full first hop; short texts keep MiniLM's fusion (it tuned to the same)
    "all-mpnet-base-v2": (HybridParams(neighbours=12, expansion=1.0, second_hop=0.5), SHORT_TEXT_PARAMS),
}


def settings_for(model: dict | str | None) -> tuple[HybridParams, HybridParams]:
    """The hybrid settings (papers and long texts, short texts) of a model: given as a manifest's or an encoder's
    description (its fingerprint's row first, then its name's) or as a name; no model or no row: the default model's."""
    keys = [model.get("fingerprint"), model.get("name")] if isinstance(model, dict) else [model]
    return next((MODEL_SETTINGS[k] for k in keys if k in MODEL_SETTINGS), MODEL_SETTINGS[DEFAULT_MODEL])


@dataclass(frozen=True)
class Query:
    """What to rank against: an indexed row, or an outside text with its vector (for dense methods)."""

    row: int | None = None
    vector: np.ndarray | None = None
    title: str = ""
    abstract: str = ""

    @property
    def kind(self) -> str:
        """'paper' (an indexed row), 'short text' or 'long text'; each kind has its own hybrid setting."""
        if self.row is not None:
            return "paper"
        return "short text" if len(f"{self.title} {self.abstract}".split()) < SHORT_TEXT_WORDS else "long text"


def expand(base: np.ndarray, p: HybridParams, m: int) -> np.ndarray:
    """Final hybrid scores (B, n) from B base blocks (B, 1 + n, n): row 0 the seed's base scores of its pool, row
    1 + j pool paper j's. Each row gains the mean of its m best voters' rows (a paper does not vote for itself:
    hop one); the seed then gains the mean hop-one row of its m best pool papers (hop two). Only the rows hop two
    reads are expanded (the seed's and its m voters'), not all 1 + n."""
    b, _, n = base.shape
    batch = np.arange(b)[:, None]

    def hop_one(rows: np.ndarray) -> np.ndarray:  # (B, r) block rows -> their hop-one rows (B, r, n)
        own = base[batch, rows]
        others = own.copy()
        at_b, at_r = np.nonzero(rows >= 1)
        others[at_b, at_r, rows[at_b, at_r] - 1] = -np.inf  # a paper does not vote for itself
        voters = np.argpartition(-others, m - 1, axis=2)[:, :, :m]
        return own + p.expansion * base[batch[:, :, None], 1 + voters].mean(axis=2)

    seed = hop_one(np.zeros((b, 1), dtype=np.int64))[:, 0]
    seed_voters = np.argpartition(-seed, m - 1, axis=1)[:, :m]
    final = seed + p.second_hop * hop_one(1 + seed_voters).mean(axis=1)
    return (final / ((1.0 + p.expansion) * (1.0 + p.second_hop))).astype(np.float32)  # back to about 0-1


class Ranker:
    """Scores rows for a query under any method; knows rows, never PMIDs."""

    def __init__(
        self,
        dense: DenseBackend | None,
        lexical: LexicalBackend,
        live: np.ndarray,
        hybrid: HybridParams | None = None,
        short_text: HybridParams | None = None,
    ):
        self.dense = dense
        self.lexical = lexical
        self.live = live  # bool per row
        self.hybrid = hybrid or HybridParams()  # papers and long texts
        self.short_text = short_text or SHORT_TEXT_PARAMS
        self.dead = np.flatnonzero(~live)

    @classmethod
    def for_model(cls, dense: DenseBackend | None, lexical: LexicalBackend, live: np.ndarray, model: dict | None):
        """A ranker with the hybrid settings of the model the vectors were made with (`settings_for`)."""
        return cls(dense, lexical, live, *settings_for(model))

    def params(self, q: Query) -> HybridParams:
        """The hybrid setting for this kind of query."""
        return self.short_text if q.kind == "short text" else self.hybrid

    @property
    def methods(self) -> tuple[str, ...]:
        return registry.names(vectors=self.dense is not None)

    # -- query representations ----------------------------------------------------------------------------
    def vector(self, q: Query) -> np.ndarray:
        if q.vector is not None:
            return np.asarray(q.vector, np.float32).reshape(1, -1)
        return self.dense.vectors(np.array([q.row]))

    def terms(self, method: str, q: Query) -> sp.csr_matrix:
        if q.row is not None:
            return self.lexical.query_rows(method, [q.row])
        return self.lexical.query_texts(method, [q.title], [q.abstract])

    def exclude(self, q: Query) -> np.ndarray:
        return self.dead if q.row is None else np.append(self.dead, q.row)

    # -- scores of chosen rows (the re-rank protocol, and every fusion) ----------------------------------------
    def score(self, method: str, q: Query, rows: np.ndarray) -> np.ndarray:
        """Scores of chosen rows under a registered method (methods.py)."""
        return registry.get(method).score(self, q, np.asarray(rows, dtype=np.int64))

    def _block(self, q: Query, pool: np.ndarray, p: HybridParams, seed_only: bool) -> np.ndarray:
        """Base scores against the pool: the seed's row first, then (unless seed_only) every pool paper's."""
        pool_vecs = self.dense.vectors(pool)
        seed_vec = self.vector(q)
        dense = (seed_vec if seed_only else np.vstack([seed_vec, pool_vecs])) @ pool_vecs.T
        lex = np.zeros_like(dense)
        for method in p.lexical:
            weights = self.lexical.weights(method)[pool].T
            if q.row is not None:
                queried = np.array([q.row]) if seed_only else np.concatenate([[q.row], pool])
                terms = self.lexical.query_rows(method, queried)
                norm = self.lexical.self_scores(method)[queried]
            else:
                seed_terms, seed_norm = self.lexical.text_query(method, [q.title], [q.abstract])
                terms = (
                    seed_terms if seed_only else sp.vstack([seed_terms, self.lexical.query_rows(method, pool)]).tocsr()
                )
                norm = seed_norm if seed_only else np.concatenate([seed_norm, self.lexical.self_scores(method)[pool]])
            lex += (terms @ weights).toarray() / np.maximum(norm, 1e-9)[:, None]
        return p.dense_weight * dense + (1.0 - p.dense_weight) * lex / max(len(p.lexical), 1)

    def _pool_hybrid(self, q: Query, pool: np.ndarray) -> np.ndarray:
        """Final hybrid scores of the pool papers (see HybridParams)."""
        p = self.params(q)
        m = min(p.neighbours, len(pool) - 1)
        base = self._block(q, pool, p, seed_only=m <= 0 or not p.expands)
        if base.shape[0] == 1:
            return base[0].astype(np.float32)
        return expand(base[None], p, m)[0]

    def hybrid_scores(self, q: Query, rows: np.ndarray) -> np.ndarray:
        """Hybrid scores of chosen rows: the pool is the query's dense pool plus those rows."""
        pool = np.union1d(self.dense_candidates(q, self.params(q).pool, self.exclude(q)), rows)
        scores = self._pool_hybrid(q, pool)
        return scores[np.searchsorted(pool, rows)]

    # -- top-k ------------------------------------------------------------------------------------------
    def search(self, method: str, q: Query, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Best k live rows, highest score first; the query's own row is never among them."""
        if method not in self.methods:
            raise ValueError(method)
        return registry.get(method).search(self, q, k)

    def rank_pool(self, q: Query, pool: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Hybrid top-k of a candidate pool (the seed's dense neighbours, the seed itself left out)."""
        pool = np.sort(pool)  # row order: ties break alike everywhere
        best, order = top_k(self._pool_hybrid(q, pool), k)
        return best, pool[order]

    def dense_candidates(self, q: Query, k: int, exclude: np.ndarray) -> np.ndarray:
        """Dense top-k rows, over-fetching past excluded rows until k remain or the index is exhausted."""
        want = k + len(exclude) if len(exclude) < 1000 else 2 * k
        skip = set(exclude.tolist())
        while True:
            _, rows = self.dense.search(self.vector(q), want)
            kept = [r for r in rows[0].tolist() if r >= 0 and r not in skip]
            if len(kept) >= k or want >= self.dense.count:
                return np.asarray(kept[:k], dtype=np.int64)
            want = min(self.dense.count, want * 2)
