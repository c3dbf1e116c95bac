"""ClinicalTrials.gov API v2: which requests to send, and what a study JSON becomes.

Pure functions, no I/O: the spider (``crawler.spiders.ctgov``) sends what is built here and
the pipelines store what ``normalise_study`` returns.  Every parameter name used here is in
the official OpenAPI description (litwatch/fakes/recordings/ctgov/ctg-oas-v2.yaml); a test checks it,
because the service answers an unknown parameter with HTTP 400.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from urllib.parse import urlencode

from litwatch.config import Topic
from litwatch.vocab.ids import normalise_nct, normalise_pmid
from litwatch.vocab.records import Trial, TrialReference

# The service allows pageSize up to 1000, but a full study with results runs to several
# hundred KB: 1000 of them can pass the spider's 64 MB answer limit (bounded memory, see
# spiders/ctgov.py).  100 keeps a page to a few MB and a topic to a handful of requests
# (100 studies a request at the polite ~40 requests a minute is 4,000 studies a minute).
PAGE_SIZE = 100

# Parts of a served study that say when and how ClinicalTrials.gov served or indexed it,
# not what the study says: ``derivedSection`` is computed by the service (versionHolder,
# the date of the data release; MeSH browse trees; model predictions; submission
# tracking).  They change without the study changing, so the content hash leaves them out.
SERVING_METADATA = ("derivedSection",)

# Reference types in the order a reader wants the linked papers: the trial's own results
# first, then papers derived from it, then background reading.
REFERENCE_TYPE_ORDER = {"RESULT": 0, "DERIVED": 1, "BACKGROUND": 2}


def update_range(since: dt.date) -> str:
    """Essie filter for studies updated on or after ``since`` (LastUpdatePostDate)."""
    return f"AREA[LastUpdatePostDate]RANGE[{since.isoformat()},MAX]"


def studies_params(topic: Topic, since: dt.date, page_token: str | None = None) -> dict[str, str]:
    """Query parameters of one ``/studies`` page for ``topic``.

    Later pages repeat exactly the first page's parameters plus ``pageToken`` (the service
    requires the same query for a token to be valid).
    """
    params: dict[str, str] = {f"query.{suffix}": expr for suffix, expr in sorted(topic.ctgov.items())}
    params["filter.advanced"] = update_range(since)
    params["pageSize"] = str(PAGE_SIZE)
    params["format"] = "json"
    params["countTotal"] = "true"
    if page_token:
        params["pageToken"] = page_token
    return params


def studies_url(base_url: str, params: dict[str, str]) -> str:
    return f"{base_url}studies?{urlencode(params)}"


def study_url(base_url: str, nct_id: str) -> str:
    """One study by NCT number (followed trials)."""
    return f"{base_url}studies/{nct_id}?{urlencode({'format': 'json'})}"


def _get(obj: dict | None, *path: str):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _date(struct: dict | None) -> tuple[str | None, str | None]:
    """A ``{date, type}`` struct -> (date as given: yyyy, yyyy-MM or yyyy-MM-dd; type)."""
    if not isinstance(struct, dict):
        return None, None
    date = struct.get("date")
    if isinstance(date, str):
        date = date.strip() or None
    else:
        date = None
    return date, struct.get("type")


def _clean_list(values) -> list[str]:
    if not isinstance(values, list):
        return []
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def _retractions(ref: dict) -> list[dict]:
    out = []
    for item in ref.get("retractions") or []:
        if isinstance(item, dict) and (item.get("pmid") or item.get("source")):
            out.append({"pmid": normalise_pmid(str(item.get("pmid") or "")), "source": item.get("source")})
    return out


def normalise_references(module: dict | None) -> list[TrialReference]:
    """referencesModule -> references with a PMID, RESULT first, with their retractions."""
    refs = []
    seen = set()
    for ref in (module or {}).get("references") or []:
        if not isinstance(ref, dict):
            continue
        pmid = normalise_pmid(str(ref.get("pmid") or ""))
        if not pmid or pmid in seen:
            continue
        seen.add(pmid)
        refs.append(TrialReference(pmid=pmid, type=(ref.get("type") or "BACKGROUND").upper(),
                                   citation=ref.get("citation"), retractions=_retractions(ref)))
    refs.sort(key=lambda r: REFERENCE_TYPE_ORDER.get(r.type, len(REFERENCE_TYPE_ORDER)))
    return refs


def record_hash(study: dict) -> str:
    """sha1 of what the study says (its canonical JSON without SERVING_METADATA): equal
    hashes mean nothing changed, however often and from which data release it was served."""
    content = {k: v for k, v in study.items() if k not in SERVING_METADATA}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()


class StudyError(ValueError):
    """A study JSON that is not a ClinicalTrials.gov study (no NCT number)."""


def _flag(value) -> bool | None:
    return value if isinstance(value, bool) else None


def _count(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def normalise_study(study: dict) -> Trial:
    """A v2 study JSON -> a Trial (with the JSON as ``raw``).

    Raises StudyError when the document has no valid NCT number: such a record cannot be
    stored or diffed, and is quarantined by the caller.
    """
    if not isinstance(study, dict):
        raise StudyError("study is not a JSON object")
    proto = study.get("protocolSection") or {}
    ident = proto.get("identificationModule") or {}
    nct = normalise_nct(str(ident.get("nctId") or ""))
    if not nct:
        raise StudyError(f"no valid nctId (got {ident.get('nctId')!r})")
    status = proto.get("statusModule") or {}
    design = proto.get("designModule") or {}
    enrollment = design.get("enrollmentInfo") or {}
    oversight = proto.get("oversightModule") or {}
    primary, primary_type = _date(status.get("primaryCompletionDateStruct"))
    completion, completion_type = _date(status.get("completionDateStruct"))
    results_posted, _ = _date(status.get("resultsFirstPostDateStruct"))
    count = _count(enrollment.get("count"))
    interventions = []
    for item in _get(proto, "armsInterventionsModule", "interventions") or []:
        if isinstance(item, dict) and item.get("name"):
            kind = item.get("type")
            interventions.append(f"{kind}: {item['name']}" if kind else item["name"])
    has_results = study.get("hasResults")
    return Trial(
        nct_id=nct,
        title=ident.get("briefTitle"),
        official_title=ident.get("officialTitle"),
        status=status.get("overallStatus"),
        last_known_status=status.get("lastKnownStatus"),
        why_stopped=status.get("whyStopped"),
        phases=_clean_list(design.get("phases")),
        study_type=design.get("studyType"),
        enrollment=count,
        enrollment_type=enrollment.get("type") if enrollment.get("count") is not None else None,
        start_date=_date(status.get("startDateStruct"))[0],
        primary_completion_date=primary,
        primary_completion_type=primary_type if primary else None,
        completion_date=completion,
        completion_type=completion_type if completion else None,
        first_posted=_date(status.get("studyFirstPostDateStruct"))[0],
        last_update_posted=_date(status.get("lastUpdatePostDateStruct"))[0],
        results_first_posted=results_posted,
        has_results=bool(has_results) if has_results is not None else bool(results_posted),
        fda_regulated_drug=_flag(oversight.get("isFdaRegulatedDrug")),
        fda_regulated_device=_flag(oversight.get("isFdaRegulatedDevice")),
        sponsor=_get(proto, "sponsorCollaboratorsModule", "leadSponsor", "name"),
        conditions=_clean_list(_get(proto, "conditionsModule", "conditions")),
        interventions=interventions,
        references=normalise_references(proto.get("referencesModule")),
        version_holder=_get(study, "derivedSection", "miscInfoModule", "versionHolder"),
        record_hash=record_hash(study),
        raw=study,
    )


def parse_studies_page(data) -> tuple[list, str | None, int | None]:
    """A ``/studies`` JSON page -> (studies, nextPageToken, totalCount).

    Raises ValueError when the page is not the documented shape (a proxy's error page that
    happens to be JSON, say): such a page must not be taken for "no studies".
    """
    if not isinstance(data, dict) or not isinstance(data.get("studies", []), list):
        raise ValueError("not a /studies page (no 'studies' list)")
    token = data.get("nextPageToken") or None
    total = data.get("totalCount")
    return data.get("studies", []), token, total if isinstance(total, int) else None
