"""`similar bench scale`: a realistic corpus of N papers built, updated, opened and queried; time, memory, disk, recall."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import escape

import numpy as np

from .. import methods as registry
from . import recall

DIM = 384  # all-MiniLM-L6-v2's width, so vectors weigh what real ones do
UPDATE = 30_000  # a daily MEDLINE update file's size
QUERIES = 200
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


# --- the corpus: real sentences, synthetic papers -----------------------------------------------------------


def read_sources(paths: Sequence[Path]) -> list[tuple[str, list[str]]]:
    """(title, sentences) of every real paper with an abstract in the source files."""
    out = []
    for path in paths:
        with gzip.open(path, "rt") as f:
            for line in f:
                r = json.loads(line)
                sentences = [s for s in _SENTENCE.split((r.get("abstract") or "").strip()) if s]
                if r.get("title") and sentences:
                    out.append((r["title"].strip(), sentences))
    return out


class Corpus:
    """Synthetic papers assembled from real ones: a base paper's title (some words from a second paper's) and most of
    its sentences, mixed with sentences of two other papers. Vocabulary, lengths and term statistics are real; PMIDs
    are synthetic (10,000,000 + i). Paper i is the same for a given seed whatever else is generated."""

    def __init__(self, sources: list[tuple[str, list[str]]], seed: int = 0):
        self.sources = sources
        self.seed = seed

    def paper(self, i: int, version: int = 0) -> dict:
        rng = np.random.default_rng([self.seed, i, version])
        n = len(self.sources)
        base, other, third = (self.sources[j] for j in rng.integers(0, n, 3))
        title_words, other_words = base[0].split(), other[0].split()
        swap = rng.random(len(title_words)) < 0.25
        title = " ".join(
            other_words[int(rng.integers(len(other_words)))] if s else w for w, s in zip(title_words, swap)
        )
        kept = [s for s in base[1] if rng.random() < 0.7] or base[1][:1]
        mixed = kept + [other[1][int(rng.integers(len(other[1])))], third[1][int(rng.integers(len(third[1])))]]
        order = np.argsort(np.arange(len(mixed)) + rng.normal(0, 1.5, len(mixed)))  # roughly the base's order
        return {
            "pmid": str(10_000_000 + i),
            "title": title,
            "abstract": " ".join(mixed[j] for j in order),
            "year": int(1990 + rng.integers(0, 36)),
        }

    def write_jsonl(self, path: Path, count: int, progress: bool = True) -> None:
        from tqdm.auto import tqdm

        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w") as f:
            for i in tqdm(range(count), desc="corpus", unit=" paper", disable=not progress, mininterval=2):
                f.write(json.dumps(self.paper(i)) + "\n")
        tmp.rename(path)

    def write_update(self, path: Path, base: int, count: int = UPDATE) -> dict:
        """A MEDLINE XML update file: 95% new papers, 4.7% revisions of indexed ones, 0.3% DeleteCitation."""
        rng = np.random.default_rng([self.seed, base, count])
        revised = rng.choice(base, int(count * 0.047), replace=False)
        deleted = np.setdiff1d(rng.choice(base, int(count * 0.003) * 2, replace=False), revised)[: int(count * 0.003)]
        new = count - len(revised) - len(deleted)
        papers = [self.paper(base + i) for i in range(new)] + [self.paper(int(r), version=1) for r in revised]
        tmp = path.with_name(path.name + ".tmp")
        with gzip.open(tmp, "wt") as f:
            f.write('<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n')
            for p in papers:
                f.write(
                    "<PubmedArticle><MedlineCitation><PMID>{}</PMID><Article><Journal><Title>Synthetic Journal</Title>"
                    "<JournalIssue><PubDate><Year>{}</Year></PubDate></JournalIssue></Journal>"
                    "<ArticleTitle>{}</ArticleTitle><Abstract><AbstractText>{}</AbstractText></Abstract></Article>"
                    "</MedlineCitation></PubmedArticle>\n".format(
                        p["pmid"], p["year"], escape(p["title"]), escape(p["abstract"])
                    )
                )
            f.write("<DeleteCitation>" + "".join(f"<PMID>{10_000_000 + int(d)}</PMID>" for d in deleted))
            f.write("</DeleteCitation>\n</PubmedArticleSet>\n")
        tmp.rename(path)
        return {"records": count, "new": new, "revised": len(revised), "deleted": len(deleted)}


class StandInEncoder:
    """A deterministic fast encoder standing in for the model at scale: each word (3+ letters) hashes to a fixed random
    direction, a text is the normalized sum of its words' directions. Texts that share words are close, as with the
    real model; it does not know synonyms. Its cost is tokenizing (~10k texts/s), not a transformer's."""

    name = "stand-in-hash-384"
    fingerprint = "standin384v2"
    dim = DIM
    BUCKETS = 1 << 16

    def __init__(self):
        from sklearn.feature_extraction.text import HashingVectorizer

        self.table = np.random.default_rng(12345).standard_normal((self.BUCKETS, DIM)).astype(np.float32)
        self.words = HashingVectorizer(
            n_features=self.BUCKETS,
            alternate_sign=False,
            norm=None,
            token_pattern=r"(?u)\b\w\w\w+\b",
            dtype=np.float32,
        )
        self.seconds = 0.0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        out = np.asarray(self.words.transform(texts) @ self.table, dtype=np.float32)
        out[:, 0] += 1e-6  # no zero vector for a text without a word of 3+ letters
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        self.seconds += time.perf_counter() - started
        return out


# --- measuring one stage in its own process -------------------------------------------------------------------


def memory() -> dict:
    """This process's resident memory now, its peak, and now split into private (anonymous) memory and pages of
    memory-mapped files (page cache the kernel can drop and share), in MB (Linux /proc; zeros elsewhere)."""
    keys = {"VmRSS": "rss_mb", "VmHWM": "peak_rss_mb", "RssAnon": "anon_mb", "RssFile": "file_mb"}
    out = dict.fromkeys(keys.values(), 0.0)
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in keys:
                out[keys[key]] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        pass
    return out


def _in_child(stage: str, **kwargs) -> dict:
    """Run one stage in a fresh interpreter, so that its peak memory is its own; returns what it printed last."""
    code = "import json,sys; from similar.bench import scale; print(json.dumps(scale.STAGES[sys.argv[1]](**json.loads(sys.argv[2]))))"
    done = subprocess.run(
        [sys.executable, "-c", code, stage, json.dumps(kwargs)], stdout=subprocess.PIPE, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"scale stage {stage} failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _disk_mb(folder: Path) -> float:
    return round(sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) / 2**20, 1)


def _timed_write(index: str, write) -> tuple[object, dict]:
    """Run a build or add with the stand-in encoder: its report, and wall time with encoding apart, sub-stages, disk
    and memory."""
    encoder = StandInEncoder()
    started = time.perf_counter()
    report = write(encoder)
    wall = time.perf_counter() - started
    return report, {
        "seconds": round(wall, 1),
        "encoding_seconds": round(encoder.seconds, 1),
        "seconds_excluding_encoding": round(wall - encoder.seconds, 1),
        "stages": report.stages,
        "disk_mb": _disk_mb(Path(index)),
        **memory(),
    }


def stage_build(corpus: str, index: str) -> dict:
    from ..build import build_index

    report, out = _timed_write(index, lambda encoder: build_index([corpus], index, model=encoder, progress=True))
    return {**out, "papers": report.kept}


def stage_update(update: str, index: str) -> dict:
    from ..update import add_to_index

    report, out = _timed_write(index, lambda encoder: add_to_index([update], index, encoder=encoder, progress=True))
    return {**out, "counts": report.counts(), "kept": report.kept, "lists_recomputed": report.lists_recomputed}


def _percentiles(ms: list[float]) -> dict:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def _timed_queries(run, items) -> dict:
    ms = []
    for item in items:
        t = time.perf_counter()
        run(item)
        ms.append((time.perf_counter() - t) * 1000)
    return {**_percentiles(ms), "queries": len(ms)}


def drop_from_page_cache(folder: Path) -> float:
    """Have the kernel forget the cached pages of an index's files (written back first), so that opening and the first
    queries read the disk as after a reboot: MB of files dropped. Only these files, no privilege needed."""
    total = 0
    for f in sorted(Path(folder).rglob("*")):
        if f.is_file() and hasattr(os, "posix_fadvise"):
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
            total += f.stat().st_size
    return round(total / 2**20, 1)


def stage_serve(index: str, queries: int = QUERIES, seed: int = 0, cold: bool = True) -> dict:
    """Open the index (with `cold`, its files dropped from the page cache first), query it by every method and query
    kind, and measure memory before any recall check."""
    from .. import checks
    from ..index import Index

    dropped = drop_from_page_cache(Path(index)) if cold else 0.0
    checks.SPENT.update({k: 0.0 for k in checks.SPENT})
    started = time.perf_counter()
    idx = Index.open(index)
    open_seconds = time.perf_counter() - started
    open_checks = checks.SPENT["open"]  # headers, sizes, pointer ends, row table values: part of open_seconds
    after_open = memory()
    encoder = StandInEncoder()
    started = time.perf_counter()
    idx = idx.with_encoder(encoder).warm()  # what a server does in the background after opening
    warm_seconds = time.perf_counter() - started
    checks.settle_all()  # the O(nnz) checks each array's first use would run: timed apart, queries below are steady
    rng = np.random.default_rng(seed)
    live = np.flatnonzero(idx.live)
    rows = rng.choice(live, min(queries, len(live)), replace=False)
    pmids = [str(idx.pmids[r]) for r in rows]
    texts = idx.abstracts(rows.tolist()) or {}
    titles = {r: idx.paper(idx.pmids[r]).title for r in rows.tolist()}
    text_idx = idx
    live_idx = idx.live_only()
    latency = {
        "hybrid, by PMID (stored list)": _timed_queries(lambda p: idx.similar(p, 10), pmids),
        "hybrid, by PMID (ranked live)": _timed_queries(lambda p: live_idx.similar(p, 10), pmids),
        "hybrid, title as text": _timed_queries(lambda r: text_idx.similar_text(titles[r], 10), rows.tolist()),
        "hybrid, title + abstract as text": _timed_queries(
            lambda r: text_idx.similar_text(texts.get(r, ""), 10, title=titles[r]), rows.tolist()
        ),
        "dense, by PMID": _timed_queries(lambda p: idx.similar(p, 10, method="dense"), pmids),
    }
    for method in registry.names(vectors=False):
        latency[f"{method}, by PMID"] = _timed_queries(lambda p: idx.similar(p, 10, method=method), pmids[:100])
    serving = memory()
    return {
        "page_cache_dropped_mb": dropped,
        "open_seconds": round(open_seconds, 3),
        "open_checks_seconds": round(open_checks, 3),
        "first_use_checks_seconds": round(checks.SPENT["first use"], 3),  # O(nnz) checks, once per array, in queries
        "warm_seconds": round(warm_seconds, 3),
        "rss_after_open_mb": after_open["rss_mb"],
        "serving_rss_mb": serving["rss_mb"],
        "serving_anon_mb": serving["anon_mb"],
        "serving_file_mb": serving["file_mb"],
        "serving_peak_rss_mb": serving["peak_rss_mb"],
        "latency": latency,
        "papers": len(idx),
    }


def stage_recall(index: str, queries: int = 100, seed: int = 1, lexical_queries: int = 50) -> dict:
    """Approximate search against exact scoring on the same index: dense (HNSW vs brute force) and lexical (pruned
    postings vs every paper scored), recall@10 over sampled papers."""
    from ..index import Index
    from ..ranking import Query

    idx = Index.open(index)
    ranker = idx.ranker
    rng = np.random.default_rng(seed)
    rows = rng.choice(np.flatnonzero(idx.live), queries, replace=False)
    out = {}
    if ranker.dense is not None:
        everything = ranker.dense.vectors(np.arange(ranker.dense.count))
        hits = []
        for r in rows:
            exact = everything @ everything[r]
            exact[~idx.live] = -np.inf
            exact[r] = -np.inf
            truth = set(np.argpartition(-exact, 10)[:10].tolist())
            _, got = ranker.search("dense", Query(row=int(r)), 10)
            hits.append(len(truth & set(got.tolist())) / 10)
        out["dense"] = {"recall@10": round(float(np.mean(hits)), 4), "index": ranker.dense.kind, "queries": len(rows)}
        del everything
    for method in registry.lexical():  # the pruned path at any size: what it would lose against exact scoring
        found = recall.pruned_recall(ranker.lexical, method, rows[:lexical_queries], 10)
        out[method] = {"recall@10": round(found, 4), "queries": lexical_queries, "path": "postings, pruned"}
    return out


def stage_lists(index: str, queries: int = 1000, seed: int = 2) -> dict:
    """Stored lists after an update against the lists a full rebuild would store (the same ranking, live)."""
    from ..index import Index
    from ..ranking import Query

    idx = Index.open(index)
    rng = np.random.default_rng(seed)
    rows = rng.choice(np.flatnonzero(idx.live), min(queries, len(idx)), replace=False)
    same, overlap, overlap100 = 0, [], []
    for r in rows:
        stored = idx.stored_list(int(r), "hybrid")
        if stored is None:
            return {"error": "no current stored lists"}
        kept = [x for x in stored[1].tolist() if x >= 0]
        _, live = idx.ranker.search("hybrid", Query(row=int(r)), len(kept) or 10)
        same += kept[:10] == live[:10].tolist()
        overlap.append(len(set(kept[:10]) & set(live[:10].tolist())) / 10)
        overlap100.append(len(set(kept) & set(live.tolist())) / max(len(kept), 1))
    return {
        "papers_checked": len(rows),
        "same_top10": round(same / len(rows), 4),
        "mean_top10_overlap": round(float(np.mean(overlap)), 4),
        "mean_top100_overlap": round(float(np.mean(overlap100)), 4),
    }


STAGES = {
    "build": stage_build,
    "update": stage_update,
    "serve": stage_serve,
    "recall": stage_recall,
    "lists": stage_lists,
    "hnsw": recall.stage_hnsw,
}


# --- the whole run -----------------------------------------------------------------------------------------------


def run_scale(
    papers: int,
    sources: Sequence[Path],
    work: Path,
    update: int = UPDATE,
    queries: int = QUERIES,
    keep: bool = False,
    daily: int = 0,
) -> dict:
    """Corpus -> build -> open and query -> recall -> update -> lists check -> open and query again; with `daily`, a
    second, daily-sized update and its lists check."""
    import shutil

    from .machine import cpu_info

    work.mkdir(parents=True, exist_ok=True)
    corpus_file, update_file = work / f"corpus-{papers}.jsonl", work / f"update-{papers}-{update}.xml.gz"
    gen = Corpus(read_sources(sources))
    started = time.perf_counter()
    if not corpus_file.exists():
        gen.write_jsonl(corpus_file, papers)
    update_info = (
        json.loads(update_file.with_suffix(".json").read_text()) if update_file.with_suffix(".json").exists() else None
    )
    if update_info is None or not update_file.exists():
        update_info = gen.write_update(update_file, papers, update)
        update_file.with_suffix(".json").write_text(json.dumps(update_info))
    corpus_seconds = time.perf_counter() - started
    index = work / f"index-{papers}"
    shutil.rmtree(index, ignore_errors=True)
    from .. import store

    result: dict = {
        "command": f"similar bench scale --papers {papers} --update {update}" + (f" --daily {daily}" if daily else ""),
        "date": store.now_iso(),
        "versions": store.library_versions(),
        "cpu": cpu_info(),
        "papers": papers,
        "sources": [str(s) for s in sources],
        "source_papers": len(gen.sources),
        "encoder": f"{StandInEncoder.name} (stand-in: hashed word directions, {DIM} dims)",
        "corpus_seconds": round(corpus_seconds, 1),
        "update_file": update_info,
    }
    print(f"build: {papers:,} papers", file=sys.stderr)
    result["build"] = _in_child("build", corpus=str(corpus_file), index=str(index))
    print("serve", file=sys.stderr)
    result["serve"] = _in_child("serve", index=str(index), queries=queries)
    print("recall", file=sys.stderr)
    result["recall"] = _in_child("recall", index=str(index))
    print("HNSW settings", file=sys.stderr)
    result["hnsw_settings"] = _in_child("hnsw", index=str(index))
    print(f"update: {update:,} records", file=sys.stderr)
    result["update"] = _in_child("update", update=str(update_file), index=str(index))
    print("lists after the update", file=sys.stderr)
    result["lists_after_update"] = _in_child("lists", index=str(index))
    result["serve_after_update"] = _in_child("serve", index=str(index), queries=queries)
    if daily:
        daily_file = work / f"daily-{papers}-{update}-{daily}.xml.gz"
        result["daily_file"] = gen.write_update(daily_file, papers + update, daily)  # PMIDs after the first update's
        print(f"daily update: {daily:,} records", file=sys.stderr)
        result["daily"] = _in_child("update", update=str(daily_file), index=str(index))
        print("lists after the daily update", file=sys.stderr)
        result["lists_after_daily"] = _in_child("lists", index=str(index))
    if not keep:
        shutil.rmtree(index, ignore_errors=True)
    return result


def _update_limit(r: dict) -> float:
    """Issue #22: a daily-sized file (up to 4,000 records) in 60 s, 30,000 records in 5 minutes (excluding encoding)."""
    return 60.0 if r["update_file"]["records"] <= 4000 else 300.0


TARGETS = (  # (label, value getter, limit (a number, or a function of the results), unit): issue #22's, at 1M papers
    ("build, excluding encoding", lambda r: r["build"]["seconds_excluding_encoding"] / 60, 20, "min"),
    (
        "stored lists, per paper (wall)",
        lambda r: r["build"]["stages"]["stored lists"] / r["build"]["papers"] * 1000,
        0.5,
        "ms",
    ),
    ("build, peak RSS", lambda r: r["build"]["peak_rss_mb"] / 1024, 6, "GB"),
    ("open", lambda r: r["serve"]["open_seconds"], 0.5, "s"),
    ("serving RSS", lambda r: r["serve"]["serving_rss_mb"] / 1024, 2, "GB"),
    ("by PMID (stored list), p99", lambda r: r["serve"]["latency"]["hybrid, by PMID (stored list)"]["p99_ms"], 2, "ms"),
    (
        "live hybrid, p99 (worst kind)",
        lambda r: max(
            v["p99_ms"] for k, v in r["serve"]["latency"].items() if k.startswith("hybrid") and "stored" not in k
        ),
        20,
        "ms",
    ),
    (
        "lexical by PMID, p99 (worst method)",
        lambda r: max(
            v["p99_ms"] for m, v in r["serve"]["latency"].items() if m.split(",")[0] in registry.names(vectors=False)
        ),
        100,
        "ms",
    ),
    ("update (--update), excluding encoding", lambda r: r["update"]["seconds_excluding_encoding"], _update_limit, "s"),
    ("daily update (--daily), excluding encoding", lambda r: r["daily"]["seconds_excluding_encoding"], 60, "s"),
)


def scale_markdown(r: dict) -> str:
    cpu = r["cpu"]
    lines = [
        f"# Scale: {r['papers']:,} papers",
        "",
        f"Command: `{r['command']}`. CPU: {cpu['model']} ({cpu['isa']}, {cpu['cores']} cores). "
        f"Corpus: synthetic papers assembled from the sentences of {r['source_papers']:,} real abstracts "
        f"({', '.join(Path(s).parent.name for s in r['sources'])}); encoder: {r['encoder']}, so encoding time is not "
        "the real model's (see the encode rows of speed.md).",
        "",
        "| target | measured | limit | met |",
        "|---|---|---|---|",
    ]
    for label, get, limit_of, unit in TARGETS:
        try:
            value = get(r)
            limit = limit_of(r) if callable(limit_of) else limit_of
        except (KeyError, TypeError, ValueError):
            limit = limit_of if not callable(limit_of) else "-"
            lines.append(f"| {label} | n/a | {limit} {unit} | - |")
            continue
        lines.append(f"| {label} | {value:.3g} {unit} | {limit:g} {unit} | {'yes' if value <= limit else '**no**'} |")
    b, u = r["build"], r["update"]
    lines += [
        "",
        "| stage | wall | peak RSS | disk |",
        "|---|---|---|---|",
        f"| build ({b['papers']:,} papers) | {b['seconds']:.0f} s (encoding {b['encoding_seconds']:.0f} s) | "
        f"{b['peak_rss_mb'] / 1024:.2f} GB | {b['disk_mb'] / 1024:.2f} GB |",
        *(f"| &nbsp; build: {k} | {v:.1f} s | | |" for k, v in (b.get("stages") or {}).items()),
        f"| update ({r['update_file']['new']:,} new, {r['update_file']['revised']:,} revised, "
        f"{r['update_file']['deleted']:,} deleted) | {u['seconds']:.0f} s (encoding {u['encoding_seconds']:.0f} s) | "
        f"{u['peak_rss_mb'] / 1024:.2f} GB | {u['disk_mb'] / 1024:.2f} GB |",
        *(f"| &nbsp; update: {k} | {v:.1f} s | | |" for k, v in (u.get("stages") or {}).items()),
        "",
        f"Open{' with a cold page cache (the index files dropped from it first)' if r['serve'].get('page_cache_dropped_mb') else ''}: "
        f"{r['serve']['open_seconds']} s ({r['serve'].get('open_checks_seconds', '-')} s of it structural checks "
        f"of every file; {r['serve'].get('first_use_checks_seconds', '-')} s more the first query of each method "
        f"pays once, checking the arrays it reads: checks.py), then {r['serve'].get('warm_seconds', '-')} s warming: the stored lists and the "
        f"papers' metadata read once, the vocabulary loaded (a server does it in the background); RSS after open {r['serve']['rss_after_open_mb']:.0f} MB, "
        f"after the queries below {r['serve']['serving_rss_mb']:.0f} MB "
        f"({r['serve'].get('serving_anon_mb', 0):.0f} MB private, {r['serve'].get('serving_file_mb', 0):.0f} MB pages of "
        "memory-mapped index files).",
        "",
        "| query (one thread) | p50 ms | p99 ms | after the update: p50 | p99 |",
        "|---|---|---|---|---|",
    ]
    after = r.get("serve_after_update", {}).get("latency", {})
    for kind, v in r["serve"]["latency"].items():
        a = after.get(kind, {})
        lines.append(f"| {kind} | {v['p50_ms']} | {v['p99_ms']} | {a.get('p50_ms', '-')} | {a.get('p99_ms', '-')} |")
    lines += ["", "| recall@10 against exact scoring | value |", "|---|---|"]
    for method, v in r["recall"].items():
        lines.append(f"| {method}{' (' + v['index'] + ')' if 'index' in v else ''} | {v['recall@10']} |")
    if r.get("recall_note"):
        lines += ["", f"Note: {r['recall_note']}."]
    lines += recall.hnsw_markdown(r.get("hnsw_settings") or {})
    lists = r.get("lists_after_update", {})
    if "same_top10" in lists:
        lines += [
            "",
            f"Stored lists after the update against a full re-ranking of {lists['papers_checked']:,} sampled papers: "
            f"same top 10 for {lists['same_top10']:.1%}, mean top-10 overlap {lists['mean_top10_overlap']:.3f}"
            f", mean top-100 overlap {lists.get('mean_top100_overlap', '-')}.",
        ]
    if "daily" in r:
        d, after = r["daily"], r.get("lists_after_daily", {})
        lines += [
            "",
            f"Daily update ({r['daily_file']['new']:,} new, {r['daily_file']['revised']:,} revised, "
            f"{r['daily_file']['deleted']:,} deleted): {d['seconds']:.1f} s ({d['seconds_excluding_encoding']:.1f} s "
            f"excluding encoding; stored lists {(d.get('stages') or {}).get('stored lists', '-')} s), "
            f"{d['lists_recomputed']:,} lists recomputed; then against a full re-ranking of "
            f"{after.get('papers_checked', 0):,} sampled papers: same top 10 for {after.get('same_top10', 0):.1%}, "
            f"mean top-100 overlap {after.get('mean_top100_overlap', '-')}.",
        ]
    lines += pubmed_arithmetic(r)
    return "\n".join(lines) + "\n"


PUBMED = 36_000_000  # records in PubMed, and the size of a daily update file, for the arithmetic below
DAILY = 30_000


def pubmed_arithmetic(r: dict) -> list[str]:
    """What the measured per-paper costs mean for all of PubMed on one such machine: arithmetic, not measurement."""
    b, u, n = r["build"], r["update"], r["papers"]
    scale = PUBMED / n
    lines = [
        "",
        f"## What it means for all of PubMed ({PUBMED / 1e6:.0f} M papers): arithmetic from the figures above",
        "",
        "| quantity | per paper, measured | all of PubMed, one such machine |",
        "|---|---|---|",
        f"| index on disk | {b['disk_mb'] * 2**20 / n:,.0f} B | {b['disk_mb'] * scale / 1024:,.0f} GB |",
        f"| build, excluding encoding | {b['seconds_excluding_encoding'] / n * 1000:.2f} ms | "
        f"{b['seconds_excluding_encoding'] * scale / 3600:,.1f} h |",
    ]
    lists_s = (u.get("stages") or {}).get("stored lists")
    made, live = u.get("lists_recomputed"), n + r["update_file"]["new"]
    if lists_s and made:
        per_list = lists_s / made
        # a new paper enters c pools on average: the recomputed share is 1 - exp(-c * new / N)
        share = min(made / live, 0.999999)
        c = -np.log(1 - share) * live / max(r["update_file"]["new"], 1)
        pubmed_share = 1 - np.exp(-c * DAILY / PUBMED)
        lines += [
            f"| a stored list recomputed by `add` | {per_list * 1000:.2f} ms (2 cores) | |",
            f"| lists a {DAILY:,}-paper update recomputes | {share:.1%} here (each new paper enters {c:.0f} pools) | "
            f"{pubmed_share:.1%}: {pubmed_share * PUBMED * per_list / 60:,.0f} min |",
        ]
    return lines


def write_results(result: dict, out_dir: Path, name: str = "scale") -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / f"{name}.json", out_dir / f"{name}.md"
    js.write_text(json.dumps(result, indent=2) + "\n")
    md.write_text(scale_markdown(result))
    return js, md


def default_work() -> Path:
    from .. import paths

    return Path(os.environ.get("SIMILAR_SCALE_WORK") or paths.home() / "scale")
