"""Oracle tests: FAISS and lexical top-k against brute-force numpy on odd sizes; BM25/PMRA against their formulas."""

import math

import numpy as np
import pytest

from similar.backends import top_k
from similar.backends.dense import PAIR_BLOCK, DenseBackend, all_neighbours
from similar.backends.lexical import LexicalBackend
from similar.backends.weightings import BM25_B, BM25_K1, PMRA_LAMBDA, PMRA_MU


def unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute(matrix, query, k):
    scores = matrix @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return scores[order], order


@pytest.mark.parametrize("n,d,k", [(1, 8, 1), (7, 16, 5), (101, 33, 10), (1013, 64, 17), (2049, 384, 100)])
def test_flat_faiss_equals_brute_force(n, d, k):
    rng = np.random.default_rng(n)
    x, q = unit(rng, n, d), unit(rng, 5, d)
    backend = DenseBackend.build(x, "flat")
    scores, rows = backend.search(q, k)
    for i in range(len(q)):
        want_s, want_r = brute(x, q[i], min(k, n))
        np.testing.assert_allclose(scores[i][: len(want_s)], want_s, rtol=1e-5, atol=1e-5)
        assert rows[i][: len(want_r)].tolist() == want_r.tolist()


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_stored_vectors_of_rows_and_rows_outside(kind):
    """A flat index's vectors are read from FAISS's own array (a copy each call, never a writable view); rows outside
    it are an IndexError, not another row's vector."""
    x = unit(np.random.default_rng(3), 50, 16)
    backend = DenseBackend.build(x, kind)
    close = 1e-6 if kind == "flat" else 1e-2  # HNSW stores them quantized (SQ8)
    got = backend.vectors(np.array([49, 0, 7, 7]))
    np.testing.assert_allclose(got, x[[49, 0, 7, 7]], atol=close)
    got[:] = 0.0
    np.testing.assert_allclose(backend.vectors(np.array([0])), x[[0]], atol=close)
    if kind == "flat":
        for outside in ([-1], [50]):
            with pytest.raises(IndexError, match="outside the dense index's 50"):
                backend.vectors(np.array(outside))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("n", "k"), [(1, 1), (5, 9), (PAIR_BLOCK + 37, 12), (2 * PAIR_BLOCK + 5, 30)])
def test_all_neighbours_equal_each_rows_brute_force(n, k, threads):
    """Blocks on and off the diagonal, a last short block, heaps split across threads: every row's best k as brute
    force gives them (itself first), scores to float rounding."""
    rng = np.random.default_rng(n + k)
    x = unit(rng, n, 24)
    scores, rows = all_neighbours(x, k, threads=threads)
    assert scores.shape == rows.shape == (n, min(k, n))
    for i in rng.choice(n, min(n, 40), replace=False):
        want_s, want_r = brute(x, x[i], min(k, n))
        np.testing.assert_allclose(scores[i], want_s, rtol=1e-5, atol=1e-5)
        assert rows[i].tolist() == want_r.tolist()


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_recall_on_clustered_data(kind):
    rng = np.random.default_rng(0)
    centers = unit(rng, 50, 48)
    x = centers[rng.integers(0, 50, 3001)] + 0.3 * rng.standard_normal((3001, 48)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[:50] + 0.05 * rng.standard_normal((50, 48)).astype(np.float32)
    backend = DenseBackend.build(x, kind)
    _, rows = backend.search(q, 10)
    hits = sum(len(set(rows[i]) & set(brute(x, q[i], 10)[1])) for i in range(50))
    assert hits / 500 >= 0.9


def test_dense_roundtrip_and_add(tmp_path):
    rng = np.random.default_rng(1)
    x = unit(rng, 11, 8)
    backend = DenseBackend.build(x[:9], "flat")
    backend.add(x[9:])
    backend.save(tmp_path)
    loaded = DenseBackend.load(tmp_path, backend.describe())
    assert loaded.count == 11
    np.testing.assert_allclose(loaded.vectors(np.array([10, 0])), x[[10, 0]], atol=1e-6)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_a_mapped_index_answers_as_the_read_one_and_only_a_read_one_grows(tmp_path, kind):
    """Loaded with mmap (flat and HNSW: views of the file; IVF: on-disk lists), the answers are those of the index
    read whole; an add to it is refused, not a crash (FAISS aborts the process on a write to a viewed array)."""
    rng = np.random.default_rng(2)
    x, q = unit(rng, 1200, 16), unit(rng, 7, 16)
    DenseBackend.build(x[:1000], kind).save(tmp_path)
    spec = {"type": kind, "dim": 16, "params": {}}
    mapped, read = DenseBackend.load(tmp_path, spec, mmap=True), DenseBackend.load(tmp_path, spec, mmap=False)
    assert mapped.mapped and not read.mapped
    for a, b in zip(mapped.search(q, 10), read.search(q, 10)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="^a memory-mapped dense index is read-only: load it with mmap=False"):
        mapped.add(x[1000:])
    read.add(x[1000:])
    assert mapped.count == 1000 and read.count == 1200


def test_top_k_excludes_and_orders():
    s, r = top_k(np.array([0.1, 0.9, 0.5, 0.9, 0.3]), 3, exclude=np.array([1]))
    assert r.tolist() == [3, 2, 4] and s.tolist() == pytest.approx([0.9, 0.5, 0.3])
    s, r = top_k(np.array([0.2, 0.1]), 5, exclude=np.array([0]))
    assert r.tolist() == [1]


DOCS = [
    ("BRCA1 mutations in breast cancer", "Germline BRCA1 mutations raise breast and ovarian cancer risk in carriers."),
    ("Ovarian cancer screening", "Screening for ovarian cancer with CA-125 and ultrasound in women at risk."),
    ("IL-6 signalling in inflammation", "Interleukin IL-6 drives acute phase inflammation and fever."),
    ("p53 and apoptosis", "The p53 protein triggers apoptosis after DNA damage in cancer cells."),
    ("Heart failure therapy", "Beta blockers reduce mortality in chronic heart failure."),
    ("BRCA2 and breast cancer", "BRCA2 carriers have a high lifetime breast cancer risk."),
    ("Fever in children", ""),
]


@pytest.fixture(scope="module")
def lexical():
    return LexicalBackend.build([t for t, _ in DOCS], [a for _, a in DOCS])


@pytest.mark.parametrize("method", ["tfidf", "bm25", "pmra"])
@pytest.mark.parametrize("k", [1, 3, 7])
def test_lexical_top_k_equals_dense_brute_force(lexical, method, k):
    weights = lexical.weights(method).toarray()
    for row in range(len(DOCS)):
        q = lexical.query_rows(method, [row])
        scores, rows = lexical.search(method, q, k)
        want = q.toarray()[0] @ weights.T
        got = scores[0][rows[0] >= 0]
        np.testing.assert_allclose(got, np.sort(want)[::-1][: len(got)], rtol=1e-5, atol=1e-6)


def test_tfidf_is_cosine(lexical):
    w = lexical.weights("tfidf").toarray()
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), 1.0, rtol=1e-5)


def test_bm25_matches_the_okapi_formula(lexical):
    counts = lexical.counts(1.0).toarray()
    n = counts.shape[0]
    df = (counts > 0).sum(axis=0)
    dl = counts.sum(axis=1)
    avgdl = dl.mean()
    q = counts[0]
    for d in range(n):
        expected = 0.0
        for t in np.flatnonzero(q):
            tf = counts[d, t]
            idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
            expected += q[t] * idf * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * dl[d] / avgdl))
        got = lexical.score_rows("bm25", lexical.query_rows("bm25", [0]), np.array([d]))[0]
        assert got == pytest.approx(expected, rel=1e-4)


def test_pmra_weight_matches_the_paper(lexical):
    counts = lexical.counts(2.0).toarray()  # title words count twice
    n = counts.shape[0]
    df = (counts > 0).sum(axis=0)
    weights = lexical.weights("pmra").toarray()
    d = 0
    length = counts[d].sum()
    for t in np.flatnonzero(counts[d]):
        k = counts[d, t]
        eliteness = 1.0 / (1.0 + (PMRA_MU / PMRA_LAMBDA) ** (k - 1) * math.exp(-(PMRA_MU - PMRA_LAMBDA) * length))
        assert weights[d, t] == pytest.approx(eliteness * math.sqrt(math.log(n / df[t])), rel=1e-4)


def test_gene_names_stay_whole(lexical):
    assert {"il-6", "p53", "brca1", "ca-125"} <= set(lexical.vocabulary)


def test_lexical_add_and_roundtrip(lexical, tmp_path):
    lexical.save(tmp_path)
    loaded = LexicalBackend.load(tmp_path)
    loaded.add(["BRCA1 again"], ["breast cancer"])
    assert loaded.count == len(DOCS) + 1
    s, r = loaded.search("tfidf", loaded.query_rows("tfidf", [len(DOCS)]), 2)
    assert r[0][0] == len(DOCS) and r[0][1] in (0, 5)
