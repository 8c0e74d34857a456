from common import *
print('dense', evalS(Sd).mean(), 'tfidf', evalS(St).mean(), 'bm25n', evalS(Sb).mean())
for w in [0.3,0.4,0.5,0.6,0.7]:
    print('lin d+t', w, evalS(w*Sd+(1-w)*St).mean(), 'd+bm25', evalS(w*Sd+(1-w)*Sb).mean())
def z(S):
    m = S.mean(1, keepdims=True); s = S.std(1, keepdims=True); return (S-m)/s
for w in [0.4,0.5,0.6]:
    print('z d+t', w, evalS(w*z(Sd)+(1-w)*z(St)).mean(), 'z d+t+b', evalS(w*z(Sd)+(1-w)/2*z(St)+(1-w)/2*z(Sb)).mean())
