from common import *
def prf(base, m, beta, select=None, weighted=False):
    select = base if select is None else select
    S2 = select.copy(); np.fill_diagonal(S2, -np.inf)
    top = np.argpartition(-S2, m, axis=1)[:, :m]
    if weighted:
        w = np.take_along_axis(select, top, 1); w = w / w.sum(1, keepdims=True)
        exp = np.einsum('nm,nmk->nk', w, base[top])
    else:
        exp = base[top].mean(axis=1)
    return base + beta * exp
for wd in [0.5, 0.6, 0.7]:
    H = wd*Sd + (1-wd)*St
    Hb = wd*Sd + (1-wd)*Sb
    for m, beta in [(5,2.0),(5,3.0),(5,4.0),(7,3.0)]:
        print(f'wd {wd} m {m} beta {beta} H {evalS(prf(H,m,beta)).mean():.4f} Hw {evalS(prf(H,m,beta,weighted=True)).mean():.4f} Hbm25 {evalS(prf(Hb,m,beta)).mean():.4f}')
