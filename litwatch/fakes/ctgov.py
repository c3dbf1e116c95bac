"""A fake ClinicalTrials.gov API v2 on 127.0.0.1, serving the recorded studies.

Real HTTP in a thread of the test process (the crawl runs in its own process and talks to
it like to the real service).  It behaves as the real service does where our code depends
on it:

- ``GET /api/v2/studies``: ``query.*`` (a simple stand-in for Essie: an expression matches
  when one of its ``OR`` alternatives has all its words in the study's text for that
  area), ``filter.ids``, ``filter.advanced`` (only ``AREA[LastUpdatePostDate]RANGE[a,b]``),
  ``pageSize`` (capped by ``max_page_size``), ``pageToken`` (later pages must repeat the
  first page's parameters), ``countTotal``, ``format``; a parameter that is not in the
  official spec (litwatch/fakes/recordings/ctgov/ctg-oas-v2.yaml) is refused with 400 and a plain-text
  message, as the real service does;
- ``GET /api/v2/studies/{nct}``: 200 or 404; ``GET /api/v2/version``.

Tests replace a study with a changed version (``put_study``), inject faults (``add_fault``:
"429", "500", "truncated", "malformed"; ``lose_studies``: a totalCount larger than what
paging serves), and read the request log (``log``, ``max_requests_per_minute``).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from litwatch.fakes.server import LoopbackServer

FIXTURES = Path(__file__).resolve().parent / "recordings" / "ctgov"
SPEC = FIXTURES / "ctg-oas-v2.yaml"
PREFIX = "/api/v2"
RANGE_RE = re.compile(r"^AREA\[LastUpdatePostDate\]RANGE\[([^,\]]+),([^\]]+)\]$")


def spec_parameters(spec_path: Path = SPEC) -> dict[str, set[str]]:
    """Query parameter names per path of the official OpenAPI description."""
    import yaml

    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    out = {}
    for path, ops in spec["paths"].items():
        names = set()
        for op in ops.values():
            for prm in op.get("parameters", []):
                if "$ref" in prm:
                    ref = prm["$ref"].rsplit("/", 1)[-1]
                    prm = spec["components"]["parameters"][ref]
                if prm.get("in") == "query":
                    names.add(prm["name"])
        out[path] = names
    return out


def _text(obj) -> str:
    return json.dumps(obj, ensure_ascii=False).lower() if obj is not None else ""


def _area_text(study: dict, suffix: str) -> str:
    p = study.get("protocolSection", {})
    if suffix == "cond":
        return _text(p.get("conditionsModule"))
    if suffix == "intr":
        return _text(p.get("armsInterventionsModule"))
    if suffix == "titles":
        return _text(p.get("identificationModule"))
    if suffix in ("spons", "lead"):
        return _text(p.get("sponsorCollaboratorsModule"))
    if suffix == "id":
        return _text(p.get("identificationModule"))
    return _text(study)


def essie_matches(expr: str, text: str) -> bool:
    for alternative in re.split(r"\s+OR\s+", expr):
        words = re.findall(r"\w+", alternative.lower())
        if words and all(w in text for w in words):
            return True
    return False


class FakeCtgov(LoopbackServer):
    def __init__(self, fixtures: Path = FIXTURES):
        self.studies: dict[str, dict] = {}
        for path in sorted(fixtures.glob("NCT*.json")):
            self.put_study(json.loads(path.read_text(encoding="utf-8")))
        self.allowed = spec_parameters()
        self.max_page_size = 1000
        self.match_all = False  # True: every study matches every query.* (paging tests)
        # Studies counted in totalCount but never served: the real service's result set can
        # shrink between pages (a study edited out of the query's range while paging).
        self.lose_studies = 0
        self.faults: list[dict] = []
        self.log: list[dict] = []
        self._tokens: dict[str, tuple[tuple, int]] = {}
        self._lock = threading.Lock()

    # --- test API -----------------------------------------------------------------
    def put_study(self, study: dict) -> None:
        nct = study["protocolSection"]["identificationModule"]["nctId"]
        self.studies[nct] = copy.deepcopy(study)

    def remove_study(self, nct: str) -> None:
        self.studies.pop(nct, None)

    def add_fault(self, kind: str, path_contains: str = "", times: int = 1) -> None:
        """Answer the next ``times`` requests whose path+query contains ``path_contains``
        with a fault: "429", "500", "truncated" (body cut short), "malformed" (bad JSON)."""
        assert kind in {"429", "500", "truncated", "malformed"}
        with self._lock:
            self.faults.append({"kind": kind, "match": path_contains, "left": times})

    def requests(self, path_contains: str = "") -> list[dict]:
        return [r for r in self.log if path_contains in r["url"]]

    def max_requests_per_minute(self) -> int:
        times = sorted(r["time"] for r in self.log)
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= 60:
                start += 1
            best = max(best, end - start + 1)
        return best

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}/"

    # --- serving ------------------------------------------------------------------
    def _take_fault(self, url: str) -> str | None:
        with self._lock:
            for fault in self.faults:
                if fault["left"] > 0 and fault["match"] in url:
                    fault["left"] -= 1
                    return fault["kind"]
        return None

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        params = parse_qs(parts.query, keep_blank_values=True)
        entry = {"time": time.time(), "url": h.path, "path": parts.path, "params": params, "status": None}
        with self._lock:
            self.log.append(entry)
        fault = self._take_fault(h.path)
        if fault in ("429", "500"):
            extra = {"Retry-After": "0"} if fault == "429" else {}
            return self._send(h, entry, int(fault), b"Too Many Requests" if fault == "429" else b"<html>Internal error</html>", "text/plain", extra)
        status, body, ctype = self._route(parts.path, params)
        if status == 200 and fault == "malformed":
            body = body[: max(1, len(body) // 2)]
        if status == 200 and fault == "truncated":
            entry["status"] = "truncated"
            h.send_response(200)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        self._send(h, entry, status, body, ctype)

    def _send(self, h, entry, status, body: bytes, ctype: str, headers: dict | None = None) -> None:
        entry["status"] = status
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _route(self, path: str, params: dict) -> tuple[int, bytes, str]:
        if not path.startswith(PREFIX + "/"):
            return 404, b"Not found", "text/plain"
        sub = path[len(PREFIX):]
        if sub == "/version":
            body = {"apiVersion": "2.0.5", "dataTimestamp": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")}
            return 200, json.dumps(body).encode(), "application/json"
        if sub == "/studies":
            spec_path = "/studies"
        elif re.fullmatch(r"/studies/[^/]+", sub):
            spec_path = "/studies/{nctId}"
        else:
            return 404, b"Not found", "text/plain"
        unknown = sorted(set(params) - self.allowed[spec_path])
        if unknown:
            return 400, f"Unknown parameter: {unknown[0]}".encode(), "text/plain"
        fmt = params.get("format", ["json"])[0]
        if fmt != "json":
            return 400, f"format {fmt!r} is not served by this fake".encode(), "text/plain"
        if spec_path == "/studies/{nctId}":
            nct = sub.rsplit("/", 1)[1].upper()
            if not re.fullmatch(r"NCT\d{8}", nct):
                return 400, f"Invalid NCT number: {nct}".encode(), "text/plain"
            study = self.studies.get(nct)
            if study is None:
                return 404, f"Study {nct} not found".encode(), "text/plain"
            return 200, json.dumps(study).encode(), "application/json"
        return self._studies(params)

    def _studies(self, params: dict) -> tuple[int, bytes, str]:
        one = {k: v[-1] for k, v in params.items()}
        token = one.pop("pageToken", None)
        key = tuple(sorted(one.items()))
        try:
            page_size = int(one.get("pageSize", "10"))
        except ValueError:
            return 400, b"pageSize must be an integer", "text/plain"
        if page_size < 0:
            return 400, b"pageSize must be >= 0", "text/plain"
        page_size = min(page_size or 10, self.max_page_size)
        lo, hi = "MIN", "MAX"
        if "filter.advanced" in one:
            m = RANGE_RE.match(one["filter.advanced"])
            if not m:
                return 400, f"filter.advanced not understood by this fake: {one['filter.advanced']}".encode(), "text/plain"
            lo, hi = m.groups()
        ids = None
        if "filter.ids" in one:
            ids = {i.strip().upper() for i in re.split(r"[|,]", one["filter.ids"]) if i.strip()}
        offset = 0
        if token is not None:
            saved = self._tokens.get(token)
            if saved is None or saved[0] != key:
                return 400, b"Invalid pageToken (or parameters differ from the first page)", "text/plain"
            offset = saved[1]
        matching = []
        for nct in sorted(self.studies):
            study = self.studies[nct]
            if ids is not None and nct not in ids:
                continue
            last = (study["protocolSection"].get("statusModule", {}).get("lastUpdatePostDateStruct") or {}).get("date", "")
            if lo != "MIN" and last < lo:
                continue
            if hi != "MAX" and last > hi:
                continue
            if not self.match_all and not all(
                essie_matches(expr, _area_text(study, name.split(".", 1)[1]))
                for name, expr in one.items() if name.startswith("query.")
            ):
                continue
            matching.append(study)
        total = len(matching)
        served = matching[: max(0, total - self.lose_studies)]
        page = served[offset: offset + page_size]
        body: dict = {"studies": page}
        if offset + page_size < len(served):
            new_token = secrets.token_hex(8)
            self._tokens[new_token] = (key, offset + page_size)
            body["nextPageToken"] = new_token
        if token is None and one.get("countTotal") == "true":
            body["totalCount"] = total
        return 200, json.dumps(body).encode(), "application/json"


def derived_study(nct: str, title: str, *, official_title: str, status: str, phases: list[str], enrollment: tuple[int, str],
                  conditions: list[str], interventions: list[str], sponsor: str, updated: str,
                  primary_completion: tuple[str, str] | None = None, fda_regulated_drug: bool | None = None) -> dict:
    """A study as the service might serve it, derived from a recorded one (NCT06171568):
    every field the recording has, with identity, status, design, conditions and
    interventions replaced (the recordings hold no ketamine trials)."""
    study = json.loads((FIXTURES / "NCT06171568.json").read_text(encoding="utf-8"))
    p = study["protocolSection"]
    p["identificationModule"].update(nctId=nct, briefTitle=title, officialTitle=official_title)
    p["statusModule"].update(overallStatus=status, lastUpdatePostDateStruct={"date": updated, "type": "ACTUAL"})
    if primary_completion:
        p["statusModule"]["primaryCompletionDateStruct"] = {"date": primary_completion[0], "type": primary_completion[1]}
        p["statusModule"]["completionDateStruct"] = {"date": primary_completion[0], "type": primary_completion[1]}
    if fda_regulated_drug is not None:
        p.setdefault("oversightModule", {})["isFdaRegulatedDrug"] = fda_regulated_drug
    count, kind = enrollment
    p["designModule"].update(studyType="INTERVENTIONAL", phases=phases, enrollmentInfo={"count": count, "type": kind})
    p["conditionsModule"] = {"conditions": conditions}
    p["armsInterventionsModule"] = {"interventions": [{"type": "DRUG", "name": name} for name in interventions]}
    p["sponsorCollaboratorsModule"] = {"leadSponsor": {"name": sponsor, "class": "OTHER"}}
    return study


def ketamine_bpd_study(nct: str = "NCT03395314") -> dict:
    """NCT03395314 ("Ketamine in Borderline Personality Disorder", Yale) as the service
    might serve it: RECRUITING, 60 participants ESTIMATED (see ``derived_study``)."""
    return derived_study(nct, "Ketamine in Borderline Personality Disorder",
                         official_title="Ketamine in Borderline Personality Disorder: a pilot study",
                         status="RECRUITING", phases=["PHASE2"], enrollment=(60, "ESTIMATED"),
                         conditions=["Borderline Personality Disorder"], interventions=["Ketamine", "Midazolam"],
                         sponsor="Yale University", updated="2022-06-01")
