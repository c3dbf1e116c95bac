"""Seeds spider: read the seed documents, store what they cite, resolve each identifier.

Every regular file of the seeds folder is a document except the watchlist and hidden
files; a file that is not UTF-8 text is reported by name and skipped.  Resolution:

- NCT numbers and PMIDs resolve to themselves (no request);
- PMC ids through the PMC id converter, up to 200 ids per call;
- DOIs and PIIs through PubMed esearch ``[aid]``; a PII is searched in PubMed's punctuated
  form (``S0165-0327(22)00822-9``) OR as written (``S0165032722008229``) in one query,
  because PubMed stores Elsevier PIIs punctuated but some records carry the compact form.

An identifier that does not resolve is marked unresolved with the reason; one that could
not be looked up (the service failed for good) too, and the crawl reports the failure.
Identifiers resolved by an earlier crawl are not looked up again.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import scrapy

from litwatch.config import TOOL_NAME, load_settings
from litwatch.crawler import eutils
from litwatch.crawler.base import LitwatchSpider
from litwatch.crawler.middlewares import RetriesExhausted, retry_request
from litwatch.crawler.seed_extract import extract_citations
from litwatch.db import open_db
from litwatch.db.citations import resolved_map
from litwatch.vocab.ids import normalise_pmid, pii_compact, pii_punctuated

# The PMC id converter takes at most 200 ids of one type per call (NCBI's documentation).
IDCONV_BATCH = 200
# esearch ids to ask for: one is the answer; more show that an identifier is ambiguous.
AID_RETMAX = 5
SKIP_NAMES = {"watchlist.toml"}
# The id converter and E-utilities are both NCBI's, which counts requests per IP: one
# download slot for both keeps the seeds crawl under NCBI's rate as a whole.
NCBI_SLOT = "ncbi"


def _quoted(value: str) -> str:
    """A [aid] search value in quotes: PIIs carry parentheses, which PubMed would take
    for grouping; DOIs may carry them too."""
    return '"' + value.replace('"', "") + '"'


def aid_term(kind: str, value: str) -> tuple[str, str]:
    """(esearch term, what was searched, for the unresolved reason) for a DOI or PII."""
    if kind == "doi":
        return f"{_quoted(value)}[aid]", f"DOI {value}"
    forms = [f for f in dict.fromkeys([pii_punctuated(value), pii_compact(value)]) if f]
    return " OR ".join(f"{_quoted(f)}[aid]" for f in forms), "PII " + " or ".join(forms)


class SeedsSpider(LitwatchSpider):
    name = "seeds"
    source = "seeds"
    custom_settings = {
        "ITEM_PIPELINES": {"litwatch.crawler.pipelines_seeds.StoreCitationsPipeline": 300},
        "CONCURRENT_ITEMS": 1,  # citations are stored before their resolutions
    }

    @classmethod
    def update_settings(cls, settings):
        super().update_settings(settings)
        # Both services are NCBI's: stay under its per-IP rate (3/s, 10/s with a key), in
        # the window the PubMed crawl that follows shares (``crawler.rate_window``).
        from litwatch.crawler.rate_window import use_ncbi_window

        use_ncbi_window(settings, load_settings())

    # --- reading the documents ----------------------------------------------------
    def read_documents(self) -> tuple[dict[str, str], list[str] | None]:
        """{name: text} of the readable documents, and the names of every file present
        (None when the folder is missing: a misconfigured path must not erase citations)."""
        folder = Path(self.lw_settings.seeds_dir)
        if not folder.is_dir():
            self.warn(f"seeds folder {folder} does not exist: no seed documents read (set LITWATCH_SEEDS)")
            return {}, None
        skip = set(SKIP_NAMES) | {Path(self.watchlist.path).name}
        texts, present = {}, []
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.name.startswith(".") or path.name in skip:
                continue
            present.append(path.name)
            try:
                texts[path.name] = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                self.warn(f"seed document {path.name} is not UTF-8 text (byte {exc.start}): skipped")
                self.counts["documents_skipped"] += 1
            except OSError as exc:
                self.warn(f"seed document {path.name} cannot be read ({exc.strerror}): skipped")
                self.counts["documents_skipped"] += 1
        return texts, present

    def _resolved_before(self) -> dict:
        db = open_db(self.lw_settings.db_path)
        try:
            return resolved_map(db)
        finally:
            db.conn.close()

    async def start(self):
        texts, present = self.read_documents()
        found = [c for name, text in texts.items() for c in extract_citations(name, text)]
        self.counts["documents"] = len(texts)
        self.counts["citations"] = len(found)
        yield {"_type": "citations", "documents": list(texts), "present": present,
               "citations": found}
        done = self._resolved_before()
        todo = list(dict.fromkeys((c.kind, c.value) for c in found if (c.kind, c.value) not in done))
        pmcids = []
        for kind, value in todo:
            if kind == "nct":
                yield self.resolution(kind, value, "trial", value)
            elif kind == "pmid":
                yield self.resolution(kind, value, "publication", value)
            elif kind == "pmcid":
                pmcids.append(value)
            else:  # doi, pii
                yield self.aid_request(kind, value)
        for i in range(0, len(pmcids), IDCONV_BATCH):
            yield self.idconv_request(pmcids[i: i + IDCONV_BATCH])

    # --- items --------------------------------------------------------------------
    @staticmethod
    def resolution(kind: str, value: str, resolved_kind: str, resolved_id: str) -> dict:
        return {"_type": "resolution", "kind": kind, "value": value, "status": "resolved",
                "resolved_kind": resolved_kind, "resolved_id": resolved_id}

    @staticmethod
    def unresolved(kind: str, value: str, reason: str) -> dict:
        return {"_type": "resolution", "kind": kind, "value": value, "status": "unresolved", "reason": reason}

    # --- PMC id converter -----------------------------------------------------------
    def idconv_request(self, pmcids: list[str]) -> scrapy.Request:
        params = {"ids": ",".join(pmcids), "idtype": "pmcid", "format": "json", "tool": TOOL_NAME}
        if self.lw_settings.ncbi_email:
            params["email"] = self.lw_settings.ncbi_email
        return scrapy.Request(
            f"{self.lw_settings.idconv_url}?{urlencode(params)}",
            callback=self.parse_idconv,
            errback=self.lookup_failed,
            meta={"lw_what": f"PMC id converter ({len(pmcids)} ids)", "lw_ids": [("pmcid", p) for p in pmcids], "download_slot": NCBI_SLOT},
        )

    def parse_idconv(self, response):
        ids = [value for _, value in response.meta["lw_ids"]]
        try:
            data = json.loads(response.body)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            yield from self._retry_or_give_up(response, f"PMC id converter: unreadable answer ({exc})")
            return
        if data.get("status") not in (None, "ok"):
            message = data.get("message") or data.get("errmsg") or data.get("status")
            for pmcid in ids:
                yield self.unresolved("pmcid", pmcid, f"PMC id converter: {message}")
            return
        answered = set()
        for rec in data.get("records") or []:
            if not isinstance(rec, dict):
                continue
            asked = str(rec.get("requested-id") or rec.get("pmcid") or "").upper()
            match = next((p for p in ids if p == asked or p == str(rec.get("pmcid") or "").upper()), None)
            if match is None:
                continue
            answered.add(match)
            pmid = normalise_pmid(str(rec.get("pmid") or ""))
            if pmid:
                yield self.resolution("pmcid", match, "publication", pmid)
            elif rec.get("status") == "error" or rec.get("errmsg"):
                yield self.unresolved("pmcid", match, f"PMC id converter: {rec.get('errmsg') or 'error'}")
            else:
                yield self.unresolved("pmcid", match, "PMC id converter: article in PMC but not in PubMed (no PMID)")
        for pmcid in ids:
            if pmcid not in answered:
                yield self.unresolved("pmcid", pmcid, "PMC id converter: not in PMC (no record returned)")

    # --- esearch [aid] ----------------------------------------------------------------
    def aid_request(self, kind: str, value: str) -> scrapy.Request:
        term, searched = aid_term(kind, value)
        call = eutils.esearch(self.lw_settings, term, retmax=AID_RETMAX)
        return scrapy.FormRequest(
            call.url,
            formdata=call.params,
            callback=self.parse_aid,
            errback=self.lookup_failed,
            dont_filter=True,
            meta={"lw_what": f"PubMed search for {searched}", "lw_ids": [(kind, value)], "lw_searched": searched, "download_slot": NCBI_SLOT},
        )

    def parse_aid(self, response):
        (kind, value), = response.meta["lw_ids"]
        try:
            result = eutils.parse_esearch(response.body)
        except eutils.EUtilsError as exc:
            yield from self._retry_or_give_up(response, str(exc))
            return
        if result.ids:
            yield self.resolution(kind, value, "publication", result.ids[0])
            if len(result.ids) > 1:
                self.warn(f"{response.meta['lw_searched']} matches {result.count} PubMed records; using PMID {result.ids[0]}")
        else:
            what = "DOI" if kind == "doi" else "PII"
            yield self.unresolved(kind, value, f"no PubMed record with this {what} (searched {response.meta['lw_searched']})")

    # --- failures -----------------------------------------------------------------------
    def _retry_or_give_up(self, response, reason: str):
        try:
            yield retry_request(response.request, reason, self.settings)
        except RetriesExhausted as exc:
            self.fail(f"{response.meta['lw_what']}: {exc}")
            self.counts["requests_failed"] += 1
            for kind, value in response.meta["lw_ids"]:
                yield self.unresolved(kind, value, f"{reason}; not looked up, tried again next crawl")

    def lookup_failed(self, failure):
        """A lookup that failed for good: the crawl reports it, the citations say why."""
        self.errback(failure)
        request = failure.request
        exc = failure.value
        status = getattr(getattr(exc, "response", None), "status", None)
        why = f"HTTP {status}" if status else f"{type(exc).__name__}: {exc}"
        for kind, value in request.meta.get("lw_ids", []):
            yield self.unresolved(kind, value, f"{request.meta['lw_what']} failed ({why}); tried again next crawl")
