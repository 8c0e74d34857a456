"""Text queries count terms without scikit-learn: the same matrix as the CountVectorizer the index was built with."""

import numpy as np
import pytest

from fixtures import make_corpus
from similar.backends.terms import count_terms, make_vectorizer

TEXTS = [
    "",
    "the of and",
    "IL-6 and p53 regulate BRCA1; il-6 again.",
    "Ünïcode straße β-catenin a b c",
    "x-ray -dash- trailing-",
    "Cardiac HEART failure, myocardial infarction: ventricular ejection ejection.",
    "gene\texpression\ntranscription",
]


@pytest.mark.parametrize("text", TEXTS)
def test_count_terms_matches_count_vectorizer(text):
    corpus = [f"{r['title']} {r['abstract']}" for r in make_corpus()] + TEXTS
    vocab = {t: int(i) for t, i in make_vectorizer().fit(corpus).vocabulary_.items()}
    want = make_vectorizer(vocab).transform([text, text.upper()])
    got = count_terms([text, text.upper()], vocab)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.array_equal(got.toarray(), want.toarray())
