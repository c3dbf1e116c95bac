"""Issue 15's signals as the digest shows them: key facts, citing papers, trial flags.

The facts come from ``litwatch.signals.keyfacts`` (one line per paper, only facts whose
measured precision passes the bar); citing papers from ``db.follows.citing_since``
("Citing papers you follow"); overdue and unpublished trials from
``db.trials.unreported_trial_flags``, shown once in "Needs your attention" and marked
reported (``mark_flags_reported``) only after the digest was delivered.
"""

from __future__ import annotations

import logging

from litwatch.db import follows, trials
from litwatch.digest.model import CitingItem
from litwatch.signals import keyfacts

log = logging.getLogger(__name__)


def key_facts(title: str, abstract: str | None, publication_types: list[str]) -> str:
    """The paper's key-facts line ("" when nothing shown passes the precision bar)."""
    try:
        return keyfacts.summary_line(keyfacts.extract(title, abstract or "", publication_types)) or ""
    except Exception:  # a signal must never cost the digest
        log.exception("key facts failed")
        return ""


def citing(db, since: str | None) -> list[CitingItem]:
    """New papers citing a followed paper or trial since the last digest, one item per
    citing paper naming everything it cites."""
    items: dict[str, CitingItem] = {}
    for link in follows.citing_since(db, since):
        cited = link.cited_id
        what = f"{'PMID ' if cited.isdigit() else ''}{cited}" + (f" ({link.cited_title})" if link.cited_title else "")
        item = items.setdefault(link.citing_pmid, CitingItem(pmid=link.citing_pmid,
                                                             title=link.citing_title or f"PMID {link.citing_pmid}", cites=""))
        item.cites = f"{item.cites}; {what}" if item.cites else what
    return list(items.values())


def trial_flags(db) -> list[tuple[str, str, list[int]]]:
    """[(nct_id, "Title: results overdue by 14 months; no publication found", flag ids)]:
    the flags no digest has reported yet, one line per trial."""
    lines: dict[str, tuple[list[str], list[int]]] = {}
    for flag in trials.unreported_trial_flags(db):
        texts, ids = lines.setdefault(flag.nct_id, ([], []))
        texts.append(flag.detail or flag.flag)
        if flag.id is not None:
            ids.append(flag.id)
    titles = trials.trial_titles(db, list(lines))
    return [(nct, (f"{titles[nct]}: " if titles.get(nct) else "") + "; ".join(texts), ids)
            for nct, (texts, ids) in lines.items()]


def mark_flags_reported(db, flags: list[tuple[str, str, list[int]]], digest_id: int) -> None:
    """The delivered digest told the reader of these flags: never again."""
    ids = [i for f in flags for i in f[2]]
    if ids:
        trials.mark_trial_flags_reported(db, ids, digest_id)
