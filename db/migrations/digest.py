"""The digest ledger: each digest built, whether and where it was delivered, and its items."""


def m001_digests(db):
    db["digests"].create(
        {
            "id": int,
            "created_at": str,  # when its items were selected (UTC, YYYY-MM-DDTHH:MM:SSZ)
            "sent_at": str,  # set only once the SMTP server accepted it / outbox flushed
            "subject": str,
            "recipients": str,  # JSON
            "message_id": str,
            "delivered_to": str,  # smtp | outbox:PATH | null
            # sending: items claimed while delivery is under way | delivered | failed |
            # preview (built without --send, or --out): never blocks later selection
            "status": str,
            "error": str,
            "week": str,  # ISO week in the watchlist's timezone, e.g. 2026-W47
            # JSON list of the crawl warnings it reported: a warning already reported is
            # shown again but is no reason on its own to send a "nothing new" digest
            "warnings": str,
        },
        pk="id",
        if_not_exists=True,
    )
    # kind: publication (pmid) | trial (nct) | trial_change (trial_history.id) |
    # correction (pmid:ref_type:other_pmid) | feed_item (feed_items.id)
    db["digest_items"].create(
        {"digest_id": int, "kind": str, "item_key": str},
        pk=("digest_id", "kind", "item_key"),
        foreign_keys=[("digest_id", "digests", "id")],
        if_not_exists=True,
    )
    db["digest_items"].create_index(["kind", "item_key"], if_not_exists=True)


def m002_claims(db):
    """A claim names its process (host, pid, process start time) and keeps the exact message
    (with its Message-ID) before sending, so a crashed send is resumed with the same message."""
    table = db["digests"]
    for column, kind in (("claim_host", str), ("claim_pid", int), ("claim_start", str), ("message", bytes)):
        if column not in table.columns_dict:
            table.add_column(column, kind)


MIGRATIONS = [("001_digests", m001_digests), ("002_claims", m002_claims)]
