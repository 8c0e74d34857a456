from common import *
import scipy.sparse as sp
from similar.backends.lexical import tfidf_weights, bm25_weights
import similar.backends.lexical as L
tc, ac = lex.title_counts, lex.abstract_counts
def stats(c):
    df = np.asarray((c>0).sum(0)).ravel().astype(float); return df, c.shape[0], float(c.sum()/c.shape[0])
for tw in [1.0, 2.0, 3.0]:
    c = (tc*tw + ac).tocsr(); df,n,avg = stats(c)
    W = tfidf_weights(c, df, n); S = np.asarray((W@W.T).todense())
    print('tfidf tw', tw, round(evalS(S).mean(),4))
for k1,b in [(1.2,0.75),(0.9,0.4),(2.0,0.75),(1.2,1.0)]:
    L.BM25_K1, L.BM25_B = k1, b
    c = (tc+ac).tocsr(); df,n,avg = stats(c)
    W = bm25_weights(c, df, n, avg); S = np.asarray((c@W.T).todense()); S = S/np.diag(S)[:,None]
    print('bm25', k1, b, round(evalS(S).mean(),4))
