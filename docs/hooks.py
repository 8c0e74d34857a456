"""mkdocs hook: the generated sections live in the Markdown (written by `python docs/generate.py`); the site build
only checks that each page's sections are fresh, and fails (strict mode) naming any that are stale."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate  # noqa: E402

log = logging.getLogger("mkdocs.plugins.similar")
_made: dict[str, str] = {}


def on_page_markdown(markdown: str, page, **kwargs) -> str:
    names = generate.stale(markdown, _made)
    if names:
        log.warning(f"{page.file.src_uri}: stale generated sections {', '.join(names)}: run python docs/generate.py")
    return markdown
