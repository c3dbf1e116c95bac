"""The digest as mail: hostile record text stays text, links stay on known hosts, caps hold."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

from digest_support import NOW, make_watchlist

from litwatch import demo_world as demo
from litwatch.digest.markup import safe_inline
from litwatch.digest.render import HTML_BUDGET, build_view, fit, render_html, render_text, subject_for
from litwatch.digest.select import select_digest

# Tags the template itself writes, plus the inline markup kept from records.
TEMPLATE_TAGS = {"html", "head", "meta", "title", "style", "body", "table", "tr", "td", "div", "span", "a", "code", "b", "i", "u",
                 "sub", "sup"}
LINK_HOSTS = {"pubmed.ncbi.nlm.nih.gov", "clinicaltrials.gov", "doi.org"}
FEED_LINK = "https://www.medrxiv.org/content/10.1101/2026.11.01.000001v1"


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _parse(html: str) -> list[tuple[str, dict]]:
    parser = _Collect()
    parser.feed(html)
    return parser.tags


def _render(db, **options):
    content = select_digest(db, make_watchlist(**options), NOW)
    view = build_view(content, cap=options.get("max_per_section", 25))
    return content, render_text(view), render_html(view)


def _hostile(db):
    demo.add_publication(
        db, "1", topics=["ketamine-depression"], journal='<img src="https://evil.example/x.png" onerror="alert(1)">',
        title='<script>alert("t")</script> Ketamine <i onclick="steal()">in vivo</i> <a href="javascript:alert(1)">click</a> CO<sub>2</sub>',
        authors=['<b onmouseover="x()">Evil</b> A'],
        sections=[{"label": "CONCLUSIONS", "category": "CONCLUSIONS", "text": 'It <i>works</i><iframe src="https://evil.example"></iframe>'}],
        doi='10.1/x"onmouseover="alert(1)',
    )
    demo.add_trial(db, "NCT00000001", title='<style>body{background:url(https://evil.example/t.png)}</style>Trial',
                   sponsor="<script>alert(2)</script>", why_stopped="<b>stopped</b>")
    demo.add_feed_item(db, "f1", title="Feed <script>x</script>", link="javascript:alert(1)", summary='<img src=x onerror=alert(3)> text')
    demo.add_feed_item(db, "f2", title="Quoted link", link='https://ok.example/a"onmouseover="alert(1)')
    demo.add_feed_item(db, "f3", title="Good link", link=FEED_LINK)


def test_hostile_record_text_never_reaches_the_html_as_markup(db):
    _hostile(db)
    _, _, html = _render(db)
    tags = _parse(html)
    assert {t for t, _ in tags} <= TEMPLATE_TAGS
    for tag, attrs in tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "src" not in attrs and "srcset" not in attrs and "background" not in attrs
        if tag in ("i", "b", "sub", "sup", "em", "strong"):
            assert attrs == {} or tag == "b" and set(attrs) <= {"style"}
        if tag == "a" and "href" in attrs:
            href = attrs["href"]
            if href.startswith("#"):
                continue
            parts = urlsplit(href)
            assert parts.scheme == "https", href
            assert parts.hostname in LINK_HOSTS or href == FEED_LINK, href
    for tag, attrs in tags:
        for value in attrs.values():
            assert "javascript:" not in (value or "").lower() and "url(" not in (value or "").lower(), (tag, attrs)
    for bad in ("<script", "<iframe", "<img", "<link", "<a href=\"javascript"):
        assert bad not in html.lower(), bad
    assert html.lower().count("<style") == 1  # ours, in the head
    assert "&lt;script&gt;" in html  # shown as text, not dropped silently
    assert "<i>in vivo</i>" not in html and "CO<sub>2</sub>" in html and "<i>works</i>" in html


def test_safe_inline_keeps_bare_tags_balanced_and_escapes_everything_else():
    assert safe_inline("<i>Gekko</i> <sup>3</sup>H") == "<i>Gekko</i> <sup>3</sup>H"
    assert safe_inline("a <i>b") == "a <i>b</i>"
    assert safe_inline("a </i>b") == "a b"
    assert safe_inline('<i class="x">b</i>') == "&lt;i class=&quot;x&quot;&gt;b"
    assert safe_inline("<b><i>x</b>") == "<b><i>x</i></b>"
    assert safe_inline("5 < 6 & 7 > 3") == "5 &lt; 6 &amp; 7 &gt; 3"
    # PubMed text is stored as an HTML fragment: its entities are not escaped twice.
    assert safe_inline("5 &lt; 6 &amp; <i>Gekko</i> &#x3bc;-XRF") == "5 &lt; 6 &amp; <i>Gekko</i> μ-XRF"
    assert safe_inline("&lt;script&gt;alert(1)&lt;/script&gt;") == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_no_external_resources_and_inline_css_only(db):
    _hostile(db)
    _, _, html = _render(db)
    tags = _parse(html)
    assert not [t for t, _ in tags if t in ("link", "script", "img", "iframe", "object", "embed", "form")]
    # One style block, ours, in the head: dark-mode colours only.
    assert [t for t, _ in tags].count("style") == 1 and html.index("<style>") < html.index("</head>")
    block = html[html.index("<style>"):html.index("</style>")]
    assert "@import" not in block and "url(" not in block
    assert "http://" not in html


def test_every_selected_item_is_in_both_parts(db):
    demo.add_publication(db, "11", title="Esketamine for TRD", topics=["ketamine-trd"], publication_types=["Randomized Controlled Trial"])
    demo.add_publication(db, "12", title="Ketamine meta-analysis", topics=["ketamine-depression"], publication_types=["Meta-Analysis"])
    demo.add_publication(db, "13", title="Retracted ketamine paper", topics=["ketamine-bpd"])
    demo.add_correction(db, "13", "RetractionIn", "14")
    demo.add_trial(db, "NCT00000021", title="New ketamine trial")
    demo.add_trial(db, "NCT03395314", title="Followed BPD trial", status="TERMINATED")
    demo.change_trial(db, "NCT03395314", enrollment=22, enrollment_type="ESTIMATED")
    demo.add_feed_item(db, "p1", title="Preprint on arketamine", topics=["ketamine-depression"])
    demo.add_feed_item(db, "j1", kind="journal", title="Journal item on esketamine", topics=["ketamine-trd"],
                       link="https://journal.example/a1")
    content, text, html = _render(db)
    for part in (text, html):
        for needle in ("Esketamine for TRD", "Ketamine meta-analysis", "Retracted ketamine paper", "pubmed.ncbi.nlm.nih.gov/11/",
                       "NCT00000021", "New ketamine trial", "NCT03395314", "enrollment 60 → 22", "Preprint on arketamine",
                       "Journal item on esketamine", "pubmed.ncbi.nlm.nih.gov/14/", "ketamine[tiab] AND depress*[tiab]"):
            assert needle in part, needle
    # Strength of evidence: the meta-analysis is read before anything else in its topic.
    assert text.index("Guidelines, systematic reviews") < text.index("Ketamine meta-analysis")
    assert subject_for(content) == "litwatch 2026-W47: NCT03395314 updated; 1 retraction; 3 papers; 2 new trials"
    assert len(subject_for(content)) <= 78


def test_caps_per_evidence_section_with_a_pubmed_link_for_the_rest(db):
    for i in range(30):
        demo.add_publication(db, str(1000 + i), title=f"Paper number {i}", topics=["ketamine-depression"])
    for i in range(7):
        demo.add_publication(db, str(2000 + i), title=f"Review number {i}", topics=["ketamine-depression"],
                             publication_types=["Review"])
    content, text, html = _render(db, max_per_section=5)
    assert content.publication_count == 37 and len(content.items()) == 37
    assert len(content.publications) == 10  # read in full: 5 papers and 5 reviews (the cap), the rest counted
    assert "and 25 more in PubMed" in text and "and 25 more in PubMed" in html
    assert "and 2 more in PubMed" in html  # the cap is per evidence section, not per topic
    assert sum(f"Paper number {i}\n" in text for i in range(30)) == 5
    assert content.counts["publications"] == 37 and ">37<" in html
    link = next(a["href"] for t, a in _parse(html) if t == "a" and "and 2 more" in html[html.index(a.get("href", "#")):][:400])
    term = unquote(urlsplit(link).query.removeprefix("term="))
    assert term == ('(ketamine[tiab] AND depress*[tiab]) AND ("Review"[pt] OR "Scoping Review"[pt]) AND '
                    '("2026/11/08"[edat] : "2026/11/16"[edat])')


def _many_papers(db, n: int, topics=("ketamine-depression", "ketamine-trd", "ketamine-bpd"), abstract="Background. " * 40):
    """``n`` papers in one efetch answer, through the parser and the store, spread over topics and groups."""
    kinds = [["Review"], ["Randomized Controlled Trial"], ["Journal Article"], ["Meta-Analysis"], ["Case Reports"]]
    for t, topic in enumerate(topics):
        xml = b"".join(demo.pubmed_xml(str(100000 + i), title=f"Paper {i} on ketamine and a long title " * 2,
                                       abstract=abstract, publication_types=kinds[i % len(kinds)],
                                       authors=("Doe J", "Roe R", "Poe P", "Moe M"))
                       for i in range(t, n, len(topics)))
        demo.store_pubmed(db, xml, [topic])


def test_thousand_new_papers_fit_in_one_mail(db):
    _many_papers(db, 1000)
    content = select_digest(db, make_watchlist(), NOW)
    view, text, html = fit(content, cap=25)
    assert content.publication_count == 1000 and len(content.items()) == 1000
    assert len(html.encode("utf-8")) < HTML_BUDGET
    assert "more in PubMed" in html and ">1000<" in html


def test_twenty_thousand_new_papers_fit_in_one_mail(db):
    _many_papers(db, 20_000, abstract="Short.")
    content = select_digest(db, make_watchlist(), NOW)
    view, text, html = fit(content, cap=100)
    assert len(content.items()) == 20_000 and len(html.encode("utf-8")) < HTML_BUDGET
    shown = sum(len(g.shown) for t in view.topics for g in t.groups)
    assert shown >= 15 and shown + sum(g.more for t in view.topics for g in t.groups) == 20_000


def test_nothing_new_digest_still_lists_crawl_warnings(db):
    demo.add_crawl_run(db, "pubmed", "failed", error="HTTP 500 from eutils")
    content, text, html = _render(db, send_when_empty=True)
    assert not content.has_items
    assert "Nothing new this week." in text and "Nothing new this week." in html
    assert "pubmed: crawl failed: HTTP 500 from eutils" in text and "pubmed: crawl failed: HTTP 500 from eutils" in html
    assert subject_for(content) == "litwatch 2026-W47: nothing new (1 crawl warning)"


def test_plain_text_part_has_no_markup_tags(db):
    demo.add_publication(db, "1", title="Effect on <i>BDNF</i> and Ca<sup>2+</sup> (p < 0.05)", topics=["ketamine-depression"])
    _, text, html = _render(db)
    assert "Effect on BDNF and Ca2+ (p < 0.05)" in text
    assert "Effect on <i>BDNF</i> and Ca<sup>2+</sup> (p &lt; 0.05)" in html
