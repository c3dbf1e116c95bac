"""Delivery through a real SMTP server on 127.0.0.1: what arrives, and what a refusal leaves."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import email.utils

import pytest
from digest_support import NOW, clock, make_watchlist
from smtp_support import (
    Sink,
    client_tls,
    free_port,
    self_signed_cert,
    server_tls,
    smtp_server,
)

from litwatch import demo_world as demo
from litwatch.config import load_settings
from litwatch.db import digests as ledger
from litwatch.digest.deliver import DeliveryError, parse_smtp_url
from litwatch.digest.pipeline import run_digest
from litwatch.digest.select import select_digest
from litwatch.vocab.errors import ConfigError


def _settings(db_path, url):
    return dataclasses.replace(load_settings(), db_path=str(db_path), smtp_url=url)


def _week_of_evidence(db):
    demo.add_publication(db, "38011560", title="Ketamine and the neurobiology of depression", topics=["ketamine-depression"],
                         publication_types=["Review"])
    demo.add_publication(db, "200", title="Esketamine <i>versus</i> quetiapine", topics=["ketamine-trd"],
                         publication_types=["Randomized Controlled Trial"])
    demo.add_publication(db, "300", title="Retracted ketamine study", topics=["ketamine-bpd"])
    demo.add_correction(db, "300", "RetractionIn", "301")
    demo.add_trial(db, "NCT03395314", title="Ketamine in Borderline Personality Disorder", status="RECRUITING")
    demo.change_trial(db, "NCT03395314", status="TERMINATED")
    demo.add_feed_item(db, "pre-1", title="Arketamine preprint", topics=["ketamine-depression"])
    return ["Ketamine and the neurobiology of depression", "versus", "quetiapine", "Retracted ketamine study",
            "NCT03395314", "recruiting → terminated", "Arketamine preprint", "pubmed.ncbi.nlm.nih.gov/38011560/"]


def _parts(envelope):
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    return msg, msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def test_digest_arrives_well_formed_with_every_item_in_both_parts(db, db_path):
    needles = _week_of_evidence(db)
    sink = Sink()
    with smtp_server(sink) as port:
        outcome = run_digest(db, _settings(db_path, f"smtp://127.0.0.1:{port}"), make_watchlist(), send=True, clock=clock())
    assert len(sink.messages) == 1
    envelope = sink.messages[0]
    assert envelope.mail_from == "litwatch@example.org" and envelope.rcpt_tos == ["reader@example.org"]
    msg, text, html = _parts(envelope)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == "litwatch 2026-W47: NCT03395314 terminated; 1 retraction; 3 papers; 1 new trial"
    assert msg["From"] == "litwatch@example.org" and msg["To"] == "reader@example.org"
    assert msg["List-Id"] == "litwatch digest <litwatch.example.org>"
    assert msg["List-Unsubscribe"] == "<mailto:litwatch@example.org?subject=unsubscribe>" and msg["List-Unsubscribe-Post"] is None
    assert email.utils.parsedate_to_datetime(msg["Date"]) == NOW
    assert msg["Message-ID"] == outcome.message_id and msg["Message-ID"].endswith("@example.org>")
    for needle in needles:
        assert needle in text, needle
        assert needle in html, needle
    row = ledger.get_digest(db, outcome.digest_id)
    assert row["status"] == "delivered" and row["delivered_to"] == "smtp" and row["sent_at"] and row["message_id"] == msg["Message-ID"]
    shape = outcome.as_json()
    assert sorted(shape["publications"]) == ["200", "300", "38011560"]
    assert shape["trials"] == ["NCT03395314"] and shape["retractions"] == ["300"]
    assert shape["trial_changes"] == [{"nct_id": "NCT03395314", "field": "status", "old": "RECRUITING", "new": "TERMINATED"}]
    assert shape["delivered_to"] == "smtp" and shape["recipients"] == ["reader@example.org"]


def test_second_digest_holds_none_of_the_first(db, db_path):
    _week_of_evidence(db)
    sink = Sink()
    with smtp_server(sink) as port:
        settings = _settings(db_path, f"smtp://127.0.0.1:{port}")
        first = run_digest(db, settings, make_watchlist(), send=True, clock=clock())
        demo.add_publication(db, "400", title="A paper of the next week", topics=["ketamine-depression"])
        second = run_digest(db, settings, make_watchlist(), send=True, clock=clock())
        third = run_digest(db, settings, make_watchlist(), send=True, clock=clock())
    assert second.as_json()["publications"] == ["400"] and second.as_json()["trials"] == []
    assert not set(ledger.digest_items(db, first.digest_id)) & set(ledger.digest_items(db, second.digest_id))
    assert third.status == "empty" and third.digest_id is None
    assert len(sink.messages) == 2


@pytest.mark.parametrize("refusal", [{"data_reply": "550 5.7.1 Message rejected"}, {"data_reply": "451 4.3.0 Try again later"},
                                     {"rcpt_reply": "450 4.2.1 Mailbox busy"}, {"rcpt_reply": "550 5.1.1 No such user"}])
def test_refused_delivery_leaves_every_item_pending(db, db_path, refusal):
    _week_of_evidence(db)
    before = select_digest(db, make_watchlist(), NOW).items()
    with smtp_server(Sink(**refusal)) as port:
        with pytest.raises(DeliveryError) as err:
            run_digest(db, _settings(db_path, f"smtp://127.0.0.1:{port}"), make_watchlist(), send=True, clock=clock())
    message = str(err.value)
    assert "\n" not in message and (refusal.get("data_reply") or refusal["rcpt_reply"])[:3] in message
    assert "stay pending" in message
    assert select_digest(db, make_watchlist(), NOW).items() == before
    assert db.execute("SELECT status FROM digests").fetchall() == [("failed",)]
    sink = Sink()
    with smtp_server(sink) as port:
        retry = run_digest(db, _settings(db_path, f"smtp://127.0.0.1:{port}"), make_watchlist(), send=True, clock=clock())
    assert retry.status == "delivered" and set(ledger.digest_items(db, retry.digest_id)) == set(before)


def test_no_server_listening_is_one_line_and_nothing_delivered(db, db_path):
    _week_of_evidence(db)
    with pytest.raises(DeliveryError) as err:
        run_digest(db, _settings(db_path, f"smtp://127.0.0.1:{free_port()}?timeout=5"), make_watchlist(), send=True, clock=clock())
    assert "cannot deliver to SMTP server smtp://127.0.0.1" in str(err.value)
    assert select_digest(db, make_watchlist(), NOW).has_items


def test_starttls_and_login(db, db_path, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    _week_of_evidence(db)
    sink = Sink()
    with smtp_server(sink, tls_context=server_tls(cert, key), require_starttls=True, authenticator=sink.authenticator,
                     auth_require_tls=True) as port:
        url = f"smtp://reader:p%40ss%3Aw%2Frd@127.0.0.1:{port}?starttls=1"
        outcome = run_digest(db, _settings(db_path, url), make_watchlist(), send=True, clock=clock(), ssl_context=client_tls(cert))
    assert outcome.status == "delivered" and len(sink.messages) == 1
    assert sink.logins == [("reader", "p@ss:w/rd")]


def test_implicit_tls(db, db_path, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    _week_of_evidence(db)
    sink = Sink()
    with smtp_server(sink, ssl_context=server_tls(cert, key)) as port:
        outcome = run_digest(db, _settings(db_path, f"smtps://127.0.0.1:{port}"), make_watchlist(), send=True, clock=clock(),
                             ssl_context=client_tls(cert))
    assert outcome.status == "delivered" and len(sink.messages) == 1


def test_untrusted_certificate_fails_in_one_line(db, db_path, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    _week_of_evidence(db)
    with smtp_server(Sink(), ssl_context=server_tls(cert, key)) as port:
        with pytest.raises(DeliveryError) as err:  # the default trust store does not know our cert
            run_digest(db, _settings(db_path, f"smtps://reader:s3cret@127.0.0.1:{port}?timeout=5"), make_watchlist(), send=True,
                       clock=clock())
    assert "TLS" in str(err.value) and "s3cret" not in str(err.value)
    assert select_digest(db, make_watchlist(), NOW).has_items


def test_wrong_password_fails_without_showing_it(db, db_path, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    _week_of_evidence(db)
    sink = Sink()
    # aiosmtpd does not count implicit TLS as TLS for AUTH: allow AUTH on this connection.
    with smtp_server(sink, ssl_context=server_tls(cert, key), authenticator=sink.authenticator, auth_require_tls=False) as port:
        with pytest.raises(DeliveryError) as err:
            run_digest(db, _settings(db_path, f"smtps://reader:s3cret@127.0.0.1:{port}?timeout=5"), make_watchlist(), send=True,
                       clock=clock(), ssl_context=client_tls(cert))
    assert "refused the login" in str(err.value) and "s3cret" not in str(err.value)
    assert not sink.messages
    errors = " ".join(r[0] or "" for r in db.execute("SELECT error FROM digests").fetchall())
    assert "s3cret" not in errors and select_digest(db, make_watchlist(), NOW).has_items


def test_smtp_url_parsing():
    t = parse_smtp_url("smtp://user%40example.org:p%40ss@mail.example.org:587?starttls=1&timeout=10")
    assert (t.scheme, t.host, t.port, t.username, t.password, t.starttls, t.timeout) == (
        "smtp", "mail.example.org", 587, "user@example.org", "p@ss", True, 10.0)
    assert "p@ss" not in repr(t) and "p@ss" not in t.describe()
    assert parse_smtp_url("smtps://mail.example.org").port == 465
    assert parse_smtp_url("smtp://mail.example.org").port == 25
    for bad in ("http://h", "smtp://", "smtp://u:secretpw@h:notaport", "smtp://h?starttls=maybe", "smtp://h?tls=1",
                "smtps://h?starttls=1", "smtp://h?timeout=-1"):
        with pytest.raises(ConfigError) as err:
            parse_smtp_url(bad)
        assert "secretpw" not in str(err.value)


def test_smtp_without_recipients_is_a_config_error_before_anything_is_claimed(db, db_path):
    _week_of_evidence(db)
    watchlist = dataclasses.replace(make_watchlist(), digest=dataclasses.replace(make_watchlist().digest, to=()))
    with pytest.raises(ConfigError):
        run_digest(db, _settings(db_path, "smtp://127.0.0.1:25"), watchlist, send=True, clock=clock())
    assert db.execute("SELECT COUNT(*) FROM digests").fetchone()[0] == 0


def test_long_subject_is_folded_and_one_click_unsubscribe_when_configured(db, db_path):
    _week_of_evidence(db)
    watchlist = make_watchlist(subject_prefix="Psychiatry evidence watch of the Example University Hospital clinic",
                               unsubscribe_url="https://lists.example.org/u/abc123")
    watchlist = dataclasses.replace(watchlist, digest=dataclasses.replace(watchlist.digest, sender="Digest <digest@mail.example.net>"))
    sink = Sink()
    with smtp_server(sink) as port:
        outcome = run_digest(db, _settings(db_path, f"smtp://127.0.0.1:{port}"), watchlist, send=True, clock=clock())
    raw = sink.messages[0].content
    assert all(len(line) <= 78 for line in raw.split(b"\r\n") if line.startswith((b"Subject:", b" ")) and b"=" not in line)
    msg, _, html = _parts(sink.messages[0])
    assert msg["Subject"] == outcome.subject and len(outcome.subject) > 78
    assert b"\r\nSubject: Psychiatry evidence watch" in b"\r\n" + raw and b"\r\n " in raw.split(b"\r\nFrom:")[0]
    assert msg["List-Unsubscribe"] == "<https://lists.example.org/u/abc123>, <mailto:digest@mail.example.net?subject=unsubscribe>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Message-ID"].endswith("@mail.example.net>") and msg["List-Id"] == "litwatch digest <litwatch.mail.example.net>"
    assert 'href="https://lists.example.org/u/abc123"' in html


def test_unsubscribe_url_must_be_https():
    with pytest.raises(ConfigError) as err:
        make_watchlist(unsubscribe_url="http://lists.example.org/u")
    assert "digest.unsubscribe_url" in str(err.value)


def test_papers_past_the_cap_are_claimed_and_listed_in_json_but_not_read(db, db_path, tmp_path):
    """Only the papers a section shows are read in full; every pending one is claimed by the
    ledger (straight from the database) and listed by --json, in reading order."""
    for i in range(12):
        demo.add_publication(db, str(500 + i), title=f"Paper {i}", topics=["ketamine-depression"])
    settings = dataclasses.replace(_settings(db_path, None), outbox=str(tmp_path / "outbox"))
    outcome = run_digest(db, settings, make_watchlist(max_per_section=3), send=True, clock=clock())
    assert outcome.status == "delivered"
    assert [p.pmid for p in outcome.content.publications] == ["511", "510", "509"]  # newest first, the cap
    assert outcome.content.counts["publications"] == 12
    assert outcome.as_json()["publications"] == [str(500 + i) for i in reversed(range(12))]
    assert sorted(k for kind, k in ledger.digest_items(db, outcome.digest_id) if kind == "publication") == \
        sorted(str(500 + i) for i in range(12))
    assert "and 9 more" in outcome.text
    assert run_digest(db, settings, make_watchlist(max_per_section=3), send=True, clock=clock()).status == "empty"
