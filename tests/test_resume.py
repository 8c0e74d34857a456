"""A build killed with SIGKILL mid-way resumes, re-embeds no finished shard, and ends with the same index."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from fixtures import FakeEncoder, make_corpus, write_jsonl
from similar.build import build_index

SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
from fixtures import FakeEncoder
from similar.build import build_index

class Slow(FakeEncoder):
    def encode(self, texts):
        time.sleep(0.4)
        return super().encode(texts)

build_index([{corpus!r}], {dest!r}, model=Slow(), progress=False, shard_rows=10)
"""


def test_killed_build_resumes_to_the_same_index(tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", make_corpus(95))
    dest = tmp_path / "index" / "killed"
    script = SCRIPT.format(tests=str(Path(__file__).parent), corpus=str(corpus), dest=str(dest))
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    shards = tmp_path / "index" / ".killed.work" / "shards"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(shards.glob("shard-*.npy"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(shards.glob("shard-*.npy")))
    assert 3 <= finished < 10, "the kill must land mid-build"
    assert not dest.exists()  # no half index is ever published

    encoder = FakeEncoder()
    report = build_index([corpus], dest, model=encoder, progress=False, shard_rows=10)
    assert report.resumed_rows == finished * 10
    assert encoder.encoded == 95 - finished * 10  # nothing finished was embedded again

    clean = tmp_path / "index" / "clean"
    build_index([corpus], clean, model=FakeEncoder(), progress=False, shard_rows=10)
    assert (dest / "rows.txt").read_text() == (clean / "rows.txt").read_text()
    a = faiss.read_index(str(dest / "vectors.faiss"))
    b = faiss.read_index(str(clean / "vectors.faiss"))
    np.testing.assert_array_equal(a.reconstruct_n(0, a.ntotal), b.reconstruct_n(0, b.ntotal))
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (dest, clean))
    for key in ("count", "records", "dense", "model", "lexical"):
        assert ma[key] == mb[key]
    assert not (tmp_path / "index" / ".killed.work").exists()
