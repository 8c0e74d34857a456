"""Dense-only nDCG@10 (full protocol) of models on the TREC dev judgments: eval_dense.py CORPUS JUDGMENTS OUTDIR MODEL...

Writes OUTDIR/eval.json and OUTDIR/vectors.npz: every model's corpus vectors but the first (the baseline), fp16, in
the corpus file's row order, for the hybrid check."""
import os
import gzip
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from similar.bench.metrics import ndcg_at_k
from similar.encoders import ModelSpec, SentenceTransformerEncoder

corpus, judgments, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
rows = [json.loads(line) for line in gzip.open(corpus, "rt")]
pmids = np.array([r["pmid"] for r in rows])
row_of = {p: i for i, p in enumerate(pmids)}
judged = defaultdict(dict)
for line in open(judgments):
    s, c, g = line.split()
    if s != c:
        judged[s][c] = int(g)
results, saved = {}, {"pmids": pmids}
for i, model in enumerate(sys.argv[4:]):
    enc = SentenceTransformerEncoder(ModelSpec(Path(model).name, Path(model), "torch"), device=os.environ.get("DEVICE", "cuda"), batch_size=256)
    vecs = enc.encode([f"{r['title']} {r['abstract']}".strip() for r in rows])
    sims = vecs @ vecs.T
    scores = []
    for seed, cands in judged.items():
        s = sims[row_of[seed]].copy()
        s[row_of[seed]] = -np.inf
        top = np.argsort(-s)[:10]
        scores.append(ndcg_at_k(pmids[top].tolist(), {c: g for c, g in cands.items() if c in row_of}, 10))
    results[Path(model).name] = float(np.mean(scores))
    if i:
        saved[Path(model).name] = vecs.astype(np.float16)
    print(Path(model).name, results[Path(model).name], flush=True)
np.savez_compressed(out / "vectors.npz", **saved)
json.dump(results, open(out / "eval.json", "w"), indent=1)
