"""What a parsed PubMed record must pass before it is stored: identifier spellings
normalised, then the checks that send an unusable record to quarantine.

Run on every record right after parsing, in the parsing process (``crawler.parse_worker``),
so the crawl and a bulk load store only records that passed the same checks:

- ``normalise``: identifier spellings (PMC id case, DOI prefix) through ``vocab.ids``;
  authors and other lists stay exactly as PubMed lists them (two co-authors may share a
  display name: nothing is de-duplicated);
- ``problem``: a record without a numeric PMID, without any title and abstract, or with an
  Entry/Create date that is not a day is not usable: the reason, else None.
"""

from __future__ import annotations

import re

from litwatch.vocab import ids
from litwatch.vocab.records import Publication

_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def normalise(rec: Publication) -> None:
    if rec.doi and not rec.doi.startswith("10."):  # "doi:10…", a doi.org link
        rec.doi = ids.normalise_doi(rec.doi) or rec.doi.strip()
    if rec.pmcid:
        rec.pmcid = ids.normalise_pmcid(rec.pmcid) or rec.pmcid.strip().upper()


def problem(rec: Publication) -> str | None:
    if not str(rec.pmid or "").isdigit():
        return f"bad PMID {rec.pmid!r}"
    if not (rec.title or rec.abstract):
        return "record has neither title nor abstract"
    for name in ("entrez_date", "create_date"):
        value = getattr(rec, name)
        if value and not _DAY_RE.fullmatch(value):
            return f"bad {name.replace('_', ' ')} {value!r}"
    return None
