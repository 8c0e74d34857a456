"""The generated sections of README.md and docs/*.md are what `python docs/generate.py` makes now: a CLI option, a
method, a route or a committed benchmark result changed without regenerating fails here, naming the section."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

import generate  # noqa: E402

MADE: dict[str, str] = {}


@pytest.mark.parametrize("page", generate.PAGES, ids=lambda p: p.name)
def test_generated_sections_are_fresh(page):
    names = generate.stale(page.read_text(), MADE)
    assert not names, f"{page.name}: stale sections {names}: run python docs/generate.py"


def test_every_generator_has_a_place_and_every_place_a_generator():
    used = {m.group("name") for page in generate.PAGES for m in generate.SECTION.finditer(page.read_text())}
    assert used == set(generate.GENERATORS)


def test_a_stale_or_unclosed_section_is_found():
    text = "<!-- generated: methods -->\nold\n<!-- end generated: methods -->\n"
    assert generate.stale(text, MADE) == ["methods"]
    assert generate.stale(generate.regenerate(text, MADE), MADE) == []
    with pytest.raises(ValueError, match="end generated"):
        generate.stale("<!-- generated: methods -->\nold\n", MADE)
