"""The neighbourhood map of a paper page: the paper, its neighbours and theirs (one node per work, edges from the stored
lists), in rings by hop, each node with a short label."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from ..index import Index, SimilarList

WIDTH, HEIGHT = 640, 560
RINGS = (0.0, 125.0, 235.0)  # radius of each hop's ring
FIRST, SECOND = 8, 3  # neighbours drawn at hop 1, and per hop-1 paper at hop 2
EDGE_K, DEPTH = 5, 20  # a line where one paper lists the other in its first EDGE_K; hop 2 is taken from the first DEPTH
LIMIT = 30


class Found(NamedTuple):
    """A paper taken onto the map, before it is placed."""

    title: str
    year: int | None
    score: float
    hop: int
    rank: int
    parent: str | None
    author: str  # the first author's family name, or ""


@dataclass(frozen=True)
class Node:
    """One paper on the map: where it is drawn, how large (score), how dark (year), and its short label."""

    pmid: str
    title: str
    year: int | None
    score: float
    hop: int
    rank: int  # its rank on the paper's list (hop 1), else 0
    x: float
    y: float
    r: float
    fill: str
    label: str  # hop 1: "rank · year"; else the year (the first author, or the PMID, without one)


@dataclass(frozen=True)
class Edge:
    """A line between two papers, one of which lists the other among its first EDGE_K."""

    a: Node
    b: Node


@dataclass(frozen=True)
class Map:
    """A drawn neighbourhood: nodes (the paper first), edges, and the years the shading spans."""

    nodes: list[Node]
    edges: list[Edge]
    years: tuple[int, int] | None
    width: int = WIDTH
    height: int = HEIGHT


def listed(index: Index, pmid: str, method: str, k: int = EDGE_K) -> list[tuple[int, float]]:
    """A paper's first k (row, score) from its stored list when current, else ranked live."""
    row = index.row(pmid)
    stored = index.stored_list(row, method)
    if stored is None:
        return [(index.row(n.pmid), n.score) for n in index.similar(pmid, n=k, method=method).neighbors]
    scores, rows = stored
    allowed = index.allowed()
    keep = (rows >= 0) & (scores > 0) & (rows != row)
    keep[keep] &= allowed[rows[keep]]
    return list(zip(rows[keep][:k].tolist(), scores[keep][:k].tolist()))


def _author(authors) -> str:
    first = str(authors[0]).split()[0] if authors and str(authors[0]).split() else ""
    return first[:14]


def neighbourhood(index: Index, result: SimilarList, limit: int = LIMIT) -> Map:
    """The paper of `result`, its first FIRST neighbours, and up to SECOND of each of theirs, at most `limit` papers:
    one node per work (versions.py), so neither a paper's own other versions nor two versions of one work appear."""
    seed = result.seed
    assert seed is not None, "a map needs the list of one paper"
    work = lambda row: int(index.groups[row])  # noqa: E731
    first = result.neighbors[: min(FIRST, limit - 1)]
    found = {seed.pmid: Found(seed.title, seed.year, 1.0, 0, 0, None, _author(seed.authors))}
    for n in first:
        found[n.pmid] = Found(n.title, n.year, n.score, 1, n.rank, seed.pmid, _author(n.authors))
    lists = {p: listed(index, p, result.method, DEPTH) for p in found}
    second: list[tuple[int, float, str]] = []
    taken = {work(index.row(p)) for p in found}
    for n in first:
        added = 0
        for row, score in lists[n.pmid]:
            if added == SECOND or len(taken) >= limit:
                break
            if work(row) not in taken:
                taken.add(work(row))
                second.append((row, score, n.pmid))
                added += 1
    if second:
        infos = index.neighbors_at([s for _, s, _ in second], [r for r, _, _ in second])
        for info, (_, score, parent) in zip(infos, second):
            found[info.pmid] = Found(info.title, info.year, score, 2, 0, parent, _author(info.authors))
            lists[info.pmid] = listed(index, info.pmid, result.method)
    return _drawn(index, found, lists, work)


def _label(pmid: str, f: Found) -> str:
    short = str(f.year) if f.year else f.author or f"PMID {pmid}"
    return f"{f.rank} · {short}" if f.hop == 1 else short


def _drawn(index: Index, found: dict[str, Found], lists: dict[str, list[tuple[int, float]]], work) -> Map:
    years = [f.year for f in found.values() if f.year]
    span = (min(years), max(years)) if years else None
    places = _places(found)
    top = max((f.score for f in found.values() if f.hop > 0), default=1.0) or 1.0
    nodes = {}
    for pmid, f in found.items():
        x, y = places[pmid]
        radius = 15.0 if f.hop == 0 else 6.0 + 8.0 * max(0.0, min(1.0, f.score / top))
        nodes[pmid] = Node(
            pmid,
            f.title,
            f.year,
            f.score,
            f.hop,
            f.rank,
            round(x, 1),
            round(y, 1),
            round(radius, 1),
            _shade(f.year, span),
            _label(pmid, f),
        )
    on_map = {work(index.row(p)): p for p in nodes}  # a listed row stands for its work's node
    edges, seen = [], set()
    for pmid, entries in lists.items():
        for row, _ in entries[:EDGE_K]:
            other = on_map.get(work(row))
            if other is None or other == pmid:
                continue
            pair = tuple(sorted((pmid, other)))
            if pair not in seen:
                seen.add(pair)
                edges.append(Edge(nodes[pair[0]], nodes[pair[1]]))
    return Map(list(nodes.values()), edges, span)


def _places(found: dict[str, Found]) -> dict[str, tuple[float, float]]:
    """Rings by hop: the paper in the middle, hop 1 evenly round it by rank, hop 2 fanned out beside its parent."""
    cx, cy = WIDTH / 2, HEIGHT / 2
    first = [p for p, f in found.items() if f.hop == 1]
    out = {p: (cx, cy) for p, f in found.items() if f.hop == 0}
    angle = {}
    for i, pmid in enumerate(first):
        angle[pmid] = -math.pi / 2 + 2 * math.pi * i / max(1, len(first))
        out[pmid] = (cx + RINGS[1] * math.cos(angle[pmid]), cy + RINGS[1] * math.sin(angle[pmid]))
    sector = 2 * math.pi / max(1, len(first))
    for parent in first:
        children = [p for p, f in found.items() if f.hop == 2 and f.parent == parent]
        for j, pmid in enumerate(children):
            a = angle[parent] + sector * 0.8 * ((j + 0.5) / len(children) - 0.5)
            out[pmid] = (cx + RINGS[2] * math.cos(a), cy + RINGS[2] * math.sin(a) * 0.92)
    return out


def _shade(year: int | None, span: tuple[int, int] | None) -> str:
    """Darker for newer papers; grey without a year."""
    if not year or span is None:
        return "hsl(210, 8%, 60%)"
    share = (year - span[0]) / (span[1] - span[0]) if span[1] > span[0] else 1.0
    return f"hsl(212, 70%, {round(72 - 40 * share)}%)"
