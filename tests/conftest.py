"""Pytest fixtures shared by every test: an isolated data home, a fake encoder, a tiny corpus file. The helpers
they use are in fixtures.py, which tests import."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from fixtures import FakeEncoder, make_corpus, write_jsonl


def pytest_configure(config):
    """The whole run, session- and module-scoped fixtures and the tools tests drive (Ray, Chromium) included, writes
    nothing under the user's HOME or data folder: both point into one temporary folder. (The product keeps out of HOME
    by itself: tests/test_home.py proves it with a HOME of its own.)"""
    base = Path(tempfile.mkdtemp(prefix="similar-tests-"))
    (base / "home").mkdir()
    os.environ["HOME"] = str(base / "home")
    os.environ["SIMILAR_HOME"] = str(base / "data")
    config._similar_home = base / "home"


def pytest_terminal_summary(terminalreporter, config):
    """Names whatever the run left in its HOME (a tool's cache, say), so a new one is seen rather than hidden."""
    home = getattr(config, "_similar_home", None)
    left = sorted(str(p.relative_to(home)) for p in home.rglob("*")) if home else []
    if left:
        terminalreporter.write_line(f"files written under HOME ({home}) by this run: {', '.join(left[:20])}")


@pytest.fixture
def fake_encoder():
    return FakeEncoder()


@pytest.fixture
def corpus_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "corpus.jsonl", make_corpus())


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own data home and cache: none reads or writes the user's folders."""
    monkeypatch.setenv("SIMILAR_HOME", str(tmp_path))
    monkeypatch.setenv("SIMILAR_CACHE", str(tmp_path / "cache"))
    for name in ("SIMILAR_NO_MODEL", "SIMILAR_INDEX_DIR", "SIMILAR_MODELS_DIR"):
        monkeypatch.delenv(name, raising=False)
