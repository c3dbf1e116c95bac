"""A fake PMC id converter (``/tools/idconv/api/v1/articles/``) on 127.0.0.1.

Answers as API_NOTES describes: ``{"status": "ok", "records": [{"pmcid", "pmid", "doi",
"requested-id"}]}`` with ``pmid`` an integer.  Only articles in PMC are converted: an
unknown id comes back as a record with ``"status": "error"`` and an ``errmsg`` (what the
real service is reported to do); ``fake.omit_unknown = True`` leaves it out instead, the
other behaviour seen in the wild.  A PMC article without a PubMed record has no ``pmid``.

``fake.articles`` maps PMC id -> {"pmid": "...", "doi": "..."}; ``fake.log`` lists the
requests (``params`` as a dict of strings); ``fake.add_fault("500" | "malformed")``.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from litwatch.fakes.server import LoopbackServer

PATH = "/tools/idconv/api/v1/articles/"
MAX_IDS = 200


class FakeIdconv(LoopbackServer):
    def __init__(self, articles: dict[str, dict] | None = None):
        self.articles = {k.upper(): v for k, v in (articles or {}).items()}
        self.omit_unknown = False
        self.log: list[dict] = []
        self.faults: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def add_fault(self, kind: str, times: int = 1) -> None:
        self.faults += [kind] * times

    def answer(self, params: dict) -> tuple[int, bytes]:
        ids = [i.strip() for i in params.get("ids", "").split(",") if i.strip()]
        if not ids:
            return 400, b'{"status": "error", "message": "no ids given"}'
        if len(ids) > MAX_IDS:
            return 400, json.dumps({"status": "error", "message": f"too many ids (at most {MAX_IDS})"}).encode()
        if params.get("format") != "json":
            return 200, b"<pmcids status='ok'></pmcids>"
        records = []
        for ident in ids:
            art = self.articles.get(ident.upper())
            if art is None:
                if not self.omit_unknown:
                    records.append({"requested-id": ident, "pmcid": ident.upper(), "live": "false",
                                    "status": "error", "errmsg": "invalid article id"})
                continue
            rec = {"pmcid": ident.upper(), "requested-id": ident}
            if art.get("pmid"):
                rec["pmid"] = int(art["pmid"])
            if art.get("doi"):
                rec["doi"] = art["doi"]
            records.append(rec)
        body = {"status": "ok", "responseDate": "2026-11-21 00:00:00", "request": f"ids={','.join(ids)};format=json",
                "warning": "", "records": records}
        return 200, json.dumps(body).encode()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.log.append({"path": parts.path, "params": params})
        fault = self.faults.pop(0) if self.faults else None
        if parts.path != PATH:
            status, body = 404, b"not found"
        elif fault == "500":
            status, body = 500, b"<html>Internal Server Error</html>"
        else:
            status, body = self.answer(params)
            if fault == "malformed":
                body = body[: len(body) // 2]
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
