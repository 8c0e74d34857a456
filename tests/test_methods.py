"""The method registry: one place names every ranking method; the CLI, HTTP and Index read it."""

from __future__ import annotations

import numpy as np
import pytest

from similar import methods
from similar.backends.weightings import WEIGHTINGS
from similar.cli.query import METHOD_CHOICE


def test_registry_names_in_order():
    assert methods.names() == ("hybrid", "dense", "tfidf", "bm25", "pmra")
    assert methods.names(vectors=False) == ("tfidf", "bm25", "pmra")
    assert [m.name for m in methods.REGISTRY.values() if not m.needs_vectors] == list(WEIGHTINGS)


def test_faces_read_the_registry():
    assert list(METHOD_CHOICE.choices) == list(methods.names())
    assert methods.pattern() == "^(hybrid|dense|tfidf|bm25|pmra)$"


def test_register_twice_and_unknown():
    with pytest.raises(ValueError, match="registered twice"):
        methods.register(methods.Dense("dense", "again", True))
    with pytest.raises(ValueError, match="unknown ranking method 'nope'"):
        methods.get("nope")


def test_every_method_has_a_summary():
    assert all(m.summary.endswith(".") for m in methods.REGISTRY.values())


def test_a_registered_method_reaches_the_ranker(monkeypatch):
    """A new method is one class: once registered the ranker searches with it (here: every row scores its number)."""
    from similar.ranking import Query, Ranker

    class RowNumber(methods.Method):
        def score(self, ranker, q, rows):
            return rows.astype(np.float32)

        def search(self, ranker, q, k):
            rows = np.arange(len(ranker.live))
            return self.score(ranker, q, rows)[::-1][:k], rows[::-1][:k]

    monkeypatch.setitem(methods.REGISTRY, "rownumber", RowNumber("rownumber", "Row number."))
    ranker = Ranker(None, None, np.ones(5, dtype=bool))
    assert "rownumber" in ranker.methods
    scores, rows = ranker.search("rownumber", Query(row=0), 2)
    assert rows.tolist() == [4, 3] and scores.tolist() == [4.0, 3.0]
