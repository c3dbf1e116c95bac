"""Build a digest and, when asked, deliver it: the one function the CLI and scheduler call.

Order of events for ``send=True`` (what makes "no item twice, nothing lost" hold):

1. select the pending items and claim them in the ledger (one write transaction);
2. render both parts and build the message;
3. deliver (SMTP, or the outbox when no SMTP URL is set);
4. only then mark the digest delivered; on any failure mark it failed, so every item is
   pending again, and raise one line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from typing import Callable
from zoneinfo import ZoneInfo

import sqlite_utils

from litwatch.config import Settings, Watchlist
from litwatch.db import digests as ledger
from litwatch.digest.deliver import (
    DeliveryError,
    build_message,
    parse_smtp_url,
    send_smtp,
    write_files,
    write_outbox,
)
from litwatch.digest.render import DigestView, build_view, render_html, render_text
from litwatch.digest.select import DigestContent, select_digest, warning_key
from litwatch.vocab.errors import ConfigError


def _wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class DigestOutcome:
    """What happened: the content, the ledger row (if any) and where it went."""

    status: str  # empty | preview | delivered
    content: DigestContent
    view: DigestView
    subject: str
    recipients: list[str]
    created_at: str
    digest_id: int | None = None
    sent_at: str | None = None
    delivered_to: str | None = None
    message_id: str | None = None
    text: str = ""
    html: str = ""
    preview_paths: dict | None = None

    def as_json(self) -> dict:
        """CONTRACT's digest shape, plus a few keys of our own."""
        c = self.content
        return {
            "id": self.digest_id,
            "created_at": self.created_at,
            "sent_at": self.sent_at,
            "subject": self.subject,
            "recipients": self.recipients,
            "publications": [p.pmid for p in c.publications],
            "trials": [t.nct_id for t in c.trials],
            "trial_changes": [{"nct_id": ch.nct_id, "field": ch.field, "old": ch.old, "new": ch.new} for ch in c.trial_changes],
            "retractions": list(dict.fromkeys(r.pmid for r in c.retractions)),
            "delivered_to": self.delivered_to,
            # additions
            "status": self.status,
            "week": c.week,
            "since": c.since,
            "message_id": self.message_id,
            "corrections": [{"pmid": r.pmid, "ref_type": r.ref_type, "notice_pmid": r.notice_pmid} for r in c.corrections],
            "feed_items": [f.id for f in c.topic_feed_items],
            "preprints": [f.id for f in c.preprints],
            "warnings": c.warnings,
            "counts": c.counts,
            "preview_files": {k: str(v) for k, v in (self.preview_paths or {}).items()} or None,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_json(), indent=2, ensure_ascii=False)


def sender_and_recipients(settings: Settings, watchlist: Watchlist) -> tuple[str, list[str]]:
    """Environment first (CONTRACT), then the watchlist's [digest] table."""
    sender = settings.digest_from or watchlist.digest.sender
    recipients = list(settings.digest_to or watchlist.digest.to)
    return sender, recipients


def run_digest(
    db: sqlite_utils.Database,
    settings: Settings,
    watchlist: Watchlist,
    *,
    send: bool = False,
    out_dir: str | os.PathLike | None = None,
    clock: Callable[[], dt.datetime] = _wall_clock,
    ssl_context=None,
) -> DigestOutcome:
    """Build the digest of everything pending; deliver it when ``send``.

    Without ``send`` the digest is recorded as a ``preview`` (it never blocks selection)
    and, with ``out_dir``, written there as .html, .txt and .eml.  With both, the copy in
    ``out_dir`` is of exactly the message being sent (written before it is sent, so a failed
    delivery still leaves something to look at).  Raises DeliveryError
    (nothing marked delivered) or ConfigError (bad SMTP URL, no recipients) before or
    instead of marking anything.
    """
    sender, recipients = sender_and_recipients(settings, watchlist)
    target = parse_smtp_url(settings.smtp_url) if send and settings.smtp_url else None
    if target is not None and not recipients:
        raise ConfigError("no digest recipients: set LITWATCH_DIGEST_TO or [digest] to in the watchlist")
    options = watchlist.digest
    now = clock().astimezone(dt.timezone.utc).replace(microsecond=0)
    created_at = ledger.iso(now)

    with ledger.write_transaction(db):
        content = select_digest(db, watchlist, now)
        view = build_view(content, cap=options.max_per_section, prefix=options.subject_prefix)
        outcome = DigestOutcome("preview", content, view, view.subject, recipients, created_at)
        if content.is_empty and not options.send_when_empty:
            outcome.status = "empty"
            return outcome
        outcome.digest_id = ledger.record_digest(
            db, created_at=created_at, week=content.week, subject=view.subject, recipients=recipients,
            items=content.items(), status="sending" if send else "preview",
            warnings=[warning_key(w) for w in content.warnings],
        )

    try:
        outcome.text = render_text(view)
        outcome.html = render_html(view)
        msg = build_message(
            subject=view.subject, sender=sender, recipients=recipients, text=outcome.text, html=outcome.html,
            date=now.astimezone(ZoneInfo(watchlist.schedule.timezone)), digest_id=outcome.digest_id,
        )
        outcome.message_id = msg["Message-ID"]
        if out_dir is not None:
            base = f"litwatch-digest-{content.week}"
            outcome.preview_paths = write_files(out_dir, {
                f"{base}.html": outcome.html.encode("utf-8"),
                f"{base}.txt": outcome.text.encode("utf-8"),
                f"{base}.eml": bytes(msg),
            })
        if not send:
            return outcome
        if target is not None:
            send_smtp(msg, target, sender=sender, recipients=recipients, ssl_context=ssl_context)
            delivered_to = "smtp"
        else:
            path = write_outbox(msg, outcome.html, settings.outbox, f"litwatch-digest-{content.week}-{outcome.digest_id}")
            delivered_to = f"outbox:{path}"
    except BaseException as exc:
        if send:
            reason = str(exc) if isinstance(exc, (DeliveryError, ConfigError)) else f"{type(exc).__name__}: {exc}"
            ledger.mark_failed(db, outcome.digest_id, reason, message_id=outcome.message_id)
            if isinstance(exc, DeliveryError):
                n = len(content.items())
                raise DeliveryError(
                    f"{exc}; digest {outcome.digest_id} not delivered, its {n} item{'s' if n != 1 else ''} stay pending for the next run"
                ) from None
        raise

    outcome.sent_at = ledger.iso(clock())
    outcome.delivered_to = delivered_to
    outcome.status = "delivered"
    ledger.mark_delivered(db, outcome.digest_id, sent_at=outcome.sent_at, delivered_to=delivered_to, message_id=outcome.message_id)
    return outcome
