"""Shared test fixtures: the recordings, a fresh database, environment isolation."""

from __future__ import annotations

from pathlib import Path

import pytest

from litwatch.fakes import RECORDINGS as FIXTURES

PUBMED_FIXTURES = FIXTURES / "pubmed"
CTGOV_FIXTURES = FIXTURES / "ctgov"
RSS_FIXTURES = FIXTURES / "rss"
PROJECT_ROOT = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test reads the developer's environment or writes outside tmp_path."""
    for var in (
        "LITWATCH_DB", "LITWATCH_CONFIG", "LITWATCH_SEEDS", "LITWATCH_EUTILS_URL", "LITWATCH_CTGOV_URL",
        "LITWATCH_IDCONV_URL", "NCBI_API_KEY", "NCBI_EMAIL", "LITWATCH_SMTP_URL", "LITWATCH_DIGEST_FROM",
        "LITWATCH_DIGEST_TO", "LITWATCH_OUTBOX", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
    ):
        monkeypatch.delenv(var, raising=False)
    # Anything that slips through to a real service fails fast instead of hanging.
    monkeypatch.setenv("LITWATCH_EUTILS_URL", "http://127.0.0.1:9/eutils/")
    monkeypatch.setenv("LITWATCH_CTGOV_URL", "http://127.0.0.1:9/api/v2/")
    monkeypatch.setenv("LITWATCH_IDCONV_URL", "http://127.0.0.1:9/idconv/")
    monkeypatch.setenv("LITWATCH_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "litwatch.db"


@pytest.fixture
def db(db_path):
    from litwatch.db import open_db

    return open_db(db_path)
