"""The `similar` command (a face: parsing and printing only): the main group, its one-line errors, and the commands."""

from __future__ import annotations

import logging
import sys

import click

from ..errors import SimilarError, edge_message
from . import bench, build, models, pubmed, query, serve, watch


class Fail(click.ClickException):
    """A SimilarError shown as one line with its own exit code."""

    def __init__(self, exc: SimilarError):
        super().__init__(str(exc))
        self.exit_code = exc.exit_code  # type: ignore[misc]  # click declares a ClassVar; ours is the error's own

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
    from ..config import check

    check()  # every SIMILAR_* the command line reads, one line naming a bad one (config.py); serve checks its own


# One module per command group; a new command is a click command in its module and one entry here.
for _command in (
    build.build,
    build.add,
    query.query,
    query.info,
    query.verify,
    bench.bench,
    serve.serve,
    watch.watch,
    pubmed.pubmed,
    models.models,
):
    main.add_command(_command)
