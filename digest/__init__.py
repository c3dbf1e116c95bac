"""The weekly digest: what is new since the last delivered digest, delivered exactly once.

Modules, one job each:

* ``select``   - what is pending, grouped by topic and strength of evidence;
* ``markup``   - record text and links made safe for mail clients;
* ``render``   - subject, plain-text and HTML parts from Jinja2 templates (``templates/``);
* ``deliver``  - SMTP (``LITWATCH_SMTP_URL``) or the outbox, atomically;
* ``pipeline`` - select, claim, render, deliver, then mark delivered (``db.digests``);
* ``demo``     - a realistic demo database for looking at a rendered digest.

Public API: ``run_digest(db, settings, watchlist, send=..., out_dir=..., clock=...)``
returns a ``DigestOutcome`` (``.as_json()`` is CONTRACT's digest shape).
"""

from litwatch.digest.deliver import DeliveryError, parse_smtp_url
from litwatch.digest.pipeline import DigestOutcome, run_digest
from litwatch.digest.select import DigestContent, select_digest

__all__ = ["DeliveryError", "DigestContent", "DigestOutcome", "parse_smtp_url", "run_digest", "select_digest"]
