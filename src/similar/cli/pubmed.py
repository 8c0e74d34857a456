"""`similar pubmed fetch`: NLM's annual baseline and daily update files, resumed and verified."""

from __future__ import annotations

import sys

import click

from ..errors import SimilarError


@click.group()
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
    from ..paths import pubmed_dir
    from ..pubmed import DEFAULT_BASE_URL, FOLDERS, fetch

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
