"""What a benchmark need not embed again: vectors of an index built from the same corpus file (same SHA-256) with the
same model (same fingerprint), copied into the embedding cache; and, up front, how much is left to embed and how long."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import paths, store
from ..errors import SimilarError
from ..index import Index
from ..records import Paper, read_records

SAMPLE = 32  # texts embedded up front to time the model (they go into the cache: no work is lost)


@dataclass
class CorpusPlan:
    """One corpus before its index is built: its texts' cache keys, what was copied from which index, what is left."""

    corpus: Path
    papers: int = 0
    cached: int = 0  # vectors the cache held already
    copied: int = 0
    sources: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # texts still to embed
    sha256: str = ""


def corpus_texts(corpus: Path) -> list[str]:
    """The texts a build of this file embeds, one per paper record (a repeated PMID's last text is the one kept)."""
    texts: dict[str, str] = {}
    for event in read_records(corpus):
        if isinstance(event, Paper):
            texts[event.pmid] = event.text
    return list(texts.values())


def exact_vectors(dense: dict | None) -> bool:
    """Whether an index stores its vectors unquantized, as the model gave them (flat, or HNSW without SQ8)."""
    if not dense:
        return False
    params = dense.get("params") or {}
    return dense.get("type") == "flat" or (dense.get("type") == "hnsw" and params.get("storage") != "SQ8")


def sources(sha256: str, fingerprint: str, dim: int) -> list[Path]:
    """Indexes in the data folder built (or grown) from a file with this SHA-256 by the model with this fingerprint."""
    found = []
    for name in paths.index_names():
        folder = paths.index_root() / name
        try:
            manifest = store.read_manifest(folder)
        except SimilarError:
            continue  # not ours to judge here: `similar verify` says what is wrong with it
        if (
            (manifest.model or {}).get("fingerprint") == fingerprint
            and exact_vectors(manifest.dense)
            and (manifest.dense or {}).get("dim") == dim
            and any(isinstance(e, dict) and e.get("sha256") == sha256 for e in manifest.inputs or [])
        ):
            found.append(folder)
    return found


def copy_vectors(folder: Path, encoder, wanted: set[str]) -> int:
    """Copy into the cache the vectors of the index's live rows whose text has a wanted key; how many were copied."""
    db = store.connect(folder / store.PAPERS, readonly=True)
    try:
        rows = db.execute(
            "SELECT p.row, p.title, coalesce(a.abstract, '') FROM papers p LEFT JOIN abstracts a ON a.row = p.row "
            "WHERE p.status = ? ORDER BY p.row",
            (store.LIVE,),
        ).fetchall()
    finally:
        db.close()
    picked: dict[str, int] = {}
    for row, title, abstract in rows:
        key = encoder.key(f"{title} {abstract}".strip())  # the text exactly as build embedded it
        if key in wanted:
            picked.setdefault(key, int(row))
    if not picked:
        return 0
    index = Index.open(folder)
    try:
        if index.manifest.dense is None or not exact_vectors(index.manifest.dense):
            return 0
        for start in range(0, len(picked), 10_000):
            keys = list(picked)[start : start + 10_000]
            encoder.put(keys, index.vectors(np.array([picked[k] for k in keys], dtype=np.int64)))
    finally:
        index.close()
    return len(picked)


def plan(corpus: Path, encoder) -> CorpusPlan:
    """Read the corpus, copy what existing indexes already embedded (a CachedEncoder only), and count what is left."""
    texts = corpus_texts(corpus)
    out = CorpusPlan(corpus, papers=len(texts), sha256=store.file_sha256(corpus))
    if encoder is None:
        return out
    if not hasattr(encoder, "missing"):  # an encoder without the cache (tests pass one): everything is embedded
        out.missing = texts
        return out
    keys = {encoder.key(t): t for t in texts}
    missing = set(encoder.missing(list(keys)))
    out.cached = len(keys) - len(missing)
    for folder in sources(out.sha256, encoder.fingerprint, encoder.dim) if missing else []:
        copied = copy_vectors(folder, encoder, missing)
        if copied:
            out.copied += copied
            out.sources.append(folder.name)
            missing = set(encoder.missing(list(missing)))
        if not missing:
            break
    out.missing = [keys[k] for k in keys if k in missing]
    return out


def clock(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate(plans: Sequence[CorpusPlan], encoder, echo: Callable[[str], None]) -> float:
    """Say, per corpus, what is reused and what is left to embed, and about how long that takes: the model is timed
    on a few of the texts left (cached, so not embedded twice). Returns the estimated seconds of embedding."""
    left = [t for p in plans for t in p.missing]
    rate = None
    if left and encoder is not None:
        sample = left[:SAMPLE]
        started = time.perf_counter()
        encoder.encode(sample)  # the first call pays for warming the model: the estimate errs long
        rate = len(sample) / max(time.perf_counter() - started, 1e-6)
    for p in plans:
        reused = f"; {p.cached} vectors cached already" if p.cached else ""
        reused += f"; {p.copied} copied from index {', '.join(p.sources)}" if p.copied else ""
        if encoder is None:
            echo(f"{p.corpus.name}: {p.papers} papers (no model: lexical methods only)")
        elif p.missing:
            echo(
                f"{p.corpus.name}: {p.papers} papers{reused}; {len(p.missing)} to embed, about "
                f"{clock(len(p.missing) / rate)} at {rate:.1f} papers/s"
            )
        else:
            echo(f"{p.corpus.name}: {p.papers} papers{reused}; every vector is cached, nothing to embed")
    seconds = len(left) / rate if rate else 0.0
    if len(plans) > 1 and rate:
        echo(f"embedding in all: {len(left)} papers, about {clock(seconds)}")
    return seconds
