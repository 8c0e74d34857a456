"""`similar query`, `info` and `verify`: read an index and print its lists, its manifest or its check."""

from __future__ import annotations

import json

import click

from ..errors import SimilarError
from ..methods import names as method_names
from . import options

METHOD_CHOICE = click.Choice(list(method_names()))


@click.command()
@click.argument("pmids", nargs=-1)
@click.option("--text", default=None, help="Query with a text (title and/or abstract) instead of, or besides, PMIDs.")
@click.option("--not", "negatives", multiple=True, help="A paper the list should be unlike (repeat for several).")
@click.option("-n", "n", default=10, show_default=True, type=int, help="How many similar papers.")
@options.INDEX
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
    from .. import lock, store

    if not pmids and text is None:
        raise SimilarError('give a PMID, several PMIDs, or --text "..."')
    if as_json and fmt not in (None, "json"):
        raise SimilarError(f"--json and --format {fmt} disagree: give one")
    fmt = fmt or ("json" if as_json else "table")
    from ..filters import Filters

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
    from ..backends.dense import set_threads
    from ..collection import recommend_collection
    from ..explain import explain_list
    from ..index import Index, check_n
    from ..output import as_json_lines, as_table

    check_n(n)
    set_threads(1)  # a single query gains nothing from an OpenMP team
    index = Index.open(path)
    if filters.on_details:  # a value no paper can match is an error naming the nearest values, before any ranking
        from ..filters import check_against

        check_against(index.facts, filters, index.path.name, live=index.live)
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
        from ..exports import export

        click.echo(export(result, fmt), nl=False)


@click.command()
@options.INDEX
@click.option("--json", "as_json", is_flag=True, help="With --index: the manifest as JSON, not the summary.")
def info(index_dir, as_json):
    """Without --index: where data lives and the indexes there. With --index: a summary of that index (papers, model,
    methods, index types, size, dates, stored lists, watches); --json: its manifest and methods."""
    from .. import lock, paths, store, summary

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
        from ..index import Index

        Index.open(path).close()
    if as_json:
        methods = summary.methods(manifest)
        click.echo(json.dumps({**manifest.to_dict(), "path": str(path), "methods": list(methods)}, indent=2))
    else:
        click.echo("\n".join(summary.summary(path, manifest)))


@click.command()
@options.INDEX
def verify(index_dir):
    """Check every index file against its SHA-256 in the manifest, and that rows, PMIDs, SQLite and backends agree."""
    from ..verify import verify_index

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
