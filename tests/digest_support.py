"""Shared by the digest tests: a small watchlist and a fixed clock."""

from __future__ import annotations

import datetime as dt

from litwatch.config import parse_watchlist

# Monday 2026-11-16 12:00 UTC: ISO week 47 in New York as in UTC.
NOW = dt.datetime(2026, 11, 16, 12, 0, tzinfo=dt.timezone.utc)

TOPICS = [
    {"name": "ketamine-depression", "title": "Ketamine in depression", "pubmed": "ketamine[tiab] AND depress*[tiab]",
     "ctgov": {"intr": "ketamine", "cond": "depression"}},
    {"name": "ketamine-trd", "title": "Treatment-resistant depression", "pubmed": "treatment-resistant depression[tiab]",
     "ctgov": {"intr": "ketamine", "cond": "treatment resistant depression"}},
    {"name": "ketamine-bpd", "title": "Ketamine in borderline personality disorder", "pubmed": "ketamine AND borderline",
     "ctgov": "ketamine borderline", "feeds": ["https://connect.medrxiv.org/relate/feed/psychiatry"]},
]


def make_watchlist(path: str = "watchlist.toml", **digest):
    data = {
        "follow_trials": ["NCT03395314"],
        "topic": TOPICS,
        "schedule": {"timezone": "America/New_York"},
        "digest": {"from": "litwatch@example.org", "to": ["reader@example.org"], **digest},
    }
    return parse_watchlist(data, path)


def clock(moment: dt.datetime = NOW):
    return lambda: moment


WATCHLIST_TOML = '''
follow_trials = ["NCT03395314"]

[[topic]]
name = "ketamine-depression"
title = "Ketamine in depression"
pubmed = "ketamine[tiab] AND depress*[tiab]"
ctgov = { intr = "ketamine", cond = "depression" }

[[topic]]
name = "ketamine-bpd"
title = "Ketamine in borderline personality disorder"
pubmed = "ketamine AND borderline"
ctgov = "ketamine borderline"

[schedule]
timezone = "America/New_York"

[digest]
from = "litwatch@example.org"
to = ["reader@example.org"]
max_per_section = 25
'''
