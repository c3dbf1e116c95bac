"""Issue 15's signals as the digest reads them, from the modules other parts provide.

HOOKS: each function below uses its provider when it is installed and returns nothing
otherwise, so the digest works before and after those parts land:

* ``key_facts``   - ``litwatch.signals.keyfacts.extract`` / ``summary_line`` (one line per paper);
* ``citing``      - ``litwatch.db.follows.citing_since(db, since)`` ("Citing papers you follow");
* ``trial_flags`` - ``litwatch.db.trials.unreported_trial_flags(db)`` (overdue / unpublished
  trials, shown once in "Needs your attention"; ``mark_trial_flags_reported`` after delivery).

Key facts read the stored title and abstract (HTML fragments, which the extractor accepts).
"""

from __future__ import annotations

import logging

from litwatch.digest.model import CitingItem

log = logging.getLogger(__name__)

try:
    from litwatch.signals import keyfacts as _keyfacts
except ImportError:  # HOOK: helper "keyfacts" not merged yet
    _keyfacts = None
try:
    from litwatch.db import follows as _follows
except ImportError:  # HOOK: helper "eutils" not merged yet
    _follows = None
try:
    from litwatch.db import trials as _trials
except ImportError:  # pragma: no cover - always present
    _trials = None


def key_facts(title: str, abstract: str | None, publication_types: list[str]) -> str:
    if _keyfacts is None or not hasattr(_keyfacts, "summary_line"):
        return ""
    try:
        return _keyfacts.summary_line(_keyfacts.extract(title, abstract or "", publication_types)) or ""
    except Exception:  # a signal must never cost the digest
        log.exception("key facts failed")
        return ""


def _get(row, name, default=None):
    return row.get(name, default) if isinstance(row, dict) else getattr(row, name, default)


def citing(db, since: str | None) -> list[CitingItem]:
    """New papers citing a followed paper or trial since the last digest, one item per
    citing paper naming everything it cites."""
    if _follows is None or not hasattr(_follows, "citing_since"):
        return []
    items: dict[str, CitingItem] = {}
    for link in _follows.citing_since(db, since) or []:
        pmid = str(_get(link, "citing_pmid") or _get(link, "pmid") or "")
        if not pmid:
            continue
        cited = str(_get(link, "cited_id") or "")
        cited_title = _get(link, "cited_title")
        what = f"{'PMID ' if cited.isdigit() else ''}{cited}" + (f" ({cited_title})" if cited_title else "")
        item = items.setdefault(pmid, CitingItem(pmid=pmid, title=str(_get(link, "citing_title") or f"PMID {pmid}"), cites=""))
        item.cites = f"{item.cites}; {what}" if item.cites else what
    return list(items.values())


def trial_flags(db) -> list[tuple[str, str, list[int]]]:
    """[(nct_id, "results overdue by 14 months; no publication found", flag ids)]: the flags
    no digest has reported yet, one line per trial."""
    if _trials is None or not hasattr(_trials, "unreported_trial_flags"):
        return []
    lines: dict[str, tuple[list[str], list[int]]] = {}
    for flag in _trials.unreported_trial_flags(db) or []:
        nct, text = _get(flag, "nct_id"), _get(flag, "detail") or _get(flag, "flag")
        if nct and text:
            texts, ids = lines.setdefault(str(nct), ([], []))
            texts.append(str(text))
            if _get(flag, "id") is not None:
                ids.append(_get(flag, "id"))
    return [(nct, "; ".join(texts), ids) for nct, (texts, ids) in lines.items()]


def mark_flags_reported(db, flags: list[tuple[str, str, list[int]]], digest_id: int) -> None:
    """The delivered digest told the reader of these flags: never again."""
    ids = [i for f in flags for i in f[2]]
    if ids and _trials is not None and hasattr(_trials, "mark_trial_flags_reported"):
        _trials.mark_trial_flags_reported(db, ids, digest_id)
