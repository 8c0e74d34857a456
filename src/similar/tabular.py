"""Readers of JSON lines, JSON arrays, CSV and TSV: every record with its file:line, bounded memory per line."""

from __future__ import annotations

import csv
import json
import re
from collections import deque
from pathlib import Path
from typing import Iterator

from .errors import SimilarError
from .fields import JSON_FILE_LIMIT, LINE_LIMIT, Event, Problem, make_paper, open_binary

UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = {  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}
_LONE_CR = re.compile(rb"\r(?!\n)")
MAX_QUOTED_LINES = 200  # a quoted CSV field running over more lines than this is an unclosed quote


def _mib(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n} bytes"


def text_lines(raw, name: str) -> Iterator[tuple[int, str | None] | Problem]:
    """(line number, text) per line of a UTF-8 file (a BOM is skipped; \\r\\n, \\n and a lone \\r end a line).
    A line over LINE_LIMIT is (number, None), skipped without being held. A UTF-16/32 or binary file is one
    Problem, and nothing more is read."""
    head = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
    for bom, encoding in _OTHER_BOMS.items():
        if head.startswith(bom):
            yield Problem(f"{name}:1", f"{encoding} text (byte-order mark {bom.hex(' ')}): save the file as UTF-8")
            return
    number = 0
    first = True
    while True:
        line = raw.readline(LINE_LIMIT + 1)
        if not line:
            return
        if first:
            first = False
            if line.startswith(UTF8_BOM):
                line = line[len(UTF8_BOM) :]
            if b"\x00" in line[:4096]:
                yield Problem(f"{name}:1", "binary data (NUL bytes) where UTF-8 text is expected: rest of file skipped")
                return
        if len(line) > LINE_LIMIT and not line.endswith(b"\n"):
            while (chunk := raw.readline(1 << 20)) and not chunk.endswith(b"\n"):
                pass
            number += 1
            yield number, None
            continue
        pieces = _LONE_CR.split(line) if b"\r" in line else [line]
        for piece in pieces:
            number += 1
            # surrogateescape keeps bad bytes visible as lone surrogates so the record is refused, not mangled
            yield number, piece.decode("utf-8", errors="surrogateescape")


def _too_long(where: str) -> Problem:
    return Problem(where, f"line longer than {_mib(LINE_LIMIT)}: skipped unread")


def _json(text: str):
    """json.loads, every way it can fail a ValueError with a short reason."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg})") from None
    except RecursionError:
        raise ValueError("invalid JSON (nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise ValueError(f"invalid JSON ({str(exc).split(':')[0]})") from None


def read_jsonl(path: Path) -> Iterator[Event]:
    with open_binary(path) as raw:
        for item in text_lines(raw, path.name):
            if isinstance(item, Problem):
                yield item
                return
            number, line = item
            where = f"{path.name}:{number}"
            if line is None:
                yield _too_long(where)
                continue
            if not line.strip():
                continue
            try:
                row = _json(line)
            except ValueError as exc:
                yield Problem(where, str(exc))
                continue
            del line
            yield make_paper(row, where)


def read_json_array(path: Path) -> Iterator[Event]:
    """A JSON array of records, read whole (up to JSON_FILE_LIMIT); each record's place is file:line:column."""
    with open_binary(path) as raw:
        data = raw.read(JSON_FILE_LIMIT + 1)
    if len(data) > JSON_FILE_LIMIT:
        yield Problem(f"{path.name}:1", f"a .json file over {_mib(JSON_FILE_LIMIT)} is not read: use JSON lines")
        return
    if data[:4] and any(data.startswith(b) for b in _OTHER_BOMS):
        yield Problem(f"{path.name}:1", "UTF-16 or UTF-32 text: save the file as UTF-8")
        return
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    del data
    decoder = json.JSONDecoder()
    at = [0, 1, -1]  # offset counted up to, the line number there, the offset of the last newline before it

    def place(pos: int) -> str:  # file:line:column, counted on from the last place asked (never from the start)
        at[1] += text.count("\n", at[0], pos)
        last = text.rfind("\n", at[0], pos)
        at[0], at[2] = pos, last if last >= 0 else at[2]
        return f"{path.name}:{at[1]}:{pos - at[2]}"

    ws = re.compile(r"[ \t\n\r]*")
    pos = ws.match(text, 0).end()  # type: ignore[union-attr]
    if not text[pos : pos + 1] == "[":
        where = place(pos)
        try:
            _json(text)
        except ValueError as exc:
            yield Problem(where, str(exc))
            return
        yield Problem(where, "a .json file must hold an array of records (use .jsonl for one record per line)")
        return
    pos = ws.match(text, pos + 1).end()  # type: ignore[union-attr]
    if text[pos : pos + 1] == "]":
        return
    while True:
        where = place(pos)
        try:
            row, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield Problem(where, f"invalid JSON ({exc.msg}), rest of file skipped")
            return
        except (RecursionError, ValueError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(":")[0]
            yield Problem(where, f"invalid JSON ({reason}), rest of file skipped")
            return
        yield make_paper(row, where)
        pos = ws.match(text, pos).end()  # type: ignore[union-attr]
        sep = text[pos : pos + 1]
        pos = ws.match(text, pos + 1).end()  # type: ignore[union-attr]
        if sep == "]":
            if pos < len(text):
                yield Problem(place(pos), "invalid JSON (extra data after the array), rest of file skipped")
            return
        if sep != ",":
            yield Problem(place(pos - 1), "invalid JSON (expecting ',' or ']' after a record), rest of file skipped")
            return


class _Runaway(Exception):
    """A quoted CSV field has run over MAX_QUOTED_LINES lines."""


def _looks_like_row(text: str, delimiter: str, header: list[str]) -> bool:
    """A line inside a quoted field that reads as a whole row of its own: a PMID and as many fields as the header."""
    if text[:1] not in '0123456789"' or text.count(delimiter) < len(header) - 1:
        return False
    try:
        fields = next(csv.reader([text], delimiter=delimiter, strict=True))
    except (csv.Error, StopIteration):
        return False
    pmid = fields[header.index("pmid")].strip() if len(fields) == len(header) else ""
    return pmid.isascii() and pmid.isdigit()


def read_delimited(path: Path, delimiter: str) -> Iterator[Event]:
    """CSV/TSV with a header naming `pmid`. A row with another number of fields than the header is a problem; so is
    a quoted field that swallows following rows (never closed, or running into what looks like the next row):
    reported at the line it opened, and reading goes on from the line after it."""
    name = path.name
    if csv.field_size_limit() < LINE_LIMIT:
        csv.field_size_limit(LINE_LIMIT)  # one field is bounded as one line is
    with open_binary(path) as raw:
        source = text_lines(raw, name)
        back: deque[tuple[int, str]] = deque()  # lines to read again after a swallowing quote
        taken: list[tuple[int, str]] = []  # the lines of the row being read
        skipped: list[int] = []  # line numbers over LINE_LIMIT met while reading the row
        problem: list[Problem] = []

        def lines():
            while True:
                if back:
                    item = back.popleft()
                else:
                    got = next(source, None)
                    if got is None:
                        return
                    if isinstance(got, Problem):
                        problem.append(got)
                        return
                    if got[1] is None:
                        skipped.append(got[0])
                        continue
                    item = (got[0], got[1])
                taken.append(item)
                if len(taken) > MAX_QUOTED_LINES:  # stop a swallowing quote early: the lines are read again
                    raise _Runaway
                yield item[1]

        def rows():
            while True:
                reader = csv.reader(lines(), delimiter=delimiter, strict=True)
                while True:
                    taken.clear()
                    try:
                        row = next(reader)
                    except StopIteration:
                        if back:  # lines given back after the last row: read them with a new reader
                            break
                        return
                    except (csv.Error, _Runaway) as exc:
                        yield list(taken), None, str(exc) or "runaway"
                        break  # a new reader: the old one's state is spent
                    yield list(taken), row, None

        header = None
        for lines_of_row, row, error in rows():
            for number in skipped:
                yield _too_long(f"{name}:{number}")
            skipped.clear()
            start = lines_of_row[0][0] if lines_of_row else 0
            where = f"{name}:{start}"
            if header is None:
                if row is None:
                    yield Problem(where, f"unreadable header ({error})")
                    continue
                header = [f.strip().lower() for f in row]
                if "pmid" not in header:
                    raise SimilarError(
                        f"{path}: the header must name a 'pmid' column (found: {', '.join(header) or 'none'})"
                    )
                twice = sorted({f for f in header if header.count(f) > 1 and f})
                if twice:
                    raise SimilarError(f"{path}: the header names {', '.join(twice)} more than once")
                continue
            if not row and row is not None:
                continue
            swallowed = len(lines_of_row) > 1 and (
                row is None
                or len(row) != len(header)
                or any(_looks_like_row(text, delimiter, header) for _, text in lines_of_row[1:])
            )
            if swallowed:
                if error == "runaway":
                    runs = f"over {MAX_QUOTED_LINES} lines"
                elif error and "end of data" in error:
                    runs = "to the end of the file"
                else:
                    runs = f"to line {lines_of_row[-1][0]}"
                yield Problem(
                    where,
                    f"a quote opened on line {start} swallows the lines after it (it runs {runs}): "
                    f"line {start} skipped, the lines after it read again",
                )
                back.extendleft(reversed(lines_of_row[1:]))
                continue
            if row is None:
                yield Problem(where, f"unreadable row ({error})")
                continue
            if len(row) != len(header):
                yield Problem(where, f"row has {len(row)} fields, the header names {len(header)}")
                continue
            yield make_paper(dict(zip(header, row)), where)
        for number in skipped:
            yield _too_long(f"{name}:{number}")
        yield from problem
