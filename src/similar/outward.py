"""Text on its way out (exports, feeds, pages, the table): XML-legal, one line, BiDi contained, CSV formulas defused."""

from __future__ import annotations

import re

# XML 1.0 allows tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD and the supplementary planes; anything else (other C0
# controls, lone surrogates, U+FFFE, U+FFFF) makes a document not well-formed and becomes U+FFFD.
_XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Line breaks and the remaining controls (tab, LF, CR, DEL, C1, line/paragraph separators) become one space: a field
# never starts a new RIS tag, CSV record or table row.
_BREAKS = re.compile("[\t\n\r\x0b\x0c\x7f-\x9f\u2028\u2029]")
# BiDi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) are removed: an unclosed one would reorder
# what follows the field (a "Retracted" mark, the next cell). The marks LRM/RLM/ALM have no scope and stay.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
# A spreadsheet reads a cell starting with one of these as a formula (OWASP CSV injection), full-width forms included.
FORMULA_START = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")


def xml_text(value: object) -> str:
    """Text an XML document may hold: every character XML 1.0 forbids is replaced by U+FFFD."""
    return _XML_ILLEGAL.sub("\ufffd", str(value))


def clean(value: object) -> str:
    """One line of displayable text: XML-illegal characters -> U+FFFD, line breaks and controls -> space, BiDi
    embeddings/overrides/isolates removed."""
    return _BIDI.sub("", _BREAKS.sub(" ", xml_text(value)))


def csv_cell(value: object) -> str:
    """A CSV cell no spreadsheet runs as a formula: cleaned, and prefixed with an apostrophe when it (or its first
    non-blank character) starts with =, +, -, @, tab or CR (OWASP's rule)."""
    raw = str(value)
    text = clean(raw)
    if raw[:1] in FORMULA_START or text.lstrip(" ")[:1] in FORMULA_START:
        return "'" + text
    return text
