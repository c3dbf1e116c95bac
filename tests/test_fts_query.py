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


def test_query_length_is_limited_with_one_line():
    from litwatch.db.fts import MAX_QUERY_CHARS, MAX_QUERY_TERMS

    with pytest.raises(QueryError, match="too long") as info:
        to_fts_query("ketamine " * 1500)
    assert "\n" not in str(info.value) and len(str(info.value)) < 200
    assert to_fts_query("a" * MAX_QUERY_CHARS)
    with pytest.raises(QueryError, match="terms"):
        to_fts_query(" ".join(f"w{i}" for i in range(MAX_QUERY_TERMS + 1)))


def test_pasted_title_becomes_a_title_phrase():
    from litwatch.db.fts import title_phrase_query

    assert title_phrase_query("Ketamine and the neurobiology of depression: Toward next-generation treatments.") == (
        'title : "Ketamine and the neurobiology of depression Toward next generation treatments"')
    assert title_phrase_query("ketamine depression") is None
    assert title_phrase_query('"a b c d" e') is None
