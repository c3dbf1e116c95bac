"""``litwatch browse``: Datasette on 127.0.0.1 for the database (optional extra ``litwatch[browse]``)."""

from __future__ import annotations

import click

from litwatch.cli_common import pass_ctx


@click.command("browse")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(1, 65535), help="Port on 127.0.0.1.")
@pass_ctx
def browse(ctx, port):
    """Browse the database in a web browser with Datasette (facets, full-text search, canned queries).

    Serves on 127.0.0.1 only; stop with Ctrl-C.  Needs pip install 'litwatch[browse]'.
    """
    from litwatch.browse import make_datasette

    ctx.db  # the database must exist (one line otherwise); read-only, nothing is created
    ds = make_datasette(ctx.settings.db_path)
    import uvicorn

    click.echo(f"litwatch browse: http://127.0.0.1:{port}/ (Ctrl-C to stop)", err=True)
    uvicorn.run(ds.app(), host="127.0.0.1", port=port, log_level="warning")


COMMANDS = [browse]
