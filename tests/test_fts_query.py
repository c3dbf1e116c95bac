"""What users type becomes a safe FTS5 query, or one clear error."""

import sqlite3

import pytest

from litwatch.db.fts import to_fts_query
from litwatch.vocab.errors import QueryError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ketamine", '"ketamine"'),
        ('"borderline personality" ketamine', '"borderline personality" "ketamine"'),
        ("treatment-resistant depression", '"treatment resistant" "depression"'),
        ("suicid* OR self-harm", '"suicid"* OR "self harm"'),
        ("ketamine -placebo", '"ketamine" NOT "placebo"'),
        ("ketamine AND esketamine", '"ketamine" AND "esketamine"'),
        ("title:ketamine", '"title ketamine"'),  # no column filters from user text
    ],
)
def test_queries(text, expected):
    assert to_fts_query(text) == expected


@pytest.mark.parametrize("text", ['"unclosed', "OR ketamine", "ketamine OR", "   ", "-placebo", "!!!"])
def test_malformed_queries_raise_one_line(text):
    with pytest.raises(QueryError) as info:
        to_fts_query(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["ketamine", '"a b" c*', "x -y", "a OR b", "NEAR(a b)", "a:b", "^x", "(a"])
def test_output_is_valid_fts5(text):
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
    conn.execute("INSERT INTO t VALUES ('a b c x ketamine near')")
    conn.execute("SELECT * FROM t WHERE t MATCH ?", [to_fts_query(text)]).fetchall()
