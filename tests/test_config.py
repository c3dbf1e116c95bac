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
