"""The house rules (docs/development.md): no import cycle, no module over 600 lines, and the method registry as the
only list of methods: a new method reaches the benchmark tables with no other edit. The layers themselves are
import-linter contracts in pyproject.toml, checked by `lint-imports` in CI."""

from __future__ import annotations

import re
from pathlib import Path

import grimp
import pytest

from fixtures import FakeEncoder, make_corpus, write_jsonl
from similar import methods
from similar.bench.suite import Benchmark, run_suite
from similar.bench.suite_report import suite_markdown
from similar.bench.tuning import run_tuning, tuning_markdown

SRC = Path(__file__).resolve().parents[1] / "src" / "similar"
MAX_LINES = 600


def _graph() -> grimp.ImportGraph:
    """Every import in src/similar, those inside functions and under TYPE_CHECKING included."""
    return grimp.build_graph("similar", cache_dir=None)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges[v]:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_cycles_are_found():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(edges) == [["a", "b", "c"], ["e"]]


def test_no_import_cycle():
    graph = _graph()
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _cycles(edges) == []


def test_no_module_over_600_lines():
    lengths = {str(p.relative_to(SRC)): len(p.read_text().splitlines()) for p in SRC.rglob("*.py")}
    over = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert not over, f"over {MAX_LINES} lines: {over}"


def test_method_names_come_from_the_registry():
    spelled = [
        f"{p.relative_to(SRC)}:{i}"
        for p in sorted(SRC.rglob("*.py"))
        for i, line in enumerate(p.read_text().splitlines(), start=1)
        if re.search(r"""["']pmra["']""", line)
    ]
    assert len(spelled) <= 2, spelled


class _Copy(methods.Method):
    """A trivial new method: BM25 under another name."""

    def score(self, ranker, q, rows):
        return methods.get("bm25").score(ranker, q, rows)

    def search(self, ranker, q, k):
        return methods.get("bm25").search(ranker, q, k)


@pytest.fixture
def new_method():
    method = methods.register(_Copy("bm25copy", "BM25 under another name (a test's)."))
    try:
        yield method.name
    finally:
        methods.REGISTRY.pop(method.name)


def test_a_new_method_reaches_the_suite_and_tuning_tables(tmp_path, new_method):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", make_corpus(40))
    judgments = tmp_path / "judgments.tsv"
    judgments.write_text(
        "".join(
            f"{1000 + s}\t{1000 + c}\t{2 if c % 4 == s % 4 else 0}\n"
            for s in range(4)
            for c in range(0, 40, 3)
            if c != s
        )
    )
    by_pmid = Benchmark("by-pmid", "pmid", corpus, judgments)
    suite = run_suite(
        [by_pmid, Benchmark("rerank", "rerank", corpus, judgments)],
        tmp_path / "suite",
        models=[FakeEncoder()],
        progress=False,
    )
    for bench in suite["models"]["fake-hash"]["benchmarks"].values():
        assert list(bench["summary"]) == list(methods.names())
        assert bench["summary"][new_method] == bench["summary"]["bm25"]  # it is BM25
    assert f"| {new_method} |" in suite_markdown(suite)

    tuned = run_tuning([by_pmid], tmp_path / "tune", model=FakeEncoder(), progress=False)
    assert list(tuned["single_methods"]) == list(methods.names(fusions=False))
    assert f"| {new_method} (single method) |" in tuning_markdown(tuned)
