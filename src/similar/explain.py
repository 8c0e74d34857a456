"""Why a paper is on a list: the terms that carry its lexical score (exact shares), shared MeSH, best-matching sentences."""

from __future__ import annotations

import dataclasses
import re
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from .backends.lexical import LexicalBackend
from .backends.weightings import METHODS as LEXICAL_METHODS

if TYPE_CHECKING:
    from .index import Index

TOP_TERMS = 8
# the lexical weighting a list is explained in: lexical methods explain themselves, rocchio ranks by TF-IDF, the rest
# (hybrid, dense and the dense collection methods) by BM25, the hybrid's lexical half
EXPLAINED_BY = {**{m: m for m in LEXICAL_METHODS}, "rocchio": "tfidf"}
DEFAULT_EXPLAINED_BY = "bm25"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


@dataclass(frozen=True)
class TermShare:
    """One term's part of a lexical score: query weight times document weight, and its share of the whole."""

    term: str
    score: float
    share: float


@dataclass(frozen=True)
class Why:
    """Why one paper is on a list, against one example (a seed PMID, the closest positive, or "text")."""

    against: str
    method: str  # the lexical weighting the term scores are in
    score: float  # the lexical score: exactly sum(t.score for t in terms) + rest
    terms: tuple[TermShare, ...]  # the largest contributions, largest first
    rest: float  # the contributions of the terms not listed
    mesh: tuple[str, ...] | None  # shared MeSH descriptors; None unless both records carry MeSH
    seed_sentence: str | None = None  # the example's sentence and the paper's sentence closest under the index's model
    sentence: str | None = None
    sentence_similarity: float | None = None


_terms: "weakref.WeakKeyDictionary[LexicalBackend, np.ndarray]" = weakref.WeakKeyDictionary()


def term_names(lexical: LexicalBackend) -> np.ndarray:
    """Column index -> term, built once per backend."""
    if lexical not in _terms:
        names = np.empty(len(lexical.vocabulary), dtype=object)
        for term, i in lexical.vocabulary.items():
            names[i] = term
        _terms[lexical] = names
    return _terms[lexical]


def contributions(
    lexical: LexicalBackend, method: str, query: sp.csr_matrix, row: int
) -> tuple[np.ndarray, np.ndarray]:
    """(columns, contributions) of every term with a non-zero part in query . weights[row], largest first (float64)."""
    q = query.tocsr()
    doc = lexical.weights(method)[int(row)]
    cols = np.intersect1d(q.indices, doc.indices)
    qv = np.asarray(q[:, cols].toarray()).ravel().astype(np.float64)
    dv = np.asarray(doc[:, cols].toarray()).ravel().astype(np.float64)
    parts = qv * dv
    keep = parts != 0
    cols, parts = cols[keep], parts[keep]
    order = np.lexsort((cols, -parts))
    return cols[order], parts[order]


def term_shares(
    lexical: LexicalBackend, method: str, query: sp.csr_matrix, row: int, top: int = TOP_TERMS
) -> tuple[float, tuple[TermShare, ...], float]:
    """(score, top term shares, rest): score is the exact sum of all contributions."""
    cols, parts = contributions(lexical, method, query, row)
    score = float(parts.sum())
    names = term_names(lexical)
    shares = tuple(
        TermShare(str(names[c]), float(p), float(p / score) if score else 0.0) for c, p in zip(cols[:top], parts[:top])
    )
    return score, shares, float(parts[top:].sum())


def sentences(title: str, abstract: str) -> list[str]:
    out = [s.strip() for s in [title] + SENTENCE_END.split(abstract or "") if s and s.strip()]
    return list(dict.fromkeys(out))


def best_pairs(encoder, pairs: list[tuple[list[str], list[str]]]) -> list[tuple[str, str, float] | None]:
    """For each (example sentences, paper sentences), the closest pair under the encoder; one encode call for all."""
    unique = list(dict.fromkeys(s for a, b in pairs for s in a + b))
    if not unique:
        return [None] * len(pairs)
    vecs = np.asarray(encoder.encode(unique), dtype=np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)
    at = {s: i for i, s in enumerate(unique)}
    out = []
    for a, b in pairs:
        if not a or not b:
            out.append(None)
            continue
        sims = vecs[[at[s] for s in a]] @ vecs[[at[s] for s in b]].T
        i, j = np.unravel_index(int(np.argmax(sims)), sims.shape)
        out.append((a[i], b[j], float(sims[i, j])))
    return out


def explain_list(index: "Index", result, text: str | None = None, title: str = ""):
    """The result with `why` set on every neighbour (see Why); the seed is the list's seed, its closest positive, or the text."""
    lexical = index.ranker.lexical
    method = EXPLAINED_BY.get(result.method, DEFAULT_EXPLAINED_BY)
    rows = [index.row(n.pmid) for n in result.neighbors]
    against = [n.closest or (result.seed.pmid if result.seed is not None else "text") for n in result.neighbors]
    seed_rows = sorted({index.row(a) for a in against if a != "text"})
    if "text" in against and not (text or title):
        raise ValueError("explaining a list made from a text needs that text")
    queries = {a: lexical.query_rows(method, [index.row(a)]) for a in set(against) if a != "text"}
    if "text" in against:
        queries["text"] = lexical.query_texts(method, [title], [text or ""])
    mesh = index.mesh(rows + seed_rows)
    mesh["text"] = ()
    texts = None
    if index.manifest.model:
        abstracts = index.abstracts(rows + seed_rows)
        if abstracts is not None:
            titles = index.titles(rows + seed_rows)
            texts = {r: sentences(titles[r], abstracts.get(r, "")) for r in rows + seed_rows}
            texts["text"] = sentences(title, text or "")
    key = lambda a: "text" if a == "text" else index.row(a)
    matched = (
        best_pairs(index.encoder(), [(texts[key(a)], texts[r]) for a, r in zip(against, rows)])
        if texts
        else [None] * len(rows)
    )
    neighbors = []
    for n, a, r, m in zip(result.neighbors, against, rows, matched):
        score, shares, rest = term_shares(lexical, method, queries[a], r)
        seed_mesh, own = mesh[key(a)], mesh.get(r, ())
        shared = tuple(d for d in own if d in seed_mesh) if seed_mesh and own else None
        why = Why(
            against=a,
            method=method,
            score=score,
            terms=shares,
            rest=rest,
            mesh=shared,
            seed_sentence=m[0] if m else None,
            sentence=m[1] if m else None,
            sentence_similarity=round(m[2], 4) if m else None,
        )
        neighbors.append(dataclasses.replace(n, why=why))
    return dataclasses.replace(result, neighbors=neighbors)


def why_lines(why: Why) -> list[str]:
    """A few readable lines: the top terms with their shares, shared MeSH, and the matching sentences."""
    terms = ", ".join(f"{t.term} {t.share:.0%}" for t in why.terms[:6])
    lines = [
        f"{why.method} {why.score:.2f} vs {why.against}: {terms}"
        + (f" (+{why.rest / why.score:.0%} other terms)" if why.rest and why.score else "")
    ]
    if why.mesh:
        lines.append("MeSH: " + "; ".join(why.mesh))
    if why.sentence is not None:
        lines.append(f'seed:  "{_clip(why.seed_sentence)}"')
        lines.append(f'paper: "{_clip(why.sentence)}" ({why.sentence_similarity:.2f})')
    return lines


def _clip(text: str, room: int = 110) -> str:
    return text if len(text) <= room else text[: room - 1] + "…"
