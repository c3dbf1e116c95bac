"""The weekly digest: what is new since the last delivered digest, delivered exactly once.

Modules, one job each:

* ``evidence`` - the taxonomy: evidence groups, badges, correction labels, status words;
* ``model``    - the selected content as data (items, sections, counts);
* ``select``   - what is pending (reads through ``db.digest_queries``), grouped by topic
  and strength of evidence;
* ``signals``  - issue 15's signals as shown: key facts, citing papers, overdue trials;
* ``markup``   - record text and links made safe for mail clients;
* ``render``   - the view (caps, "N more" links, subject) and both parts from Jinja2
  templates (``templates/``), under the size budget;
* ``deliver``  - SMTP (``LITWATCH_SMTP_URL``) or the outbox, atomically; mail headers;
* ``claims``   - which process holds a delivery claim, and whether it is alive;
* ``pipeline`` - settle old claims, select, claim, render, deliver, then mark delivered.

Test and demo databases are built by ``litwatch.demo_world`` through the crawl's own
parsers and writers.

Public API: ``run_digest(db, settings, watchlist, send=..., out_dir=..., clock=...)``
returns a ``DigestOutcome`` (``.as_json()`` is CONTRACT's digest shape).
"""

from litwatch.digest.deliver import DeliveryError, parse_smtp_url
from litwatch.digest.model import DigestContent
from litwatch.digest.pipeline import DigestOutcome, run_digest
from litwatch.digest.select import select_digest

__all__ = ["DeliveryError", "DigestContent", "DigestOutcome", "parse_smtp_url", "run_digest", "select_digest"]
