"""Structural checks of index files before their bytes steer a computation; each failure is one line naming the file.

Cheap ones run on every open, whatever the index's size and whether or not its checksums were hashed (a tamperer can
update them): .npy headers (dtype, shape, size agreeing with the manifest's counts), the ends of every CSR/CSC
pointer array, the row table's values, the FAISS header. The O(nnz) ones (pointers monotone, indices in range, values
finite) run once per array on its first use (`later` + `ready`) and are remembered by the open index; a stored list
is checked row by row as it is read."""

from __future__ import annotations

import os
import sqlite3
import stat
import struct
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from .errors import CorruptIndex

CHUNK = 1 << 24  # elements per vectorized pass over a big array (bounded temporary memory)
SPENT = {"open": 0.0, "first use": 0.0}  # seconds this process spent in checks, by when they run (the scale bench)


_DEPTH = threading.local()


def _timed(when: str):
    """Add a check's seconds to SPENT[when] (the outermost timed call only)."""

    def wrap(fn):
        def timed(*args, **kwargs):
            depth = getattr(_DEPTH, "n", 0)
            _DEPTH.n, started = depth + 1, time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                _DEPTH.n = depth
                if not depth:
                    SPENT[when] += time.perf_counter() - started

        timed.__doc__, timed.__name__ = fn.__doc__, fn.__name__
        return timed

    return wrap


def corrupt(folder: Path | str, name: str, why: str) -> CorruptIndex:
    return CorruptIndex(f"corrupt index {folder}: {name} {why}; rebuild it")


def unreadable(folder: Path | str, name: str, exc: BaseException) -> CorruptIndex:
    if isinstance(exc, RecursionError):  # JSON of deeply nested brackets
        return corrupt(folder, name, "cannot be read (nested too deeply)")
    text = (str(exc).strip().splitlines() or [""])[0]
    return corrupt(folder, name, f"cannot be read ({type(exc).__name__}{': ' + text if text else ''})")


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words, for a one-line error."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "not a file"


def regular(folder: Path | str, name: str) -> Path:
    """`folder/name`, checked to be a regular file (links followed) before anything opens it: a FIFO blocks an open
    or a read forever, a device never ends; such a file, or a folder by that name, is the one-line error naming it.
    A missing file passes (each caller says what missing means)."""
    path = Path(folder) / name
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise unreadable(folder, name, exc) from exc
    if not stat.S_ISREG(info.st_mode):
        raise corrupt(folder, name, f"is {file_kind(info.st_mode)}, not a regular file")
    return path


# --- .npy files: the header is parsed and checked before any data is mapped or read ---------------------------------


def npy_header(path: Path) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran order, dtype, data offset) of an .npy file, read without trusting it (ValueError if bad)."""
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = reader(f, max_header_size=10_000)
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - a garbled header dict raises tokenizer and syntax errors too
            raise ValueError(f"{type(exc).__name__}: {exc}") from exc
        return tuple(shape), bool(fortran), np.dtype(dtype), f.tell()


@_timed("open")
def open_npy(
    folder: Path | str,
    name: str,
    dtype,
    shape: Sequence[int | None],
    mmap: bool = True,
) -> np.ndarray:
    """An .npy file whose header says `dtype` and `shape` (None: any length there) and whose size is exactly header
    plus data; memory-mapped (or read whole). Anything else is the one-line error naming the file."""
    path = regular(folder, name)
    try:
        found, fortran, found_dtype, offset = npy_header(path)
        size = path.stat().st_size
    except (OSError, ValueError, EOFError) as exc:
        raise unreadable(folder, name, exc) from exc
    want = tuple(found[i] if s is None and i < len(found) else s for i, s in enumerate(shape))
    if found_dtype != np.dtype(dtype) or found != want or (fortran and len(found) > 1):
        kind = lambda d: f"records of {len(d.names)} fields" if d.names else str(d)  # noqa: E731
        raise corrupt(folder, name, f"holds {kind(found_dtype)} x {found}, expected {kind(np.dtype(dtype))} x {want}")
    nbytes = int(np.prod(found, dtype=object)) * found_dtype.itemsize
    if offset + nbytes != size:
        raise corrupt(folder, name, f"is {size} bytes, its header says {offset + nbytes}")
    if nbytes == 0:
        return np.zeros(found, dtype=found_dtype)
    if mmap:
        return np.memmap(path, dtype=found_dtype, mode="r", offset=offset, shape=found)
    with open(path, "rb") as f:
        f.seek(offset)
        return np.fromfile(f, dtype=found_dtype, count=nbytes // found_dtype.itemsize).reshape(found)


# --- checks run once per array, on its first use ----------------------------------------------------------------------

_PENDING: dict[int, Callable[[], None]] = {}
_LOCK = threading.Lock()


def later(obj, check: Callable[[], None]):
    """Attach a check to an opened array or matrix; `ready(obj)` runs it once, before the first computation."""
    key = id(obj)
    _PENDING[key] = check
    weakref.finalize(obj, _PENDING.pop, key, None)
    return obj


def ready(obj):
    """`obj`, its pending check run first (once; a failure is raised again on every use)."""
    if id(obj) in _PENDING:
        return _settle(obj)
    return obj


@_timed("first use")
def _settle(obj):
    if id(obj) in _PENDING:
        with _LOCK:
            check = _PENDING.get(id(obj))
            if check is not None:
                try:
                    check()
                except CorruptIndex as exc:
                    _PENDING[id(obj)] = _raiser(exc)
                    raise
                _PENDING.pop(id(obj), None)
    return obj


@_timed("first use")
def settle_all() -> None:
    """Run every pending check now (a benchmark times them apart from its queries); the first failure is raised."""
    with _LOCK:
        for key, check in list(_PENDING.items()):
            try:
                check()
            except CorruptIndex as exc:
                _PENDING[key] = _raiser(exc)
                raise
            _PENDING.pop(key, None)


def _raiser(exc: CorruptIndex) -> Callable[[], None]:
    def again() -> None:
        raise CorruptIndex(str(exc))

    return again


def pending(obj) -> bool:
    return id(obj) in _PENDING


def extremes(values: np.ndarray, chunk: int = CHUNK) -> tuple[float, float]:
    """(min, max) of an array read chunk by chunk (NaN propagates through both); (inf, -inf) when it is empty."""
    flat, low, high = values.reshape(-1), np.inf, -np.inf
    for i in range(0, len(flat), chunk):
        part = flat[i : i + chunk]
        a, b = part.min(), part.max()
        if np.isnan(a) or np.isnan(b):
            return float("nan"), float("nan")
        low, high = min(low, a), max(high, b)
    return float(low), float(high)


def finite(values: np.ndarray, chunk: int = CHUNK) -> bool:
    """No NaN or infinity: two vectorized passes (min, max) per chunk, no temporary the size of the array."""
    low, high = extremes(values, chunk)
    return not len(values.reshape(-1)) or (bool(np.isfinite(low)) and bool(np.isfinite(high)))


def in_range(values: np.ndarray, low: int, high: int, chunk: int = CHUNK) -> bool:
    """Every value in [low, high): for integers from 0, one pass (negative values read as unsigned are too large)."""
    flat = values.reshape(-1)
    unsigned = low == 0 and flat.dtype.kind == "i"
    for i in range(0, len(flat), chunk):
        part = flat[i : i + chunk]
        if not len(part):
            continue
        if unsigned:
            if int(part.view(part.dtype.str.replace("i", "u")).max()) >= high:
                return False
        elif not (part.min() >= low and part.max() < high):  # NaN fails both
            return False
    return True


def monotone(values: np.ndarray, chunk: int = CHUNK) -> bool:
    """Never decreasing (chunks overlap by one element)."""
    for i in range(0, max(len(values) - 1, 0), chunk):
        part = values[i : i + chunk + 1]
        if (part[1:] < part[:-1]).any():
            return False
    return True


@_timed("open")
def sparse_parts(folder: Path | str, name: str, kind, shape: tuple[int, int], dtype, file, counts: bool = False) -> Any:
    """A CSR (or CSC) matrix over memory-mapped arrays `file(f"{name}.data")` ...: headers and the pointer array's ends
    checked now (O(1)), pointers monotone, indices in range and values finite (`counts`: positive) on first use."""
    if np.dtype(dtype) not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise ValueError(f"index dtype {np.dtype(dtype)} is not int32 or int64")
    csr = issubclass(kind, sp.csr_matrix)
    major, minor = (shape[0], shape[1]) if csr else (shape[1], shape[0])
    names = {part: file(f"{name}.{part}") for part in ("indptr", "data", "indices")}
    indptr = open_npy(folder, names["indptr"], dtype, (major + 1,))
    data = open_npy(folder, names["data"], np.float32, (None,))
    nnz = len(data)
    indices = open_npy(folder, names["indices"], dtype, (nnz,))
    if int(indptr[0]) != 0 or int(indptr[-1]) != nnz:
        raise corrupt(folder, names["indptr"], f"runs from {int(indptr[0])} to {int(indptr[-1])}, not 0 to {nnz}")

    def check() -> None:
        if not monotone(indptr):
            raise corrupt(folder, names["indptr"], "is not monotone")
        if not in_range(indices, 0, minor):
            raise corrupt(folder, names["indices"], f"holds indices outside 0..{minor - 1}")
        low, high = extremes(data)
        if nnz and not (np.isfinite(low) and np.isfinite(high)):
            raise corrupt(folder, names["data"], "holds non-finite values")
        if counts and nnz and low < 1:  # term counts: whole numbers from 1 (in float32)
            raise corrupt(folder, names["data"], "holds term counts below 1")

    return later(kind((data, indices, indptr), shape=shape, copy=False), check)


def finite_later(folder: Path | str, name: str, array: np.ndarray) -> np.ndarray:
    """A float array checked for NaN and infinity on first use. The pending check holds the array weakly: a check
    that never ran must not keep its memory map (and the descriptor Python's mmap keeps) alive after the index."""
    held = weakref.ref(array)

    def check() -> None:
        found = held()
        if found is not None and not finite(found):
            raise corrupt(folder, name, "holds non-finite values")

    return later(array, check)


# --- stored lists, the row table, rows.txt, the FAISS header, papers.sqlite -------------------------------------------


def stored_row(folder: Path | str, names: tuple[str, str], rows: np.ndarray, scores: np.ndarray, row: int, count: int):
    """One paper's stored list (scores, rows as int64), checked: rows in 0..count-1 or the -1 pad, scores finite."""
    got, best = np.asarray(rows[row], dtype=np.int64), np.asarray(scores[row])
    if len(got) and (int(got.min()) < -1 or int(got.max()) >= count):
        raise corrupt(folder, names[0], f"holds a row outside 0..{count - 1} in row {row}'s list")
    if not np.isfinite(best[got >= 0]).all():
        raise corrupt(folder, names[1], f"holds non-finite scores in row {row}'s list")
    return best, got


@_timed("open")
def rowtable_problem(table: np.ndarray) -> str | None:
    """What is wrong with the values of a row table (statuses, years, version groups, PMIDs), or None: O(n)."""
    n = len(table)
    if not n:
        return None
    if not in_range(table["status"], 0, 3):
        return "holds an unknown row status"
    if not in_range(table["group"], 0, n):
        return f"holds a version group outside 0..{n - 1}"
    if not in_range(
        table["pmid"], 0, 10**18
    ):  # what rows.txt may hold (index/results.py's PMID); rows.txt is compared next
        return "holds a negative PMID"
    return None


FAISS_HEADER = struct.Struct("<4siq")  # fourcc, dimension, vector count: how every FAISS index file begins
FAISS_FLAT_IP = b"IxFI"  # IndexFlatIP: header, then its vectors as one float32 vector with a 64-bit length
FAISS_FLAT_SIZE = 4 + 4 + 8 + 8 + 8 + 1 + 4 + 8  # fourcc, d, ntotal, two unused, is_trained, metric, codes length


@_timed("open")
def faiss_header(folder: Path | str, name: str, dim: int | None, count: int | None) -> None:
    """The FAISS file's own count and dimension agree with the manifest, and a flat index has exactly their size,
    before FAISS reads a byte of it (FAISS trusts sizes it reads, so garbage there can exhaust memory or crash)."""
    path = regular(folder, name)
    try:
        with open(path, "rb") as f:
            head = f.read(FAISS_HEADER.size + 1024)
        size = path.stat().st_size
    except OSError as exc:
        raise unreadable(folder, name, exc) from exc
    if len(head) < FAISS_HEADER.size:
        raise corrupt(folder, name, f"is {size} bytes, too short for a FAISS index")
    fourcc, d, ntotal = FAISS_HEADER.unpack_from(head)
    if not fourcc.isalnum():
        raise corrupt(folder, name, "does not start like a FAISS index")
    if (dim is not None and d != dim) or (count is not None and ntotal != count):
        raise corrupt(folder, name, f"holds {ntotal} vectors of dimension {d}, the manifest says {count} of {dim}")
    if fourcc == FAISS_FLAT_IP and size != FAISS_FLAT_SIZE + ntotal * d * 4:
        raise corrupt(
            folder, name, f"is {size} bytes, {ntotal} vectors of dimension {d} take {FAISS_FLAT_SIZE + ntotal * d * 4}"
        )
    if fourcc == FAISS_FLAT_IP:
        (codes,) = struct.unpack_from("<Q", head, FAISS_FLAT_SIZE - 8)
        if codes != ntotal * d:
            raise corrupt(
                folder, name, f"says it holds {codes} values, {ntotal} vectors of dimension {d} are {ntotal * d}"
            )


def read_vocabulary(path: Path, terms: int) -> dict[str, int]:
    """lexical.vocabulary.txt: one term a line, exactly `terms` of them, UTF-8."""
    regular(path.parent, path.name)
    try:
        words = path.read_text(encoding="utf-8").split("\n")[:-1]
    except (OSError, UnicodeDecodeError) as exc:
        raise unreadable(path.parent, path.name, exc) from exc
    if len(words) != terms:
        raise corrupt(path.parent, path.name, f"holds {len(words)} terms, the lexical matrices {terms}")
    return {t: i for i, t in enumerate(words)}


class GuardedCursor:
    """A cursor whose reads turn a damaged database's errors into the one line naming the file."""

    def __init__(self, cursor: sqlite3.Cursor, db: "GuardedDB"):
        self._cursor, self._db = cursor, db

    def fetchone(self):
        with self._db.guard():
            return self._cursor.fetchone()

    def fetchall(self):
        with self._db.guard():
            return self._cursor.fetchall()

    def __iter__(self):
        return iter(self.fetchall())


class GuardedDB:
    """papers.sqlite opened read-only for an index: an error that damaged pages raise names the file, not a 500."""

    def __init__(self, conn: sqlite3.Connection, folder: Path | str, name: str):
        self._conn, self._folder, self._name = conn, folder, name

    def guard(self):
        import contextlib

        @contextlib.contextmanager
        def guarded():
            try:
                yield
            except sqlite3.DatabaseError as exc:
                raise unreadable(self._folder, self._name, exc) from exc

        return guarded()

    def execute(self, sql: str, params: Sequence = ()) -> GuardedCursor:
        with self.guard():
            return GuardedCursor(self._conn.execute(sql, params), self)

    @property
    def raw(self) -> sqlite3.Connection:
        return self._conn

    def close(self) -> None:
        self._conn.close()


def matrix_problem(matrix, what: str) -> str | None:
    """What is wrong with the structure or values of a sparse matrix held in memory (`verify`), or None."""
    indptr, minor = matrix.indptr, matrix.shape[1] if matrix.format == "csr" else matrix.shape[0]
    if int(indptr[0]) != 0 or int(indptr[-1]) != len(matrix.data) or not monotone(indptr):
        return f"{what} has a broken indptr"
    if not in_range(matrix.indices, 0, minor):
        return f"{what} holds indices out of range"
    return None if finite(matrix.data) else f"{what} holds non-finite values"


# papers.sqlite: what each column of `papers` must hold (SQLite's typeof), checked in one pass where the table steers a
# computation (an add, verify) and row by row where a query reads it (index/lookups.py)
PAPER_COLUMNS = ("row", "pmid", "title", "journal", "year", "mesh", "text_hash", "status")
YEARS = (0, 9999)
_PAPER_PROBLEMS = (
    ("typeof(row) != 'integer'", "holds a row number that is not an integer"),
    (
        "typeof(pmid) != 'text' OR pmid = '' OR pmid GLOB '*[^0-9]*' OR length(pmid) > 18",
        "holds a PMID that is not a number",
    ),
    ("typeof(title) != 'text'", "holds a title that is not text"),
    ("typeof(journal) != 'text'", "holds a journal that is not text"),
    (
        f"year IS NOT NULL AND (typeof(year) != 'integer' OR year < {YEARS[0]} OR year > {YEARS[1]})",
        f"holds a year that is not a whole number from {YEARS[0]} to {YEARS[1]}",
    ),
    ("typeof(mesh) != 'text'", "holds MeSH terms that are not text"),
    ("typeof(text_hash) != 'text'", "holds a text hash that is not text"),
    ("typeof(status) != 'text' OR status NOT IN ('live', 'replaced', 'deleted')", "holds an unknown row status"),
)


def papers_table(db: GuardedDB, folder: Path | str, name: str, count: int) -> None:
    """papers.sqlite's structure, in one pass over each table: `papers` a table with its columns, exactly `count` rows
    numbered 0..count-1, every value of its column's type; abstracts and details text, of rows that exist."""

    def kind(table: str) -> str | None:
        got = db.execute("SELECT type FROM sqlite_master WHERE name = ?", (table,)).fetchone()
        return got[0] if got else None

    if kind("papers") != "table":
        raise corrupt(folder, name, "has no table 'papers'")
    columns = {r[1] for r in db.execute("PRAGMA table_info(papers)").fetchall()}
    missing = [c for c in PAPER_COLUMNS if c not in columns]
    if missing:
        raise corrupt(folder, name, f"has a table 'papers' without the column {missing[0]!r}")
    sums = ", ".join(f"COALESCE(SUM({test}), 0)" for test, _ in _PAPER_PROBLEMS)
    n, distinct, low, high, *bad = db.execute(
        f"SELECT COUNT(*), COUNT(DISTINCT row), MIN(row), MAX(row), {sums} FROM papers"
    ).fetchone()
    if n != count:
        raise corrupt(folder, name, f"holds {n} rows, the manifest says {count}")
    for found, (_, why) in zip(bad, _PAPER_PROBLEMS):
        if found:
            raise corrupt(folder, name, why)
    if n and (distinct != n or low != 0 or high != n - 1):
        raise corrupt(folder, name, f"rows are not numbered 0..{n - 1}")
    for table, column in (("abstracts", "abstract"), ("details", "data")):
        if kind(table) is None:
            continue  # an index built before the table was kept
        if kind(table) != "table":
            raise corrupt(folder, name, f"has no table {table!r}")
        bad_rows, bad_values = db.execute(
            f"SELECT COALESCE(SUM(typeof(row) != 'integer' OR row < 0 OR row >= ?), 0), "
            f"COALESCE(SUM(typeof({column}) != 'text'), 0) FROM {table}",
            (n,),
        ).fetchone()
        if bad_rows:
            raise corrupt(folder, name, f"holds {table} of rows outside 0..{n - 1}")
        if bad_values:
            raise corrupt(folder, name, f"holds {table} that are not text")
