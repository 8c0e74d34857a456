"""`similar bench`: ranking quality (the suite, collections, tuning) and speed, scale and load."""

from __future__ import annotations

import sys

import click

from ..bench.speed import DEFAULT_PARTS, PARTS
from ..errors import SimilarError
from . import options

CACHE_ONLY_HELP = "Embed nothing: every vector comes from the embedding cache (a text without one stops the run)."
OUT_HELP = "Results folder (default: SIMILAR_HOME/results; --out benchmarks/results refreshes the committed figures)."


def _out(out_dir: str | None):
    """Where a benchmark writes: --out if given, else the results folder in the data home (never the checkout)."""
    from pathlib import Path

    from ..paths import results_dir

    return Path(out_dir) if out_dir else results_dir()


@click.group()
def bench():
    """Benchmarks: ranking quality and speed."""


@bench.command("quality")
@click.option(
    "--suite",
    "suite_file",
    is_flag=False,
    flag_value="benchmarks/quality.yaml",
    default=None,
    metavar="[FILE]",
    help="Run every benchmark of a suite YAML file (FILE is optional: bare --suite runs benchmarks/quality.yaml); "
    "one table.",
)
@click.option(
    "--check",
    "check_file",
    is_flag=False,
    flag_value="benchmarks/quality.yaml",
    default=None,
    metavar="[FILE]",
    help="Run the suite and compare each expected figure (FILE is optional: bare --check uses "
    "benchmarks/quality.yaml).",
)
@click.option("--corpus", type=click.Path(dir_okay=False), help="Corpus file (any format build reads).")
@click.option("--judgments", type=click.Path(dir_okay=False), help="RELISH-format judgments TSV.")
@click.option(
    "--topics", type=click.Path(dir_okay=False), default=None, help="seed<TAB>topic file, for the per-topic spread."
)
@click.option(
    "--model",
    "models",
    multiple=True,
    help="Dense model(s) to compare, the default first (default: the suite's `models:` list, else all-MiniLM-L6-v2).",
)
@click.option("--name", default=None, help="Results name (default: suite, or from the corpus and judgments).")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help=OUT_HELP)
@click.option(
    "--cost-sample",
    default=None,
    type=click.IntRange(0),
    help="Papers embedded and timed per model for the suite's cost column, also with --cache-only (default: a few "
    "dozen; 0: not measured).",
)
@click.option("--cache-only", is_flag=True, help=CACHE_ONLY_HELP)
@click.option("--quiet", is_flag=True)
def bench_quality(
    suite_file, check_file, corpus, judgments, topics, models, name, out_dir, cost_sample, cache_only, quiet
):
    """nDCG@10 with 95% intervals for every method: on the whole suite, or on one corpus and its judgments."""
    if suite_file or check_file:
        from ..bench.suite import load_suite, run_suite, suite_models
        from ..bench.suite_report import check_suite, expected_figures, suite_markdown

        benchmarks, spec = load_suite(suite_file or check_file)
        out_dir = _out(out_dir)
        results = run_suite(
            benchmarks,
            out_dir,
            name=name or "suite",
            models=list(models) or suite_models(spec),
            progress=not quiet,
            echo=lambda line: click.echo(line, err=True),
            cost_sample=cost_sample,
            cache_only=cache_only,
            required=bool(models),  # a model named on the command line must load: no silent lexical-only run
        )
        click.echo(suite_markdown(results))
        click.echo(f"wrote {out_dir}/{results['name']}.json, .md ({results['seconds']}s)")
        if check_file:
            tolerance = float(spec.get("tolerance", 0.005))
            ok = check_suite(results, expected_figures(benchmarks), tolerance, echo=click.echo)
            sys.exit(0 if ok else 1)
        return
    if not corpus or not judgments:
        raise SimilarError("give --suite, --check, or --corpus and --judgments")
    from ..bench.quality import run_quality
    from ..bench.report import quality_markdown

    out_dir = _out(out_dir)
    results = run_quality(
        corpus, judgments, models=models, name=name, out_dir=out_dir, topics_path=topics, progress=not quiet
    )
    click.echo(quality_markdown(results))
    click.echo(f"wrote {out_dir}/{results['name']}.json, .md, .png ({results['seconds']}s)")


@bench.command("collections")
@click.option(
    "--trec-index", default=None, help="A built index of the TREC corpus (default: build one from --trec-corpus)."
)
@click.option("--trec-corpus", default="../shared/data/trec2005-d2d/corpus.jsonl.gz", show_default=True)
@click.option("--trec-judgments", default="../shared/data/trec2005-d2d/judgments-full-dev.tsv", show_default=True)
@click.option("--trec-topics", default="../shared/data/trec2005-d2d/seed-topics-dev.tsv", show_default=True)
@click.option("--mesh-index", default=None, help="A built index of the MeSH-overlap corpus (default: build one).")
@click.option("--mesh-corpus", default="../shared/data/mesh-overlap/corpus.jsonl.gz", show_default=True)
@click.option("--mesh-judgments", default="../shared/data/mesh-overlap/judgments-dev.tsv", show_default=True)
@click.option("--draws", default=10, show_default=True, type=int, help="Collections drawn per topic and size.")
@click.option("--name", default="collections", show_default=True)
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help=OUT_HELP)
def bench_collections(
    trec_index, trec_corpus, trec_judgments, trec_topics, mesh_index, mesh_corpus, mesh_judgments, draws, name, out_dir
):
    """k seeds of a topic (k = 1, 3, 10) against the average single seed; negatives from the nearest other topic."""
    from ..bench.collections import markdown, run_collections

    out = _out(out_dir)
    results = run_collections(
        {"index": trec_index, "corpus": trec_corpus, "judgments": trec_judgments, "topics": trec_topics},
        {"index": mesh_index, "corpus": mesh_corpus, "judgments": mesh_judgments},
        out,
        name,
        draws=draws,
    )
    click.echo(markdown(results))
    click.echo(f"wrote {out}/{name}.json, .md ({results['seconds']}s)")


@bench.command("tune")
@click.option(
    "--suite",
    "suite_file",
    default="benchmarks/quality.yaml",
    show_default=True,
    help="The suite whose benchmarks judge every idea.",
)
@click.option("--model", default=None, help="The model whose settings are tuned (default: all-MiniLM-L6-v2).")
@click.option("--name", default="ranking-ideas", show_default=True)
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help=OUT_HELP)
@click.option("--cache-only", is_flag=True, help=CACHE_ONLY_HELP)
@click.option("--quiet", is_flag=True)
def bench_tune(suite_file, model, name, out_dir, cache_only, quiet):
    """Every ranking idea on every suite benchmark, and the paper setting cross-validated over topics by its worst benchmark."""
    from ..bench.suite import load_suite
    from ..bench.tuning import run_tuning, tuning_markdown

    benchmarks, _ = load_suite(suite_file)
    results = run_tuning(
        benchmarks,
        _out(out_dir),
        name=name,
        model=model,
        progress=not quiet,
        echo=lambda line: click.echo(line, err=True),
        cache_only=cache_only,
    )
    click.echo(tuning_markdown(results))


@bench.command("speed")
@click.option(
    "--part",
    "parts",
    multiple=True,
    type=click.Choice(PARTS),
    help="Parts to run (default: all).",
)
@click.option("--encode-corpus", default="../shared/data/pubmed-sample/abstracts.jsonl.gz", show_default=True)
@click.option(
    "--corpus", "corpora", multiple=True, help="Corpora to build (default: the TREC corpus and the PubMed sample)."
)
@click.option("--sizes", default="10000,100000,1000000", show_default=True, help="Synthetic index sizes.")
@click.option("--name", default="speed", show_default=True)
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help=OUT_HELP)
def bench_speed(parts, encode_corpus, corpora, sizes, name, out_dir):
    """Encoding rate per backend (and share of the CPU's fp32 peak), build cost, query cost, index types, start-up times."""
    from pathlib import Path

    from ..bench.speed import run_speed, speed_markdown

    corpora = [Path(c) for c in corpora] or [
        Path("../shared/data/trec2005-d2d/corpus.jsonl.gz"),
        Path("../shared/data/pubmed-sample/abstracts.jsonl.gz"),
    ]
    results = run_speed(
        parts or DEFAULT_PARTS,
        Path(encode_corpus),
        corpora,
        [int(s) for s in sizes.split(",")],
        _out(out_dir),
        name,
    )
    click.echo(speed_markdown(results))


@bench.command("scale")
@click.option("--papers", default=1_000_000, show_default=True, type=click.IntRange(1000), help="Papers to build.")
@click.option(
    "--update", default=30_000, show_default=True, type=click.IntRange(100), help="Records in the update file."
)
@click.option(
    "--daily",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Records in a second, daily-sized update after the first (PubMed's daily files hold about 4000): "
    "seconds, lists recomputed, and its lists against a full re-ranking. 0: none.",
)
@click.option("--queries", default=200, show_default=True, type=click.IntRange(10), help="Sampled papers queried.")
@click.option(
    "--source",
    "sources",
    multiple=True,
    help="Real abstracts whose sentences make the papers (default: the OHSUMED and PubMed samples).",
)
@click.option("--work", default=None, type=click.Path(file_okay=False), help="Where the corpus and index go.")
@click.option("--keep", is_flag=True, help="Keep the index after the run.")
@click.option("--name", default="scale", show_default=True)
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help=OUT_HELP)
def bench_scale(papers, update, daily, queries, sources, work, keep, name, out_dir):
    """Build, update, open and query an index of N realistic papers: time, peak memory, disk, latency, recall per stage."""
    from pathlib import Path

    from ..bench.scale import default_work, run_scale, scale_markdown, write_results

    sources = [Path(s) for s in sources] or [
        Path("../shared/data/ohsumed/abstracts.jsonl.gz"),
        Path("../shared/data/pubmed-sample/abstracts.jsonl.gz"),
    ]
    for s in sources:
        if not s.is_file():
            raise SimilarError(f"no source file {s.resolve()}: give real abstracts with --source")
    result = run_scale(papers, sources, Path(work) if work else default_work(), update, queries, keep, daily)
    write_results(result, _out(out_dir), name)
    click.echo(scale_markdown(result))


@bench.command("load")
@options.INDEX
@click.option("--requests", default=5000, show_default=True, type=int)
@click.option("--concurrency", default=32, show_default=True, type=int)
@click.option("--name", default="load", show_default=True)
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help=OUT_HELP)
def bench_load(index_dir, requests, concurrency, name, out_dir):
    """Start `similar serve` on 127.0.0.1 and measure throughput and latency, plain and while the index reloads."""
    from .. import store
    from ..bench.load import load_markdown, run_load

    click.echo(load_markdown(run_load(store.index_path(index_dir), requests, concurrency, _out(out_dir), name)))
