"""What every command shares: the lazily loaded settings, watchlist and database, and the
small helpers that make option errors and empty answers say what happened."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Iterable

import click

from litwatch.config import Settings, Watchlist, load_settings, load_watchlist
from litwatch.vocab.errors import LitwatchError

# Commands that only read the store: they open it read-only (they work on a file the user
# may only read, and a mistyped --db fails instead of creating an empty database).
READ_COMMANDS = frozenset({"search", "show", "trials", "export", "citations", "browse"})


@dataclass
class Context:
    """What every command needs, loaded lazily so ``--help`` never touches the disk."""

    config_path: str | None
    db_path: str | None
    debug: bool
    read_only: bool = False

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

        return open_db(self.settings.db_path, read_only=self.read_only)


pass_ctx = click.make_pass_decorator(Context)


def suggestion(value: str, known: Iterable[str]) -> str:
    """``" (did you mean 'RECRUITING'?)"`` for a near miss, else ``""`` (difflib, case-insensitive)."""
    known = list(known)
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


def check_choice(value: str | None, known: Iterable[str], what: str) -> str | None:
    """``value`` spelled as in ``known`` (case-insensitive); an unknown one is a one-line error
    listing the choices and suggesting the nearest."""
    if value is None:
        return None
    known = list(known)
    for k in known:
        if k.lower() == value.strip().lower():
            return k
    raise click.BadParameter(f"{value!r} is not a known {what}{suggestion(value, known)}; choose from {', '.join(known)}")


class SuggestingChoice(click.Choice):
    """click.Choice whose error names the nearest choice."""

    def __init__(self, choices, case_sensitive: bool = False):
        super().__init__(choices, case_sensitive=case_sensitive)

    def convert(self, value, param, ctx):
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            self.fail(f"{value!r} is not one of {', '.join(self.choices)}{suggestion(str(value), self.choices)}", param, ctx)


def nothing_matches(what: str, condition: str, stored: dict[str, int]) -> str:
    """"no trial has status RECRUITING; stored: 1 TERMINATED" (or "nothing stored yet")."""
    if not stored:
        return f"no {what} {condition}; none stored yet"
    listing = ", ".join(f"{n} {value}" for value, n in sorted(stored.items(), key=lambda kv: (-kv[1], str(kv[0]))))
    return f"no {what} {condition}; stored: {listing}"


def one_line_ident(ident: str, what: str = "ID") -> str:
    """An identifier typed or pasted: a line break or control character inside it is an error
    (the error quotes it with ``repr`` so the message stays on one line)."""
    cleaned = ident.strip()
    if any(ch in cleaned for ch in "\r\n\x0b\x0c\x85\u2028\u2029") or any(ord(ch) < 32 for ch in cleaned):
        raise LitwatchError(f"{what} {cleaned!r} holds a line break or control character: give one identifier")
    return cleaned
