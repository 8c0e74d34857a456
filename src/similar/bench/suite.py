"""`similar bench quality --suite`: every dev benchmark (papers by PMID, text queries, re-rank) in one table."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import yaml
from tqdm.auto import tqdm

from .. import store
from ..build import build_index
from ..encoders import CachedEncoder, ModelUnavailable, describe, load_encoder
from ..errors import SimilarError
from ..fields import document_ids
from ..index import Index
from . import reuse
from .metrics import all_metrics
from .quality import means, paired_against, per_topic, read_judgments, read_topics

# how each kind of benchmark asks its questions
KINDS = {
    "pmid": "each seed paper queried by its PMID; retrieve from the whole corpus (seed excluded)",
    "title": "each seed paper's title alone queried as text; retrieve from the whole corpus (seed excluded)",
    "abstract": "each seed paper's title and abstract pasted as one text query; retrieve from the whole corpus (seed excluded)",
    "text": "each claim queried as text; retrieve from the whole corpus",
    "rerank": "each seed paper's judged candidates ordered by the method (re-rank protocol)",
}
DEPTH = 100  # ranked list depth for the full-protocol metrics


def _ids(entry: dict) -> str:
    ids = entry.get("ids", "pmid")
    if ids not in ("pmid", "document"):
        raise SimilarError(f"benchmark {entry.get('name')!r}: ids must be pmid or document, got {ids!r}")
    return ids


@dataclass(frozen=True)
class Benchmark:
    """One entry of the suite: which corpus, which judgments, how queries are asked, and the expected figures."""

    name: str
    kind: str
    corpus: Path
    judgments: Path
    queries: Path | None = None
    topics: Path | None = None
    note: str = ""
    expected: dict = field(default_factory=dict)  # {method: {metric: value}}
    ids: str = "pmid"  # "document": the corpus numbers its papers with document ids that need not be PMIDs

    @classmethod
    def from_dict(cls, entry: dict, base: Path) -> "Benchmark":
        kind = entry.get("kind", "pmid")
        if kind not in KINDS:
            raise SimilarError(f"benchmark {entry.get('name')!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}")

        def path(key: str) -> Path | None:
            value = entry.get(key)
            return None if value is None else (base / value if not Path(value).is_absolute() else Path(value))

        return cls(
            name=entry["name"],
            kind=kind,
            corpus=path("corpus"),
            judgments=path("judgments"),
            queries=path("queries"),
            topics=path("topics"),
            note=entry.get("note", ""),
            expected=entry.get("expected") or {},
            ids=_ids(entry),
        )


@dataclass(frozen=True)
class Case:
    """One question: a seed PMID or a text, the judged papers, and a PMID that may not be counted (the seed)."""

    key: str
    judged: dict
    pmid: str | None = None
    text: str | None = None
    skip: str | None = None


def load_suite(path: str | Path) -> tuple[list[Benchmark], dict]:
    """The `suite:` list of a benchmark YAML file; paths are relative to the folder the command runs in."""
    path = Path(path)
    if not path.is_file():
        raise SimilarError(f"no benchmark list at {path.resolve()}")
    spec = yaml.safe_load(path.read_text()) or {}
    if not spec.get("suite"):
        raise SimilarError(f"{path}: no `suite:` list of benchmarks")
    return [Benchmark.from_dict(e, Path(".")) for e in spec["suite"]], spec


def read_text_queries(queries: Path, qrels: Path) -> dict[str, tuple[str, dict[str, int]]]:
    """Claims as JSON lines {"id", "claim"} (or {"id", "text"}) and a qrels TSV with a header (query, doc, label)."""
    for p in (queries, qrels):
        if p is None or not p.is_file():
            raise SimilarError(f"text-query benchmark file not found: {p}")
    judged: dict[str, dict[str, int]] = defaultdict(dict)
    with open(qrels, newline="") as f:
        rows = csv.reader(f, delimiter="\t")
        next(rows, None)
        for number, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) < 2:
                raise SimilarError(f"{qrels.name}:{number}: expected 'query<TAB>doc[<TAB>label]', got {row!r}")
            judged[row[0].strip()][row[1].strip()] = 1  # binary relevance: any listed label means relevant
    out = {}
    with open(queries) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                key, text = str(item["id"]), item.get("claim") or item["text"]
            except (ValueError, KeyError, TypeError) as exc:
                raise SimilarError(f'{queries.name}:{number}: expected {{"id", "claim"}} JSON ({exc})') from exc
            out[key] = (text, dict(judged.get(key, {})))
    return out


def cases(index: Index, bench: Benchmark) -> tuple[list[Case], dict]:
    """The benchmark's questions that this index can answer, and counts of what was left out and why."""
    counts = {"queries": 0, "without_text": 0, "without_judged_papers": 0}
    out: list[Case] = []
    if bench.kind == "text":
        for key, (text, judged) in read_text_queries(bench.queries, bench.judgments).items():
            counts["queries"] += 1
            present = {p: g for p, g in judged.items() if p in index}
            if not present:
                counts["without_judged_papers"] += 1
                continue
            out.append(Case(key=key, judged=present, text=text))
        return out, counts
    for seed, judged in read_judgments(bench.judgments).items():
        counts["queries"] += 1
        if seed not in index:
            counts["without_text"] += 1
            continue
        present = {p: g for p, g in judged.items() if p != seed and p in index}
        if not present:
            counts["without_judged_papers"] += 1
            continue
        if bench.kind == "title":
            out.append(Case(key=seed, judged=present, text=index.paper(seed).title, skip=seed))
        elif bench.kind == "abstract":
            abstract = (index.abstracts([index.row(seed)]) or {}).get(index.row(seed), "")
            out.append(Case(key=seed, judged=present, text=f"{index.paper(seed).title} {abstract}".strip(), skip=seed))
        else:
            out.append(Case(key=seed, judged=present, pmid=seed))
    return out, counts


def ranked(index: Index, bench: Benchmark, case: Case, method: str) -> list[str]:
    """The method's answer to one question, through the public Index API as a user gets it."""
    if bench.kind == "rerank":
        return index.rank_candidates(case.pmid, list(case.judged), method=method)
    if case.pmid is not None:
        return [n.pmid for n in index.similar(case.pmid, n=DEPTH, method=method, versions=False).neighbors]
    found = [n.pmid for n in index.similar_text(case.text, n=DEPTH + 1, method=method, versions=False).neighbors]
    return [p for p in found if p != case.skip][:DEPTH]


def evaluate(index: Index, bench: Benchmark, methods: Sequence[str], progress: bool = False) -> dict:
    """Per-question metrics for each method, and ms per question (a bar per method with progress)."""
    questions, counts = cases(index, bench)
    counts["evaluated"] = len(questions)
    per_query: dict[str, dict[str, dict]] = {}
    ms: dict[str, float] = {}
    for method in methods:
        started = time.perf_counter()
        bar = tqdm(questions, desc=f"{bench.name} {method}", unit=" query", disable=not progress, leave=False)
        per_query[method] = {
            c.key: all_metrics(ranked(index, bench, c, method), c.judged, full=bench.kind != "rerank") for c in bar
        }
        ms[method] = round((time.perf_counter() - started) / max(len(questions), 1) * 1000, 3)
    return {"coverage": counts, "per_query": per_query, "ms_per_query": ms}


def summarize(result: dict, default: str, topics: dict[str, str]) -> dict:
    """Means with 95% bootstrap intervals, the default's paired differences, and per-topic means where known."""
    per_query = result["per_query"]
    return {
        "summary": means(per_query),
        "paired_ndcg@10": paired_against(per_query, default),
        "per_topic_ndcg@10": per_topic(per_query, topics),
    }


def indexes(
    benchmarks: Sequence[Benchmark],
    encoder,
    folder: Path,
    progress: bool,
    echo: Callable[[str], None] = lambda s: None,
) -> Iterator[tuple[Index, list[Benchmark]]]:
    """One index per corpus (built in `folder`), with the benchmarks that use it. First, for every corpus: vectors of
    an index built from the same file by the same model are copied into the embedding cache (reuse.py), and what is
    left to embed is said with an estimate; each build then embeds only what no cache holds."""
    by_corpus: dict[Path, list[Benchmark]] = defaultdict(list)
    for bench in benchmarks:
        by_corpus[bench.corpus].append(bench)
    for corpus in by_corpus:
        if not corpus.is_file():
            raise SimilarError(f"corpus not found: {corpus.resolve()}")
    echo(f"reading {len(by_corpus)} corpus files and looking for vectors already made ...")
    reuse.estimate([reuse.plan(corpus, encoder) for corpus in by_corpus], encoder, echo)
    for i, (corpus, group) in enumerate(by_corpus.items()):
        dest = Path(folder) / f"index-{i}"
        echo(
            f"building the index of {corpus.name} ({i + 1} of {len(by_corpus)}) for {', '.join(b.name for b in group)}"
        )
        ids = document_ids() if any(b.ids == "document" for b in group) else contextlib.nullcontext()
        with ids:
            build_index([corpus], dest, model=encoder, method="auto" if encoder else "tfidf", progress=progress)
        index = Index.open(dest, encoder=encoder)
        try:
            yield index, group
        finally:
            index.close()


def suite_encoder(model, echo: Callable[[str], None]):
    """The dense model with the on-disk embedding cache, or None (lexical methods only) with a note; an Encoder object
    is used as it is (tests pass a deterministic one)."""
    if model is not None and not isinstance(model, str):
        return model
    try:
        return CachedEncoder(load_encoder(model))
    except ModelUnavailable as exc:
        echo(f"note: no dense methods ({exc})")
        return None


def run_suite(
    benchmarks: Sequence[Benchmark],
    out_dir: str | Path,
    name: str = "suite",
    model: str | None = None,
    methods: Sequence[str] | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = lambda s: None,
) -> dict:
    """Build one index per corpus (embeddings cached), answer every benchmark with every method, write JSON + markdown."""
    started = time.time()
    encoder = suite_encoder(model, echo)
    results: dict = {
        "name": name,
        "command": " ".join(["similar"] + sys.argv[1:]) if Path(sys.argv[0]).name == "similar" else None,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model": describe(encoder) if encoder else None,
        "versions": store.library_versions(),
        "benchmarks": {},
    }
    with tempfile.TemporaryDirectory(prefix="similar-suite-") as tmp:
        for index, group in indexes(benchmarks, encoder, Path(tmp), progress, echo):
            wanted = [m for m in (methods or index.methods) if m in index.methods]
            for bench in group:
                echo(f"{bench.name}: {KINDS[bench.kind]}")
                result = evaluate(index, bench, wanted, progress)
                results["benchmarks"][bench.name] = {
                    "kind": bench.kind,
                    "note": bench.note,
                    "data": {
                        "corpus": {"path": str(bench.corpus), "sha256": store.file_sha256(bench.corpus)},
                        "judgments": {"path": str(bench.judgments), "sha256": store.file_sha256(bench.judgments)},
                        **(
                            {"queries": {"path": str(bench.queries), "sha256": store.file_sha256(bench.queries)}}
                            if bench.queries
                            else {}
                        ),
                    },
                    "default": index.default_method,
                    "coverage": result["coverage"],
                    "ms_per_query": result["ms_per_query"],
                    **summarize(result, index.default_method, read_topics(bench.topics)),
                }
    results["seconds"] = round(time.time() - started, 1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / f"{name}.md").write_text(suite_markdown(results))
    return results


def _cell(entry: dict | None) -> str:
    if not entry:
        return "-"
    return f"{entry['mean']:.3f} [{entry['ci'][0]:.3f}, {entry['ci'][1]:.3f}]"


def suite_markdown(results: dict) -> str:
    """One table (methods x benchmarks, nDCG@10 with 95% intervals), the default's paired differences, coverage."""
    benches = results["benchmarks"]
    names = list(benches)
    methods = list(dict.fromkeys(m for b in benches.values() for m in b["summary"]))
    default = next((b["default"] for b in benches.values()), "")
    model = results.get("model") or {}
    lines = [f"# Quality suite: {results['name']}", ""]
    if results.get("command"):
        lines += [f"Command: `{results['command']}`", ""]
    lines += [
        f"Date {results['date']}; model {model.get('name', 'none')} ({model.get('fingerprint', '-')}); "
        f"{results['seconds']} s. nDCG@10 with 95% bootstrap intervals over queries; default method **{default}**.",
        "",
        "| method | " + " | ".join(names) + " | worst margin |",
        "|---" * (len(names) + 2) + "|",
    ]
    for method in methods:
        cells = [_cell(benches[n]["summary"].get(method, {}).get("ndcg@10")) for n in names]
        lines.append(
            f"| {'**' + method + '**' if method == default else method} | "
            + " | ".join(cells)
            + f" | {_worst_margin(benches, method):+.3f} |"
        )
    lines += [
        "",
        "Worst margin: over the benchmarks, the lowest of (this method's nDCG@10 minus the best other "
        "method's). A default that is never beaten has a margin >= 0.",
        "",
        f"Paired nDCG@10 difference, {default} minus each method (95% bootstrap interval over the same queries):",
        "",
        "| benchmark | " + " | ".join(f"vs {m}" for m in methods if m != default) + " |",
        "|---" * (len(methods)) + "|",
    ]
    for n in names:
        paired = benches[n]["paired_ndcg@10"]
        cells = []
        for m in methods:
            if m == default:
                continue
            d = paired.get(m)
            cells.append(
                "-"
                if d is None
                else f"{d['diff']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]{' *' if d['significant'] else ''}"
            )
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "`*`: the interval excludes zero.",
        "",
        "| benchmark | kind | queries evaluated | left out | ms/query " f"({default}) | note |",
        "|---|---|---|---|---|---|",
    ]
    for n in names:
        b = benches[n]
        cov = b["coverage"]
        left = f"{cov['without_text'] if 'without_text' in cov else 0} without text, {cov['without_judged_papers']} without judged papers"
        lines.append(
            f"| {n} | {b['kind']}: {KINDS[b['kind']]} | {cov['evaluated']} of {cov['queries']} | {left} | "
            f"{b['ms_per_query'].get(default, '-')} | {b.get('note', '')} |"
        )
    return "\n".join(lines) + "\n"


def _worst_margin(benches: dict, method: str) -> float:
    margins = []
    for b in benches.values():
        table = b["summary"]
        if method not in table:
            continue
        others = [v["ndcg@10"]["mean"] for m, v in table.items() if m != method]
        if others:
            margins.append(table[method]["ndcg@10"]["mean"] - max(others))
    return min(margins) if margins else float("nan")


def check_suite(results: dict, benchmarks: Sequence[Benchmark], tolerance: float, echo: Callable[[str], None]) -> bool:
    """OK / FAIL per expected figure; True when every figure is within the tolerance."""
    all_ok = True
    for bench in benchmarks:
        table = results["benchmarks"].get(bench.name, {}).get("summary", {})
        for method, metrics in bench.expected.items():
            for metric, expected in metrics.items():
                got = table.get(method, {}).get(metric, {}).get("mean")
                ok = got is not None and abs(got - expected) <= tolerance
                all_ok &= ok
                shown = "missing" if got is None else f"{got:.4f}"
                echo(
                    f"{'OK  ' if ok else 'FAIL'} {bench.name} {method} {metric}: {shown} (expected {expected:.4f} ± {tolerance})"
                )
    return all_ok


def summary_table(results: dict) -> str:
    """The README's compact table: nDCG@10 per method and benchmark, the best of each column in bold, and a line per
    benchmark where the default is not the best."""
    benches = results["benchmarks"]
    names = list(benches)
    methods = list(dict.fromkeys(m for b in benches.values() for m in b["summary"]))
    default = next((b["default"] for b in benches.values()), "")
    best = {
        n: max(benches[n]["summary"].values(), key=lambda v: v["ndcg@10"]["mean"])["ndcg@10"]["mean"] for n in names
    }
    lines = ["| nDCG@10 | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for method in methods:
        cells = []
        for n in names:
            value = benches[n]["summary"].get(method, {}).get("ndcg@10", {}).get("mean")
            text = "-" if value is None else f"{value:.3f}"
            cells.append(f"**{text}**" if value is not None and value == best[n] else text)
        lines.append(f"| {method}{' (default)' if method == default else ''} | " + " | ".join(cells) + " |")
    behind = [n for n in names if benches[n]["summary"].get(default, {}).get("ndcg@10", {}).get("mean") != best[n]]
    lines += [
        "",
        f"The default is not the best on: {', '.join(behind)}."
        if behind
        else f"The default ({default}) is the best method on every benchmark of the suite.",
    ]
    return "\n".join(lines)
