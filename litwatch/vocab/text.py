"""Clean text and secrets: what upstream text may hold, and what may never leave.

``clean_text`` removes control characters (C0 and C1 except tab and newline, so ESC
sequences and BEL are gone) from anything a service sent before it is stored: a title
cannot then repaint a terminal or hide text in a mail.  ``redact`` replaces every
registered secret (API key, SMTP password, URL userinfo) in a text that leaves the
process: errors, logs, the database, the digest, ``--json``.  ``normalise_title`` is the
form in which two titles are compared (a preprint and its journal version).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from urllib.parse import unquote, urlsplit

from litwatch.vocab.markup import fragment_to_text

# C0 controls except \t and \n, DEL, and C1 controls (U+0080-U+009F).  An ESC sequence
# loses its ESC, so what remains is harmless printable text.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_secrets: set[str] = set()
_lock = threading.Lock()
MASK = "[redacted]"


def clean_text(value: str | None) -> str | None:
    """The text without control characters (None stays None)."""
    if value is None:
        return None
    return _CONTROL_RE.sub("", value)


def add_secret(value: str | None) -> None:
    """Register a secret that ``redact`` removes from every outgoing text."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def add_url_secrets(url: str | None) -> None:
    """Register the userinfo (user and password) of a ``*_URL`` setting."""
    if not url:
        return
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    for value in (parts.password, parts.username):
        if value:
            add_secret(value)
            add_secret(unquote(value))


def redact(text: str | None) -> str | None:
    """The text with every registered secret replaced by ``[redacted]``."""
    if not text or not _secrets:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def normalise_title(value: str | None) -> str:
    """A title reduced for equality tests: no tags, accents, case or punctuation."""
    text = unicodedata.normalize("NFKD", fragment_to_text(value))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.findall(r"\w+", text))
