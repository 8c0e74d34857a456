"""`similar info --index NAME`: an index's manifest and folder summed up in a few lines (at most MAX_LINES)."""

from __future__ import annotations

from pathlib import Path

from . import store
from .methods import names as method_names
from .watch import WatchesUnavailable, list_watches

MAX_LINES = 25


def methods(manifest: store.Manifest) -> tuple[str, ...]:
    """The methods an index answers: every registered one with vectors, the lexical ones without."""
    return method_names(vectors=bool(manifest.dense))


def size(nbytes: int) -> str:
    """Bytes as a person reads them: 912 B, 4.2 MB, 1.3 GB."""
    value = float(nbytes)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _date(stamp: str | None) -> str:
    return (stamp or "unknown").replace("T", " ")[:16]


def summary(path: str | Path, manifest: store.Manifest) -> list[str]:
    """The lines `similar info --index` prints (`--json` gives the manifest itself)."""
    path = Path(path)
    m = manifest
    live = m.live if m.live is not None else m.count
    lines = [
        f"index {m.name or path.name}: {path}",
        f"papers: {live} live, {m.count - live} retired ({m.count} rows)",
    ]
    if m.model:
        fingerprint = str(m.model.get("fingerprint") or "")[:12]
        lines.append(f"model: {m.model.get('name')} (fingerprint {fingerprint}, {m.model.get('dim')} dimensions)")
    else:
        lines.append("model: none (TF-IDF-only index: text and PMID queries ranked by lexical methods)")
    lines.append(f"methods: {', '.join(methods(m))} (default {m.default_method or methods(m)[0]})")
    if m.dense:
        params = ", ".join(f"{k} {v}" for k, v in (m.dense.get("params") or {}).items())
        lines.append(
            f"dense index: FAISS {m.dense.get('type')}, {m.dense.get('metric')}" + (f" ({params})" if params else "")
        )
    lexical = m.lexical or {}
    weightings = ", ".join(lexical.get("methods") or [])
    lines.append(f"lexical index: {weightings or 'tfidf'} over a vocabulary of {lexical.get('vocabulary', '?')} terms")
    files = [p for p in path.iterdir() if p.is_file()] if path.is_dir() else []
    lines.append(f"size on disk: {size(sum(p.stat().st_size for p in files))} in {len(files)} files")
    built = f"built: {_date(m.created)}" + (f" in {m.build_seconds:.0f} s" if m.build_seconds is not None else "")
    lines.append(f"{built}; build id {m.build_id}")
    adds = len(m.updates or [])
    lines.append(f"updated: {_date(m.updated)}" + (f" ({adds} add{'s' if adds != 1 else ''})" if adds else " (no add)"))
    lines.append(f"inputs: {len(m.inputs)} file{'s' if len(m.inputs) != 1 else ''}")
    if m.precomputed:
        lines.append(
            f"stored lists: {m.precomputed.get('method')}, top {m.precomputed.get('k')} per paper "
            "(queries by PMID under that method are lookups)"
        )
    else:
        lines.append("stored lists: none (every list is ranked live)")
    try:
        watches = len(list_watches(path))
        lines.append(f"watches: {watches}" + ("" if watches else " (add one with `similar watch add`)"))
    except WatchesUnavailable as exc:
        lines.append(f"watches: unreadable ({exc.reason})")
    lines.append("manifest: `similar info --index NAME --json`; files checked: `similar verify --index NAME`")
    return lines[:MAX_LINES]
