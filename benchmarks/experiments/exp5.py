from common import *
Vc = np.load('/tmp/exp/V_chunk.npy'); Sc = Vc @ Vc.T
print('dense trunc', evalS(Sd).mean(), 'dense chunked', evalS(Sc).mean())
def prf(base, m, beta):
    S2 = base.copy(); np.fill_diagonal(S2, -np.inf)
    top = np.argpartition(-S2, m, axis=1)[:, :m]
    return base + beta * base[top].mean(axis=1)
for wd in [0.5,0.6,0.7]:
    H = wd*Sc+(1-wd)*St; Hb = wd*Sc+(1-wd)*Sb
    print('wd',wd,'hyb', round(evalS(H).mean(),4), 'hyb-bm25', round(evalS(Hb).mean(),4), 'prf5x3', round(evalS(prf(H,5,3)).mean(),4), 'prf-bm25', round(evalS(prf(Hb,5,3)).mean(),4))
