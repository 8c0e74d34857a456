import numpy as np
from similar.index import Index
from similar.bench.quality import read_judgments, read_topics
from similar.bench.metrics import ndcg_at_k
ix = Index.open('/tmp/exp/ix')
J = read_judgments('/work/shared/data/trec2005-d2d/judgments-full-dev.tsv')
T = read_topics('/work/shared/data/trec2005-d2d/seed-topics-dev.tsv')
pm = ix.pmids
V = ix.ranker.dense.vectors(np.arange(len(pm)))
Sd = V @ V.T
lex = ix.ranker.lexical
St = np.asarray((lex.weights('tfidf') @ lex.weights('tfidf').T).todense())
Sb = np.asarray((lex.counts(1.0) @ lex.weights('bm25').T).todense())
Sb = Sb / np.diag(Sb)[:, None]   # bm25 normalized by the seed's self score
seeds = [s for s in J if s in ix]
rows = np.array([ix.row(s) for s in seeds])
judged = [{c: g for c, g in J[s].items() if c != s} for s in seeds]
def evalS(S, k=10):
    out = []
    for i, r in enumerate(rows):
        sc = S[r].copy(); sc[r] = -np.inf
        top = np.argpartition(-sc, 20)[:20]; top = top[np.argsort(-sc[top])]
        out.append(ndcg_at_k(pm[top].tolist(), judged[i], k))
    return np.array(out)
