"""ClinicalTrials.gov trials, their change history, followed trials, trial-paper links."""


def m001_trials(db):
    db["trials"].create(
        {
            "nct_id": str,
            "title": str,
            "official_title": str,
            "status": str,
            "why_stopped": str,
            "phases": str,  # JSON
            "study_type": str,
            "enrollment": int,
            "enrollment_type": str,  # ACTUAL | ESTIMATED
            "start_date": str,
            "primary_completion_date": str,
            "completion_date": str,
            "first_posted": str,
            "last_update_posted": str,
            "results_first_posted": str,
            "has_results": int,
            "sponsor": str,
            "conditions": str,  # JSON
            "interventions": str,  # JSON ["DRUG: Ketamine", ...]
            "references": str,  # JSON [{"pmid", "type", "citation"}]
            "version_holder": str,
            "record_hash": str,
            "raw_json": bytes,  # zlib-compressed study JSON
            "first_seen_at": str,
            "updated_at": str,
        },
        pk="nct_id",
        if_not_exists=True,
    )
    db["trials"].create_index(["status"], if_not_exists=True)
    db["trials"].create_index(["first_seen_at"], if_not_exists=True)
    db["trial_topics"].create(
        {"nct_id": str, "topic": str, "first_seen_at": str},
        pk=("nct_id", "topic"),
        if_not_exists=True,
    )
    # One row per field that changed between two stored versions of a trial.
    db["trial_history"].create(
        {"id": int, "nct_id": str, "field": str, "old": str, "new": str, "seen_at": str},
        pk="id",
        if_not_exists=True,
    )
    db["trial_history"].create_index(["nct_id"], if_not_exists=True)
    # Trials followed whatever the topics find: watchlist follow_trials, seed citations.
    db["followed_trials"].create(
        {"nct_id": str, "reason": str, "added_at": str},
        pk="nct_id",
        if_not_exists=True,
    )
    # A trial and a paper that reports it.  source: databank (PubMed DataBankList),
    # abstract (NCT number in the abstract), ctgov_reference (the trial's referencesModule,
    # ref_type RESULT/BACKGROUND/DERIVED), si_search (PubMed NCT...[si]).
    db["trial_links"].create(
        {"nct_id": str, "pmid": str, "source": str, "ref_type": str, "first_seen_at": str},
        pk=("nct_id", "pmid", "source"),
        if_not_exists=True,
    )
    db["trial_links"].create_index(["pmid"], if_not_exists=True)
    if "trials_fts" not in db.table_names():
        db["trials"].enable_fts(
            ["title", "official_title", "conditions", "interventions", "sponsor"],
            create_triggers=True,
            tokenize="porter",
        )


def m002_raw_apart_signals(db):
    """The served JSON leaves the entity table for ``trial_raw``; what the study says about
    its last known status, date types and FDA oversight gets columns; reference
    retractions and raised signals get tables."""
    db["trial_raw"].create({"nct_id": str, "raw_json": bytes, "stored_at": str}, pk="nct_id", if_not_exists=True)
    columns = {c.name for c in db["trials"].columns}
    if "raw_json" in columns:
        db.execute(
            """INSERT OR IGNORE INTO trial_raw (nct_id, raw_json, stored_at)
               SELECT nct_id, raw_json, updated_at FROM trials WHERE raw_json IS NOT NULL"""
        )
        db.execute("ALTER TABLE trials DROP COLUMN raw_json")  # keeps rowids, so trials_fts stays valid
        # Hashes stored until now covered the serving date (versionHolder) too: forget them;
        # the next fetch of each study re-hashes it without counting a change.
        db.execute("UPDATE trials SET record_hash = NULL")
    for name, kind in (("last_known_status", str), ("primary_completion_type", str), ("completion_type", str),
                       ("fda_regulated_drug", int), ("fda_regulated_device", int)):
        if name not in columns:
            db["trials"].add_column(name, kind)
    # ClinicalTrials.gov's note that a referenced paper was retracted (references[].retractions).
    db["trial_retractions"].create(
        {"nct_id": str, "pmid": str, "retraction_pmid": str, "source": str, "first_seen_at": str},
        pk=("nct_id", "pmid", "retraction_pmid", "source"),
        if_not_exists=True,
    )
    # Signals raised on a trial (results_overdue, unpublished): when first seen, whether they
    # still stand, and which digest told the reader (each is reported once).
    db.execute(
        """CREATE TABLE IF NOT EXISTS trial_flags (
               id INTEGER PRIMARY KEY,
               nct_id TEXT NOT NULL,
               flag TEXT NOT NULL,
               detail TEXT,
               first_seen_at TEXT NOT NULL,
               cleared_at TEXT,
               reported_in_digest INTEGER,
               reported_at TEXT,
               UNIQUE (nct_id, flag))"""
    )


MIGRATIONS = [("001_trials", m001_trials), ("002_raw_apart_signals", m002_raw_apart_signals)]
