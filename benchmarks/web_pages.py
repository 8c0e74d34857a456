"""Server time per web page (search, paper with its map, why, collection) on a 12k-paper index: p50 and p95 per page.

    PYTHONPATH=src python benchmarks/web_pages.py [--index DIR] [--rounds 40] [--out benchmarks/results]

Without --index it builds the index first, into a temporary folder: the 11,482 papers of
../shared/data/pubmed-sample plus the 604 citations of the 2016 MEDLINE update file (12,086 papers, with authors,
types and MeSH), embedded with the tests' FakeEncoder (hashed bag of words, 64 dimensions: the page's own work is
what is measured; a real model changes only a text query's encoding). Server time is the ASGI app's time from request
to the last body byte, in process (no socket), each page asked for a different paper each round, after one warm-up
round. The row "(ranking a text)" is the query layer's Index.similar_text alone on the same texts, in the same run: the
part of the text search that the JSON API pays too; "(explaining a list)" is explain.explain_list on another paper's
list of 10, what `?explain=true` costs the JSON API. (The sample's JSON records carry no year, so a year filter here
sends every list to live ranking: the filtered row uses exclude_retracted, which keeps the stored lists.)
Prints a table; writes web-pages.json only under --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from fixtures import FakeEncoder  # noqa: E402
from similar.bench.machine import cpu_info  # noqa: E402
from similar.build import build_index  # noqa: E402
from similar.explain import explain_list  # noqa: E402
from similar.index import Index  # noqa: E402
from similar.server.app import create_app  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
INPUTS = [DATA / "pubmed-sample" / "abstracts.jsonl.gz", DATA / "medline" / "medline16n0902.xml.gz"]
TARGET_MS = 20.0


class Timed:
    """ASGI wrapper: the app's time per request, from the call to the last body byte."""

    def __init__(self, app):
        self.app, self.last = app, 0.0

    async def __call__(self, scope, receive, send):
        started = time.perf_counter()
        await self.app(scope, receive, send)
        self.last = time.perf_counter() - started


def pages(index: Index, i: int) -> dict[str, str]:
    """One round's URLs: the papers are spread over the index, a different one each round."""
    step = len(index.pmids) // 97
    a, b, c = (str(index.pmids[(i * step + k * 31) % len(index.pmids)]) for k in range(3))
    title = index.paper(b).title
    return {
        "home": "/",
        "search-pmid": f"/search?q={a}",
        "search-text": "/search?" + __import__("urllib.parse").parse.urlencode({"q": title}),
        "search-filtered": f"/search?q={a}&exclude_retracted=on",
        "paper": f"/papers/{b}",
        "paper-why": f"/papers/{c}?why=1",
        "collection": f"/collection?positive={a},{b}&negative={c}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default=None, help="an index folder (default: build the 12k index into a temp dir)")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--out", default=None, help="a folder to write web-pages.json into")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.index) if args.index else Path(tmp) / "web12k"
        if not args.index:
            started = time.perf_counter()
            build_index([str(p) for p in INPUTS], folder, model=FakeEncoder(), progress=False)
            print(f"built {folder.name} in {time.perf_counter() - started:.0f} s")
        index = Index.open(folder, guard=True).with_encoder(FakeEncoder())
        from fastapi.testclient import TestClient

        app = create_app(folder, index=index)
        timed = Timed(app)
        client = TestClient(timed)
        times: dict[str, list[float]] = {}
        for i in range(args.rounds + 1):
            for name, url in pages(index, i).items():
                status = client.get(url).status_code
                if status != 200:
                    raise SystemExit(f"{name} {url} answered {status}")
                if i:  # round 0 warms up (facts, vocabulary, templates)
                    times.setdefault(name, []).append(timed.last * 1000)
            title = index.paper(str(index.pmids[(i * 53 + 7) % len(index.pmids)])).title  # another fresh text
            started = time.perf_counter()
            index.similar_text(title, n=10)  # the text search's ranking alone: what any face pays for it
            if i:
                times.setdefault("(ranking a text)", []).append((time.perf_counter() - started) * 1000)
            seed = str(index.pmids[(i * 59 + 11) % len(index.pmids)])  # another paper than the pages'
            started = time.perf_counter()
            explain_list(index, index.similar(seed, n=10))  # what "why" costs any face
            if i:
                times.setdefault("(explaining a list)", []).append((time.perf_counter() - started) * 1000)
    rows = {
        name: {
            "p50_ms": round(statistics.median(ms), 2),
            "p95_ms": round(sorted(ms)[max(0, int(len(ms) * 0.95) - 1)], 2),
            "n": len(ms),
        }
        for name, ms in times.items()
    }
    print(f"{len(index)} papers, {args.rounds} rounds; server time per page (ms), target p50 <= {TARGET_MS:.0f}")
    print(f"{'page':16} {'p50':>7} {'p95':>7}")
    for name, row in rows.items():
        print(f"{name:16} {row['p50_ms']:7.1f} {row['p95_ms']:7.1f}")
    if args.out:
        out = Path(args.out) / "web-pages.json"
        result = {
            "name": "web-pages",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": "python benchmarks/web_pages.py " + " ".join(sys.argv[1:]),
            "papers": len(index),
            "encoder": "FakeEncoder (tests/fixtures.py), 64 dimensions",
            "target_p50_ms": TARGET_MS,
            "cpu": cpu_info(),
            "pages": rows,
        }
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
