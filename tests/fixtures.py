"""Test helpers the tests import: a deterministic fake encoder, tiny corpora written by the tests, paths to
../shared data. (Pytest fixtures live in conftest.py and use these.)"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TREC = SHARED / "trec2005-d2d"
MEDLINE = SHARED / "medline"


class FakeEncoder:
    """Hashes words into a fixed-size bag-of-words vector: deterministic, instant, similar texts score high."""

    name = "fake-hash"
    fingerprint = "fake0001"

    def __init__(self, dim: int = 64):
        self.dim = dim
        self.calls = 0
        self.encoded = 0

    def encode(self, texts):
        self.calls += 1
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        out[:, 0] += 1e-3  # no zero vectors
        return out / np.linalg.norm(out, axis=1, keepdims=True)


TOPICS = {
    "heart": "cardiac heart failure myocardial infarction ventricular ejection",
    "brain": "neuron cortex synaptic plasticity hippocampus memory",
    "gene": "gene expression transcription promoter mrna regulation",
    "virus": "viral infection hiv replication antiviral immune",
}


def make_corpus(n: int = 40) -> list[dict]:
    """n small papers over four topics; papers of a topic share vocabulary."""
    rows = []
    names = list(TOPICS)
    for i in range(n):
        topic = names[i % len(names)]
        words = TOPICS[topic].split()
        rot = words[i % len(words) :] + words[: i % len(words)]
        rows.append(
            {
                "pmid": str(1000 + i),
                "title": f"Study {i} of {' '.join(rot[:3])}",
                "abstract": f"We report {' '.join(rot)} findings number {i} in {topic} research.",
                "year": 1990 + i % 20,
                "journal": f"Journal of {topic.title()}",
            }
        )
    return rows


def write_jsonl(path: Path, rows) -> Path:
    with open(path, "w") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


HOSTILE = "1004"
HOSTILE_TITLE = 'Study <script>alert("x")</script> of \'cardiac\' "heart" failure & ventricular ejection'
HOSTILE_AUTHOR = '<img src=x onerror=alert(1)> "Quote" O\'Brien'


def web_corpus() -> list[dict]:
    """make_corpus with what the web pages show: authors, a DOI, types, a retracted paper, and a hostile record."""
    rows = make_corpus()
    rows[0].update(
        authors=["Smith J", "Lee K"],
        doi="10.1234/heart.2001",
        publication_types=["Journal Article", "Review"],
        language="eng",
    )
    rows[4].update(title=HOSTILE_TITLE, authors=[HOSTILE_AUTHOR, "Doe A"])
    rows[8].update(publication_types=["Journal Article", "Retracted Publication"])
    return rows
