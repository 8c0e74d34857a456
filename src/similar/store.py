"""The index directory on disk: paths, manifest, row<->PMID sidecar, SQLite metadata, atomic writes, checks."""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Iterable, Iterator

from . import paths
from .errors import SimilarError

FORMAT = "similar-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ROWS = "rows.txt"
PAPERS = "papers.sqlite"
VECTORS = "vectors.faiss"
LEXICAL = "lexical.joblib"
NEIGHBOURS = "neighbours.npz"  # precomputed lists of the default method, per row

# row status in papers.sqlite: a row is never reused; revised or withdrawn papers leave a tombstone
LIVE, REPLACED, DELETED = "live", "replaced", "deleted"

SCHEMA = """
CREATE TABLE IF NOT EXISTS papers (
    row INTEGER PRIMARY KEY,
    pmid TEXT NOT NULL,
    title TEXT NOT NULL,
    journal TEXT NOT NULL DEFAULT '',
    year INTEGER,
    mesh TEXT NOT NULL DEFAULT '',
    text_hash TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'live'
);
CREATE INDEX IF NOT EXISTS papers_pmid ON papers (pmid);
CREATE INDEX IF NOT EXISTS papers_hash ON papers (text_hash);
CREATE TABLE IF NOT EXISTS deletions (pmid TEXT PRIMARY KEY, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS problems (source TEXT NOT NULL, place TEXT NOT NULL, reason TEXT NOT NULL);
"""


def project_home() -> Path:
    """Where `index/`, `models/`, `results/` and `pubmed/` live (see paths.py): $SIMILAR_HOME, else the user data folder."""
    return paths.home()


index_root, models_dir, cache_dir, index_path = paths.index_root, paths.models_dir, paths.cache_dir, paths.index_path


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def new_build_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def library_versions() -> dict:
    from importlib import metadata

    out = {}
    for dist in ("similar", "faiss-cpu", "sentence-transformers", "torch", "transformers", "scikit-learn", "numpy", "scipy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


# --- writing -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces `final` by rename, on failure it is removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for f in tmp.iterdir():  # make the files durable before the rename publishes them
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:6]}"
        os.rename(final, old)
    os.rename(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def write_rows(folder: Path, pmids: Iterable[str]) -> None:
    with open(folder / ROWS, "w") as f:
        for pmid in pmids:
            f.write(f"{pmid}\n")


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.executescript(SCHEMA)
    return conn


# --- reading and checking ----------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict:
    """The manifest of an index folder, with one-line errors for the ways it can be missing or wrong."""
    folder = Path(folder)
    if not folder.exists():
        raise SimilarError(f"no index at {folder}: build one with `similar build INPUT --index {folder}`")
    path = folder / MANIFEST
    if not path.exists():
        raise SimilarError(f"{folder} is not a similar index (no {MANIFEST}): rebuild it with `similar build`")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SimilarError(f"corrupt index {folder}: {MANIFEST} is not valid JSON ({exc}); rebuild it") from exc
    if manifest.get("format") != FORMAT:
        raise SimilarError(f"{folder} is not a similar index ({MANIFEST} has no format '{FORMAT}')")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise SimilarError(
            f"index {folder} has format version {manifest.get('format_version')}, this similar reads {FORMAT_VERSION}: rebuild it"
        )
    return manifest


def read_rows(folder: Path, expected: int) -> list[str]:
    path = folder / ROWS
    if not path.exists():
        raise SimilarError(f"corrupt index {folder}: {ROWS} is missing; rebuild it")
    rows = path.read_text().split()
    if len(rows) != expected:
        raise SimilarError(f"corrupt index {folder}: {ROWS} has {len(rows)} rows, the manifest says {expected}; rebuild it")
    return rows


def check_count(folder: Path, what: str, found: int, expected: int) -> None:
    if found != expected:
        raise SimilarError(f"corrupt index {folder}: {what} holds {found} rows, the manifest says {expected}; rebuild it")
