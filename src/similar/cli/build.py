"""`similar build` and `similar add`: write an index from record files, and say what was kept and skipped."""

from __future__ import annotations

import sys

import click

from . import options


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


ENGINE = click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="ray: every heavy stage on a Ray cluster (embedding, term counts and weights, stored lists); "
    "its nodes share the index's filesystem.",
)
ADDRESS = click.option(
    "--address", default=None, help="Ray cluster address (default: a running cluster, else a local one)."
)


@click.command()
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
@ENGINE
@ADDRESS
@click.option("--no-lists", is_flag=True, help="Do not store each paper's list (rank every query live; cheaper adds).")
@click.option(
    "--wait", is_flag=True, help="If another build or add is writing this index, queue behind it (default: exit 75)."
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def build(inputs, index_dir, force, model, method, dense_type, device, engine, address, no_lists, wait, quiet):
    """Build an index from record files (JSON lines, JSON, CSV, TSV, PubMed XML; .gz ok). Resumes if interrupted."""
    from .. import store
    from ..build import build_index

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


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path(dir_okay=False))
@options.INDEX
@click.option(
    "--wait", is_flag=True, help="If another build or add is writing this index, queue behind it (default: exit 75)."
)
@ENGINE
@ADDRESS
@click.option("--quiet", is_flag=True, help="No progress bars.")
def add(inputs, index_dir, wait, engine, address, quiet):
    """Add records (and apply deletions) to an existing index; unchanged records cost nothing."""
    from .. import store
    from ..update import add_to_index

    report = add_to_index(
        inputs,
        store.index_path(index_dir),
        progress=not quiet,
        wait=wait,
        notify=_notify,
        engine=engine,
        ray_address=address,
    )
    _print_report(report, "updated")
    if report.watch_error:  # a partial success: the index changed, the watches did not (update.py)
        from ..update import WATCHES_FAILED_EXIT

        click.echo(f"error: {report.watch_error}", err=True)
        sys.exit(WATCHES_FAILED_EXIT)
