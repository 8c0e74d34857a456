"""Print results as JSON lines or as a readable table."""

from __future__ import annotations

import json
import shutil

from .index import SimilarList
from .outward import clean


def as_json_lines(result: SimilarList) -> str:
    """One JSON object per neighbour, each carrying the method and seed, for piping into other tools."""
    seed = result.seed.pmid if result.seed else None
    extra = {"positive": result.positive, "negative": result.negative} if hasattr(result, "positive") else {}
    return "\n".join(
        json.dumps({**n.to_dict(), "seed": seed, **extra, "method": result.method}, ensure_ascii=False)
        for n in result.neighbors
    )


def as_table(result: SimilarList) -> str:
    """For a terminal: every title and byline goes through outward.clean, so no control character (ESC ...) reaches it."""
    width = shutil.get_terminal_size((120, 20)).columns
    lines = []
    if result.seed:
        lines.append(
            f"Papers similar to PMID {result.seed.pmid} ({result.seed.year or '----'}): {clean(result.seed.title)}"
            + (" [RETRACTED]" if getattr(result.seed, "retracted", False) else "")
        )
        if getattr(result, "versions", ()):
            lines.append(f"its other versions, not listed: PMID {', '.join(result.versions)}")
    if hasattr(result, "positive"):
        like = ", ".join(result.positive + (["the text"] if result.text else []))
        lines.append(f"Papers like {like}" + (f"; not like {', '.join(result.negative)}" if result.negative else ""))
    lines.append(f"method: {result.method}   index build: {result.build_id}")
    lines.append(f"{'rank':>4}  {'pmid':>9}  {'score':>6}  {'year':>4}  title")
    room = max(20, width - 34)
    for n in result.neighbors:
        title = clean(n.title)
        title = title if len(title) <= room else title[: room - 1] + "…"
        mark = " [same text as seed]" if n.duplicate else ""
        near = (
            f"  (closest to {n.closest})"
            if n.closest and len(getattr(result, "positive", [])) + getattr(result, "text", 0) > 1
            else ""
        )
        retracted = " [RETRACTED]" if n.retracted else ""
        lines.append(f"{n.rank:>4}  {n.pmid:>9}  {n.score:6.3f}  {n.year or '----':>4}  {title}{retracted}{mark}{near}")
        if n.authors or n.versions:  # what MEDLINE says: authors · journal, and the work's other PMIDs
            byline = clean(" · ".join(x for x in (n.authors_short, n.journal) if x))
            also = f"  (also PMID {', '.join(n.versions)})" if n.versions else ""
            lines.append(" " * 29 + (byline + also).strip())
        if n.why is not None:
            from .explain import why_lines

            lines.extend(" " * 29 + line for line in why_lines(n.why))
    return "\n".join(lines)
