"""Pytest fixtures shared by every test: an isolated data home, a fake encoder, a tiny corpus file. The helpers
they use are in fixtures.py, which tests import."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures import FakeEncoder, make_corpus, write_jsonl


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
