"""``litwatch digest`` and ``litwatch run`` as a user runs them."""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from digest_support import WATCHLIST_TOML
from smtp_support import Sink, smtp_server

from litwatch import demo_world as demo
from litwatch.cli import main
from litwatch.crawler.run import CrawlSummary, SourceResult
from litwatch.db import open_db

CONTRACT_KEYS = {"id", "created_at", "sent_at", "subject", "recipients", "publications", "trials", "trial_changes",
                 "retractions", "delivered_to"}


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """A watchlist and a database with a week's evidence, wired through the environment."""
    config = tmp_path / "watchlist.toml"
    config.write_text(WATCHLIST_TOML, encoding="utf-8")
    db_path = tmp_path / "litwatch.db"
    monkeypatch.setenv("LITWATCH_CONFIG", str(config))
    monkeypatch.setenv("LITWATCH_DB", str(db_path))
    db = open_db(db_path)
    demo.add_publication(db, "38011560", title="Ketamine and the neurobiology of depression", topics=["ketamine-depression"])
    demo.add_trial(db, "NCT03395314", title="Ketamine in Borderline Personality Disorder", status="RECRUITING")
    demo.change_trial(db, "NCT03395314", status="TERMINATED")
    demo.add_publication(db, "300", title="Retracted study", topics=["ketamine-bpd"])
    demo.add_correction(db, "300", "RetractionIn", "301")
    db.conn.close()
    return tmp_path


def litwatch(*args):
    return subprocess.run([sys.executable, "-m", "litwatch.cli", *args], capture_output=True, text=True, env=dict(os.environ),
                          timeout=60)


def test_digest_previews_the_text_and_delivers_nothing(setup):
    proc = litwatch("digest")
    assert proc.returncode == 0, proc.stderr
    assert "Ketamine and the neurobiology of depression" in proc.stdout and "recruiting → terminated" in proc.stdout
    assert "preview only" in proc.stderr
    again = json.loads(litwatch("digest", "--json").stdout)
    assert again["publications"] == ["38011560", "300"]


def test_digest_json_is_contracts_shape(setup):
    proc = litwatch("digest", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert CONTRACT_KEYS <= set(data)
    assert isinstance(data["id"], int) and data["sent_at"] is None and data["delivered_to"] is None
    assert data["recipients"] == ["reader@example.org"]
    assert data["trials"] == ["NCT03395314"] and data["retractions"] == ["300"]
    assert data["trial_changes"] == [{"nct_id": "NCT03395314", "field": "status", "old": "RECRUITING", "new": "TERMINATED"}]
    assert data["subject"].startswith("litwatch 20") and ": NCT03395314 terminated; 1 retraction; 2 papers; 1 new trial" in data["subject"]


def test_send_to_outbox_then_nothing_new(setup):
    proc = litwatch("digest", "--send")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("digest 1 delivered to outbox:") and proc.stdout.count("\n") == 1
    assert len(list((setup / "outbox").glob("*.eml"))) == 1
    again = litwatch("digest", "--send")
    assert again.returncode == 0 and again.stdout.startswith("nothing new since the last digest")
    assert len(list((setup / "outbox").glob("*.eml"))) == 1


def test_send_json_through_smtp(setup, monkeypatch):
    sink = Sink()
    with smtp_server(sink) as port:
        monkeypatch.setenv("LITWATCH_SMTP_URL", f"smtp://127.0.0.1:{port}")
        monkeypatch.setenv("LITWATCH_DIGEST_TO", "a@example.org, b@example.org")
        proc = litwatch("digest", "--send", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["delivered_to"] == "smtp" and data["sent_at"] and data["recipients"] == ["a@example.org", "b@example.org"]
    msg = email.message_from_bytes(sink.messages[0].content, policy=email.policy.default)
    assert msg["Subject"] == data["subject"] and sink.messages[0].rcpt_tos == ["a@example.org", "b@example.org"]


def test_refusing_server_exits_non_zero_with_one_line_and_keeps_items(setup, monkeypatch):
    with smtp_server(Sink(data_reply="554 5.7.1 Rejected by policy")) as port:
        monkeypatch.setenv("LITWATCH_SMTP_URL", f"smtp://127.0.0.1:{port}")
        proc = litwatch("digest", "--send")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("litwatch: error: SMTP server smtp://127.0.0.1:") and "554" in lines[0]
    monkeypatch.delenv("LITWATCH_SMTP_URL")
    assert json.loads(litwatch("digest", "--json").stdout)["publications"] == ["38011560", "300"]


def test_out_writes_a_preview(setup):
    proc = litwatch("digest", "--out", str(setup / "preview"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(Path(p).suffix for p in proc.stdout.split()) == [".eml", ".html", ".txt"]
    assert not (setup / "outbox").exists() or not list((setup / "outbox").iterdir())  # nothing delivered


def test_send_with_out_delivers_and_keeps_a_copy(setup):
    proc = litwatch("digest", "--send", "--out", str(setup / "copy"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("digest 1 delivered to outbox:")
    copies = sorted(p.suffix for p in (setup / "copy").iterdir())
    assert copies == [".eml", ".html", ".txt"]
    assert "copy: " in proc.stdout
    sent = next((setup / "outbox").glob("*.eml")).read_bytes()
    kept = next((setup / "copy").glob("*.eml")).read_bytes()
    assert email.message_from_bytes(sent)["Message-ID"] == email.message_from_bytes(kept)["Message-ID"]
    assert litwatch("digest", "--send").stdout.startswith("nothing new")  # it was delivered


def _fake_crawl(status: str):
    def run_crawl(settings, watchlist, sources, since, **kwargs):
        db = open_db(settings.db_path)
        errors = ["HTTP 503 from eutils"] if status != "ok" else []
        demo.add_crawl_run(db, "pubmed", status, error="; ".join(errors) or None)
        return CrawlSummary([SourceResult("pubmed", status, {}, [], errors)])
    return run_crawl


def test_run_delivers_the_digest_with_crawl_errors_and_exits_non_zero(setup, monkeypatch, capsys):
    monkeypatch.setattr("litwatch.crawler.run.run_crawl", _fake_crawl("failed"))
    assert main(["run"]) == 1
    out, err = capsys.readouterr()
    assert "delivered to outbox:" in out
    assert err.strip().splitlines()[-1].startswith("litwatch: error: crawl of pubmed did not complete")
    eml = next((setup / "outbox").glob("*.eml"))
    text = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default).get_body(("plain",)).get_content()
    assert "pubmed: crawl failed: HTTP 503 from eutils" in text and "Ketamine and the neurobiology of depression" in text


def test_run_ok(setup, monkeypatch, capsys):
    monkeypatch.setattr("litwatch.crawler.run.run_crawl", _fake_crawl("ok"))
    assert main(["run"]) == 0
    assert "delivered to outbox:" in capsys.readouterr().out


def test_run_with_failed_crawl_and_failed_delivery_says_both_in_one_line(setup, monkeypatch, capsys):
    monkeypatch.setattr("litwatch.crawler.run.run_crawl", _fake_crawl("failed"))
    with smtp_server(Sink(rcpt_reply="550 5.1.1 No such user")) as port:
        monkeypatch.setenv("LITWATCH_SMTP_URL", f"smtp://127.0.0.1:{port}")
        assert main(["run"]) == 1
    err_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("litwatch: error:")]
    assert len(err_lines) == 1 and "crawl of pubmed" in err_lines[0] and "not delivered" in err_lines[0]
