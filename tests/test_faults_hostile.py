"""Hostile upstream text (issue 10, item 5): control characters never reach the database
or the terminal.  A trial title holding ``ESC]0;x BEL ESC[2J`` (set the window title,
clear the screen) and a PubMed title holding the 8-bit CSI (U+009B, allowed in XML) go
through a real crawl; what is stored and what ``litwatch show`` prints are clean."""

from __future__ import annotations

import re

from fault_support import env_for, litwatch, rows, watchlist

from litwatch.fakes.ctgov import FakeCtgov, ketamine_bpd_study
from litwatch.fakes.eutils import FakeEutils

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
HOSTILE_TRIAL = "Ketamine \x1b]0;pwned\x07\x1b[2J in borderline personality disorder"
HOSTILE_PAPER = "Ketamine \x9b2J\x9b31m for depression\x00: a trial"
PMID = "41000009"


def test_hostile_titles_are_stored_and_shown_clean(tmp_path):
    db_path = tmp_path / "litwatch.db"
    config = watchlist(tmp_path / "watchlist.toml")
    study = ketamine_bpd_study()
    study["protocolSection"]["identificationModule"]["briefTitle"] = HOSTILE_TRIAL
    with FakeCtgov() as ctgov, FakeEutils() as eutils:
        ctgov.put_study(study)
        eutils.derive("38011560", PMID, title=HOSTILE_PAPER.replace("\x00", ""))
        served = eutils.records[PMID]
        assert "\x9b".encode() in served or b"&#155;" in served  # served as is (XML allows C1)
        env = env_for(db_path, eutils=eutils, ctgov_url=ctgov.base_url)
        crawl = litwatch(env, config, "crawl", "--source", "ctgov", "--source", "pubmed")
        assert crawl.returncode == 0, crawl.stdout + crawl.stderr
        trial = litwatch(env, config, "show", "NCT03395314")
        paper = litwatch(env, config, "show", PMID)

    (title,) = rows(db_path, "SELECT title FROM trials WHERE nct_id = 'NCT03395314'")[0]
    assert title == "Ketamine ]0;pwned[2J in borderline personality disorder"
    (ptitle,) = rows(db_path, "SELECT title FROM publications WHERE pmid = ?", [PMID])[0]
    assert not CONTROL.search(ptitle) and "for depression" in ptitle
    for shown in (trial, paper):
        assert shown.returncode == 0, shown.stderr
        assert not CONTROL.search(shown.stdout)
    assert "Ketamine ]0;pwned[2J" in trial.stdout
