"""Options several command groups share: one definition each, so their help and meaning never drift apart."""

from __future__ import annotations

import click

INDEX = click.option(
    "--index",
    "index_dir",
    default=None,
    help="Index name (under SIMILAR_HOME/index, from any directory) or a path such as ./x.",
)  # an existing index, for every command that reads or adds to one (build names its new one itself)
