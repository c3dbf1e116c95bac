"""RSS/Atom feeds: their HTTP validators and the items they carried."""


def m001_feeds(db):
    db["feeds"].create(
        {
            "url": str,
            "title": str,
            "etag": str,
            "last_modified": str,
            "last_status": int,
            "last_checked_at": str,
            "gone": int,  # 404/410 seen: reported, not retried every crawl
            "error": str,
        },
        pk="url",
        if_not_exists=True,
    )
    db["feed_items"].create(
        {
            "id": str,  # stable key: guid, else DOI, else link (see crawler.feeds)
            "feed_url": str,
            "kind": str,  # preprint | journal | trial | pubmed
            "title": str,
            "link": str,
            "summary": str,
            "authors": str,  # JSON
            "published": str,  # YYYY-MM-DD
            "doi": str,
            "pmid": str,  # set when the item is (or becomes) a stored PubMed record
            "nct_id": str,
            "published_as_pmid": str,  # a preprint later published as this PMID
            "first_seen_at": str,
            "updated_at": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db["feed_items"].create_index(["doi"], if_not_exists=True)
    db["feed_item_topics"].create(
        {"item_id": str, "topic": str, "first_seen_at": str},
        pk=("item_id", "topic"),
        if_not_exists=True,
    )
    if "feed_items_fts" not in db.table_names():
        db["feed_items"].enable_fts(["title", "summary"], create_triggers=True, tokenize="porter")


MIGRATIONS = [("001_feeds", m001_feeds)]
