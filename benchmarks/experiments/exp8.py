from common import *
B = 0.5*Sd + 0.5*Sb
def prf_mat(base, m, beta, sel=None):
    sel = base if sel is None else sel
    S2 = sel.copy(); np.fill_diagonal(S2, -np.inf)
    top = np.argpartition(-S2, m, axis=1)[:, :m]
    return base + beta * base[top].mean(axis=1)
F1 = prf_mat(B, 5, 3)
print('prf1', evalS(F1).mean())
print('prf2 (reselect voters by F1)', evalS(prf_mat(B, 5, 3, sel=F1)).mean())
print('diffusion (expand with F1 rows)', evalS(prf_mat(F1, 5, 1.0)).mean(), evalS(prf_mat(F1, 5, 2.0)).mean())
# symmetric: B + beta * mean over voters, voters chosen by mutual-kNN
for m2 in [10, 20]:
    S2 = B.copy(); np.fill_diagonal(S2, -np.inf)
    top = np.argpartition(-S2, m2, axis=1)[:, :m2]
    A = np.zeros_like(B); np.put_along_axis(A, top, 1.0, axis=1)
    M = A * A.T
    Mn = M / np.maximum(M.sum(1, keepdims=True), 1)
    for beta in [2, 3, 4]:
        print('mutual', m2, beta, evalS(B + beta * Mn @ B).mean())
