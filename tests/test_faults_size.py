"""Bounded memory whatever upstream sends (issue 10, item 3): a 200 MB answer and an
endless one, from the scripted fake, to each source.

Each source has its own maximum response size; past it the download is cancelled, a
warning names the URL, and the topic or feed fails (not ``ok``).  Peak RSS is measured
for real: a small wrapper process runs ``litwatch crawl`` and reports
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` (the largest of the crawl and its children).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT
from fault_support import env_for, litwatch_cmd, watchlist

from litwatch.crawler import feed_parse
from litwatch.crawler.feed_parse import MAX_ITEMS
from litwatch.fakes.feeds import fixture_items, rss2
from litwatch.fakes.server import ScriptedServer

PEAK_RSS_LIMIT_KB = 500 * 1024
MEASURE = (
    "import json, resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=300)\n"
    "print(json.dumps({'rc': p.returncode, 'stdout': p.stdout, 'stderr': p.stderr,"
    " 'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
)


def crawl_measured(tmp_path, server: ScriptedServer, source: str) -> dict:
    config = watchlist(tmp_path / "watchlist.toml", feeds=[server.base + "feed.xml"])
    env = env_for(tmp_path / "litwatch.db", LITWATCH_EUTILS_URL=server.base, ctgov_url=server.base)
    proc = subprocess.run([sys.executable, "-c", MEASURE, *litwatch_cmd(config, "crawl", "--source", source, "--json")],
                          env=env, capture_output=True, text=True, timeout=320, cwd=PROJECT_ROOT)
    out = json.loads(proc.stdout)
    out["report"] = json.loads(out["stdout"])["sources"][source]
    return out


# PubMed's endless case costs what ctgov's does; its (larger) limit is checked with 200 MB.
@pytest.mark.parametrize(("source", "body"), [("feeds", "200 MB"), ("feeds", "endless"), ("ctgov", "200 MB"),
                                              ("ctgov", "endless"), ("pubmed", "200 MB")])
def test_a_huge_or_endless_answer_is_cut_off_reported_and_memory_stays_bounded(source, body, tmp_path):
    with ScriptedServer() as server:
        if body == "200 MB":
            server.huge(200 * 1024 * 1024)
        else:
            server.endless()
        out = crawl_measured(tmp_path, server, source)
        base = server.base
    assert out["rc"] != 0
    assert out["report"]["status"] != "ok"
    problems = out["report"]["warnings"] + out["report"]["errors"]
    assert any(base in p and "DOWNLOAD_MAXSIZE" in p for p in problems), problems
    assert out["maxrss_kb"] < PEAK_RSS_LIMIT_KB, f"peak RSS {out['maxrss_kb'] // 1024} MB"


def test_the_feed_parser_stops_at_its_maximum_number_of_items(monkeypatch):
    assert MAX_ITEMS == 5000
    monkeypatch.setattr(feed_parse, "MAX_ITEMS", 20)  # the rule, without parsing 5,000 items
    items = [dict(it, guid=f"g{i}", title=f"{it['title']} {i}") for i, it in enumerate(fixture_items(1) * 27)]
    parsed = feed_parse.parse_feed(rss2("Feed", "https://j.example/", items), "https://j.example/rss")
    assert len(parsed.items) == 20 and parsed.truncated == 7
