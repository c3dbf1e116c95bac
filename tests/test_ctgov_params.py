"""Every parameter the ClinicalTrials.gov spider sends exists in the official spec.

The real service answers an unknown parameter with HTTP 400, so a misspelt name would fail
every crawl; this checks the names (and the values' types and enums) against the OpenAPI
description stored in litwatch/fakes/recordings/ctgov/ctg-oas-v2.yaml.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from conftest import CTGOV_FIXTURES, PROJECT_ROOT

from litwatch.config import CTGOV_KEYS, Topic, load_watchlist
from litwatch.crawler import ctgov

SPEC = yaml.safe_load((CTGOV_FIXTURES / "ctg-oas-v2.yaml").read_text(encoding="utf-8"))


def spec_params(path: str) -> dict[str, dict]:
    out = {}
    for prm in SPEC["paths"][path]["get"].get("parameters", []):
        if "$ref" in prm:
            prm = SPEC["components"]["parameters"][prm["$ref"].rsplit("/", 1)[-1]]
        if prm["in"] == "query":
            out[prm["name"]] = prm["schema"]
    return out


def check_value(name: str, value: str, schema: dict) -> None:
    if "enum" in schema:
        assert value in schema["enum"], (name, value)
    if schema.get("type") == "integer":
        assert value.isdigit() and int(value) >= schema.get("minimum", 0), (name, value)
    if schema.get("type") == "boolean":
        assert value in ("true", "false"), (name, value)


def sent_params(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


TOPICS = list(load_watchlist(PROJECT_ROOT / "seeds" / "watchlist.toml").topics) + [
    Topic(name="every-area", title="", pubmed="x", ctgov={k: "ketamine" for k in CTGOV_KEYS}),
    Topic(name="string", title="", pubmed="x", ctgov={"term": "ketamine AND depression"}),
]


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.name)
@pytest.mark.parametrize("token", [None, "NF0g5JiBsfQ"])
def test_studies_parameters_are_in_the_spec(topic, token):
    allowed = spec_params("/studies")
    params = sent_params(ctgov.studies_url("https://x/api/v2/", ctgov.studies_params(topic, dt.date(2024, 1, 15), token)))
    for name, value in params.items():
        assert name in allowed, f"{name} is not a /studies parameter of ClinicalTrials.gov API v2"
        check_value(name, value, allowed[name])
    assert params["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2024-01-15,MAX]"
    assert params["pageSize"] == str(ctgov.PAGE_SIZE) == "100" and params["format"] == "json" and params["countTotal"] == "true"
    assert (params.get("pageToken") == token) if token else "pageToken" not in params


def test_later_pages_repeat_the_first_pages_parameters():
    topic = TOPICS[0]
    first = ctgov.studies_params(topic, dt.date(2024, 1, 15))
    later = ctgov.studies_params(topic, dt.date(2024, 1, 15), "tok")
    assert {k: v for k, v in later.items() if k != "pageToken"} == first


def test_single_study_parameters_are_in_the_spec():
    allowed = spec_params("/studies/{nctId}")
    url = ctgov.study_url("https://x/api/v2/", "NCT03395314")
    assert urlsplit(url).path == "/api/v2/studies/NCT03395314"
    for name, value in sent_params(url).items():
        assert name in allowed
        check_value(name, value, allowed[name])


def test_watchlist_keys_are_query_parameters():
    allowed = spec_params("/studies")
    assert {f"query.{k}" for k in CTGOV_KEYS} <= set(allowed)
