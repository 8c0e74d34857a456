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

import numpy as np
import yaml
from tqdm.auto import tqdm

from .. import methods as registry
from .. import store
from ..build import build_index
from ..encoders import DEFAULT_MODEL, CachedEncoder, ModelUnavailable, describe, load_encoder, model_name
from ..errors import SimilarError
from ..fields import document_ids
from ..index import Index
from . import reuse
from .metrics import all_metrics, paired_difference
from .quality import means, paired_against, per_topic, read_judgments, read_topics
from .suite_report import DEFAULT_RULE, KINDS, choice_lines, choose_default, suite_markdown

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
    expected: dict = field(default_factory=dict)  # {model: {method: {metric: value}}}
    ids: str = "pmid"  # "document": the corpus numbers its papers with document ids that need not be PMIDs

    @classmethod
    def from_dict(cls, entry: dict, base: Path, default_model: str = DEFAULT_MODEL) -> "Benchmark":
        """An entry of the YAML: `expected:` holds the default model's figures, `expected_by_model:` other models'."""
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
            expected={  # keyed by model name (encoders.model_name), as the results are
                model_name(m): f
                for m, f in {default_model: entry.get("expected"), **(entry.get("expected_by_model") or {})}.items()
                if f
            },
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


def suite_models(spec: dict) -> list[str]:
    """The `models:` list of a suite YAML file (the default model first), or the default model alone."""
    models = spec.get("models") or [DEFAULT_MODEL]
    if not isinstance(models, list) or not all(isinstance(m, str) and m.strip() for m in models):
        raise SimilarError(f"`models:` must be a list of model names or folders, got {models!r}")
    return models


def load_suite(path: str | Path) -> tuple[list[Benchmark], dict]:
    """The `suite:` list of a benchmark YAML file; paths are relative to the folder the command runs in. The first of
    its `models:` is the model whose figures `expected:` holds."""
    path = Path(path)
    if not path.is_file():
        raise SimilarError(f"no benchmark list at {path.resolve()}")
    spec = yaml.safe_load(path.read_text()) or {}
    if not spec.get("suite"):
        raise SimilarError(f"{path}: no `suite:` list of benchmarks")
    names = [model_name(m) for m in suite_models(spec)]
    benchmarks = [Benchmark.from_dict(e, Path("."), names[0]) for e in spec["suite"]]
    for bench in benchmarks:
        for model in bench.expected:
            if model not in names:  # figures no run of this suite would ever check
                raise SimilarError(
                    f"{path}: benchmark {bench.name!r} expects figures of model {model!r}, which `models:` does not "
                    f"list ({', '.join(names)})"
                )
    return benchmarks, spec


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
    times: dict[str, list[float]] = {}
    for method in methods:
        started = time.perf_counter()
        per_query[method], times[method] = {}, []
        for c in tqdm(questions, desc=f"{bench.name} {method}", unit=" query", disable=not progress, leave=False):
            asked = time.perf_counter()
            answer = ranked(index, bench, c, method)
            times[method].append((time.perf_counter() - asked) * 1000)
            per_query[method][c.key] = all_metrics(answer, c.judged, full=bench.kind != "rerank")
        ms[method] = round((time.perf_counter() - started) / max(len(questions), 1) * 1000, 3)
    return {"coverage": counts, "per_query": per_query, "ms_per_query": ms, "ms_per_question": times}


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


def suite_encoder(model, echo: Callable[[str], None], cache_only: bool = False, fallback: bool = True):
    """The dense model with the on-disk embedding cache, or (with `fallback`) None (lexical methods only) with a note;
    an Encoder object is used as it is (tests pass a deterministic one). With `cache_only`, a text without a cached
    vector stops the run (one line) instead of being embedded."""
    if model is not None and not isinstance(model, str):
        return model
    try:
        return CachedEncoder(load_encoder(model), embed=not cache_only)
    except ModelUnavailable as exc:
        if not fallback:
            raise
        echo(f"note: no dense methods ({exc})")
        return None


COST_SAMPLE = 32  # papers embedded, timed, per model for the cost column (uncached; 0: not measured)


def docs_per_s(encoder, corpus: Path, sample: int) -> float | None:
    """Papers per second the model embeds on this machine: `sample` papers of `corpus`, past the cache (also under
    --cache-only: this is the one thing such a run embeds), after one untimed warm-up batch (None without a model or a
    sample)."""
    if encoder is None or sample <= 0:
        return None
    inner = getattr(encoder, "inner", encoder)
    texts = reuse.corpus_texts(corpus)[: sample + 2]
    inner.encode(texts[:2])
    started = time.perf_counter()
    inner.encode(texts[2:])
    return round(len(texts[2:]) / max(time.perf_counter() - started, 1e-9), 2)


def _backend(encoder) -> str | None:
    """How the model ran: torch, or OpenVINO with its precision (the docs/s figure depends on it)."""
    if encoder is None:
        return None
    inner = getattr(encoder, "inner", encoder)
    backend = describe(inner).get("backend")
    precision = getattr(inner, "precision", None)
    return f"{backend} {precision}" if backend and precision else backend


def _p50(values: Sequence[float]) -> float | None:
    return round(float(np.median(values)), 3) if len(values) else None


def run_model(
    benchmarks: Sequence[Benchmark],
    encoder,
    methods: Sequence[str] | None,
    progress: bool,
    echo: Callable[[str], None],
    cost_sample: int,
) -> tuple[dict, dict]:
    """Every benchmark with every method (of `methods`, else every one the index answers) under one model: its
    `benchmarks` results and cost, and every question's metrics {benchmark: {method: {query: metrics}}}."""
    entry: dict = {"model": describe(encoder) if encoder else None, "benchmarks": {}}
    per_query: dict[str, dict] = {}
    index_bytes, by_pmid = 0, defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="similar-suite-") as tmp:
        for index, group in indexes(benchmarks, encoder, Path(tmp), progress, echo):
            index_bytes += sum(int(f["bytes"]) for f in (index.manifest.files or {}).values())
            wanted = [m for m in (methods or index.methods) if m in index.methods]
            for bench in group:
                echo(f"{bench.name}: {KINDS[bench.kind]}")
                result = evaluate(index, bench, wanted, progress)
                per_query[bench.name] = result["per_query"]
                if bench.kind == "pmid":
                    for method, times in result["ms_per_question"].items():
                        by_pmid[method] += times
                entry["benchmarks"][bench.name] = {
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
                    "ms_p50_per_query": {m: _p50(t) for m, t in result["ms_per_question"].items()},
                    **summarize(result, index.default_method, read_topics(bench.topics)),
                }
    rate = docs_per_s(encoder, benchmarks[0].corpus, cost_sample) if benchmarks else None
    entry["cost"] = {
        "docs_per_s": rate,
        "docs_per_s_from": f"{cost_sample} papers of {benchmarks[0].corpus.name} embedded, timed" if rate else None,
        "backend": _backend(encoder),
        "index_bytes": index_bytes,
        "query_p50_ms": {m: _p50(t) for m, t in by_pmid.items()},
    }
    return entry, per_query


def compare_models(entries: dict[str, dict], per_query: dict[str, dict]) -> dict:
    """Each later model's default method against the first model's, paired over the same queries on every benchmark,
    and the model DEFAULT_RULE chooses (suite_report.choose_default)."""
    current = next(iter(entries))

    def default_scores(model: str, bench: str) -> dict[str, float]:
        method = entries[model]["benchmarks"][bench]["default"]
        return {q: v["ndcg@10"] for q, v in per_query[model][bench].get(method, {}).items()}

    challengers: dict[str, dict[str, dict | None]] = {}
    for model in list(entries)[1:]:
        challengers[model] = {}
        for bench in entries[current]["benchmarks"]:
            mine, theirs = (
                default_scores(model, bench) if bench in per_query[model] else {},
                default_scores(current, bench),
            )
            keys = sorted(set(mine) & set(theirs))
            challengers[model][bench] = (
                paired_difference([mine[k] for k in keys], [theirs[k] for k in keys]) if keys else None
            )
    chosen, verdicts = choose_default(current, challengers)
    return {
        "rule": DEFAULT_RULE,
        "current": current,
        "chosen": chosen,
        "challengers": {m: {"benchmarks": challengers[m], **verdicts[m]} for m in challengers},
    }


def run_suite(
    benchmarks: Sequence[Benchmark],
    out_dir: str | Path,
    name: str = "suite",
    models: Sequence = (None,),
    methods: Sequence[str] | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = lambda s: None,
    cost_sample: int | None = None,
    cache_only: bool = False,
    required: bool = False,
) -> dict:
    """Every benchmark with every method, for each model (names, folders or Encoder objects; the first is the default
    model): one index per corpus and model (embeddings cached). Methods answered without a model are measured with the
    first model's indexes and shown once. Writes JSON + markdown; with several models, prints the default-model rule.
    A model of the suite's list that does not load is said and left out (the default model's absence leaves the
    lexical methods); with `required` (models named by the user) any model that does not load stops the run."""
    started = time.time()
    cost_sample = COST_SAMPLE if cost_sample is None else cost_sample
    shared = registry.names(vectors=False)
    results: dict = {
        "name": name,
        "command": " ".join(["similar"] + sys.argv[1:]) if Path(sys.argv[0]).name == "similar" else None,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": store.library_versions(),
        "shared_methods": list(shared),
        "models": {},
        "skipped_models": {},
    }
    per_query: dict[str, dict] = {}
    for i, model in enumerate(models or (None,)):
        try:
            encoder = suite_encoder(model, echo, cache_only, fallback=i == 0 and not required)
        except ModelUnavailable as exc:  # a model of the suite's list that is not here: said, the others measured
            if required:
                raise
            results["skipped_models"][str(model)] = str(exc)
            echo(f"note: model {model} not measured ({exc})")
            continue
        key = encoder.name if encoder else "none"
        if key in results["models"]:
            key = f"{key}@{encoder.fingerprint}"
        echo(f"model {key} ({i + 1} of {len(models)})")
        wanted = list(methods or registry.names())
        if results["models"]:  # answered without the model: the first model's figures stand for every model
            wanted = [m for m in wanted if m not in shared]
        entry, per_query[key] = run_model(benchmarks, encoder, wanted, progress, echo, cost_sample)
        if results["models"]:
            first = next(iter(results["models"]))
            for bench, b in entry["benchmarks"].items():
                mine = {m: v for m, v in per_query[first][bench].items() if m in shared}
                per_query[key][bench].update(mine)
                b.update(
                    summarize(
                        {"per_query": per_query[key][bench]},
                        b["default"],
                        read_topics(_bench(benchmarks, bench).topics),
                    )
                )
                theirs = results["models"][first]["benchmarks"][bench]
                for timing in ("ms_per_query", "ms_p50_per_query"):
                    b[timing] = {**b[timing], **{m: v for m, v in theirs[timing].items() if m in shared}}
        results["models"][key] = entry
    results["default_model"] = next(iter(results["models"]), None)
    if len(results["models"]) > 1:
        results["model_choice"] = compare_models(results["models"], per_query)
        for line in choice_lines(results["model_choice"]):
            echo(line)
    results["seconds"] = round(time.time() - started, 1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / f"{name}.md").write_text(suite_markdown(results))
    return results


def _bench(benchmarks: Sequence[Benchmark], name: str) -> Benchmark:
    return next(b for b in benchmarks if b.name == name)
