"""docs/CONTRACT.md, checked the way the acceptance checks use litwatch: the ``litwatch``
command in child processes, configured only through the contract's environment variables,
run from a folder that has no ``seeds/`` (so the embedded default watchlist and seeds are
used), against the fake services.

One crawl is shared by the module (about 8 s): the full watchlist on the fakes, then
NCT03395314 changes (RECRUITING -> TERMINATED, 22 enrolled, results and a RESULT paper) and
ClinicalTrials.gov is crawled again, so the trial has a history.  Tests that deliver a
digest work on their own copy of that database.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT
from smtp_support import Sink, smtp_server

from litwatch.fakes.world import NCT, RESULTS_PMID, changed_study, start_seed_world

KNOWN_PMID = "38011560"  # a recording: DOI and PMC id below
KNOWN_DOI = "10.1073/pnas.2305772120"
KNOWN_PMCID = "PMC10710048"
API_KEY = "contract-test-key-0123456789"

PUBLICATION_KEYS = ["kind", "pmid", "title", "abstract", "journal", "pub_date", "entrez_date", "doi", "pmcid", "authors",
                    "publication_types", "mesh", "nct_ids", "topics", "retracted", "url"]
TRIAL_KEYS = ["kind", "nct_id", "title", "official_title", "status", "why_stopped", "phases", "study_type", "enrollment",
              "start_date", "primary_completion_date", "completion_date", "first_posted", "last_update_posted",
              "results_first_posted", "has_results", "sponsor", "conditions", "interventions", "pmids", "topics", "history", "url"]
DIGEST_KEYS = ["id", "created_at", "sent_at", "subject", "recipients", "publications", "trials", "trial_changes",
               "retractions", "delivered_to"]
DATE = re.compile(r"^\d{4}(-\d\d(-\d\d)?)?$")
DAY = re.compile(r"^\d{4}-\d\d-\d\d$")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
STRINGS_OR_NULL = {"publication": ["title", "abstract", "journal", "doi", "pmcid", "pub_date", "entrez_date"],
                   "trial": ["title", "official_title", "status", "why_stopped", "study_type", "sponsor", "start_date",
                             "primary_completion_date", "completion_date", "first_posted", "last_update_posted",
                             "results_first_posted"]}


# --- shape checks -------------------------------------------------------------------------

def check_publication(rec: dict) -> None:
    assert [k for k in PUBLICATION_KEYS if k not in rec] == [], rec.get("pmid")
    assert rec["kind"] == "publication"
    assert re.fullmatch(r"\d+", rec["pmid"])
    for key in ("authors", "publication_types", "mesh", "nct_ids", "topics"):
        assert isinstance(rec[key], list) and all(isinstance(x, str) for x in rec[key]), key
    for key in STRINGS_OR_NULL["publication"]:
        assert rec[key] is None or (isinstance(rec[key], str) and rec[key]), (key, rec[key])
    assert isinstance(rec["retracted"], bool)
    assert rec["pub_date"] is None or DATE.match(rec["pub_date"]), rec["pub_date"]
    assert rec["entrez_date"] is None or DAY.match(rec["entrez_date"]), rec["entrez_date"]
    assert rec["pmcid"] is None or re.fullmatch(r"PMC\d+", rec["pmcid"])
    assert all(re.fullmatch(r"NCT\d{8}", n) for n in rec["nct_ids"])
    assert rec["url"] == f"https://pubmed.ncbi.nlm.nih.gov/{rec['pmid']}/"


def check_trial(rec: dict) -> None:
    assert [k for k in TRIAL_KEYS if k not in rec] == [], rec.get("nct_id")
    assert rec["kind"] == "trial"
    assert re.fullmatch(r"NCT\d{8}", rec["nct_id"])
    for key in ("phases", "conditions", "interventions", "pmids", "topics", "history"):
        assert isinstance(rec[key], list), key
    for key in STRINGS_OR_NULL["trial"]:
        assert rec[key] is None or (isinstance(rec[key], str) and rec[key]), (key, rec[key])
    for key in STRINGS_OR_NULL["trial"][6:]:
        assert rec[key] is None or DATE.match(rec[key]), (key, rec[key])
    assert rec["enrollment"] is None or (isinstance(rec["enrollment"], int) and not isinstance(rec["enrollment"], bool))
    assert isinstance(rec["has_results"], bool)
    assert all(isinstance(p, str) and p.isdigit() for p in rec["pmids"])
    for entry in rec["history"]:
        assert {"field", "old", "new", "seen_at"} <= set(entry), entry
        assert isinstance(entry["field"], str) and STAMP.match(entry["seen_at"]), entry
    assert rec["url"] == f"https://clinicaltrials.gov/study/{rec['nct_id']}"


def check_record(rec: dict) -> None:
    {"publication": check_publication, "trial": check_trial}[rec["kind"]](rec)


def check_digest(dig: dict) -> None:
    assert [k for k in DIGEST_KEYS if k not in dig] == []
    for key in ("recipients", "publications", "trials", "trial_changes", "retractions"):
        assert isinstance(dig[key], list), key
    assert all(isinstance(p, str) and p.isdigit() for p in dig["publications"] + dig["retractions"])
    assert all(re.fullmatch(r"NCT\d{8}", n) for n in dig["trials"])
    for change in dig["trial_changes"]:
        assert {"nct_id", "field", "old", "new"} <= set(change), change
    assert dig["created_at"] is None or STAMP.match(dig["created_at"])
    assert dig["sent_at"] is None or STAMP.match(dig["sent_at"])
    assert dig["delivered_to"] is None or dig["delivered_to"] == "smtp" or dig["delivered_to"].startswith("outbox:")


# --- running litwatch ----------------------------------------------------------------------

CONTRACT_VARS = ("LITWATCH_DB", "LITWATCH_CONFIG", "LITWATCH_SEEDS", "LITWATCH_EUTILS_URL", "LITWATCH_CTGOV_URL",
                 "LITWATCH_IDCONV_URL", "NCBI_API_KEY", "NCBI_EMAIL", "LITWATCH_SMTP_URL", "LITWATCH_DIGEST_FROM",
                 "LITWATCH_DIGEST_TO", "LITWATCH_OUTBOX")


def base_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_VARS and not k.lower().endswith("_proxy")}
    env.update(NO_PROXY="127.0.0.1,localhost", LITWATCH_BACKOFF_BASE="0.05", LITWATCH_RETRY_TIMES="2",
               LITWATCH_CTGOV_DELAY="0.01", LITWATCH_FEEDS_DELAY="0.01", PYTHONPATH=str(PROJECT_ROOT))
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Store:
    """The crawled database and how to run litwatch on it."""

    def __init__(self, env: dict, cwd: Path):
        self.env, self.cwd = env, cwd

    def run(self, *args, env: dict | None = None, cwd: Path | None = None, timeout: float = 120):
        return subprocess.run([sys.executable, "-m", "litwatch.cli", *args], capture_output=True, text=True,
                              env={**self.env, **(env or {})}, cwd=cwd or self.cwd, timeout=timeout)

    def json(self, *args, **kwargs):
        proc = self.run(*args, **kwargs)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def copy_db(self, dest: Path) -> Path:
        """A consistent copy (the store is in WAL mode) for tests that deliver digests."""
        src, dst = sqlite3.connect(self.env["LITWATCH_DB"]), sqlite3.connect(dest)
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        return dest


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    eutils, idconv, ctgov, study = start_seed_world()
    home = tmp_path_factory.mktemp("contract")
    cwd = home / "elsewhere"  # no ./seeds here: the embedded watchlist and seeds are used
    cwd.mkdir()
    env = base_env(LITWATCH_DB=home / "litwatch.db", LITWATCH_EUTILS_URL=eutils.base_url, LITWATCH_CTGOV_URL=ctgov.base_url,
                   LITWATCH_IDCONV_URL=idconv.base_url, LITWATCH_OUTBOX=home / "outbox", NCBI_EMAIL="qa@example.org",
                   NCBI_API_KEY=API_KEY)
    s = Store(env, cwd)
    try:
        # Repeated --source and --since, as CONTRACT writes them.
        first = s.run("crawl", "--source", "seeds", "--source", "ctgov", "--source", "pubmed", "--source", "feeds",
                      "--since", "2015-01-01")
        assert first.returncode == 0, first.stdout + first.stderr
        ctgov.put_study(changed_study(study))
        second = s.run("crawl", "--source", "ctgov")
        assert second.returncode == 0, second.stdout + second.stderr
        s.crawl_output = (first, second)
        yield s
    finally:
        for fake in (eutils, idconv, ctgov):
            fake.stop()


def one_error_line(proc) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("litwatch: ")
    return lines[0]


# --- crawl ---------------------------------------------------------------------------------

def test_crawl_prints_counts_and_uses_the_embedded_defaults(store):
    first, second = store.crawl_output
    sources = [line.split()[0] for line in first.stdout.splitlines() if line and not line.startswith(("warning:", "error:"))]
    assert sources == ["seeds", "ctgov", "pubmed", "feeds"]
    assert "documents=5" in first.stdout  # the bundled seed documents
    assert second.stdout.split()[0] == "ctgov"
    for proc in (first, second):
        assert API_KEY not in proc.stdout + proc.stderr
    assert API_KEY.encode() not in Path(store.env["LITWATCH_DB"]).read_bytes()


def test_crawl_with_an_unreachable_service_fails_with_one_line(tmp_path):
    env = base_env(LITWATCH_DB=tmp_path / "x.db", LITWATCH_CTGOV_URL="http://127.0.0.1:9/api/v2/", LITWATCH_RETRY_TIMES="1")
    proc = Store(env, tmp_path).run("crawl", "--source", "ctgov")
    line = one_error_line(proc)
    assert line.startswith("litwatch: error: crawl of ctgov did not complete:")
    assert proc.stdout.startswith("ctgov")  # the counts, and each error, are the report on stdout
    assert "error: ctgov: topic ketamine-bpd:" in proc.stdout


# --- show ----------------------------------------------------------------------------------

@pytest.mark.parametrize("ident", [KNOWN_PMID, KNOWN_PMCID, KNOWN_PMCID.lower(), KNOWN_DOI, f"https://doi.org/{KNOWN_DOI}",
                                   KNOWN_DOI.upper()])
def test_show_publication_by_any_id(store, ident):
    rec = store.json("show", ident, "--json")
    assert isinstance(rec, dict)
    check_publication(rec)
    assert (rec["pmid"], rec["doi"], rec["pmcid"]) == (KNOWN_PMID, KNOWN_DOI, KNOWN_PMCID)
    assert rec["authors"][0] == "Krystal JH" and rec["retracted"] is False
    text = store.run("show", ident)
    assert text.returncode == 0 and KNOWN_PMID in text.stdout and not text.stdout.lstrip().startswith("{")


@pytest.mark.parametrize("ident", ["PMC9156400", "10.1016/j.jad.2022.06.072", RESULTS_PMID])
def test_show_papers_the_seeds_cite(store, ident):
    check_publication(store.json("show", ident, "--json"))


@pytest.mark.parametrize("ident", [NCT, NCT.lower()])
def test_show_trial_with_its_history(store, ident):
    rec = store.json("show", ident, "--json")
    check_trial(rec)
    assert rec["nct_id"] == NCT and rec["status"] == "TERMINATED" and rec["enrollment"] == 22
    assert rec["has_results"] is True and rec["why_stopped"] == "Slow enrollment" and rec["phases"] == ["PHASE2"]
    assert RESULTS_PMID in rec["pmids"] and "ketamine-bpd" in rec["topics"]
    status = [h for h in rec["history"] if h["field"] == "status"]
    assert [(h["old"], h["new"]) for h in status] == [("RECRUITING", "TERMINATED")]
    text = store.run("show", ident)
    assert text.returncode == 0 and NCT in text.stdout and "TERMINATED" in text.stdout


@pytest.mark.parametrize("ident", ["99999999", "NCT99999999", "PMC1", "10.9999/nothing"])
def test_show_unknown_id_is_one_line(store, ident):
    assert "not in the store" in one_error_line(store.run("show", ident, "--json"))


# --- search, trials, export -----------------------------------------------------------------

@pytest.mark.parametrize("extra", [[], ["--since", "2015-01-01"], ["--type", "publication"], ["--type", "trial"],
                                   ["--topic", "ketamine-bpd"], ["--limit", "2"], ["--type", "Review", "--limit", "3"]])
def test_search_json_hits_keep_contract_keys(store, extra):
    hits = store.json("search", "ketamine", *extra, "--json")
    assert isinstance(hits, list) and hits
    for hit in hits:
        check_record(hit)
    if "--limit" in extra:
        assert len(hits) <= int(extra[extra.index("--limit") + 1])
    if extra[:2] == ["--type", "trial"]:
        assert {h["kind"] for h in hits} == {"trial"}
    if extra[:2] == ["--type", "publication"]:
        assert {h["kind"] for h in hits} == {"publication"}


def test_search_phrase_and_text_output(store):
    hits = store.json("search", '"borderline personality" ketamine', "--json")
    assert NCT in {h.get("nct_id") for h in hits} and RESULTS_PMID in {h.get("pmid") for h in hits}
    text = store.run("search", "ketamine")
    assert text.returncode == 0 and KNOWN_PMID in text.stdout


@pytest.mark.parametrize("extra", [[], ["--status", "TERMINATED"], ["--status", "terminated"], ["--topic", "ketamine-bpd"],
                                   ["--status", "TERMINATED", "--topic", "ketamine-bpd"]])
def test_trials_json(store, extra):
    rows = store.json("trials", *extra, "--json")
    assert isinstance(rows, list) and NCT in [r["nct_id"] for r in rows]
    for row in rows:
        check_trial(row)


def test_trials_filters_and_text(store):
    assert store.json("trials", "--status", "RECRUITING", "--json") == []
    text = store.run("trials")
    assert text.returncode == 0 and NCT in text.stdout


@pytest.mark.parametrize("args, kinds", [([], {"publication", "trial"}), (["--format", "json"], {"publication", "trial"}),
                                         (["--kind", "publications"], {"publication"}), (["--format", "json", "--kind", "trials"], {"trial"}),
                                         (["--kind", "publications", "--since", "2015-01-01"], {"publication"})])
def test_export_json_is_a_list_of_shapes(store, args, kinds):
    records = store.json("export", *args)
    assert isinstance(records, list) and {r["kind"] for r in records} == kinds
    for rec in records:
        check_record(rec)


def test_export_since_the_future_is_an_empty_list(store):
    assert store.json("export", "--since", "2999-01-01") == []


@pytest.mark.parametrize("kind, keys", [("publications", PUBLICATION_KEYS), ("trials", TRIAL_KEYS)])
def test_export_csv_has_the_contract_columns(store, kind, keys):
    proc = store.run("export", "--format", "csv", "--kind", kind, "--since", "2015-01-01")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert rows and all(k in rows[0] for k in keys)


# --- digest and run ------------------------------------------------------------------------

def test_digest_preview_json_text_and_out(store, tmp_path):
    dig = store.json("digest", "--json")
    check_digest(dig)
    assert dig["delivered_to"] is None and dig["sent_at"] is None
    assert RESULTS_PMID in dig["publications"] and NCT in dig["trials"]
    text = store.run("digest")
    assert text.returncode == 0 and text.stdout.strip()
    out = tmp_path / "preview"
    proc = store.run("digest", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert {p.suffix for p in out.iterdir()} == {".html", ".txt", ".eml"}
    assert store.json("digest", "--json")["publications"] == dig["publications"]  # nothing marked delivered


def test_digest_send_to_the_outbox(store, tmp_path):
    env = {"LITWATCH_DB": str(store.copy_db(tmp_path / "copy.db")), "LITWATCH_OUTBOX": str(tmp_path / "outbox")}
    dig = store.json("digest", "--send", "--json", env=env)
    check_digest(dig)
    assert dig["delivered_to"].startswith("outbox:") and STAMP.match(dig["sent_at"])
    assert Path(dig["delivered_to"][len("outbox:"):]).is_file()
    again = store.run("digest", "--send", "--json", env=env)  # nothing new: nothing sent, status 0
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["delivered_to"] is None


def test_digest_send_by_smtp_and_a_refusing_server(store, tmp_path):
    env = {"LITWATCH_DB": str(store.copy_db(tmp_path / "copy.db")), "LITWATCH_DIGEST_TO": "a@example.org, b@example.org",
           "LITWATCH_DIGEST_FROM": "litwatch@example.org"}
    refuse = Sink(data_reply="554 5.7.1 refused by policy")
    with smtp_server(refuse) as port:
        proc = store.run("digest", "--send", "--json", env={**env, "LITWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    assert "554" in one_error_line(proc)
    sink = Sink()
    with smtp_server(sink) as port:
        dig = store.json("digest", "--send", "--json", env={**env, "LITWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    check_digest(dig)
    assert dig["delivered_to"] == "smtp" and dig["recipients"] == ["a@example.org", "b@example.org"]
    assert RESULTS_PMID in dig["publications"]  # the refused attempt left everything pending
    assert len(sink.messages) == 1 and sink.messages[0].rcpt_tos == ["a@example.org", "b@example.org"]


def test_run_with_unreachable_services_still_delivers_and_fails_with_one_line(tmp_path):
    dead = {f"LITWATCH_{name}_URL": f"http://127.0.0.1:9/{name.lower()}/" for name in ("EUTILS", "CTGOV", "IDCONV")}
    env = base_env(LITWATCH_DB=tmp_path / "x.db", LITWATCH_OUTBOX=tmp_path / "outbox", LITWATCH_RETRY_TIMES="0", **dead)
    proc = Store(env, tmp_path).run("run")
    assert "did not complete" in one_error_line(proc)
    assert "delivered to outbox:" in proc.stdout  # the digest reports the failed crawl
    assert list((tmp_path / "outbox").glob("*.eml"))


def test_schedule_help_prints_the_effective_schedule(store):
    proc = store.run("schedule", "--help")
    assert proc.returncode == 0 and "Usage: litwatch schedule" in proc.stdout
    assert "0 7 * * mon" in proc.stdout and "America/New_York" in proc.stdout


# --- configuration and errors ---------------------------------------------------------------

CUSTOM = """follow_trials = ["NCT03395314"]
[[topic]]
name = "custom-topic"
title = "A custom topic"
pubmed = 'ketamine[tiab]'
ctgov = { intr = "ketamine", cond = "borderline personality disorder" }
feeds = ["https://example.org/journal.rss"]
keywords = ["ketamine"]
[schedule]
timezone = "Europe/Berlin"
crawl = "0 5 * * *"
digest = "0 7 * * mon"
[digest]
to = ["reader@example.org"]
from = "litwatch@example.org"
"""


def test_config_option_and_variable_choose_the_watchlist(store, tmp_path):
    config = tmp_path / "mine.toml"
    config.write_text(CUSTOM, encoding="utf-8")
    assert store.json("--config", str(config), "trials", "--topic", "custom-topic", "--json") == []
    assert store.json("trials", "--topic", "custom-topic", "--json", env={"LITWATCH_CONFIG": str(config)}) == []
    assert "Europe/Berlin" in store.run("schedule", "--help", env={"LITWATCH_CONFIG": str(config)}).stdout
    assert "no topic named 'custom-topic'" in one_error_line(store.run("trials", "--topic", "custom-topic"))


@pytest.mark.parametrize("edit, key", [
    (lambda t: t.replace("keywords =", "keywordz ="), "topic.custom-topic.keywordz: unknown key"),
    (lambda t: t.replace("pubmed = 'ketamine[tiab]'\n", ""), "topic.custom-topic.pubmed: missing"),
    (lambda t: t.replace('ctgov = { intr = "ketamine", cond = "borderline personality disorder" }\n', ""), "topic.custom-topic.ctgov: missing"),
    (lambda t: 'backfill_from = "2020-13-45"\n' + t, "backfill_from: bad date"),
    (lambda t: t.replace('crawl = "0 5 * * *"', 'crawl = "61 5 * * *"'), "schedule.crawl: bad cron expression"),
])
def test_bad_watchlist_is_one_line_naming_file_and_key(store, tmp_path, edit, key):
    config = tmp_path / "bad.toml"
    config.write_text(edit(CUSTOM), encoding="utf-8")
    for proc in (store.run("--config", str(config), "crawl"), store.run("crawl", env={"LITWATCH_CONFIG": str(config)})):
        line = one_error_line(proc)
        assert str(config) in line and key in line


@pytest.mark.parametrize("args", [
    ["search", '"borderline personality'], ["search", "ketamine AND"], ["search", "ketamine", "--since", "2023-13-01"],
    ["search"], ["show"], ["export", "--format", "xml"], ["export", "--kind", "everything"], ["crawl", "--source", "nope"],
    ["crawl", "--since", "yesterday"], ["trials", "--topic", "nope"], ["digest", "--nope"], ["no-such-command"],
])
def test_bad_input_is_one_line(store, args):
    proc = store.run(*args)
    line = one_error_line(proc)
    assert proc.returncode == 2, line
    assert proc.stdout == ""


@pytest.mark.parametrize("args", [["export"], ["trials", "--json"], ["search", "ketamine", "--json"], ["digest"], ["crawl"]])
def test_database_in_a_missing_folder_is_one_line(store, tmp_path, args):
    proc = store.run(*args, env={"LITWATCH_DB": str(tmp_path / "no" / "such" / "x.db")})
    assert "does not exist" in one_error_line(proc)
    assert proc.stdout == ""


def test_bare_litwatch_still_shows_the_help(store):
    proc = store.run()
    assert "Usage: litwatch" in proc.stdout + proc.stderr and "Commands:" in proc.stdout + proc.stderr
