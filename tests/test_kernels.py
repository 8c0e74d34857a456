"""The compiled pool products equal scipy's sparse products, block by block; bad shapes are one ValueError."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from similar.kernels import keep_best, pool_products


def random_rows(rng: np.random.Generator, rows: int, terms: int, density: float) -> sp.csr_matrix:
    return sp.random(rows, terms, density=density, format="csr", dtype=np.float32, random_state=rng)


def reweighed(matrix: sp.csr_matrix, rng: np.random.Generator) -> sp.csr_matrix:
    """The same entries, other weights: a second weighting of the same counts."""
    return sp.csr_matrix((rng.random(matrix.nnz, dtype=np.float32), matrix.indices, matrix.indptr), shape=matrix.shape)


@pytest.mark.parametrize("shared", [True, False])  # the weightings share their entries (one pass), or not
@pytest.mark.parametrize(
    ("b", "n", "terms", "density"), [(1, 1, 5, 0.5), (3, 7, 40, 0.2), (8, 30, 500, 0.05), (2, 5, 3, 0.0)]
)
def test_pool_products_equal_each_blocks_sparse_product(b, n, terms, density, shared):
    rng = np.random.default_rng(b * 100 + n)
    queries = [random_rows(rng, b * (n + 1), terms, density)]
    documents = [random_rows(rng, b * n, terms, density)]
    if shared:
        queries.append(reweighed(queries[0], rng))
        documents.append(reweighed(documents[0], rng))
    else:
        queries.append(random_rows(rng, b * (n + 1), terms, min(1.0, 2 * density)))
        documents.append(random_rows(rng, b * n, terms, min(1.0, 2 * density)))
    out = np.full((b, n + 1, n), 0.5, dtype=np.float32)  # products are added to what is there
    pool_products(queries, documents, b, n, out)
    for s in range(b):
        want = sum(
            (q[s * (n + 1) : (s + 1) * (n + 1)] @ d[s * n : (s + 1) * n].T).toarray()
            for q, d in zip(queries, documents)
        )
        np.testing.assert_allclose(out[s], want + 0.5, rtol=1e-5, atol=1e-6)


def test_pool_products_leave_no_state_between_blocks():
    """A term used by one block's documents scores nothing in the next block, whose documents lack it."""
    queries = sp.csr_matrix(np.array([[1, 0], [0, 0], [1, 0], [0, 0]], dtype=np.float32))
    documents = sp.csr_matrix(np.array([[2, 0], [0, 3]], dtype=np.float32))
    out = np.zeros((2, 2, 1), dtype=np.float32)
    pool_products([queries], [documents], 2, 1, out)
    assert out[:, :, 0].tolist() == [[2.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize(
    ("queries", "documents", "out"),
    [((5, 4), (2, 4), (2, 3, 1)), ((6, 4), (3, 4), (2, 3, 1)), ((6, 4), (2, 4), (2, 2, 2))],
)
def test_pool_products_refuse_shapes_that_are_not_b_blocks(queries, documents, out):
    q, d = sp.csr_matrix(queries, dtype=np.float32), sp.csr_matrix(documents, dtype=np.float32)
    with pytest.raises(ValueError, match="shapes do not match"):
        pool_products([q], [d], 2, 1, np.zeros(out, dtype=np.float32))


def test_pool_products_want_one_document_matrix_per_query_matrix():
    q, d = sp.csr_matrix((6, 4), dtype=np.float32), sp.csr_matrix((2, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="one query and one document matrix per weighting"):
        pool_products([q, q], [d], 2, 1, np.zeros((2, 3, 1), dtype=np.float32))


@pytest.mark.parametrize("both", [False, True])
def test_keep_best_folds_blocks_into_each_rows_best_k(both):
    """Blocks folded in any order leave each row's (and with `both`, each column's) k best, as a sort gives them."""
    rng = np.random.default_rng(7)
    n, k = 30, 4
    scores = rng.random((n, n), dtype=np.float32)
    if both:
        scores = np.triu(scores) + np.triu(scores, 1).T  # symmetric: a block serves its rows and its columns
    best_s, best_r = np.full((n, k), -np.inf, np.float32), np.full((n, k), -1, np.int64)
    starts = [0, 10, 20]
    for i in starts[::-1]:
        for j in starts:
            if both and j < i:
                continue
            keep_best(scores[i : i + 10, j : j + 10], i, j, best_s, best_r, both=both and j != i)
    for row in range(n):
        want = np.argsort(-scores[row])[:k]
        assert sorted(best_r[row].tolist()) == sorted(want.tolist())
        np.testing.assert_allclose(np.sort(best_s[row]), np.sort(scores[row, want]))
