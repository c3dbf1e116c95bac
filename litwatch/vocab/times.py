"""Time: one UTC timestamp format for everything litwatch stores and prints, and one today.

Stored timestamps are ISO 8601 UTC to the second with a ``Z`` (``2026-11-30T05:04:12Z``):
they sort as text, compare across machines and read the same in SQLite, JSON and logs.
"""

from __future__ import annotations

import datetime as dt
import os

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
UTC = dt.timezone.utc


def format_timestamp(moment: dt.datetime) -> str:
    """A datetime (naive = UTC) as the stored text form."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> dt.datetime:
    """The stored text form back to an aware UTC datetime (``+00:00`` accepted too)."""
    text = text.strip()
    if text.endswith("Z"):
        return dt.datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    moment = dt.datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utcnow() -> str:
    """Now, in the stored form."""
    return format_timestamp(dt.datetime.now(UTC))


# Test knob: the date (YYYY-MM-DD) a crawl takes as today.  A test works out its expected
# dates (a watermark, a search window's end) before it starts a crawl's child process, which
# reads the clock again: around midnight UTC the two would be a day apart, and a test would
# fail for the time it ran at.  Tests pin it; unset, today is the clock's.
TODAY_ENV = "LITWATCH_TODAY"


def today_utc() -> dt.date:
    """Today's date in UTC: what a crawl's windows end on and its watermarks move to
    (``LITWATCH_TODAY`` when set)."""
    pinned = os.environ.get(TODAY_ENV, "").strip()
    if pinned:
        try:
            return dt.date.fromisoformat(pinned)
        except ValueError:
            from litwatch.vocab.errors import ConfigError

            raise ConfigError(f"{TODAY_ENV}: bad date {pinned!r} (use YYYY-MM-DD)") from None
    return dt.datetime.now(UTC).date()
