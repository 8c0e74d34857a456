"""The compiled score blocks equal scipy's sparse products, whatever the index dtypes, sources and pool."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from similar.backends.blocks import block


def _csr(rows: int, cols: int, seed: int, index_dtype) -> sp.csr_matrix:
    m = sp.random(rows, cols, density=0.05, format="csr", dtype=np.float32, random_state=seed)
    m.indices, m.indptr = m.indices.astype(index_dtype), m.indptr.astype(index_dtype)
    return m


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("pool_size", [0, 1, 7, 40])
def test_block_equals_the_sparse_product(index_dtype, pool_size):
    rng = np.random.default_rng(pool_size)
    weights, title, abstract = (_csr(60, 300, seed, index_dtype) for seed in (1, 2, 3))
    rows, pool = rng.choice(60, 9, replace=False), rng.choice(60, pool_size, replace=False)
    got = block([(title, 2.0), (abstract, 1.0)], rows, weights, pool)
    want = ((title[rows] * 2.0 + abstract[rows]) @ weights[pool].T).toarray()
    assert got.shape == (9, pool_size)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_block_leaves_no_state_behind_and_repeats_rows():
    weights = _csr(30, 100, 4, np.int32)
    rows, pool = np.array([3, 3, 0]), np.array([5, 1, 5])  # repeated rows and pool papers are allowed
    first = block([(weights, 1.0)], rows, weights, pool)
    again = block([(weights, 1.0)], rows, weights, pool)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, (weights[rows] @ weights[pool].T).toarray(), rtol=1e-5, atol=1e-6)
