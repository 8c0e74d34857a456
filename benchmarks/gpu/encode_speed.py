"""GPU encoding rate of a model on a JSON-lines corpus: encode_speed.py MODEL CORPUS OUT.json."""
import gzip
import json
import sys
import time
from pathlib import Path

import torch

from similar.encoders import ModelSpec, SentenceTransformerEncoder

model, corpus, out = sys.argv[1], sys.argv[2], sys.argv[3]
texts = [f"{r['title']} {r['abstract']}".strip() for r in map(json.loads, gzip.open(corpus, "rt"))]
results = {"device": torch.cuda.get_device_name(0), "docs": len(texts), "torch": torch.__version__, "runs": []}
for precision in ("fp32", "fp16"):
    for batch in (128, 512):
        enc = SentenceTransformerEncoder(ModelSpec("all-MiniLM-L6-v2", Path(model), "torch"), device="cuda", batch_size=batch)
        if precision == "fp16":
            enc.model.half()
        enc.encode(texts[:2048])  # warm-up
        torch.cuda.synchronize()
        t = time.perf_counter()
        vecs = enc.encode(texts)
        torch.cuda.synchronize()
        secs = time.perf_counter() - t
        results["runs"].append({"precision": precision, "batch": batch, "seconds": round(secs, 2), "docs_per_s": round(len(texts) / secs, 1)})
        if precision == "fp32" and batch == 128:
            ref = vecs
        else:
            results["runs"][-1]["mean_cosine_to_fp32"] = float((ref * vecs).sum(1).mean())
        print(results["runs"][-1], flush=True)
json.dump(results, open(out, "w"), indent=1)
