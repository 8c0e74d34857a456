"""Read paper records (JSON lines / JSON array / CSV / TSV / PubMed-MEDLINE XML) as a stream of events.

One rule for every field of every format: a value of the wrong type is a Problem (the record is skipped, never
coerced); a text over its limit is cut with a note on the Paper; a PMID is ASCII digits in 1..99,999,999.
The readers (tabular.py, xmlreader.py) give each record its place, file:line."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Iterator

from .errors import SimilarError
from .fields import Deletion, Event, Paper, Problem, detect_format  # noqa: F401  (the record types, read from here)


def read_records(path: str | Path) -> Iterator[Event]:
    """Yield Paper / Deletion / Problem events from one input file, streaming.

    A file that stops being readable part-way (not gzip, truncated, bad CRC, an I/O error) ends in one Problem
    naming the file and the reason; the records read before it stand. No input makes this raise but a
    SimilarError for a file that cannot be read at all (missing, unknown format, a CSV header without pmid)."""
    from . import tabular, xmlreader

    path = Path(path)
    fmt = detect_format(path)
    if fmt == "jsonl":
        events = tabular.read_jsonl(path)
    elif fmt == "json":
        events = tabular.read_json_array(path)
    elif fmt == "csv":
        events = tabular.read_delimited(path, ",")
    elif fmt == "tsv":
        events = tabular.read_delimited(path, "\t")
    else:
        events = xmlreader.read_medline_xml(path)
    count = 0
    try:
        for event in events:
            count += 1
            yield event
    except SimilarError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        yield Problem(path.name, f"unreadable file after {count} records, rest of file skipped ({_reason(exc)})")
    except (ValueError, RecursionError, MemoryError, UnicodeError) as exc:  # a reader's last line of defence
        reason = f"{type(exc).__name__}: {_reason(exc)}"
        yield Problem(path.name, f"unreadable file after {count} records, rest of file skipped ({reason})")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "truncated: the compressed stream ends early"
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return (text.splitlines() or [type(exc).__name__])[0][:200]


def later_version_replaces(path: str | Path) -> bool:
    """MEDLINE XML ships revisions: a later record of a PMID replaces the earlier one. Elsewhere a repeat is an error."""
    return detect_format(Path(path)) == "xml"
