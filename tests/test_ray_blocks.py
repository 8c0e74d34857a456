"""The lexical stage's block functions that Ray runs as tasks, called here directly (no Ray): per-block words merged,
counts per block and weights per block equal one LexicalBackend over every row."""

import numpy as np
import pytest
import scipy.sparse as sp

from fixtures import make_corpus
from similar import distributed
from similar.backends.lexical import LexicalBackend, index_dtype, write_sparse
from similar.backends.weightings import METHODS


@pytest.mark.parametrize(
    "count, size, spans",
    [(0, 4, []), (3, 4, [(0, 3)]), (8, 4, [(0, 4), (4, 8)]), (9, 4, [(0, 4), (4, 8), (8, 9)])],
)
def test_blocks_cover_every_row_once(count, size, spans):
    assert distributed.blocks(count, size) == spans


def test_block_functions_equal_one_backend(tmp_path):
    papers = make_corpus(23)
    papers[4]["abstract"] = "the and of"  # a row of stop words only, alone in its block below
    papers[4]["title"] = "the"
    titles, abstracts = [p["title"] for p in papers], [p["abstract"] for p in papers]
    whole = LexicalBackend.build(titles, abstracts)
    texts = tmp_path / "texts.sqlite"
    distributed.write_texts(texts, zip(titles, abstracts))
    spans = [(0, 4), (4, 5), (5, 16), (16, 23)]
    assert distributed.block_terms(str(texts), 4, 5) == []
    words = set().union(*(distributed.block_terms(str(texts), a, b) for a, b in spans))
    assert {w: i for i, w in enumerate(sorted(words))} == whole.vocabulary
    (tmp_path / "vocabulary.txt").write_text("".join(f"{w}\n" for w in sorted(words)))
    for a, b in spans:
        distributed.block_counts(str(texts), str(tmp_path / "vocabulary.txt"), a, b, str(tmp_path))
    for part, matrix in (("title", whole.title_counts), ("abstract", whole.abstract_counts)):
        shards = [(np.load(tmp_path / f"counts-{a:012d}.npz"), b - a) for a, b in spans]
        got = sp.vstack(
            [
                sp.csr_matrix((z[f"{part}_data"], z[f"{part}_indices"], z[f"{part}_indptr"]), shape=(n, whole.terms))
                for z, n in shards
            ]
        )
        assert (got != matrix).nnz == 0
        write_sparse(tmp_path, part, matrix, index_dtype(matrix.nnz, *matrix.shape))
    for method in METHODS:
        idf, avgdl = whole.statistics(method)
        np.save(tmp_path / f"idf-{method}.npy", idf)
        for a, b in spans:
            distributed.block_weights(str(tmp_path), method, avgdl, whole.terms, a, b, str(tmp_path))
        zs = [np.load(tmp_path / f"{method}-{a:012d}.npz") for a, _ in spans]
        weights = [
            sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=(b - a, whole.terms))
            for z, (a, b) in zip(zs, spans)
        ]
        np.testing.assert_array_equal(sp.vstack(weights).toarray(), whole.weights(method).toarray())
        np.testing.assert_array_equal(np.concatenate([z["self"] for z in zs]), whole.self_scores(method))
