"""The `similar` command: build, add, query, info, verify, bench, serve, models (a face: parsing and printing only)."""

from __future__ import annotations

import json
import logging
import sys

import click

from .errors import SimilarError, edge_message
from .methods import names as method_names

METHOD_CHOICE = click.Choice(list(method_names()))
OUT_HELP = "Results folder (default: SIMILAR_HOME/results; --out benchmarks/results refreshes the committed figures)."


def _out(out_dir: str | None):
    """Where a benchmark writes: --out if given, else the results folder in the data home (never the checkout)."""
    from pathlib import Path

    from .paths import results_dir

    return Path(out_dir) if out_dir else results_dir()


class Fail(click.ClickException):
    """A SimilarError shown as one line with its own exit code."""

    def __init__(self, exc: SimilarError):
        super().__init__(str(exc))
        self.exit_code = exc.exit_code

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


class Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SimilarError as exc:
            raise Fail(exc) from exc
        except KeyboardInterrupt:
            click.echo("interrupted: rerun the same command to resume", err=True)
            sys.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise
        except Exception as exc:  # the edge: a full disk, an I/O error or a bug is one line, the traceback only with -v
            if ctx.params.get("verbose"):
                raise
            raise Fail(SimilarError(edge_message(exc))) from exc


@click.group(cls=Group)
@click.version_option(package_name="similar")
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def main(verbose: bool) -> None:
    """Similar-paper recommendations for biomedical literature."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from .config import check

    check()  # every SIMILAR_* the command line reads, one line naming a bad one (config.py); serve checks its own


def _notify(message: str) -> None:
    click.echo(f"note: {message}", err=True)


def _print_report(report, verb: str) -> None:
    r = report
    for note in r.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(
        f"{verb} {r.index}: {r.kept} papers kept, {r.skipped} skipped"
        + (f", {len(r.record_notes)} notes" if r.record_notes else "")
        + f", {r.deleted} deleted, {r.replaced} replaced"
        + (f", {r.unchanged} unchanged" if r.unchanged else "")
        + f"; embedded {r.embedded}"
        + (f" (resumed {r.resumed_rows} already embedded)" if r.resumed_rows else "")
        + f"; method {r.method}; {r.seconds:.1f}s"
    )
    for f in r.files_skipped:
        click.echo(f"  already applied, skipped: {f}")
    for p in r.problems[:20]:
        click.echo(f"  skipped {p}", err=True)
    if len(r.problems) > 20:
        click.echo(
            f"  ... and {len(r.problems) - 20} more (all listed in the index's papers.sqlite, table problems)", err=True
        )
    for n in r.record_notes[:20]:
        click.echo(f"  note {n}", err=True)
    if len(r.record_notes) > 20:
        click.echo(f"  ... and {len(r.record_notes) - 20} more records with a field cut to its limit", err=True)


@main.command()
@click.argument("inputs", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--index", "index_dir", default=None, help="Index name (default: default) or a path such as ./x.")
@click.option(
    "--force", is_flag=True, help="Replace an existing index of that name (else build refuses it); never anything else."
)
@click.option(
    "--model",
    default=None,
    help="Model name under models/ or a sentence-transformers folder (default all-MiniLM-L6-v2).",
)
@click.option("--method", type=click.Choice(["auto", "tfidf"]), default="auto", help="tfidf: build without embeddings.")
@click.option(
    "--dense-type", type=click.Choice(["auto", "flat", "hnsw", "ivf"]), default="auto", help="FAISS index type."
)
@click.option("--device", default="cpu", show_default=True, help="Encoding device: cpu, cuda, cuda:1 ...")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="ray: embed with Ray Data actor workers (one model load each).",
)
@click.option("--address", default=None, help="Ray cluster address (default: a running cluster, else a local one).")
@click.option("--no-lists", is_flag=True, help="Do not store each paper's list (rank every query live; cheaper adds).")
@click.option(
    "--wait", is_flag=True, help="If another build or add is writing this index, queue behind it (default: exit 75)."
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def build(inputs, index_dir, force, model, method, dense_type, device, engine, address, no_lists, wait, quiet):
    """Build an index from record files (JSON lines, JSON, CSV, TSV, PubMed XML; .gz ok). Resumes if interrupted."""
    from . import store
    from .build import build_index

    report = build_index(
        inputs,
        store.index_path(index_dir),
        model=model,
        method=method,
        dense_type=dense_type,
        progress=not quiet,
        engine=engine,
        ray_address=address,
        precompute=not no_lists,
        wait=wait,
        notify=_notify,
        device=device,
        force=force,
        name=index_dir or "default",
    )
    _print_report(report, "built")


@main.command()
@click.argument("inputs", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--index",
    "index_dir",
    default=None,
    help="Index name (under SIMILAR_HOME/index, from any directory) or a path such as ./x.",
)
@click.option(
    "--wait", is_flag=True, help="If another build or add is writing this index, queue behind it (default: exit 75)."
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def add(inputs, index_dir, wait, quiet):
    """Add records (and apply deletions) to an existing index; unchanged records cost nothing."""
    from . import store
    from .update import add_to_index

    report = add_to_index(inputs, store.index_path(index_dir), progress=not quiet, wait=wait, notify=_notify)
    _print_report(report, "updated")
    if report.watch_error:  # a partial success: the index changed, the watches did not (update.py)
        from .update import WATCHES_FAILED_EXIT

        click.echo(f"error: {report.watch_error}", err=True)
        sys.exit(WATCHES_FAILED_EXIT)


@main.command()
@click.argument("pmids", nargs=-1)
@click.option("--text", default=None, help="Query with a text (title and/or abstract) instead of, or besides, PMIDs.")
@click.option("--not", "negatives", multiple=True, help="A paper the list should be unlike (repeat for several).")
@click.option("-n", "n", default=10, show_default=True, type=int, help="How many similar papers.")
@click.option(
    "--index",
    "index_dir",
    default=None,
    help="Index name (under SIMILAR_HOME/index, from any directory) or a path such as ./x.",
)
@click.option("--method", type=METHOD_CHOICE, default=None, help="Ranking method for one seed (default: the index's).")
@click.option(
    "--collection-method",
    type=click.Choice(["fused", "centroid", "linear", "rocchio"]),
    default=None,
    help="How several seeds are combined (default fused).",
)
@click.option("--min-year", type=int, default=None)
@click.option("--max-year", type=int, default=None)
@click.option(
    "--explain", is_flag=True, help="Say why each paper is listed: shared terms with their shares, MeSH, sentences."
)
@click.option(
    "--type",
    "types",
    multiple=True,
    help="Publication type: review, clinical-trial, meta-analysis ... (repeat: any of them).",
)
@click.option("--mesh", multiple=True, help="MeSH descriptor, by name or UI (D006801); exact, repeat: any of them.")
@click.option("--journal", multiple=True, help="Journal title, any case (repeat: any of them).")
@click.option("--language", multiple=True, help="MEDLINE language code: eng, fre, ger ... (repeat: any of them).")
@click.option(
    "--species", type=click.Choice(["humans", "animals"]), default=None, help="The MeSH check tag Humans or Animals."
)
@click.option("--exclude-retracted", is_flag=True, help="Leave retracted papers out (they are always marked).")
@click.option(
    "--all-versions", is_flag=True, help="List every PMID of a work (erratum, update, republished, same DOI or text)."
)
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "ris", "bibtex", "csl-json", "csv"]),
    default=None,
    help="Output format (default table; --json is --format json).",
)
def query(
    pmids,
    text,
    negatives,
    n,
    index_dir,
    method,
    collection_method,
    min_year,
    max_year,
    types,
    mesh,
    journal,
    language,
    species,
    exclude_retracted,
    all_versions,
    explain,
    as_json,
    fmt,
):
    """Print the papers most similar to PMID (or to --text); several PMIDs, --not PMID, or PMIDs with --text make a collection."""
    from . import lock, store

    if not pmids and text is None:
        raise SimilarError('give a PMID, several PMIDs, or --text "..."')
    if as_json and fmt not in (None, "json"):
        raise SimilarError(f"--json and --format {fmt} disagree: give one")
    fmt = fmt or ("json" if as_json else "table")
    from .filters import Filters

    filters = Filters.of(min_year, max_year, types, mesh, journal, language, species, exclude_retracted)
    versions = not all_versions
    collection = len(pmids) > 1 or negatives or (pmids and text is not None)
    if collection and method is not None:
        raise SimilarError("--method ranks one seed; for a collection use --collection-method")
    if not collection and collection_method is not None:
        raise SimilarError("--collection-method needs a collection: several PMIDs, --not PMID, or PMIDs with --text")
    path = store.index_path(index_dir)
    lock.recover_for_reading(path)  # a publish cut between its two renames: put the previous index back
    store.read_manifest(path)  # a missing or foreign folder is named before the heavy imports
    from .backends.dense import set_threads
    from .collection import recommend_collection
    from .explain import explain_list
    from .index import Index, check_n
    from .output import as_json_lines, as_table

    check_n(n)
    set_threads(1)  # a single query gains nothing from an OpenMP team
    index = Index.open(path)
    if collection:
        result = recommend_collection(
            index,
            list(pmids),
            list(negatives),
            n=n,
            method=collection_method,
            text=text,
            explain=explain,
            filters=filters,
            versions=versions,
        )
    elif pmids:
        result = index.similar(pmids[0], n=n, method=method, filters=filters, versions=versions)
    else:
        result = index.similar_text(text, n=n, method=method, filters=filters, versions=versions)
    if explain and not collection:
        result = explain_list(index, result, text=text)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if fmt in ("table", "json"):
        click.echo(as_json_lines(result) if fmt == "json" else as_table(result))
    else:
        from .exports import export

        click.echo(export(result, fmt), nl=False)


@main.command()
@click.option(
    "--index",
    "index_dir",
    default=None,
    help="Index name (under SIMILAR_HOME/index, from any directory) or a path such as ./x.",
)
def info(index_dir):
    """Without --index: where data lives and the indexes there. With --index: that index's manifest and methods."""
    from . import lock, paths, store

    if index_dir is None:
        root = paths.index_root()
        names = paths.index_names()
        click.echo(f"home: {paths.home()}  (set SIMILAR_HOME to move it)")
        click.echo(f"models: {paths.models_dir()}")
        if not names:
            click.echo(f"no indexes in {root}: build one with `similar build INPUT --index NAME`")
        else:
            click.echo(f"indexes in {root}:")
        for name in names:
            try:
                m = store.read_manifest(root / name)
            except SimilarError as exc:
                click.echo(f"  {name}\tunreadable: {exc}")
                continue
            click.echo(
                f"  {name}\t{m.live if m.live is not None else m.count} papers\t{m.default_method or ''}\tupdated {m.updated or ''}"
            )
        return
    path = store.index_path(index_dir)
    lock.recover_for_reading(path)
    manifest = store.read_manifest(path)
    store.read_rows(path, manifest.count)
    store.check_files(path, manifest)  # sizes, SQLite header and (small indexes) checksums, without loading the index
    if not manifest.files:  # an index from before checksums: only opening it checks its files
        from .index import Index

        Index.open(path).close()
    methods = method_names(vectors=bool(manifest.dense))
    click.echo(json.dumps({**manifest.to_dict(), "path": str(path), "methods": list(methods)}, indent=2))


@main.command()
@click.option("--index", "index_dir", default=None, help="Index folder or name under index/.")
def verify(index_dir):
    """Check every index file against its SHA-256 in the manifest, and that rows, PMIDs, SQLite and backends agree."""
    from .verify import verify_index

    result = verify_index(index_dir)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if not result.ok:
        for problem in result.problems[1:]:
            click.echo(f"  also: {problem}", err=True)
        raise SimilarError(result.problems[0])
    click.echo(
        f"verified {result.path}: {result.files_hashed} files match their SHA-256; "
        f"{result.rows} rows agree across rows.txt, papers.sqlite and the backends"
    )


@main.group()
def bench():
    """Benchmarks: ranking quality and speed."""


@bench.command("quality")
@click.option(
    "--suite",
    "suite_file",
    is_flag=False,
    flag_value="benchmarks/quality.yaml",
    default=None,
    help="Run every benchmark of the suite in a YAML file (default benchmarks/quality.yaml): one table.",
)
@click.option(
    "--check",
    "check_file",
    is_flag=False,
    flag_value="benchmarks/quality.yaml",
    default=None,
    help="Run the suite (default benchmarks/quality.yaml) and compare each expected figure.",
)
@click.option("--corpus", type=click.Path(dir_okay=False), help="Corpus file (any format build reads).")
@click.option("--judgments", type=click.Path(dir_okay=False), help="RELISH-format judgments TSV.")
@click.option(
    "--topics", type=click.Path(dir_okay=False), default=None, help="seed<TAB>topic file, for the per-topic spread."
)
@click.option("--model", "models", multiple=True, help="Dense model(s) to compare (default: all-MiniLM-L6-v2).")
@click.option("--name", default=None, help="Results name (default: suite, or from the corpus and judgments).")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help=OUT_HELP)
@click.option("--quiet", is_flag=True)
def bench_quality(suite_file, check_file, corpus, judgments, topics, models, name, out_dir, quiet):
    """nDCG@10 with 95% intervals for every method: on the whole suite, or on one corpus and its judgments."""
    if suite_file or check_file:
        from .bench.suite import check_suite, load_suite, run_suite, suite_markdown

        benchmarks, spec = load_suite(suite_file or check_file)
        out_dir = _out(out_dir)
        results = run_suite(
            benchmarks,
            out_dir,
            name=name or "suite",
            model=models[0] if models else None,
            progress=not quiet,
            echo=lambda line: click.echo(line, err=True),
        )
        click.echo(suite_markdown(results))
        click.echo(f"wrote {out_dir}/{results['name']}.json, .md ({results['seconds']}s)")
        if check_file:
            ok = check_suite(results, benchmarks, float(spec.get("tolerance", 0.005)), echo=click.echo)
            sys.exit(0 if ok else 1)
        return
    if not corpus or not judgments:
        raise SimilarError("give --suite, --check, or --corpus and --judgments")
    from .bench.quality import run_quality
    from .bench.report import quality_markdown

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
    from .bench.collections import markdown, run_collections

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
@click.option("--model", default=None)
@click.option("--name", default="ranking-ideas", show_default=True)
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help=OUT_HELP)
@click.option("--quiet", is_flag=True)
def bench_tune(suite_file, model, name, out_dir, quiet):
    """Every ranking idea on every suite benchmark, and the paper setting cross-validated over topics by its worst benchmark."""
    from .bench.suite import load_suite
    from .bench.tuning import run_tuning, tuning_markdown

    benchmarks, _ = load_suite(suite_file)
    results = run_tuning(
        benchmarks,
        _out(out_dir),
        name=name,
        model=model,
        progress=not quiet,
        echo=lambda line: click.echo(line, err=True),
    )
    click.echo(tuning_markdown(results))


@bench.command("speed")
@click.option(
    "--part",
    "parts",
    multiple=True,
    type=click.Choice(["encode", "build", "methods", "query", "startup", "int8"]),
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

    from .bench.speed import run_speed, speed_markdown

    corpora = [Path(c) for c in corpora] or [
        Path("../shared/data/trec2005-d2d/corpus.jsonl.gz"),
        Path("../shared/data/pubmed-sample/abstracts.jsonl.gz"),
    ]
    results = run_speed(
        parts or ("encode", "build", "methods", "query", "startup"),
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
def bench_scale(papers, update, queries, sources, work, keep, name, out_dir):
    """Build, update, open and query an index of N realistic papers: time, peak memory, disk, latency, recall per stage."""
    from pathlib import Path

    from .bench.scale import default_work, run_scale, scale_markdown, write_results

    sources = [Path(s) for s in sources] or [
        Path("../shared/data/ohsumed/abstracts.jsonl.gz"),
        Path("../shared/data/pubmed-sample/abstracts.jsonl.gz"),
    ]
    for s in sources:
        if not s.is_file():
            raise SimilarError(f"no source file {s.resolve()}: give real abstracts with --source")
    result = run_scale(papers, sources, Path(work) if work else default_work(), update, queries, keep)
    write_results(result, _out(out_dir), name)
    click.echo(scale_markdown(result))


@bench.command("load")
@click.option(
    "--index",
    "index_dir",
    default=None,
    help="Index name (under SIMILAR_HOME/index, from any directory) or a path such as ./x.",
)
@click.option("--requests", default=5000, show_default=True, type=int)
@click.option("--concurrency", default=32, show_default=True, type=int)
@click.option("--name", default="load", show_default=True)
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help=OUT_HELP)
def bench_load(index_dir, requests, concurrency, name, out_dir):
    """Start `similar serve` on 127.0.0.1 and measure throughput and latency, plain and while the index reloads."""
    from . import store
    from .bench.load import load_markdown, run_load

    click.echo(load_markdown(run_load(store.index_path(index_dir), requests, concurrency, _out(out_dir), name)))


@main.command()
@click.option(
    "--index",
    "index_dir",
    default=None,
    help="Index name (under SIMILAR_HOME/index, from any directory) or a path such as ./x.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(index_dir, host, port):
    """Serve the JSON API and the widget; SIGHUP or POST /admin/reload swaps in a rebuilt index."""
    from . import lock, store
    from .server.app import serve as run

    path = store.index_path(index_dir)
    lock.recover_for_reading(path)
    store.read_manifest(path)  # a missing index is an error before anything says "serving"
    run(path, host=host, port=port, ready=lambda: click.echo(f"serving {path} on http://{host}:{port} (docs at /docs)"))


@main.group()
def watch():
    """Watch lists: saved queries; each `similar add` records the new papers in their top k, read as Atom feeds."""


@watch.command("add")
@click.argument("name")
@click.argument("pmids", nargs=-1)
@click.option("--text", default=None, help="A text to watch, besides or instead of PMIDs.")
@click.option(
    "-k", "k", default=20, show_default=True, type=int, help="A new paper is recorded when it ranks this high."
)
@click.option("--index", "index_dir", default=None, help="Index name (under SIMILAR_HOME/index) or a path such as ./x.")
def watch_add(name, pmids, text, k, index_dir):
    """Save a watch NAME on papers like PMID... (and --text)."""
    from .watch import add_watch, watches_path

    w = add_watch(index_dir, name, pmids, text, k)
    click.echo(
        f"watching {w.name}: papers like {', '.join(w.pmids) or 'the text'}{' and the text' if w.text and w.pmids else ''}, "
        f"top {w.k}; kept in {watches_path(index_dir)}"
    )


@watch.command("list")
@click.option("--index", "index_dir", default=None, help="Index name (under SIMILAR_HOME/index) or a path such as ./x.")
def watch_list(index_dir):
    """The watches of an index, with how many new papers each has recorded."""
    from .watch import entries, list_watches

    for w in list_watches(index_dir):
        click.echo(
            f"{w.name}\t{' '.join(w.pmids) or '-'}\t{'text' if w.text else '-'}\ttop {w.k}\t{len(entries(index_dir, w.name))} new\t{w.created}"
        )


@watch.command("feed")
@click.argument("name")
@click.option("--index", "index_dir", default=None, help="Index name (under SIMILAR_HOME/index) or a path such as ./x.")
@click.option(
    "--base-url", default="", help="Where the server runs, for the feed's self link (e.g. http://127.0.0.1:8000)."
)
def watch_feed(name, index_dir, base_url):
    """Print a watch's new papers as an Atom feed."""
    from .watch import feed

    click.echo(feed(index_dir, name, base_url.rstrip("/")), nl=False)


@watch.command("remove")
@click.argument("name")
@click.option("--index", "index_dir", default=None, help="Index name (under SIMILAR_HOME/index) or a path such as ./x.")
def watch_remove(name, index_dir):
    """Forget a watch and what it recorded."""
    from .watch import remove_watch

    remove_watch(index_dir, name)
    click.echo(f"removed watch {name}")


@main.group()
def pubmed():
    """Get PubMed itself: NLM's annual baseline and daily update files."""


@pubmed.command("fetch")
@click.option("--baseline", "kind", flag_value="baseline", help="The annual baseline files.")
@click.option("--updates", "kind", flag_value="updates", help="The daily update files.")
@click.option("--dest", default=None, help="Folder (default: SIMILAR_HOME/pubmed/baseline or .../updatefiles).")
@click.option(
    "--base-url", default=None, help="Mirror to use instead of NLM's (default https://ftp.ncbi.nlm.nih.gov/pubmed)."
)
@click.option("--limit", default=None, type=int, help="Only the first N files.")
def pubmed_fetch(kind, dest, base_url, limit):
    """Download, resuming partial files, verifying each against NLM's .md5; verified files are never fetched again."""
    from .paths import pubmed_dir
    from .pubmed import DEFAULT_BASE_URL, FOLDERS, fetch

    if not kind:
        raise SimilarError("say which files: --baseline or --updates")
    dest = dest or pubmed_dir() / FOLDERS[kind]
    report = fetch(kind, dest, base_url or DEFAULT_BASE_URL, limit=limit)
    click.echo(
        f"{dest}: {len(report.downloaded)} downloaded ({len(report.resumed)} resumed), "
        f"{len(report.already_verified)} already verified, {len(report.failed)} failed"
    )
    for name, reason in report.failed:
        click.echo(f"  failed {name}: {reason}", err=True)
    if report.failed:
        sys.exit(1)


@main.group()
def models():
    """Embedding models: list, prepare (export for fast CPU encoding), train."""


@models.command("list")
def models_list():
    """Models that build can use: the default (prepared copy, else the packaged one) and folders in SIMILAR_HOME/models."""
    from . import store
    from .encoders import DEFAULT_MODEL, ModelUnavailable, resolve_model

    shown = set()
    try:
        spec = resolve_model(DEFAULT_MODEL)
        click.echo(f"{DEFAULT_MODEL}\t{spec.backend}\t{spec.path}")
        shown.add(spec.path.resolve())
    except ModelUnavailable as exc:
        click.echo(f"{DEFAULT_MODEL}\tunavailable\t{exc}")
    root = store.models_dir()
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
        if folder.resolve() in shown:
            continue
        kind = "openvino" if (folder / "openvino").is_dir() else "torch"
        click.echo(f"{folder.name}\t{kind}\t{folder}")


@models.command("prepare")
@click.option("--backend", type=click.Choice(["openvino"]), default="openvino", show_default=True)
@click.option("--model", "name", default=None, help="Model name (default all-MiniLM-L6-v2).")
@click.option("--force", is_flag=True, help="Export again even if an export exists.")
@click.option(
    "--int8",
    is_flag=True,
    help="Also quantize the export to int8 with NNCF (pip install 'similar[int8]'): openvino/model-int8.xml, "
    "used only when asked for (backend openvino-int8).",
)
@click.option(
    "--calibration",
    default="../shared/data/ohsumed/abstracts.jsonl.gz",
    show_default=True,
    help="JSONL(.gz) of title/abstract records for int8 calibration (300 texts); not a benchmark corpus.",
)
def models_prepare(backend, name, force, int8, calibration):
    """Export the model once for fast CPU encoding; build and query use the export when present."""
    from .openvino_export import prepare_openvino

    info = prepare_openvino(name, force=force, int8=int8, calibration=calibration)
    if info.get("exported", True):
        click.echo(
            f"prepared {info['dest']}: OpenVINO {info['openvino']} export of {info['source']} (fingerprint {info['fingerprint']})"
        )
        if int8:
            q = info["int8"]
            click.echo(f"int8: {q['file']} (NNCF {q['nncf']}, {q['calibration_texts']} texts of {q['calibration']})")
    else:
        click.echo(
            f"already prepared {info['dest']} (fingerprint {info['fingerprint']}): nothing exported; --force exports again"
        )


@models.command("train")
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="JSON lines with title and abstract.",
)
@click.option(
    "--exclude",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Benchmark corpora: papers in them are never trained on.",
)
@click.option("--name", default="minilm-ohsumed", show_default=True, help="Folder under models/.")
@click.option("--base", default=None, help="Model to start from (default all-MiniLM-L6-v2).")
@click.option("--epochs", default=1, show_default=True, type=int)
@click.option("--batch-size", default=64, show_default=True, type=int)
@click.option("--lr", default=2e-5, show_default=True, type=float)
@click.option("--max-pairs", default=None, type=int)
@click.option("--device", default="cpu", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--pairing", type=click.Choice(["title-abstract", "halves"]), default="title-abstract", show_default=True)
def models_train(data, exclude, name, base, epochs, batch_size, lr, max_pairs, device, seed, pairing):
    """Adapt the model to biomedical text: title -> abstract pairs, in-batch negatives."""
    from .training import train_model

    info = train_model(
        data,
        name,
        base=base,
        exclude=exclude,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        max_pairs=max_pairs,
        device=device,
        seed=seed,
        pairing=pairing,
    )
    click.echo(
        f"trained {info['path']}: {info['pairs']} pairs ({info['excluded_overlap']} excluded as benchmark papers), "
        f"{info['steps']} steps, loss {info['loss_first']:.3f} -> {info['loss_last']:.3f}, {info['seconds']}s"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
