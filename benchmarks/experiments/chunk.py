import numpy as np, gzip, json, time
from similar.encoders import load_encoder
enc = load_encoder()
tok = enc.model.tokenizer
docs = [json.loads(l) for l in gzip.open('/work/shared/data/trec2005-d2d/corpus.jsonl.gz')]
lens = np.array([len(tok(d['title']+' '+d['abstract'])['input_ids']) for d in docs])
print('tokens: median', np.median(lens), 'share >256', (lens>256).mean(), 'p90', np.percentile(lens,90))
from similar.index import Index
ix = Index.open('/tmp/exp/ix')
order = {p:i for i,p in enumerate(ix.pmids)}
texts = [None]*len(docs)
for d in docs: texts[order[d['pmid']]] = (d['title'], d['abstract'])
# chunks: title + consecutive sentence windows of about 180 words
chunks, owner = [], []
for i,(t,a) in enumerate(texts):
    words = a.split()
    if len(words) <= 180:
        chunks.append(t+' '+a); owner.append(i); continue
    step = 150
    for s in range(0, len(words), step):
        chunks.append(t+' '+' '.join(words[s:s+180])); owner.append(i)
        if s+180 >= len(words): break
print('chunks', len(chunks))
t0=time.time(); E = enc.encode(chunks); print('secs', time.time()-t0)
owner = np.array(owner)
V = np.zeros((len(texts), E.shape[1]), np.float32)
np.add.at(V, owner, E)
V /= np.linalg.norm(V, axis=1, keepdims=True)
np.save('/tmp/exp/V_chunk.npy', V)
