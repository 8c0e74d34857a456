"""Watch lists: saved queries whose new top-k papers each `similar add` records, read back as Atom feeds."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import sqlite3
import stat
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from . import store
from .errors import NotFound, SimilarError
from .outward import clean, xml_text

SUFFIX = ".watches.sqlite"  # beside the index folder, not in it: a publish replaces the folder, and its files are checksummed
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_PMID = re.compile(r"[0-9]{1,9}\Z")
_SURROGATE = re.compile("[\ud800-\udfff]")
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


WRITE_TIMEOUT = 30.0  # seconds to wait for another writer's lock (an add records while `watch add` runs)
READ_TIMEOUT = 5.0  # a feed or a list waits less: a reader should not hang
# Columns added after the first release: `seen` is how many index rows a watch has looked at (rows are appended by
# each add, so rows from `seen` on are the papers added since), `seen_index` the index's lineage (`lineage()`) (a rebuilt
# index renumbers its rows: nothing in it is "new").
_LATER_COLUMNS = (("seen", "INTEGER"), ("seen_index", "TEXT"))


class WatchesUnavailable(SimilarError):
    """The watches database cannot be read or written: its path and why, in one line."""

    def __init__(self, path: Path, reason: str, doing: str):
        self.path, self.reason = path, reason
        super().__init__(f"cannot {doing} the watches database {path}: {reason}")

    @property
    def public(self) -> str:
        """For HTTP clients: the file's name, not this machine's folders."""
        return f"watches are unavailable: {self.path.name}: {self.reason}"


def _reason(path: Path, exc: BaseException) -> str:
    text = str(exc)
    if path.is_dir():
        return "it is a folder, not a database: move it away"
    if "file is not a database" in text or "no such table" in text:
        return "it is not a watches database (damaged, or another file): restore it, or move it away to start afresh"
    if "malformed" in text:
        return "it is damaged (database disk image is malformed): restore it, or move it away to start afresh"
    if "locked" in text or "busy" in text:
        return "another process holds it locked: retry when it is done"
    if "readonly" in text or "read-only" in text or not os.access(path if path.exists() else path.parent, os.W_OK):
        where = f"its folder {path.parent} is" if not path.exists() else "it is"
        return f"{where} not writable"
    if "disk is full" in text or getattr(exc, "errno", None) == errno.ENOSPC:
        return "the disk is full"
    if path.exists() and not os.access(path, os.R_OK):
        return "it is not readable by this user"
    return getattr(exc, "strerror", None) or text


def _not_special(path: Path, doing: str) -> None:
    """The database and its journals are files or absent: a FIFO, device or socket there would block SQLite's open
    (or read) forever, so it is the one line naming it before SQLite sees it. (A folder: SQLite's own error, _reason.)"""
    for name in (path.name, f"{path.name}-journal", f"{path.name}-wal"):
        try:
            mode = os.stat(path.parent / name).st_mode
        except OSError:
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            from .checks import file_kind

            its = "it is" if name == path.name else f"its journal {name} is"
            raise WatchesUnavailable(path, f"{its} {file_kind(mode)}, not a database file: move it away", doing)


@contextlib.contextmanager
def _db(index_dir, write: bool) -> Iterator[sqlite3.Connection | None]:
    """The index's watch database: created on the first write; None for a read where there is none yet (an index
    without watches costs nothing). Every failure is a WatchesUnavailable naming the file."""
    path = watches_path(index_dir)
    _not_special(path, "write" if write else "read")
    if not write and (not path.exists() or (path.is_file() and path.stat().st_size == 0)):
        yield None
        return
    try:
        if write:
            conn = sqlite3.connect(path, timeout=WRITE_TIMEOUT)
        else:
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=READ_TIMEOUT)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "watches" not in tables:  # somebody else's database: never add tables to it
                raise sqlite3.DatabaseError("no such table: watches")
            if write:
                conn.executescript(SCHEMA)
                have = {r[1] for r in conn.execute("PRAGMA table_info(watches)")}
                for column, kind in _LATER_COLUMNS:
                    if column not in have:
                        conn.execute(f"ALTER TABLE watches ADD COLUMN {column} {kind}")
            yield conn
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise WatchesUnavailable(path, _reason(path, exc), "write" if write else "read") from exc


def lineage(manifest: store.Manifest) -> str | None:
    """What stays the same through adds and changes with a rebuild: the first build's id (`created`, to the second,
    for an index built before the manifest kept it)."""
    return manifest.lineage or manifest.created


_FIX = "fix or delete that row, or move the database away to start afresh"


def _bad_row(path: Path, what: str, column: str, value, wanted: str) -> WatchesUnavailable:
    """A row of a valid database holding a value of the wrong type (SQLite keeps what it is given): one line naming
    the file, the row and the column."""
    shown = repr(value[:40]) + "..." if isinstance(value, (str, bytes)) and len(value) > 40 else repr(value)
    return WatchesUnavailable(path, f"{what} has {column}={shown}, not {wanted}: {_FIX}", "read")


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(path: Path, what: str, row, columns: Sequence[tuple[str, str]]) -> None:
    """Each column's kind: 'text', 'text?' (or NULL), 'pmid', 'int', 'int?', 'count' (1..MAX_K), 'number' (finite)."""
    for value, (column, kind) in zip(row, columns):
        if kind == "text?" and value is None:
            continue
        if kind in ("text", "text?"):
            ok, wanted = isinstance(value, str), "text"
        elif kind == "pmid":
            ok, wanted = isinstance(value, str) and bool(_PMID.match(value)), "a PMID"
        elif kind == "pmids":
            ok = isinstance(value, str) and all(_PMID.match(p) for p in value.split())
            wanted = "PMIDs separated by spaces"
        elif kind == "int?":
            ok, wanted = value is None or (_whole(value) and value >= 0), "a whole number"
        elif kind == "count":
            ok, wanted = _whole(value) and 1 <= value <= MAX_K, f"a whole number from 1 to {MAX_K}"
        elif kind == "int":
            ok, wanted = _whole(value), "a whole number"
        else:  # number
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            wanted = "a finite number"
        if not ok:
            raise _bad_row(path, what, column, value, wanted)


_WATCH_COLUMNS = (
    ("name", "text"),
    ("pmids", "pmids"),
    ("text", "text?"),
    ("k", "count"),
    ("created", "text"),
    ("seen", "int?"),
    ("seen_index", "text?"),
)
_ENTRY_COLUMNS = (
    ("pmid", "pmid"),
    ("title", "text"),
    ("byline", "text"),
    ("retracted", "int"),
    ("rank", "int"),
    ("score", "number"),
    ("build_id", "text"),
    ("added", "text"),
)


def _row(r, path: Path) -> Watch:
    """A watches row, its types checked first: SQLite stores whatever it is given, and a row edited by hand (k='abc',
    text=x'ff00') must fail as one line naming the file and the row, never as a TypeError deep in an add."""
    what = f"watch {r[0]!r}" if isinstance(r[0], str) else f"a watch named {r[0]!r}"
    _check(path, what, r, _WATCH_COLUMNS)
    return Watch(r[0], tuple(r[1].split()), r[2], r[3], r[4])


def add_watch(index_dir, name: str, pmids: Sequence[str] = (), text: str | None = None, k: int = DEFAULT_K) -> Watch:
    """Save a watch on an index; its PMIDs must be in the index. It records the papers added from now on."""
    from .index import Index

    if not isinstance(name, str) or not NAME.match(name):
        raise SimilarError(
            f"watch name {name!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise SimilarError(f"k must be between 1 and {MAX_K}, got {k}")
    text = (text or "").strip() or None
    if text is not None and _SURROGATE.search(text):
        raise SimilarError("the watch's text is not valid UTF-8 (undecodable bytes or a lone surrogate)")
    pmids = list(dict.fromkeys(str(p).strip() for p in pmids))
    if not pmids and text is None:
        raise SimilarError("a watch needs at least one PMID or a --text")
    index = Index.open(index_dir)
    try:
        pmids = [index.pmids[index.row(p)] for p in pmids]  # one-line errors for malformed, deleted and unknown PMIDs
        seen, stamp = len(index.pmids), lineage(index.manifest)
    finally:
        index.close()
    with _db(index_dir, write=True) as conn:
        assert conn is not None
        with conn:
            if conn.execute("SELECT 1 FROM watches WHERE name=?", (name,)).fetchone():
                raise SimilarError(f"watch {name} exists: remove it first with `similar watch remove {name}`")
            watch = Watch(name, tuple(pmids), text, k, store.now_iso())
            conn.execute(
                "INSERT INTO watches (name, pmids, text, k, created, seen, seen_index) VALUES (?,?,?,?,?,?,?)",
                (name, " ".join(pmids), text, k, watch.created, seen, stamp),
            )
    return watch


def list_watches(index_dir) -> list[Watch]:
    with _db(index_dir, write=False) as conn:
        if conn is None:
            return []
        path = watches_path(index_dir)
        return [
            _row(r, path)
            for r in conn.execute("SELECT name, pmids, text, k, created FROM watches ORDER BY name").fetchall()
        ]


def get_watch(index_dir, name: str) -> Watch:
    found = [w for w in list_watches(index_dir) if w.name == name]
    if not found:
        raise NotFound(
            f"no watch {name!r} on index {store.index_path(index_dir).name}: add one with `similar watch add {name} PMID`"
        )
    return found[0]


def remove_watch(index_dir, name: str) -> None:
    get_watch(index_dir, name)
    with _db(index_dir, write=True) as conn:
        assert conn is not None
        with conn:
            conn.execute("DELETE FROM watches WHERE name=?", (name,))
            conn.execute("DELETE FROM entries WHERE watch=?", (name,))


def entries(index_dir, name: str) -> list[Entry]:
    """A watch's recorded papers, newest first."""
    get_watch(index_dir, name)
    with _db(index_dir, write=False) as conn:
        assert conn is not None
        got = conn.execute(
            "SELECT pmid, title, byline, retracted, rank, score, build_id, added FROM entries WHERE watch=? "
            "ORDER BY added DESC, rank",
            (name,),
        ).fetchall()
    path = watches_path(index_dir)
    for r in got:
        _check(path, f"an entry of watch {name!r} (PMID {r[0]!r})", r, _ENTRY_COLUMNS)
    return [Entry(r[0], r[1], r[2], bool(r[3]), r[4], float(r[5]), r[6], r[7]) for r in got]


def _top(index, watch: Watch):
    if len(watch.pmids) == 1 and watch.text is None:
        return index.similar(watch.pmids[0], n=min(watch.k, max(1, len(index) - 1)))
    if not watch.pmids:
        return index.similar_text(watch.text, n=watch.k)
    from .collection import recommend_collection

    return recommend_collection(index, list(watch.pmids), n=watch.k, text=watch.text)


def record_new(index_dir, added: Sequence[str] | None = None, encoder=None) -> list[str]:
    """After an add: each watch records the papers added since it last looked (the index rows from its `seen` on)
    that are now in its top k. A watch that could not record before (a damaged or locked database, a failed add)
    catches up here, so a rerun of `similar add` makes watches and index agree again. `added` only serves watches
    saved before `seen` was kept. Returns one note per watch that gained papers and per watch that could not run."""
    path = watches_path(index_dir)
    if not path.exists():
        return []
    manifest = store.read_manifest(store.index_path(index_dir))
    rows_now, stamp = manifest.count, lineage(manifest)
    notes: list[str] = []
    with _db(index_dir, write=True) as conn:
        assert conn is not None
        rows = conn.execute(
            "SELECT name, pmids, text, k, created, seen, seen_index FROM watches ORDER BY name"
        ).fetchall()
        for r in rows:
            _row(r, path)  # every row's types, before anything is recorded
        todo = [r for r in rows if r[5] != rows_now or r[6] != stamp]
        if not todo:
            return notes
        from .index import Index

        index = Index.open(index_dir, encoder=encoder)
        try:
            now = store.now_iso()
            for r in todo:
                watch, seen, seen_index = _row(r, path), r[5], r[6]
                if seen is None:  # saved before rows were counted: the caller's list is all it knows
                    fresh_pmids = set(added or ())
                elif seen_index != stamp or seen > rows_now:  # a rebuilt index: its rows are not "added"
                    fresh_pmids = set()
                    notes.append(f"watch {watch.name}: the index was rebuilt; it records papers added from now on")
                else:
                    rows = [r for r in range(seen, rows_now) if index.live[r]]
                    fresh_pmids = {str(index.pmids[r]) for r in rows}
                new = []
                if fresh_pmids:
                    try:
                        new = [n for n in _top(index, watch).neighbors if n.pmid in fresh_pmids]
                    except SimilarError as exc:
                        notes.append(f"watch {watch.name} not updated: {exc}")
                with conn:
                    fresh = 0
                    for n in new:
                        byline = " · ".join(str(x) for x in (n.authors_short, n.journal, n.year) if x)
                        fresh += conn.execute(
                            "INSERT OR IGNORE INTO entries VALUES (?,?,?,?,?,?,?,?,?)",
                            (
                                watch.name,
                                n.pmid,
                                n.title,
                                byline,
                                int(n.retracted),
                                n.rank,
                                n.score,
                                index.build_id,
                                now,
                            ),
                        ).rowcount
                    conn.execute("UPDATE watches SET seen=?, seen_index=? WHERE name=?", (rows_now, stamp, watch.name))
                if fresh:
                    notes.append(
                        f"watch {watch.name}: {fresh} new paper{'s' if fresh > 1 else ''} in its top {watch.k}"
                    )
        finally:
            index.close()
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
