"""The index directory on disk: file names, the typed manifest, row<->PMID sidecar, stored lists, SQLite, checks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import stat
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Literal

from . import paths
from .errors import CorruptIndex, SimilarError

FORMAT = "similar-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ROWS = "rows.txt"
PAPERS = "papers.sqlite"
VECTORS = "vectors.faiss"
LEXICAL = "lexical.json"  # describes the lexical files: every one is a top-level file named lexical.*
LEXICAL_PREFIX = "lexical."
LEXICAL_VOCABULARY = "lexical.vocabulary.txt"  # one term a line, in column order
LEXICAL_LEGACY = "lexical.joblib"  # the one pickled file of indexes built before the memory-mapped layout
NEIGHBOURS = "neighbours.rows.npy"  # stored lists of the default method: row i's top k rows (-1 pads), memory-mapped
NEIGHBOUR_SCORES = "neighbours.scores.npy"  # and their scores
NEIGHBOUR_FLOORS = "neighbours.floors.npy"  # per row, the dense score a new paper must beat to enter its pool
NEIGHBOUR_TOPS = "neighbours.tops.npy"  # per row, the base score a new paper must beat to reach its list's top
NEIGHBOUR_EXACT = "neighbours.exact.npy"  # per row, whether its list still holds its whole dense pool
ROWTABLE = "rowtable.npy"  # per row: PMID, status, year, version group, retraction marks (rowtable.py)
LEGACY_NEIGHBOURS = "neighbours.npz"  # both in one zip, as older indexes stored them (read whole on open)


def lexical_array(name: str) -> str:
    """File of one lexical array, memory-mapped on open: `title.data`, `tfidf.rows.indptr`, `bm25.postings.indices`,
    `pmra.self`, `tfidf.idf`, `bm25.maxweight` ... (backends/lexical.py says which arrays there are)."""
    return f"{LEXICAL_PREFIX}{name}.npy"


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
CREATE TABLE IF NOT EXISTS abstracts (row INTEGER PRIMARY KEY, abstract TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS problems (source TEXT NOT NULL, place TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS details (row INTEGER PRIMARY KEY, data TEXT NOT NULL);
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

    out: dict[str, str | None] = {}
    for dist in (
        "similar",
        "faiss-cpu",
        "sentence-transformers",
        "torch",
        "transformers",
        "scikit-learn",
        "numpy",
        "scipy",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


# --- writing (publishing a folder and what similar may replace: publish.py) -------------------------------------


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def write_rows(folder: Path, pmids: Iterable[str]) -> None:
    with open(folder / ROWS, "w") as f:
        for pmid in pmids:
            f.write(f"{pmid}\n")


def save_lists(folder: Path, rows, scores, floors=None, tops=None, exact=None) -> None:
    """Write stored lists as plain .npy files, so that opening an index maps them instead of reading them. Top floors
    and exact marks are written where given and removed where not (stale ones would describe other lists)."""
    import numpy as np

    folder = Path(folder)
    np.save(folder / NEIGHBOURS, np.asarray(rows, dtype=np.int32))
    np.save(folder / NEIGHBOUR_SCORES, np.asarray(scores, dtype=np.float32))
    if floors is not None:
        np.save(folder / NEIGHBOUR_FLOORS, np.asarray(floors, dtype=np.float32))
    for name, values, dtype in ((NEIGHBOUR_TOPS, tops, np.float32), (NEIGHBOUR_EXACT, exact, np.bool_)):
        if values is not None:
            np.save(folder / name, np.asarray(values, dtype=dtype))
        else:
            (folder / name).unlink(missing_ok=True)
    (folder / LEGACY_NEIGHBOURS).unlink(missing_ok=True)


def load_tops(folder: Path, count: int):
    """The stored lists' top floors (see lists.update_lists), read whole and checked; None where none were stored."""
    import numpy as np

    from . import checks

    folder = Path(folder)
    if not (folder / NEIGHBOUR_TOPS).exists():
        return None
    tops = checks.open_npy(folder, NEIGHBOUR_TOPS, np.float32, (count,), False)
    if not (tops < np.inf).all():  # -inf is a floor any paper beats
        raise checks.corrupt(folder, NEIGHBOUR_TOPS, "holds NaN or +inf")
    return tops


def load_exact(folder: Path, count: int):
    """Per row, whether its stored list holds its whole dense pool (lists.update_lists then takes it as the pool),
    read whole and checked; None where none were stored (every pool is then searched)."""
    import numpy as np

    from . import checks

    folder = Path(folder)
    if not (folder / NEIGHBOUR_EXACT).exists():
        return None
    return checks.open_npy(folder, NEIGHBOUR_EXACT, np.bool_, (count,), False)


def load_lists(folder: Path, mmap: bool = True):
    """Stored lists (rows, scores, floors or None), memory-mapped with their headers checked (a query checks the one
    list it reads: checks.stored_row); read whole (mmap=False, for an add), every value is checked. The older
    single-zip layout is read whole."""
    import numpy as np

    from . import checks

    folder = Path(folder)
    if not (folder / NEIGHBOURS).exists() and (folder / LEGACY_NEIGHBOURS).exists():
        with np.load(checks.regular(folder, LEGACY_NEIGHBOURS)) as data:
            return data["rows"], data["scores"], None
    rows = checks.open_npy(folder, NEIGHBOURS, np.int32, (None, None), mmap)
    scores = checks.open_npy(folder, NEIGHBOUR_SCORES, np.float32, rows.shape, mmap)
    has_floors = (folder / NEIGHBOUR_FLOORS).exists()
    floors = checks.open_npy(folder, NEIGHBOUR_FLOORS, np.float32, rows.shape[:1], mmap) if has_floors else None
    if not mmap:
        if not checks.in_range(rows, -1, rows.shape[0]):
            raise checks.corrupt(folder, NEIGHBOURS, f"holds rows outside 0..{rows.shape[0] - 1}")
        if not checks.finite(scores[rows >= 0]):
            raise checks.corrupt(folder, NEIGHBOUR_SCORES, "holds non-finite values")
        if floors is not None and not (floors < np.inf).all():  # -inf is a floor any paper beats
            raise checks.corrupt(folder, NEIGHBOUR_FLOORS, "holds NaN or +inf")
    return rows, scores, floors


def regular(folder: Path | str, name: str) -> Path:
    """`folder/name` checked to be a regular file before it is opened (checks.regular, which names a FIFO, device or
    folder in the one-line error), without importing numpy when it is one."""
    path = Path(folder) / name
    try:
        if stat.S_ISREG(os.stat(path).st_mode):
            return path
    except FileNotFoundError:
        return path
    except OSError:
        pass
    from . import checks

    return checks.regular(folder, name)


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:  # an index's database: it and its journals regular files (a FIFO would block the open forever)
        for name in (path.name, f"{path.name}-journal", f"{path.name}-wal"):
            regular(path.parent, name)
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.executescript(SCHEMA)
    return conn


# --- reading and checking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """An index folder's manifest.json, typed: read, checked and written only here (`read_manifest`, `write_manifest`).

    Keys a newer similar wrote that this one does not know travel unchanged in `extra`."""

    build_id: str
    count: int
    inputs: list
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    name: str = ""
    created: str | None = None
    updated: str | None = None
    live: int | None = None
    model: dict | None = None  # encoders.describe(): name, fingerprint, dim, path, backend
    dense: dict | None = None  # DenseBackend.describe(); None for an index without vectors
    lexical: dict | None = None
    default_method: str | None = None
    precomputed: dict | None = None  # build.lists_spec(): method, k, params of the stored lists
    records: dict | None = None
    build_seconds: float | None = None
    versions: dict | None = None
    files: dict | None = None  # describe_files(): name -> bytes, sha256
    updates: list | None = None  # one entry per `similar add`
    lineage: str | None = None  # the build_id of the build this index grew from by adds; a rebuild starts a new one
    engines: dict | None = None  # which engine ran each heavy stage of the build: {"embedding": "ray", ...}
    extra: dict = field(default_factory=dict)

    # key order on disk (stable, so manifests diff cleanly); `updates` is written once there is one
    ORDER = (
        "format",
        "format_version",
        "name",
        "build_id",
        "lineage",
        "created",
        "updated",
        "count",
        "live",
        "model",
        "dense",
        "lexical",
        "default_method",
        "precomputed",
        "inputs",
        "records",
        "build_seconds",
        "engines",
        "versions",
        "files",
    )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        out = {k: d[k] for k in self.ORDER if k != "engines" or d[k] is not None}  # older indexes have none
        if self.updates is not None:
            out["updates"] = self.updates
        return {**out, **self.extra}

    @classmethod
    def from_dict(cls, data: dict, folder: Path | str = "") -> "Manifest":
        """Check the keys that open and add rely on (one-line errors naming the folder) and type the rest."""
        if not isinstance(data, dict):
            raise SimilarError(f"corrupt index {folder}: {MANIFEST} is not a JSON object; rebuild it")
        if data.get("format") != FORMAT:
            raise SimilarError(f"{folder} is not a similar index ({MANIFEST} has no format '{FORMAT}')")
        if data.get("format_version") != FORMAT_VERSION:
            raise SimilarError(
                f"index {folder} has format version {data.get('format_version')}, this similar reads {FORMAT_VERSION}: rebuild it"
            )
        problem = manifest_problem(data)
        if problem:
            raise CorruptIndex(f"corrupt index {folder}: {MANIFEST} {problem}; rebuild it")
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(
            **{k: v for k, v in data.items() if k in known}, extra={k: v for k, v in data.items() if k not in known}
        )

    def replace(self, **changes) -> "Manifest":
        return replace(self, **changes)


def read_manifest(folder: Path) -> Manifest:
    """The manifest of an index folder, with one-line errors for the ways it can be missing or wrong."""
    folder = Path(folder)
    if not folder.exists():
        raise SimilarError(f"no index at {folder}: build one with `similar build INPUT --index {folder}`")
    path = folder / MANIFEST
    if not path.exists():
        raise SimilarError(f"{folder} is not a similar index (no {MANIFEST}): rebuild it with `similar build`")
    regular(folder, MANIFEST)
    try:
        data = json.loads(path.read_text())
    except RecursionError as exc:
        raise CorruptIndex(
            f"corrupt index {folder}: {MANIFEST} cannot be read (nested too deeply); rebuild it"
        ) from exc
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, and integers of over 4300 digits
        raise CorruptIndex(f"corrupt index {folder}: {MANIFEST} is not valid JSON ({exc}); rebuild it") from exc
    return Manifest.from_dict(data, folder)


def manifest_json(folder: Path) -> Any:
    """A folder's manifest.json parsed but unchecked, for the ownership checks (publish.py), which ask only its format
    and version; raises OSError, ValueError or RecursionError when it cannot be read."""
    path = Path(folder) / MANIFEST
    if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the read forever
        raise ValueError(f"{MANIFEST} is not a regular file")
    return json.loads(path.read_text())


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write the manifest last, atomically: its `files` describe everything else in the folder."""
    write_json_atomic(Path(folder) / MANIFEST, manifest.to_dict())


MAX_ROWS = 2**31 - 1  # rows are int32 in stored lists and the row table


def _int(value, low: int = 0, high: int = MAX_ROWS) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _fields(data: dict, spec: dict) -> str | None:
    """The first key of `data` whose value is not of its kind in `spec` (key -> (check, required)), or None."""
    for key, (ok, required) in spec.items():
        value = data.get(key)
        if value is None and not required:
            continue
        if not ok(value):
            return key
    return None


_STR = lambda v: isinstance(v, str)  # noqa: E731
_TEXT = lambda v: isinstance(v, str) and bool(v)  # noqa: E731
_DICT = lambda v: isinstance(v, dict)  # noqa: E731
_LIST = lambda v: isinstance(v, list)  # noqa: E731
_NUMBER = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
_SHA256 = lambda v: isinstance(v, str) and len(v) == 64  # noqa: E731
ENGINES = ("local", "ray")  # where a heavy stage ran (build --engine)
ENGINE_STAGES = ("embedding", "lexical", "lists")
MODEL_FIELDS = {
    "name": (_TEXT, True),
    "fingerprint": (_STR, False),
    "path": (_STR, False),
    "backend": (_STR, False),
    "dim": (lambda v: _int(v, 1, 1 << 16), False),
    "max_seq_length": (lambda v: _int(v, 1), False),
}
DENSE_FIELDS = {
    "type": (_TEXT, False),
    "metric": (_STR, False),
    "dim": (lambda v: _int(v, 1, 1 << 16), False),
    "params": (_DICT, False),
}
LEXICAL_FIELDS = {"vocabulary": (_int, False), "title_weight": (_NUMBER, False), "methods": (_LIST, False)}
PRECOMPUTED_FIELDS = {
    "method": (_TEXT, True),
    "k": (lambda v: _int(v, 1), True),
    "params": (_DICT, False),
    "tops": (_DICT, False),
    "exact": (lambda v: v is True, False),  # neighbours.exact.npy kept by the writer (build.lists_spec)
}
INPUT_FIELDS = {"sha256": (_SHA256, True), "name": (_STR, False), "path": (_STR, False), "bytes": (_int, False)}
FILE_FIELDS = {"bytes": (lambda v: _int(v, 0, 1 << 60), True), "sha256": (_SHA256, True)}
MANIFEST_FIELDS = {
    "build_id": (_TEXT, True),
    "count": (_int, True),
    "inputs": (_LIST, True),
    "name": (_STR, False),
    "lineage": (_STR, False),
    "created": (_STR, False),
    "updated": (_STR, False),
    "live": (_int, False),
    "model": (_DICT, False),
    "dense": (_DICT, False),
    "lexical": (_DICT, False),
    "default_method": (_TEXT, False),
    "precomputed": (_DICT, False),
    "records": (_DICT, False),
    "build_seconds": (_NUMBER, False),
    "engines": (lambda v: isinstance(v, dict) and all(k in ENGINE_STAGES and v[k] in ENGINES for k in v), False),
    "versions": (_DICT, False),
    "files": (_DICT, False),
    "updates": (_LIST, False),
}


def manifest_problem(data: dict) -> str | None:
    """What is wrong with the keys open, query and add rely on, as the words after "manifest.json", or None."""
    key = _fields(data, MANIFEST_FIELDS)
    if key:
        return f"has no valid '{key}'"
    if data.get("live") is not None and data["live"] > data["count"]:
        return f"says {data['live']} live rows of {data['count']}"
    for part, spec in (
        ("model", MODEL_FIELDS),
        ("dense", DENSE_FIELDS),
        ("lexical", LEXICAL_FIELDS),
        ("precomputed", PRECOMPUTED_FIELDS),
    ):
        key = _fields(data[part], spec) if data.get(part) is not None else None
        if key:
            return f"has no valid '{part}.{key}'"
    if data.get("dense") is not None and data.get("model") is None:
        return "describes vectors but no 'model'"
    for i, entry in enumerate(data["inputs"]):
        if not isinstance(entry, dict) or _fields(entry, INPUT_FIELDS):
            return f"has no valid 'inputs' entry {i}"
    for name, meta in (data.get("files") or {}).items():
        if (
            not _TEXT(name)
            or "/" in name
            or name in (".", "..")
            or not isinstance(meta, dict)
            or _fields(meta, FILE_FIELDS)
        ):
            return f"has no valid 'files' entry {name!r}"
    return None


SQLITE_HEADER = b"SQLite format 3\x00"
HASH_ON_OPEN_LIMIT = (
    64 << 20
)  # open checks every file's SHA-256 up to this total size; above it sizes only (`similar verify` hashes all)


def describe_files(folder: Path) -> dict:
    """Size and SHA-256 of every file of an index folder but the manifest, for the manifest's `files`."""
    return {
        f.name: {"bytes": f.stat().st_size, "sha256": file_sha256(f)}
        for f in sorted(Path(folder).iterdir())
        if f.is_file() and f.name != MANIFEST and not f.name.startswith(".")
    }


def check_files(folder: Path, manifest: Manifest, hash_limit: int | None | Literal["open"] = "open") -> int:
    """Every file the manifest lists is there, has its size and (up to `hash_limit` bytes in all, None: no limit;
    "open": HASH_ON_OPEN_LIMIT as it is set now) its SHA-256.

    Returns how many files were hashed. Indexes built before checksums were recorded are not checked."""
    files = manifest.files or {}
    for name, meta in files.items():
        path = regular(folder, name)
        if not path.is_file():
            raise SimilarError(f"corrupt index {folder}: {name} is missing; rebuild it")
        size = path.stat().st_size
        if not isinstance(meta, dict) or size != meta.get("bytes"):
            raise SimilarError(
                f"corrupt index {folder}: {name} is {size} bytes, the manifest says {meta.get('bytes') if isinstance(meta, dict) else '?'}; rebuild it"
            )
    papers = Path(folder) / PAPERS
    if papers.is_file() and (PAPERS in files or not files):
        with open(papers, "rb") as f:
            if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                raise SimilarError(f"corrupt index {folder}: {PAPERS} is not an SQLite database; rebuild it")
    total = sum(m["bytes"] for m in files.values())
    if hash_limit == "open":
        hash_limit = HASH_ON_OPEN_LIMIT
    if hash_limit is not None and total > hash_limit:
        return 0
    for name, meta in files.items():
        if file_sha256(Path(folder) / name) != meta.get("sha256"):
            raise SimilarError(f"corrupt index {folder}: {name} does not match its SHA-256 in the manifest; rebuild it")
    return len(files)


def read_rows(folder: Path, expected: int) -> list[str]:
    path = folder / ROWS
    if not path.exists():
        raise SimilarError(f"corrupt index {folder}: {ROWS} is missing; rebuild it")
    regular(folder, ROWS)
    try:
        rows = path.read_text().split()
    except UnicodeDecodeError as exc:
        raise SimilarError(f"corrupt index {folder}: {ROWS} is not text; rebuild it") from exc
    if len(rows) != expected:
        raise SimilarError(
            f"corrupt index {folder}: {ROWS} has {len(rows)} rows, the manifest says {expected}; rebuild it"
        )
    return rows


def check_count(folder: Path, what: str, found: int, expected: int) -> None:
    if found != expected:
        raise SimilarError(
            f"corrupt index {folder}: {what} holds {found} rows, the manifest says {expected}; rebuild it"
        )
