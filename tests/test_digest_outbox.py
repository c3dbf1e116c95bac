"""Without SMTP the digest goes to the outbox: complete files or none, and the ledger agrees."""

from __future__ import annotations

import email
import email.policy
import os
from pathlib import Path

import pytest
from digest_support import NOW, clock, make_watchlist

from litwatch import demo_world as demo
from litwatch.config import load_settings
from litwatch.db import digests as ledger
from litwatch.digest.deliver import DeliveryError, write_atomically
from litwatch.digest.pipeline import run_digest
from litwatch.digest.select import select_digest


def _evidence(db):
    demo.add_publication(db, "38011560", title="Ketamine and the neurobiology of depression", topics=["ketamine-depression"])
    demo.add_trial(db, "NCT03395314", title="Ketamine in Borderline Personality Disorder")


def test_no_smtp_writes_eml_and_html_to_the_outbox(db, tmp_path):
    _evidence(db)
    outcome = run_digest(db, load_settings(), make_watchlist(), send=True, clock=clock())
    outbox = tmp_path / "outbox"
    eml = outbox / "litwatch-digest-2026-W47-1.eml"
    assert outcome.delivered_to == f"outbox:{eml}"
    assert sorted(p.name for p in outbox.iterdir()) == ["litwatch-digest-2026-W47-1.eml", "litwatch-digest-2026-W47-1.html"]
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg["Subject"] == outcome.subject and msg["Message-ID"] == outcome.message_id
    for part in (msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content(),
                 (outbox / "litwatch-digest-2026-W47-1.html").read_text(encoding="utf-8")):
        assert "Ketamine and the neurobiology of depression" in part and "NCT03395314" in part
    assert ledger.get_digest(db, outcome.digest_id)["status"] == "delivered"
    assert not select_digest(db, make_watchlist(), NOW).has_items


def test_unwritable_outbox_leaves_everything_pending(db, tmp_path, monkeypatch):
    _evidence(db)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the outbox should be")
    monkeypatch.setenv("LITWATCH_OUTBOX", str(blocker))
    with pytest.raises(DeliveryError) as err:
        run_digest(db, load_settings(), make_watchlist(), send=True, clock=clock())
    assert "cannot write to" in str(err.value) and "stay pending" in str(err.value)
    assert db.execute("SELECT status FROM digests").fetchall() == [("failed",)]
    assert len(select_digest(db, make_watchlist(), NOW).items()) == 2


def test_out_dir_preview_marks_nothing_delivered(db, tmp_path):
    _evidence(db)
    preview = tmp_path / "preview"
    outcome = run_digest(db, load_settings(), make_watchlist(), out_dir=preview, clock=clock())
    assert sorted(p.name for p in preview.iterdir()) == [
        "litwatch-digest-2026-W47.eml", "litwatch-digest-2026-W47.html", "litwatch-digest-2026-W47.txt"]
    assert outcome.status == "preview" and outcome.delivered_to is None
    assert ledger.get_digest(db, outcome.digest_id)["status"] == "preview"
    assert len(select_digest(db, make_watchlist(), NOW).items()) == 2
    assert not (tmp_path / "outbox").exists()


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "digest.eml"
    target.write_bytes(b"old complete file")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_atomically(target, b"new content")
    assert target.read_bytes() == b"old complete file"
    assert [p.name for p in tmp_path.iterdir()] == ["digest.eml"]


def test_nothing_new_sends_nothing_by_default(db, tmp_path):
    outcome = run_digest(db, load_settings(), make_watchlist(), send=True, clock=clock())
    assert outcome.status == "empty" and outcome.digest_id is None
    assert not (tmp_path / "outbox").exists()


def test_nothing_new_with_send_when_empty_sends_a_short_note(db, tmp_path):
    outcome = run_digest(db, load_settings(), make_watchlist(send_when_empty=True), send=True, clock=clock())
    assert outcome.status == "delivered" and outcome.subject == "litwatch 2026-W47: nothing new"
    eml = Path(outcome.delivered_to.removeprefix("outbox:"))
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()
    assert "Nothing new this week." in text and "no crawl has run yet" in text
