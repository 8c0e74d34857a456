from common import *
B = 0.5*Sd + 0.5*Sb
def run(P, m, beta, gamma, self_vote=True):
    out=[]
    for i, r in enumerate(rows):
        d = Sd[r].copy(); d[r] = -np.inf
        pool = np.argpartition(-d, P)[:P]
        allr = np.concatenate([[r], pool])
        Bp = B[np.ix_(allr, pool)]            # (1+P) x P
        # voters among pool for every row (excluding itself)
        M = Bp.copy()
        M[np.arange(1, P+1), np.arange(P)] = -np.inf
        vot = np.argsort(-M, axis=1)[:, :m]    # indices into pool
        F1 = Bp + beta * Bp[1 + vot].mean(axis=1)
        seed_v = np.argsort(-F1[0])[:m]
        final = F1[0] + gamma * F1[1 + seed_v].mean(axis=0)
        top = pool[np.argsort(-final)[:20]]
        out.append(ndcg_at_k(pm[top].tolist(), judged[i], 10))
    return np.mean(out)
for P in [100, 200]:
    for beta, gamma in [(3,1),(3,2),(3,3),(2,2)]:
        print(P, beta, gamma, round(run(P,5,beta,gamma),4))
