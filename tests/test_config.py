"""Watchlist loading: the project's own file is valid; mistakes are one line naming file and key."""

import pytest
from conftest import PROJECT_ROOT

from litwatch.config import load_settings, load_watchlist, parse_watchlist
from litwatch.vocab.errors import ConfigError

MINIMAL = {"topic": [{"name": "t", "pubmed": "ketamine[tiab]", "ctgov": "ketamine"}]}


def test_project_watchlist_is_valid():
    w = load_watchlist(PROJECT_ROOT / "seeds" / "watchlist.toml")
    names = {t.name for t in w.topics}
    assert {"ketamine-depression", "ketamine-bpd", "ketamine-suicidality"} <= names
    assert "NCT03395314" in w.follow_trials
    bpd = w.topic("ketamine-bpd")
    assert "[mh]" in bpd.pubmed and "[tiab]" in bpd.pubmed
    assert bpd.ctgov == {"intr": "ketamine OR esketamine", "cond": "borderline personality disorder"}


@pytest.mark.parametrize(
    "data, needle",
    [
        ({**MINIMAL, "folow_trials": []}, "folow_trials: unknown key"),
        ({"topic": [{"name": "t", "ctgov": "x"}]}, "topic.t.pubmed: missing"),
        ({"topic": [{"name": "t", "pubmed": "x"}]}, "topic.t.ctgov: missing"),
        ({"topic": [{"name": "t", "pubmed": "x", "ctgov": "x", "backfill_from": "2024-13-40"}]}, "topic.t.backfill_from: bad date"),
        ({**MINIMAL, "backfill_from": "yesterday"}, "backfill_from: bad date"),
        ({**MINIMAL, "follow_trials": ["NCT123"]}, "follow_trials: 'NCT123' is not an NCT number"),
        ({**MINIMAL, "schedule": {"crawl": "61 5 * * *"}}, "schedule.crawl: bad cron expression"),
        ({**MINIMAL, "schedule": {"timezone": "Mars/Olympus"}}, "schedule.timezone: unknown timezone"),
        ({"topic": [{"name": "t", "pubmed": "x", "ctgov": {"intervention": "k"}}]}, "topic.t.ctgov.intervention: unknown key"),
        ({}, "topic: missing"),
    ],
)
def test_bad_watchlist_is_one_line_naming_file_and_key(data, needle):
    with pytest.raises(ConfigError) as info:
        parse_watchlist(data, "w.toml")
    message = str(info.value)
    assert message.startswith("w.toml: ")
    assert needle in message
    assert "\n" not in message


def test_unreadable_and_invalid_toml(tmp_path):
    bad = tmp_path / "w.toml"
    bad.write_text("[[topic]\nname=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_watchlist(bad)
    with pytest.raises(ConfigError, match="cannot read watchlist"):
        load_watchlist(tmp_path / "missing.toml")


def test_settings_from_env_keep_secrets_out_of_repr():
    s = load_settings({"NCBI_API_KEY": "sekret123", "LITWATCH_SMTP_URL": "smtp://u:pw@h", "LITWATCH_EUTILS_URL": "http://127.0.0.1:1/e"})
    assert "sekret123" not in repr(s) and "pw@" not in repr(s)
    assert s.eutils_url.endswith("/") and s.eutils_rate == 10.0


@pytest.mark.parametrize(
    "data, needle",
    [
        ({**MINIMAL, "overlap_days": 9223372036854775807}, "overlap_days: 9223372036854775807 is out of range"),
        ({**MINIMAL, "overlap_days": -1}, "overlap_days: -1 is out of range"),
        ({**MINIMAL, "overlap_days": True}, "overlap_days: must be a whole number from 0 to 365, not True"),
        ({**MINIMAL, "overlap_days": 7.5}, "overlap_days: must be a whole number"),
        ({**MINIMAL, "schedule": {"crawl_timeout_minutes": True}}, "schedule.crawl_timeout_minutes: must be a whole number"),
        ({**MINIMAL, "schedule": {"crawl_timeout_minutes": 0}}, "schedule.crawl_timeout_minutes: 0 is out of range"),
        ({**MINIMAL, "digest": {"max_per_section": False}}, "digest.max_per_section: must be a whole number"),
        ({**MINIMAL, "digest": {"max_per_section": 10**9}}, "digest.max_per_section: 1000000000 is out of range"),
        ({**MINIMAL, "backfill_from": "9999-12-31"}, "backfill_from: 9999-12-31 is in the future"),
        ({"topic": [{**MINIMAL["topic"][0], "backfill_from": "2027-01-01"}]}, "topic.t.backfill_from: 2027-01-01 is in the future"),
        ({**MINIMAL, "backfill_from": "0001-01-01"}, "backfill_from: 0001-01-01 is before"),
        ({**MINIMAL, "schedule": {"crawl": "0 0 31 2 *"}}, "schedule.crawl: cron expression '0 0 31 2 *' does not fire at least once a year"),
        ({**MINIMAL, "schedule": {"digest": "0 0 29 2 *"}}, "schedule.digest: cron expression '0 0 29 2 *' does not fire"),
        ({**MINIMAL, "digest": {"to": ["a@b.org, evil@example.com"]}}, "digest.to: 'a@b.org, evil@example.com' must be one address, not 2"),
        ({**MINIMAL, "digest": {"to": ["not an address"]}}, "digest.to: 'not an address' is not a mail address"),
        ({**MINIMAL, "digest": {"to": ["a@b.org\r\nBcc: evil@example.com"]}}, "digest.to: 'a@b.org\\r\\nBcc: evil@example.com' holds a line break"),
        ({**MINIMAL, "digest": {"from": "x@y.org\u2028Bcc: e@v.il"}}, "digest.from: 'x@y.org\\u2028Bcc: e@v.il' holds a line break"),
        ({**MINIMAL, "digest": {"subject_prefix": "lit\nwatch"}}, "digest.subject_prefix: 'lit\\nwatch' holds a line break"),
        ({**MINIMAL, "digest": {"subject_prefix": "lit\u2029watch"}}, "digest.subject_prefix: 'lit\\u2029watch' holds a line break"),
        ({**MINIMAL, "digest": {"send_when_empty": 1}}, "digest.send_when_empty: must be true or false"),
    ],
)
def test_values_that_would_fail_later_are_refused_at_load(data, needle):
    import datetime as dt

    with pytest.raises(ConfigError) as info:
        parse_watchlist(data, "w.toml", today=dt.date(2026, 11, 30))
    message = str(info.value)
    assert message.startswith("w.toml: ") and needle in message
    assert "\n" not in message and "\r" not in message and "\u2028" not in message and "\u2029" not in message


def test_sensible_values_pass():
    import datetime as dt

    w = parse_watchlist({**MINIMAL, "overlap_days": 0, "backfill_from": "2026-11-30",
                         "schedule": {"crawl": "0 5 * * *", "digest": "0 7 1 1 *", "crawl_timeout_minutes": 1440},
                         "digest": {"to": ["Reader <reader@example.org>", "b@example.org"], "from": "litwatch@example.org",
                                    "max_per_section": 1000, "subject_prefix": "[litwatch]"}},
                        "w.toml", today=dt.date(2026, 11, 30))
    assert w.overlap_days == 0 and w.digest.to == ("Reader <reader@example.org>", "b@example.org")


def test_project_watchlist_still_loads_and_names_file_and_key_through_the_loader(tmp_path):
    bad = tmp_path / "w.toml"
    bad.write_text('overlap_days = true\n[[topic]]\nname = "t"\npubmed = "k"\nctgov = "k"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"w\.toml: overlap_days: must be a whole number"):
        load_watchlist(bad)
