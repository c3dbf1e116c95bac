"""Delivery claims: a crashed ``digest --send`` is resumed with the same message, a live one is left alone.

The fault is real: ``litwatch digest --send`` runs as a child process against an SMTP
server on 127.0.0.1 that stores the message and then does not answer; the test kills the
child with SIGKILL at that point (the server has the message, the ledger says
``sending``) and runs ``digest --send`` again.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from digest_support import WATCHLIST_TOML
from smtp_support import smtp_server

from litwatch import demo_world as world
from litwatch.db import digests as ledger
from litwatch.db import open_db


class StoreThenHang:
    """Stores each message; while ``hang`` is set, then keeps the client waiting for the reply."""

    def __init__(self):
        self.messages: list = []
        self.hang = threading.Event()
        self.hang.set()

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        while self.hang.is_set():
            await asyncio.sleep(0.05)
        return "250 Message accepted for delivery"


@pytest.fixture
def setup(tmp_path, monkeypatch):
    config = tmp_path / "watchlist.toml"
    config.write_text(WATCHLIST_TOML, encoding="utf-8")
    db_path = tmp_path / "litwatch.db"
    monkeypatch.setenv("LITWATCH_CONFIG", str(config))
    monkeypatch.setenv("LITWATCH_DB", str(db_path))
    db = open_db(db_path)
    world.add_publication(db, "38011560", title="Ketamine and the neurobiology of depression", topics=["ketamine-depression"])
    world.add_publication(db, "300", title="Ketamine in BPD", topics=["ketamine-bpd"])
    db.conn.close()
    return db_path


def _start_send(port: int) -> subprocess.Popen:
    env = {**os.environ, "LITWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}?timeout=30"}
    return subprocess.Popen([sys.executable, "-m", "litwatch.cli", "digest", "--send"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _send(port: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "LITWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}?timeout=30"}
    return subprocess.run([sys.executable, "-m", "litwatch.cli", "digest", "--send"], env=env, capture_output=True,
                          text=True, timeout=60)


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _message_ids(handler) -> list[str]:
    return [email.message_from_bytes(m.content, policy=email.policy.default)["Message-ID"] for m in handler.messages]


def test_kill_9_after_the_server_stored_the_message_resends_the_same_message(setup):
    handler = StoreThenHang()
    with smtp_server(handler) as port:
        child = _start_send(port)
        _wait_for(lambda: len(handler.messages) == 1)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        handler.hang.clear()
        db = open_db(setup)
        claim = ledger.open_claims(db)[0]
        assert claim["claim_pid"] == child.pid and claim["message_id"] == _message_ids(handler)[0]
        again = _send(port)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"digest {claim['id']} resumed") and "nothing new" not in again.stdout
    # The same message twice, one Message-ID; never a second message carrying the same items.
    assert len(handler.messages) == 2 and len(set(_message_ids(handler))) == 1
    assert handler.messages[0].content == handler.messages[1].content
    rows = db.execute("SELECT id, status, message_id FROM digests").fetchall()
    assert rows == [(claim["id"], "delivered", claim["message_id"])]
    assert sorted(ledger.digest_items(db, claim["id"])) == [("publication", "300"), ("publication", "38011560")]
    with smtp_server(handler) as port:
        assert _send(port).stdout.startswith("nothing new since the last digest")
    assert len(handler.messages) == 2


def test_a_live_claim_in_flight_is_said_and_left_alone(setup):
    handler = StoreThenHang()
    with smtp_server(handler) as port:
        child = _start_send(port)
        try:
            _wait_for(lambda: len(handler.messages) == 1)
            second = _send(port)
            assert second.returncode == 0, second.stderr
            assert "is being delivered by process" in second.stdout and str(child.pid) in second.stdout
            assert "nothing new: no evidence" not in second.stdout and len(handler.messages) == 1
        finally:
            handler.hang.clear()
            out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert out.startswith("digest 1 delivered")
    assert len(handler.messages) == 1


def test_a_claim_that_died_before_its_message_was_built_frees_its_items(setup, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    db = open_db(setup)
    import socket

    with ledger.write_transaction(db):
        ledger.record_digest(db, created_at="2026-11-16T11:59:00Z", week="w", subject="s", recipients=["reader@example.org"],
                             items=[("publication", "300")], status="sending",
                             claim=(socket.gethostname(), dead.pid, "1"))
    proc = subprocess.run([sys.executable, "-m", "litwatch.cli", "digest", "--send", "--json"], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert sorted(data["publications"]) == ["300", "38011560"] and data["status"] == "delivered"
    assert db.execute("SELECT status, error FROM digests WHERE id = 1").fetchone() == (
        "failed", "the sending process died before its message was built")
