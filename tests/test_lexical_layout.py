"""The memory-mapped lexical layout (save, load, add, old indexes) and the pruned postings search against exact scores."""

import joblib
import numpy as np
import pytest
import scipy.sparse as sp

from similar import store
from similar.backends import lexical as lexical_module
from similar.backends import top_k
from similar.backends.lexical import LexicalBackend
from similar.backends.weightings import METHODS
from similar.bench.recall import pruned_recall

WORDS = [f"w{i}" for i in range(400)]


def zipf_texts(n: int, length: int, seed: int) -> list[str]:
    """Texts over a Zipf-like vocabulary: a few frequent words, a long tail of rare ones (as in abstracts)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, len(WORDS) + 1)
    p /= p.sum()
    return [" ".join(rng.choice(WORDS, size=length, p=p)) for _ in range(n)]


TITLES, ABSTRACTS = zipf_texts(300, 6, 1), zipf_texts(300, 50, 2)


@pytest.fixture(scope="module")
def built():
    return LexicalBackend.build(TITLES, ABSTRACTS)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lexical")
    LexicalBackend.build(TITLES, ABSTRACTS).save(folder)
    return folder


def same_matrix(a: sp.spmatrix, b: sp.spmatrix) -> bool:
    return a.shape == b.shape and (a != b).nnz == 0


@pytest.mark.parametrize("method", METHODS)
def test_loaded_weights_equal_computed_ones(built, saved, method):
    loaded = LexicalBackend.load(saved)
    assert same_matrix(loaded.weights(method), built.weights(method))
    assert same_matrix(loaded.postings(method), built.weights(method).tocsc())
    assert np.array_equal(loaded.self_scores(method), built.self_scores(method))
    assert np.array_equal(loaded.max_weights(method), built.weights(method).max(axis=0).toarray().ravel())
    rows = np.array([0, 7, 299])
    assert same_matrix(loaded.query_rows(method, rows), built.query_rows(method, rows))
    text = loaded.text_query(method, ["w1 w5 w17"], ["w2 w3 w300"])
    want = built.text_query(method, ["w1 w5 w17"], ["w2 w3 w300"])
    assert same_matrix(text[0], want[0]) and np.array_equal(text[1], want[1])


def test_load_maps_the_arrays_and_recomputes_nothing(saved):
    loaded = LexicalBackend.load(saved)
    loaded.set_live(np.ones(loaded.count, dtype=bool))  # what Index.open does: the mask the weights were saved with
    for method in METHODS:
        for array in (loaded.weights(method).data, loaded.postings(method).indices, loaded.self_scores(method)):
            assert not array.flags.writeable and not array.flags.owndata  # read-only views of np.memmap
        assert loaded.weights(method).indices.dtype == loaded.weights(method).indptr.dtype == np.int32
    assert loaded._cache == {}
    loaded.search("bm25", loaded.query_rows("bm25", [3]), 5, exclude=np.array([3]), exact=False, budget=200)
    loaded.search("tfidf", loaded.query_rows("tfidf", [3]), 5, exact=True)
    assert loaded._vocabulary is None  # queries by row never read the vocabulary
    assert loaded.vocabulary == LexicalBackend.build(TITLES, ABSTRACTS).vocabulary


def test_another_live_mask_recomputes_from_the_counts(saved):
    live = np.ones(len(TITLES), dtype=bool)
    live[::3] = False
    loaded, fresh = LexicalBackend.load(saved), LexicalBackend.build(TITLES, ABSTRACTS)
    loaded.set_live(live)
    fresh.set_live(live)
    for method in METHODS:
        assert loaded.weights(method).data.flags.writeable  # recomputed in memory, not the saved arrays
        assert same_matrix(loaded.weights(method), fresh.weights(method))


def test_save_over_an_older_layout_leaves_no_stale_file(saved, tmp_path):
    (tmp_path / store.LEXICAL_LEGACY).write_bytes(b"old")
    (tmp_path / store.lexical_array("gone.rows.data")).write_bytes(b"old")
    (tmp_path / "papers.sqlite").write_bytes(b"kept")
    LexicalBackend.load(saved).save(tmp_path)
    LexicalBackend.load(tmp_path).save(tmp_path)  # into the folder it maps: files are replaced, not overwritten
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([p.name for p in saved.iterdir()] + ["papers.sqlite"])
    for method in METHODS:
        assert same_matrix(LexicalBackend.load(tmp_path).weights(method), LexicalBackend.load(saved).weights(method))


def test_an_old_joblib_index_still_loads(built, tmp_path):
    joblib.dump(
        {"vocabulary": built.vocabulary, "title_counts": built.title_counts, "abstract_counts": built.abstract_counts},
        tmp_path / store.LEXICAL_LEGACY,
        compress=3,
    )
    old = LexicalBackend.load(tmp_path)
    old.set_live(np.ones(old.count, dtype=bool))
    for method in METHODS:
        assert same_matrix(old.weights(method), built.weights(method))
    old.save(tmp_path)  # rewritten in the new layout
    assert not (tmp_path / store.LEXICAL_LEGACY).exists() and (tmp_path / store.LEXICAL).exists()


def test_add_after_load_weighs_like_one_build(saved):
    grown = LexicalBackend.load(saved)
    extra_titles, extra_abstracts = ["novelword w1 w2", "w3"], ["anothernew w5 w6 w7", "w8 w9"]
    grown.add(extra_titles, extra_abstracts)
    once = LexicalBackend.build(TITLES + extra_titles, ABSTRACTS + extra_abstracts)
    order = [once.vocabulary[t] for t in sorted(grown.vocabulary, key=grown.vocabulary.__getitem__)]
    for method in METHODS:
        assert np.allclose(grown.weights(method).toarray(), once.weights(method).toarray()[:, order], atol=1e-6)


def exact_scores(backend, method, query):
    return (query @ backend.weights(method).T).toarray().ravel()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("budget", [50, 400, 3000])
def test_pruned_scores_are_exact_and_exclusions_hold(saved, method, budget):
    backend = LexicalBackend.load(saved)
    dead = np.arange(0, backend.count, 7)
    for row in range(1, 60, 4):
        query = backend.query_rows(method, [row])
        exclude = np.append(dead, row)
        scores, rows = backend.search(method, query, 10, exclude=exclude, exact=False, budget=budget, candidates=20)
        found = rows[0] >= 0
        assert found.all() and len(set(rows[0].tolist())) == 10
        assert not np.isin(rows[0], exclude).any()
        np.testing.assert_array_equal(scores[0], exact_scores(backend, method, query)[rows[0]].astype(np.float32))
        assert (np.diff(scores[0]) <= 0).all()


@pytest.mark.parametrize("method", METHODS)
def test_pruned_search_with_every_posting_is_the_exact_search(saved, method):
    backend = LexicalBackend.load(saved)
    everything = backend.postings(method).nnz
    for row in range(0, backend.count, 11):
        query = backend.query_rows(method, [row])
        exclude = np.array([row, (row + 1) % backend.count])
        want = backend.search(method, query, 10, exclude=exclude, exact=True)
        got = backend.search(method, query, 10, exclude=exclude, exact=False, budget=everything, candidates=300)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("loaded", [False, True], ids=["built", "memory-mapped"])
@pytest.mark.parametrize("method", METHODS)
def test_score_all_from_postings_is_the_brute_force_product_bit_for_bit(built, saved, method, loaded):
    """The oracle: every row scored by the product over every row (what the quality figures were measured with)."""
    backend = LexicalBackend.load(saved) if loaded else built
    rows = [0, 5, 9, 150, 299]
    queries = backend.query_rows(method, rows)
    brute = np.asarray((queries @ backend.weights(method).T).todense(), dtype=np.float32)
    assert np.array_equal(backend.score_all(method, queries), brute)
    texts = backend.query_texts(method, ["w1 w5 w17"], ["w2 w3 w300 w399"])
    assert np.array_equal(
        backend.score_all(method, texts), np.asarray((texts @ backend.weights(method).T).todense(), np.float32)
    )
    for i, row in enumerate(rows):  # and the exact search is the brute force's top k, ties by lower row
        exclude = np.array([row])
        want = top_k(brute[i], 10, exclude)
        got = backend.search(method, queries[i], 10, exclude=exclude, exact=True)
        np.testing.assert_array_equal(got[1][0], want[1])
        np.testing.assert_array_equal(got[0][0], want[0])


def test_the_size_threshold_picks_the_path(saved, monkeypatch):
    backend = LexicalBackend.load(saved)
    assert not backend.pruned()
    monkeypatch.setattr(lexical_module, "EXACT_LIMIT", 100)
    assert backend.pruned() and not backend.pruned(exact=True)
    backend.exact = True
    assert not backend.pruned() and backend.pruned(exact=False)


def test_pruned_recall_is_one_with_every_posting_and_falls_with_a_small_budget(saved):
    backend = LexicalBackend.load(saved)
    rows = np.arange(0, 300, 10)
    assert pruned_recall(backend, "tfidf", rows, budget=10**9, candidates=300) == 1.0
    assert pruned_recall(backend, "tfidf", rows, budget=1, candidates=10) < 1.0


def test_an_index_answers_alike_on_the_pruned_path(tmp_path, monkeypatch):
    """Index.open maps the saved weights; above EXACT_LIMIT the lexical methods search the postings (here the budget
    covers them all, so the lists are the exact ones) and never return the seed."""
    from fixtures import make_corpus, write_jsonl
    from similar.build import build_index
    from similar.index import Index

    build_index([write_jsonl(tmp_path / "c.jsonl", make_corpus(40))], tmp_path / "ix", method="tfidf", progress=False)
    exact = Index.open(tmp_path / "ix")
    monkeypatch.setattr(lexical_module, "EXACT_LIMIT", 10)
    pruned = Index.open(tmp_path / "ix")
    assert pruned.ranker.lexical.pruned() and pruned.ranker.lexical._cache == {}
    for method in METHODS:
        for pmid in ("1000", "1013", "1039"):
            got = pruned.similar(pmid, n=8, method=method).neighbors
            want = exact.similar(pmid, n=8, method=method).neighbors
            assert pmid not in [n.pmid for n in got]
            assert [(n.pmid, n.score) for n in got] == [(n.pmid, n.score) for n in want]
