"""What every command shares: the lazily loaded settings, watchlist and database."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import click

from litwatch.config import Settings, Watchlist, load_settings, load_watchlist


@dataclass
class Context:
    """What every command needs, loaded lazily so ``--help`` never touches the disk."""

    config_path: str | None
    db_path: str | None
    debug: bool

    @cached_property
    def settings(self) -> Settings:
        settings = load_settings()
        if self.db_path:
            settings = replace(settings, db_path=self.db_path)
        return settings

    @cached_property
    def watchlist(self) -> Watchlist:
        return load_watchlist(self.config_path)

    @cached_property
    def db(self):
        from litwatch.db import open_db

        return open_db(self.settings.db_path)


pass_ctx = click.make_pass_decorator(Context)
