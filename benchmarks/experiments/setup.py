import numpy as np, pickle, sys
from similar.build import build_index
from similar.encoders import CachedEncoder, load_encoder
from similar.index import Index
from similar.bench.quality import read_judgments, read_topics
enc = CachedEncoder(load_encoder())
build_index(['/work/shared/data/trec2005-d2d/corpus.jsonl.gz'], '/tmp/exp/ix', model=enc, progress=False)
