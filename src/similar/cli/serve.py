"""`similar serve`: the JSON API and the widget over one index."""

from __future__ import annotations

import click

from . import options


@click.command()
@options.INDEX
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(index_dir, host, port):
    """Serve the JSON API and the widget; SIGHUP or POST /admin/reload swaps in a rebuilt index."""
    from .. import lock, store
    from ..server.app import serve as run

    path = store.index_path(index_dir)
    lock.recover_for_reading(path)
    store.read_manifest(path)  # a missing index is an error before anything says "serving"
    run(path, host=host, port=port, ready=lambda: click.echo(f"serving {path} on http://{host}:{port} (docs at /docs)"))
