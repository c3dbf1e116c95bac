"""A fake feed host on 127.0.0.1, and feed variants derived from the recorded feed.

Real HTTP in a thread of the test process (the crawl runs in its own process and talks to
it like to a journal's server).  Where our code depends on it, it behaves as real servers
do: an ``ETag`` and a ``Last-Modified`` on every feed, 304 for a matching
``If-None-Match`` (or, without one, an ``If-Modified-Since`` not older than the feed),
any status a test asks for (404, 410, 500), and a body cut short.  ``log`` records every
request.

The variants (Atom, RSS 1.0, a malformed feed, a medRxiv-like preprint feed, a journal
feed) are built from the items of litwatch/fakes/recordings/rss/, so they carry real titles, links
and dates; tests add DOIs and keywords where they need them.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from litwatch.fakes.server import LoopbackServer

RSS_FIXTURE = Path(__file__).resolve().parent / "recordings" / "rss" / "clinicaltrials_gov_classic_rss_2016-06-30.xml"
LAST_MODIFIED = "Thu, 30 Jun 2016 13:46:54 GMT"


# --- variants ------------------------------------------------------------------------

def fixture_bytes() -> bytes:
    return RSS_FIXTURE.read_bytes()


def fixture_items(limit: int | None = None) -> list[dict]:
    """The recorded feed's items: title, link, summary, guid, date (RFC 822)."""
    root = ET.fromstring(fixture_bytes())
    items = []
    for el in root.iter("item"):
        items.append({
            "title": el.findtext("title"),
            "link": el.findtext("link"),
            "summary": el.findtext("description"),
            "guid": el.findtext("guid"),
            "date": el.findtext("pubDate"),
        })
        if limit and len(items) >= limit:
            break
    return items


def _iso(date: str | None) -> str:
    if not date:
        return "2024-01-01T00:00:00Z"
    if len(date) == 10:
        return date + "T00:00:00Z"
    return email.utils.parsedate_to_datetime(date).isoformat()


def rss2(title: str, link: str, items: list[dict]) -> bytes:
    """RSS 2.0; an item's ``doi`` goes to prism:doi, ``authors`` to dc:creator."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">',
        f"<channel><title>{escape(title)}</title><link>{escape(link)}</link><description>d</description>",
    ]
    for it in items:
        out.append("<item>")
        out.append(f"<title>{escape(it['title'])}</title>")
        if it.get("link"):
            out.append(f"<link>{escape(it['link'])}</link>")
        if it.get("summary"):
            out.append(f"<description>{escape(it['summary'])}</description>")
        if it.get("guid"):
            out.append(f'<guid isPermaLink="false">{escape(it["guid"])}</guid>')
        if it.get("date"):
            date = it["date"]
            if len(date) == 10:  # YYYY-MM-DD -> RFC 822, noon UTC
                date = email.utils.format_datetime(dt.datetime.fromisoformat(date).replace(hour=12, tzinfo=dt.timezone.utc))
            out.append(f"<pubDate>{escape(date)}</pubDate>")
        if it.get("doi"):
            out.append(f"<prism:doi>{escape(it['doi'])}</prism:doi>")
        for name in it.get("authors") or []:
            out.append(f"<dc:creator>{escape(name)}</dc:creator>")
        out.append("</item>")
    out.append("</channel></rss>")
    return "\n".join(out).encode("utf-8")


def rss1(title: str, link: str, items: list[dict]) -> bytes:
    """RSS 1.0 (RDF) as bioRxiv/medRxiv publish it: dc:identifier ``doi:…``, dc:date,
    one dc:creator holding every author, rdf:about as the guid."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/" xmlns="http://purl.org/rss/1.0/">',
        f'<channel rdf:about="{escape(link)}"><title>{escape(title)}</title><link>{escape(link)}</link><description>d</description>',
        "<items><rdf:Seq>" + "".join(f'<rdf:li rdf:resource="{escape(it["link"])}"/>' for it in items) + "</rdf:Seq></items></channel>",
    ]
    for it in items:
        out.append(f'<item rdf:about="{escape(it.get("guid") or it["link"])}">')
        out.append(f"<title>{escape(it['title'])}</title><link>{escape(it['link'])}</link>")
        if it.get("summary"):
            out.append(f"<description>{escape(it['summary'])}</description>")
        if it.get("authors"):
            out.append(f"<dc:creator>{escape('; '.join(it['authors']))}</dc:creator>")
        out.append(f"<dc:date>{_iso(it.get('date'))[:10]}</dc:date>")
        if it.get("doi"):
            out.append(f"<dc:identifier>doi:{escape(it['doi'])}</dc:identifier>")
        out.append("<dc:publisher>Cold Spring Harbor Laboratory</dc:publisher></item>")
    out.append("</rdf:RDF>")
    return "\n".join(out).encode("utf-8")


def atom(title: str, link: str, items: list[dict]) -> bytes:
    """Atom 1.0; an item's ``doi`` becomes its id (``urn:doi:…``) when it has no guid."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f'<title>{escape(title)}</title><link href="{escape(link)}"/><id>{escape(link)}</id><updated>2024-01-01T00:00:00Z</updated>',
    ]
    for it in items:
        ident = it.get("guid") or (f"urn:doi:{it['doi']}" if it.get("doi") else it["link"])
        out.append("<entry>")
        out.append(f"<title>{escape(it['title'])}</title><id>{escape(ident)}</id>")
        out.append(f'<link rel="alternate" href="{escape(it["link"])}"/>')
        out.append(f"<updated>{_iso(it.get('date'))}</updated><published>{_iso(it.get('date'))}</published>")
        for name in it.get("authors") or []:
            out.append(f"<author><name>{escape(name)}</name></author>")
        if it.get("summary"):
            out.append(f'<summary type="html">{escape(it["summary"])}</summary>')
        out.append("</entry>")
    out.append("</feed>")
    return "\n".join(out).encode("utf-8")


def malformed(body: bytes, keep_items: int = 3) -> bytes:
    """A feed whose body stops in the middle of an item's title (no closing tags), as a
    server that died mid-write leaves it: well-formed up to ``keep_items`` items."""
    cut = 0
    for _ in range(keep_items):
        cut = body.index(b"</item>", cut) + len(b"</item>")
    return body[: body.index(b"<title>", cut) + len(b"<title>") + 8]


# --- the server ----------------------------------------------------------------------

@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: str | None = None  # None: a hash of the body; "": no ETag header at all
    last_modified: str | None = LAST_MODIFIED
    truncate: bool = False  # announce the whole body, send half, hang up


@dataclass
class FakeFeedServer(LoopbackServer):
    routes: dict[str, Route] = field(default_factory=dict)
    log: list[dict] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def serve(self, path: str, body: bytes, **kwargs) -> str:
        """Serve ``body`` at ``path`` (ETag: a hash of the body); returns the feed URL."""
        route = Route(body=body, **kwargs)
        if route.etag is None:
            route.etag = '"' + hashlib.sha1(body).hexdigest()[:12] + '"'
        self.routes[path] = route
        return self.url(path)

    def cut_short(self, path: str, body: bytes) -> str:
        """Serve ``path`` with a Content-Length the server never delivers (a dropped connection)."""
        self.routes[path] = Route(body=body, truncate=True, etag="", last_modified=None)
        return self.url(path)

    def answer(self, path: str, status: int) -> str:
        """Answer ``path`` with a bare ``status`` (404, 410, 500, ...)."""
        self.routes[path] = Route(body=f"HTTP {status}".encode(), content_type="text/plain", status=status, etag=None, last_modified=None)
        return self.url(path)

    def requests(self, path: str) -> list[dict]:
        return [r for r in self.log if r["path"] == path]

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        route = self.routes.get(path) or Route(body=b"not found", content_type="text/plain", status=404, etag=None, last_modified=None)
        status = route.status
        if status == 200:
            inm = h.headers.get("If-None-Match")
            ims = h.headers.get("If-Modified-Since")
            if inm is not None:
                if route.etag and route.etag in [t.strip() for t in inm.split(",")]:
                    status = 304
            elif ims and route.last_modified:
                try:
                    if email.utils.parsedate_to_datetime(ims) >= email.utils.parsedate_to_datetime(route.last_modified):
                        status = 304
                except (TypeError, ValueError):
                    pass
        self.log.append({"path": path, "status": status, "headers": dict(h.headers)})
        h.send_response(status)
        if route.etag:
            h.send_header("ETag", route.etag)
        if route.last_modified:
            h.send_header("Last-Modified", route.last_modified)
        body = b"" if status == 304 else route.body
        if status != 304:
            h.send_header("Content-Type", route.content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if route.truncate:
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        h.wfile.write(body)
