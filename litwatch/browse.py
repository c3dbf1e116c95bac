"""Datasette over the litwatch database: the shipped metadata (descriptions, facets, canned
queries) applied to whatever the database file is called."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from litwatch.vocab.errors import LitwatchError

METADATA_FILE = "datasette_metadata.json"
TEMPLATE_NAME = "litwatch"  # the database key in the shipped file


def load_metadata(db_path: str | Path) -> dict:
    """The shipped metadata with its database entry renamed to the file's Datasette name."""
    metadata = json.loads(resources.files("litwatch").joinpath(METADATA_FILE).read_text(encoding="utf-8"))
    name = Path(db_path).stem
    metadata["databases"] = {name: metadata["databases"][TEMPLATE_NAME]}
    return metadata


def make_datasette(db_path: str | Path):
    """A Datasette instance for the database (read-only use: nothing is written)."""
    try:
        from datasette.app import Datasette
    except ImportError:
        raise LitwatchError("litwatch browse needs Datasette: pip install 'litwatch[browse]'") from None
    from datasette.plugins import pm

    from litwatch import browse_plugin

    if not pm.is_registered(browse_plugin):
        pm.register(browse_plugin, name="litwatch")
    return Datasette([str(db_path)], metadata=load_metadata(db_path), settings={"default_page_size": 50})
