"""One entry per work: rows linked by erratum/update/republished links, one DOI, or (near-)identical text share a group."""

from __future__ import annotations

import re

import numpy as np

from .medline import VERSION_LINKS, Details

MIN_TITLE_WORDS = 5  # shorter titles ("Erratum.", "Correction") say nothing about which work a record is


class _Union:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def _title_key(title: str) -> str:
    words = re.findall(r"[a-z0-9]+", title.lower())
    return " ".join(words) if len(words) >= MIN_TITLE_WORDS else ""


def version_groups(
    live: np.ndarray, titles: list[str], hashes: np.ndarray, details: dict[int, Details], row_of: dict[str, int]
) -> np.ndarray:
    """A group id per row: rows of one work share it (live rows only; others keep their own id).

    Joined: a version link (ErratumFor/In, UpdateOf/In, RepublishedFrom/In) between two indexed papers; the same DOI;
    the same title, abstract and MeSH (text hash) under a title of 5+ words; the same title (5+ words, any case and
    punctuation) with the same first author."""
    n = len(live)
    u = _Union(n)
    seen: dict[tuple, int] = {}

    def same(key: tuple, row: int) -> None:
        if key in seen:
            u.join(seen[key], row)
        else:
            seen[key] = row

    for row in np.flatnonzero(live).tolist():
        title = _title_key(titles[row])
        d = details.get(row)
        if title:
            same(("text", hashes[row]), row)
        if d is None:
            continue
        if d.doi:
            same(("doi", d.doi.lower()), row)
        if title and d.authors:
            same(("title", title, d.authors[0].lower()), row)
        for link in d.links:
            other = row_of.get(link.pmid)
            if link.kind in VERSION_LINKS and other is not None:
                u.join(row, other)
    return np.array([u.find(i) for i in range(n)], dtype=np.int64)


def collapse(scores: np.ndarray, rows: np.ndarray, groups: np.ndarray, seed_group: int | None, n: int):
    """The first n works of a ranked list: (score, row, other rows of its work in rank order) each; the seed's work is left out."""
    picked: list[tuple[float, int, list[int]]] = []
    at: dict[int, int] = {}
    for s, r in zip(scores.tolist(), rows.tolist()):
        g = int(groups[r])
        if g == seed_group:
            continue
        if g in at:
            picked[at[g]][2].append(r)
            continue
        if len(picked) == n:
            continue  # still read on: later versions of listed works join them
        at[g] = len(picked)
        picked.append((s, r, []))
    return picked


def first_of_each_work(rows: np.ndarray, groups: np.ndarray, skip: set[int]) -> list[int]:
    """Positions in a ranked list of the first row of each work, leaving out the works in `skip`."""
    seen = set(skip)
    out = []
    for i, r in enumerate(rows.tolist()):
        g = int(groups[r])
        if g not in seen:
            seen.add(g)
            out.append(i)
    return out


def members(groups: np.ndarray, live: np.ndarray, row: int) -> list[int]:
    """The other live rows of a row's work."""
    return [int(r) for r in np.flatnonzero((groups == groups[row]) & live) if r != row]
