"""Build a digest and, when asked, deliver it: the one function the CLI and scheduler call.

Order of events for ``send=True`` (what makes "no item twice, nothing lost" hold):

0. look at claims left ``sending``: one whose process is gone (``digest.claims``) and
   that kept its message is *resumed*: the very same message, same Message-ID, is sent
   again and the claim marked delivered; one that died before its message was built is
   marked failed (its items are pending again); a live one is left alone (its items are
   not selected, and an otherwise empty run says that a digest is in flight);
1. select the pending items and claim them in the ledger, naming this process (one write
   transaction);
2. render both parts, build the message and keep it (with its Message-ID) in the claim;
3. deliver (SMTP, or the outbox when no SMTP URL is set);
4. only then mark the digest delivered; on any failure mark it failed, so every item is
   pending again, and raise one line.

The guarantee: a reader never gets two different digests carrying the same items; after
a crash between the server's acceptance and step 4 the same message (one Message-ID) may
arrive twice, which mail servers and clients treat as one message.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable
from zoneinfo import ZoneInfo

from litwatch.config import Settings, Watchlist
from litwatch.db import digests as ledger
from litwatch.digest import claims, signals
from litwatch.digest.deliver import (
    DeliveryError,
    build_message,
    parse_smtp_url,
    send_smtp,
    unsubscribe_headers,
    write_files,
    write_outbox,
    write_outbox_bytes,
)
from litwatch.digest.model import DigestContent
from litwatch.digest.render import DigestView, fit
from litwatch.digest.select import select_digest, warning_key
from litwatch.vocab.errors import ConfigError
from litwatch.vocab.times import parse_timestamp

if TYPE_CHECKING:
    from litwatch.db.connection import WriterDatabase


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
    resumed: list[dict] = field(default_factory=list)  # claims of dead processes sent again now
    in_flight: list[dict] = field(default_factory=list)  # live claims of other processes

    def as_json(self) -> dict:
        """CONTRACT's digest shape, plus a few keys of our own."""
        c = self.content
        return {
            "id": self.digest_id,
            "created_at": self.created_at,
            "sent_at": self.sent_at,
            "subject": self.subject,
            "recipients": self.recipients,
            "publications": list(c.all_pmids()),
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
            "resumed": [{"id": r["id"], "message_id": r["message_id"]} for r in self.resumed] or None,
            "in_flight": [{"id": r["id"], "pid": r["claim_pid"], "host": r["claim_host"], "since": r["created_at"]}
                          for r in self.in_flight] or None,
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
    db: WriterDatabase,
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
    unsubscribe = settings.unsubscribe_url or options.unsubscribe_url
    unsubscribe_headers(sender, unsubscribe)  # a bad URL is a config error before anything is claimed
    now = clock().astimezone(dt.timezone.utc).replace(microsecond=0)
    created_at = ledger.iso(now)
    me = claims.this_process()

    resumed, in_flight = [], []
    if send:
        resumed, in_flight = _settle_claims(db, now, me)
        for claim in resumed:
            _resend(db, claim, settings, target, sender, clock)

    with ledger.write_transaction(db):
        content = select_digest(db, watchlist, now)
        view, text, html = fit(content, cap=options.max_per_section, prefix=options.subject_prefix,
                               unsubscribe=unsubscribe or "")
        outcome = DigestOutcome("preview", content, view, view.subject, recipients, created_at,
                                resumed=resumed, in_flight=in_flight if send else ledger_in_flight(db, now))
        if content.is_empty and not options.send_when_empty:
            outcome.status = "empty"
            return outcome
        outcome.digest_id = ledger.record_digest(
            db, created_at=created_at, week=content.week, subject=view.subject, recipients=recipients,
            items=content.iter_items(), status="sending" if send else "preview",
            warnings=[warning_key(w) for w in content.warnings], claim=me if send else None,
        )
        # From here on the ledger holds what this digest carries (the selection's temp table
        # belongs to the connection and is replaced by the next selection).
        content.pending_pmids = functools.partial(ledger.iter_item_keys, db, outcome.digest_id, "publication")

    try:
        outcome.text, outcome.html = text, html
        msg = build_message(
            subject=view.subject, sender=sender, recipients=recipients, text=outcome.text, html=outcome.html,
            date=now.astimezone(ZoneInfo(watchlist.schedule.timezone)), digest_id=outcome.digest_id,
            unsubscribe_url=unsubscribe,
        )
        outcome.message_id = msg["Message-ID"]
        raw = bytes(msg)
        if out_dir is not None:
            base = f"litwatch-digest-{content.week}"
            outcome.preview_paths = write_files(out_dir, {
                f"{base}.html": outcome.html.encode("utf-8"),
                f"{base}.txt": outcome.text.encode("utf-8"),
                f"{base}.eml": raw,
            })
        if not send:
            return outcome
        # The claim keeps the exact message before anything leaves: a crash from here on is
        # resumed by sending these bytes again (same Message-ID), never a new message.
        wire = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))  # SMTP's line ends
        ledger.store_message(db, outcome.digest_id, outcome.message_id, wire)
        if target is not None:
            send_smtp(wire, target, sender=sender, recipients=recipients, ssl_context=ssl_context)
            delivered_to = "smtp"
        else:
            path = write_outbox(msg, outcome.html, settings.outbox, f"litwatch-digest-{content.week}-{outcome.digest_id}")
            delivered_to = f"outbox:{path}"
    except BaseException as exc:
        if send:
            reason = str(exc) if isinstance(exc, (DeliveryError, ConfigError)) else f"{type(exc).__name__}: {exc}"
            ledger.mark_failed(db, outcome.digest_id, reason, message_id=outcome.message_id)
            if isinstance(exc, DeliveryError):
                raise DeliveryError(
                    f"{exc}; digest {outcome.digest_id} not delivered, its {describe_items(content)} stay pending for the next run"
                ) from None
        raise

    outcome.sent_at = ledger.iso(clock())
    outcome.delivered_to = delivered_to
    outcome.status = "delivered"
    ledger.mark_delivered(db, outcome.digest_id, sent_at=outcome.sent_at, delivered_to=delivered_to, message_id=outcome.message_id)
    signals.mark_flags_reported(db, content.trial_flags, outcome.digest_id)
    return outcome


ITEM_WORDS = {"publication": ("paper", "papers"), "trial": ("new trial", "new trials"),
              "trial_change": ("trial change", "trial changes"), "correction": ("correction", "corrections"),
              "feed_item": ("feed item", "feed items")}


def describe_items(content: DigestContent) -> str:
    """"66 items (60 papers, 3 trial changes, ...)": the ledger's items, by kind."""
    counts = content.item_counts()
    n = sum(counts.values())
    parts = [f"{k} {ITEM_WORDS[kind][k != 1]}" for kind, k in counts.items() if kind in ITEM_WORDS]
    return f"{n} item{'s' if n != 1 else ''}" + (f" ({', '.join(parts)})" if parts else "")


def ledger_in_flight(db, now: dt.datetime) -> list[dict]:
    """Live claims, for a preview to mention."""
    out = []
    for claim in ledger.open_claims(db):
        alive = claims.is_alive(claim["claim_host"], claim["claim_pid"], claim["claim_start"])
        if alive or (alive is None and parse_timestamp(claim["created_at"]) > now - ledger.CLAIM_TIMEOUT):
            out.append(claim)
    return out


def _settle_claims(db, now: dt.datetime, me: tuple[str, int, str]) -> tuple[list[dict], list[dict]]:
    """Take over the claims of dead processes that kept their message; fail those that did
    not; return (to resend, still in flight)."""
    resume, in_flight = [], []
    with ledger.write_transaction(db):
        for claim in ledger.open_claims(db):
            alive = claims.is_alive(claim["claim_host"], claim["claim_pid"], claim["claim_start"])
            if alive is None:  # another host, or an old claim without a process: the timeout decides
                alive = parse_timestamp(claim["created_at"]) > now - ledger.CLAIM_TIMEOUT
            if alive:
                in_flight.append(claim)
            elif claim["message"]:
                old = (claim["claim_host"], claim["claim_pid"], claim["claim_start"])
                if ledger.take_over(db, claim["id"], old, me):
                    resume.append(claim)
            else:
                ledger.abandon_claim(db, claim["id"], "the sending process died before its message was built")
    return resume, in_flight


def _resend(db, claim: dict, settings: Settings, target, sender: str, clock) -> None:
    """Send a dead claim's stored message again, byte for byte, and mark it delivered."""
    recipients = json.loads(claim["recipients"] or "[]")
    try:
        if target is not None:
            send_smtp(claim["message"], target, sender=sender, recipients=recipients)
            delivered_to = "smtp"
        else:
            path = write_outbox_bytes(claim["message"].replace(b"\r\n", b"\n"), settings.outbox, f"litwatch-digest-resumed-{claim['id']}")
            delivered_to = f"outbox:{path}"
    except DeliveryError as exc:
        ledger.mark_failed(db, claim["id"], str(exc))
        raise DeliveryError(f"{exc}; digest {claim['id']} (resumed after its process died) not delivered, "
                            "its items stay pending for the next run") from None
    ledger.mark_delivered(db, claim["id"], sent_at=ledger.iso(clock()), delivered_to=delivered_to,
                          message_id=claim["message_id"])
