"""What every fake server shares (litwatch.fakes.server): answers sent in pieces arrive whole."""

from __future__ import annotations

import socket
import threading

import requests

from litwatch.fakes import server
from litwatch.fakes.eutils import FakeEutils


def _read_all(sock: socket.socket, out: list[bytes]) -> None:
    while chunk := sock.recv(7_777):  # an odd size: the reader lags behind the writer
        out.append(chunk)


def test_pieces_arrive_as_if_joined_whatever_the_partial_writes(monkeypatch):
    monkeypatch.setattr(server, "PIECES_A_CALL", 3)  # many calls, each one cut short somewhere
    pieces = [bytes([i % 251]) * (i * 997 % 50_000) for i in range(40)] + [b"", b"end"]
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # partial writes, not one big one
    got: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(b, got))
    reader.start()
    server.send_pieces(a, pieces)
    a.close()
    reader.join(10)
    b.close()
    assert b"".join(got) == b"".join(pieces)


def test_an_efetch_answer_sent_in_pieces_is_the_recorded_records_and_its_length_is_right():
    with FakeEutils() as fake:
        pmids = sorted(fake.records)[:3]
        r = requests.get(fake.base_url + "efetch.fcgi", params={"db": "pubmed", "id": ",".join(pmids), "retmode": "xml"}, timeout=10)
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert r.content.rstrip().endswith(b"</PubmedArticleSet>")
    for pmid in pmids:
        assert fake.records[pmid] in r.content
