"""The compiled pool products equal scipy's sparse products, block by block; bad shapes are one ValueError."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from similar.kernels import RowTerms, keep_best, locality_order, merge_best, pool_products


def random_rows(rng: np.random.Generator, rows: int, terms: int, density: float) -> sp.csr_matrix:
    return sp.random(rows, terms, density=density, format="csr", dtype=np.float32, random_state=rng)


def reweighed(matrix: sp.csr_matrix, rng: np.random.Generator) -> sp.csr_matrix:
    """The same entries, other weights: another weighting (or the queries) of the same counts."""
    return sp.csr_matrix((rng.random(matrix.nnz, dtype=np.float32), matrix.indices, matrix.indptr), shape=matrix.shape)


def row_terms(documents: list, queries: list, scales: list) -> RowTerms:
    d = documents[0]
    return RowTerms(
        d.indptr.astype(np.int64), d.indices, tuple(x.data for x in documents), tuple(q.data for q in queries),
        tuple(scales), d.shape[1],
    )  # fmt: skip


@pytest.mark.parametrize("weightings", [1, 2, 3])  # two share a pass; a third takes one of its own
@pytest.mark.parametrize(
    ("rows", "b", "n", "terms", "density"),
    [(2, 1, 1, 5, 0.5), (12, 3, 7, 40, 0.2), (80, 8, 30, 500, 0.05), (9, 2, 5, 3, 0.0), (40, 4, 20, 6, 0.9)],
)
def test_pool_products_equal_each_blocks_sparse_product(rows, b, n, terms, density, weightings):
    """Each seed's block is (its query rows, scaled) x (its pool's document rows)^T, summed over weightings, added to
    what `out` holds; pools overlap, and a seed may sit in another seed's pool."""
    rng = np.random.default_rng(rows * 100 + n + weightings)
    documents = [random_rows(rng, rows, terms, density)]
    documents += [reweighed(documents[0], rng) for _ in range(weightings - 1)]
    queries = [reweighed(documents[0], rng) for _ in range(weightings)]
    scales = [rng.random(rows, dtype=np.float32) + 0.5 for _ in range(weightings)]
    seeds = rng.integers(0, rows, b)
    pools = np.stack([np.sort(rng.choice(np.delete(np.arange(rows), seed), n, replace=False)) for seed in seeds])
    out = np.full((b, n + 1, n), 0.5, dtype=np.float32)
    pool_products(row_terms(documents, queries, scales), seeds, pools, out)
    for s in range(b):
        block = np.concatenate([[seeds[s]], pools[s]])
        want = sum(
            (q[block].multiply(scale[block, None]) @ d[pools[s]].T).toarray()
            for q, d, scale in zip(queries, documents, scales)
        )
        np.testing.assert_allclose(out[s], want + 0.5, rtol=1e-5, atol=1e-6)


def test_pool_products_leave_no_state_between_pools():
    """A term used by one pool's papers scores nothing in the next pool, whose papers lack it."""
    documents = sp.csr_matrix(np.array([[1, 0], [2, 0], [0, 0], [0, 3]], dtype=np.float32))
    ones = np.ones(4, dtype=np.float32)
    out = np.zeros((2, 2, 1), dtype=np.float32)
    pool_products(row_terms([documents], [documents], [ones]), np.array([0, 2]), np.array([[1], [3]]), out)
    assert out[:, :, 0].tolist() == [[2.0, 4.0], [0.0, 9.0]]


@pytest.mark.parametrize(
    ("seeds", "pools", "out", "error"),
    [
        ((3,), (2, 1), (2, 2, 1), "shapes do not match"),
        ((2,), (2, 1), (2, 3, 1), "shapes do not match"),
        ((2,), (2, 2), (2, 3, 2), "float32"),
    ],
)
def test_pool_products_refuse_shapes_that_are_not_b_blocks(seeds, pools, out, error):
    d = sp.csr_matrix(np.ones((4, 3), dtype=np.float32))
    terms = row_terms([d], [d], [np.ones(4, dtype=np.float32)])
    dtype = np.float64 if error == "float32" else np.float32
    with pytest.raises(ValueError, match=error):
        pool_products(terms, np.zeros(seeds, dtype=np.int64), np.zeros(pools, dtype=np.int64), np.zeros(out, dtype))


def test_pool_products_want_one_query_and_scale_array_per_weighting():
    d = sp.csr_matrix(np.ones((4, 3), dtype=np.float32))
    terms = RowTerms(d.indptr.astype(np.int64), d.indices, (d.data, d.data), (d.data,), (np.ones(4),), 3)
    with pytest.raises(ValueError, match="one document, query and scale array per weighting"):
        pool_products(terms, np.zeros(1, np.int64), np.ones((1, 1), np.int64), np.zeros((1, 2, 1), np.float32))


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


def test_locality_order_is_a_breadth_first_permutation_of_the_seeds():
    """Every seed once; a seed's neighbours that are seeds follow it before any other component's seeds; rows that
    are not seeds and empty slots (-1) are passed over."""
    seeds = np.array([10, 11, 12, 13, 14, 20])
    neighbours = np.array([[13, 99, -1], [14, -1, -1], [20, -1, -1], [10, 11, -1], [11, -1, -1], [12, -1, -1]])
    order = locality_order(seeds, neighbours, 100)
    assert sorted(order.tolist()) == list(range(6))
    assert seeds[order].tolist() == [10, 13, 11, 14, 12, 20]


@pytest.mark.parametrize("heaps", [1, 3])
def test_merge_best_gives_each_rows_k_best_best_first_ties_by_row(heaps):
    rng = np.random.default_rng(heaps)
    scores = rng.integers(0, 5, (40, 6 * heaps)).astype(np.float32)  # many ties
    scores[0, :] = -np.inf
    rows = np.stack([rng.permutation(100)[: 6 * heaps] for _ in range(40)])
    rows[0, :] = -1
    got_scores, got_rows = merge_best(scores, rows, 4)
    order = np.lexsort((rows, -scores), axis=1)[:, :4]
    np.testing.assert_array_equal(got_scores, np.take_along_axis(scores, order, axis=1))
    np.testing.assert_array_equal(got_rows, np.take_along_axis(rows, order, axis=1))


def test_keep_best_of_a_rectangle_keeps_column_ids_beyond_its_heaps():
    """Heaps for 3 rows over columns numbered from 5,000 (another matrix's rows: an update's new papers against the
    stored ones): the best 2 ids of each row, and no read of heaps the columns do not have."""
    block = np.array([[0.1, 0.9, 0.5], [0.7, 0.2, 0.3], [0.0, 0.0, 0.4]], dtype=np.float32)
    best_s, best_r = np.full((3, 2), -np.inf, np.float32), np.full((3, 2), -1, np.int64)
    keep_best(block, 0, 5000, best_s, best_r, both=False)
    assert [sorted(r) for r in best_r.tolist()] == [[5001, 5002], [5000, 5002], [5000, 5002]]  # a tie keeps the first


@pytest.mark.parametrize(("first_row", "first_col", "both"), [(2, 0, False), (-1, 0, False), (0, 1, True)])
def test_keep_best_refuses_blocks_outside_its_heaps(first_row, first_col, both):
    best_s, best_r = np.full((3, 2), -np.inf, np.float32), np.full((3, 2), -1, np.int64)
    with pytest.raises(ValueError, match="fall outside the heaps"):
        keep_best(np.zeros((2, 3), np.float32), first_row, first_col, best_s, best_r, both=both)
