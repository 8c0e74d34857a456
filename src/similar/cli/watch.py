"""`similar watch`: add, list, feed and remove the saved queries of an index."""

from __future__ import annotations

import click

from . import options


@click.group()
def watch():
    """Watch lists: saved queries; each `similar add` records the new papers in their top k, read as Atom feeds."""


@watch.command("add")
@click.argument("name")
@click.argument("pmids", nargs=-1)
@click.option("--text", default=None, help="A text to watch, besides or instead of PMIDs.")
@click.option(
    "-k", "k", default=20, show_default=True, type=int, help="A new paper is recorded when it ranks this high."
)
@options.INDEX
def watch_add(name, pmids, text, k, index_dir):
    """Save a watch NAME on papers like PMID... (and --text)."""
    from ..watch import add_watch, watches_path

    w = add_watch(index_dir, name, pmids, text, k)
    click.echo(
        f"watching {w.name}: papers like {', '.join(w.pmids) or 'the text'}{' and the text' if w.text and w.pmids else ''}, "
        f"top {w.k}; kept in {watches_path(index_dir)}"
    )


@watch.command("list")
@options.INDEX
def watch_list(index_dir):
    """The watches of an index, with how many new papers each has recorded."""
    from ..watch import entries, list_watches

    for w in list_watches(index_dir):
        click.echo(
            f"{w.name}\t{' '.join(w.pmids) or '-'}\t{'text' if w.text else '-'}\ttop {w.k}\t{len(entries(index_dir, w.name))} new\t{w.created}"
        )


@watch.command("feed")
@click.argument("name")
@options.INDEX
@click.option(
    "--base-url", default="", help="Where the server runs, for the feed's self link (e.g. http://127.0.0.1:8000)."
)
def watch_feed(name, index_dir, base_url):
    """Print a watch's new papers as an Atom feed."""
    from ..watch import feed

    click.echo(feed(index_dir, name, base_url.rstrip("/")), nl=False)


@watch.command("remove")
@click.argument("name")
@options.INDEX
def watch_remove(name, index_dir):
    """Forget a watch and what it recorded."""
    from ..watch import remove_watch

    remove_watch(index_dir, name)
    click.echo(f"removed watch {name}")
