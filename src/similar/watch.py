"""Watch lists: saved queries whose new top-k papers each `similar add` records, read back as Atom feeds."""

from __future__ import annotations

import re
import sqlite3
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import store
from .errors import NotFound, SimilarError
from .outward import clean, xml_text

SUFFIX = ".watches.sqlite"  # beside the index folder, not in it: a publish replaces the folder, and its files are checksummed
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_PMID = re.compile(r"[0-9]{1,9}\Z")
DEFAULT_K = 20
MAX_K = 1000
ATOM = "http://www.w3.org/2005/Atom"
SCHEMA = """
CREATE TABLE IF NOT EXISTS watches (name TEXT PRIMARY KEY, pmids TEXT NOT NULL, text TEXT, k INTEGER NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (watch TEXT NOT NULL, pmid TEXT NOT NULL, title TEXT NOT NULL, byline TEXT NOT NULL,
    retracted INTEGER NOT NULL, rank INTEGER NOT NULL, score REAL NOT NULL, build_id TEXT NOT NULL, added TEXT NOT NULL,
    PRIMARY KEY (watch, pmid));
"""


@dataclass(frozen=True)
class Watch:
    """A saved query: papers like these PMIDs (and text); `k` is how deep a new paper must rank to be recorded."""

    name: str
    pmids: tuple[str, ...]
    text: str | None
    k: int
    created: str


@dataclass(frozen=True)
class Entry:
    """A new paper that entered a watch's top k, and when."""

    pmid: str
    title: str
    byline: str
    retracted: bool
    rank: int
    score: float
    build_id: str
    added: str

    @property
    def url(self) -> str:
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"


def watches_path(index_dir: str | Path | None) -> Path:
    folder = store.index_path(index_dir)
    return folder.parent / f"{folder.name}{SUFFIX}"


def _connect(index_dir) -> sqlite3.Connection:
    """The index's watch database, created on first use."""
    conn = sqlite3.connect(watches_path(index_dir), timeout=30)
    conn.executescript(SCHEMA)
    return conn


def _existing(index_dir) -> sqlite3.Connection | None:
    """The index's watch database if it has one (an index without watches costs nothing)."""
    return _connect(index_dir) if watches_path(index_dir).exists() else None


def _row(r) -> Watch:
    return Watch(r[0], tuple(r[1].split()), r[2], r[3], r[4])


def add_watch(index_dir, name: str, pmids: Sequence[str] = (), text: str | None = None, k: int = DEFAULT_K) -> Watch:
    """Save a watch on an index; its PMIDs must be in the index."""
    from .index import Index

    if not isinstance(name, str) or not NAME.match(name):
        raise SimilarError(
            f"watch name {name!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise SimilarError(f"k must be between 1 and {MAX_K}, got {k}")
    text = (text or "").strip() or None
    pmids = list(dict.fromkeys(str(p).strip() for p in pmids))
    if not pmids and text is None:
        raise SimilarError("a watch needs at least one PMID or a --text")
    index = Index.open(index_dir)
    try:
        pmids = [index.pmids[index.row(p)] for p in pmids]  # one-line errors for malformed, deleted and unknown PMIDs
    finally:
        index.close()
    conn = _connect(index_dir)
    try:
        with conn:
            if conn.execute("SELECT 1 FROM watches WHERE name=?", (name,)).fetchone():
                raise SimilarError(f"watch {name} exists: remove it first with `similar watch remove {name}`")
            watch = Watch(name, tuple(pmids), text, k, store.now_iso())
            conn.execute("INSERT INTO watches VALUES (?,?,?,?,?)", (name, " ".join(pmids), text, k, watch.created))
    finally:
        conn.close()
    return watch


def list_watches(index_dir) -> list[Watch]:
    conn = _existing(index_dir)
    if conn is None:
        return []
    try:
        return [_row(r) for r in conn.execute("SELECT name, pmids, text, k, created FROM watches ORDER BY name")]
    finally:
        conn.close()


def get_watch(index_dir, name: str) -> Watch:
    found = [w for w in list_watches(index_dir) if w.name == name]
    if not found:
        raise NotFound(
            f"no watch {name!r} on index {store.index_path(index_dir).name}: add one with `similar watch add {name} PMID`"
        )
    return found[0]


def remove_watch(index_dir, name: str) -> None:
    get_watch(index_dir, name)
    conn = _connect(index_dir)
    try:
        with conn:
            conn.execute("DELETE FROM watches WHERE name=?", (name,))
            conn.execute("DELETE FROM entries WHERE watch=?", (name,))
    finally:
        conn.close()


def entries(index_dir, name: str) -> list[Entry]:
    """A watch's recorded papers, newest first."""
    get_watch(index_dir, name)
    conn = _connect(index_dir)
    try:
        got = conn.execute(
            "SELECT pmid, title, byline, retracted, rank, score, build_id, added FROM entries WHERE watch=? "
            "ORDER BY added DESC, rank",
            (name,),
        ).fetchall()
    finally:
        conn.close()
    return [Entry(r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[6], r[7]) for r in got]


def _top(index, watch: Watch):
    if len(watch.pmids) == 1 and watch.text is None:
        return index.similar(watch.pmids[0], n=min(watch.k, max(1, len(index) - 1)))
    if not watch.pmids:
        return index.similar_text(watch.text, n=watch.k)
    return index.recommend(list(watch.pmids), n=watch.k, text=watch.text)


def record_new(index_dir, added: Sequence[str], encoder=None) -> list[str]:
    """After an add: each watch records the added papers now in its top k; returns one note per watch that gained any
    and per watch that could not be run (e.g. its PMID was deleted)."""
    conn = _existing(index_dir)
    if conn is None or not added:
        if conn is not None:
            conn.close()
        return []
    from .index import Index

    fresh_pmids = set(added)
    notes = []
    index = Index.open(index_dir, encoder=encoder)
    try:
        now = store.now_iso()
        for r in conn.execute("SELECT name, pmids, text, k, created FROM watches ORDER BY name").fetchall():
            watch = _row(r)
            try:
                result = _top(index, watch)
            except SimilarError as exc:
                notes.append(f"watch {watch.name} not updated: {exc}")
                continue
            new = [n for n in result.neighbors if n.pmid in fresh_pmids]
            with conn:
                fresh = 0
                for n in new:
                    byline = " · ".join(str(x) for x in (n.authors_short, n.journal, n.year) if x)
                    fresh += conn.execute(
                        "INSERT OR IGNORE INTO entries VALUES (?,?,?,?,?,?,?,?,?)",
                        (watch.name, n.pmid, n.title, byline, int(n.retracted), n.rank, n.score, index.build_id, now),
                    ).rowcount
            if fresh:
                notes.append(f"watch {watch.name}: {fresh} new paper{'s' if fresh > 1 else ''} in its top {watch.k}")
    finally:
        index.close()
        conn.close()
    return notes


def feed(index_dir, name: str, base_url: str = "") -> str:
    """The watch's new papers as an Atom feed (RFC 4287); every text goes through outward.clean, so a character XML
    forbids (U+0001, U+FFFE ...) never reaches it."""
    watch = get_watch(index_dir, name)
    items = entries(index_dir, name)
    ET.register_namespace("", ATOM)
    q = lambda tag: f"{{{ATOM}}}{tag}"  # noqa: E731
    root = ET.Element(q("feed"))
    ET.SubElement(root, q("id")).text = f"urn:similar:watch:{store.index_path(index_dir).name}:{name}"
    like = ", ".join([f"PMID {p}" for p in watch.pmids] + (["a text"] if watch.text else []))
    ET.SubElement(root, q("title")).text = f"New papers like {like} ({name})"
    ET.SubElement(root, q("updated")).text = items[0].added if items else watch.created
    ET.SubElement(ET.SubElement(root, q("author")), q("name")).text = "similar"
    if base_url:
        ET.SubElement(root, q("link"), rel="self", href=xml_text(f"{base_url}/v1/watches/{name}/feed.atom"))
    for e in items:
        entry = ET.SubElement(root, q("entry"))
        ET.SubElement(entry, q("id")).text = f"urn:similar:watch:{name}:pmid:{e.pmid}"
        ET.SubElement(entry, q("title")).text = ("[Retracted] " if e.retracted else "") + clean(e.title)
        ET.SubElement(entry, q("link"), href=e.url)
        ET.SubElement(entry, q("updated")).text = e.added
        ET.SubElement(
            entry, q("summary")
        ).text = f"{clean(e.byline) + '. ' if e.byline else ''}Rank {e.rank} of {watch.k}, score {e.score:.3f}."
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def describe(watch: Watch) -> dict:
    return {"name": watch.name, "pmids": list(watch.pmids), "text": watch.text, "k": watch.k, "created": watch.created}
