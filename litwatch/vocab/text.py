"""Clean text and secrets: what upstream text may hold, and what may never leave.

``clean_text`` removes control characters (C0 and C1 except tab and newline, so ESC
sequences and BEL are gone) from anything a service sent before it is stored: a title
cannot then repaint a terminal or hide text in a mail.  ``redact`` replaces every
registered secret (API key, SMTP password, URL userinfo) in a text that leaves the
process: errors, logs, the database, the digest, ``--json``.  ``normalise_title`` is the
form in which two titles are compared (a preprint and its journal version).
"""

from __future__ import annotations

import logging
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


def register_setting_secrets(*, api_keys=(), urls=()) -> None:
    """Register what the settings hold that must never leave: API keys, and the userinfo
    of every ``*_URL`` (the SMTP password lives there)."""
    for key in api_keys:
        add_secret(key)
    for url in urls:
        add_url_secrets(url)


class RedactFilter(logging.Filter):
    """A logging filter that redacts the message (and a traceback) of every record it sees.

    Installed on the root logger and on each of its handlers (``redact_logging``): a filter
    on a logger alone does not see records propagated from child loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler's own error path
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactFilter()


def redact_logging() -> None:
    """Put ``RedactFilter`` on the root logger and every handler it has now (call again
    after a library such as Scrapy installs its own handler)."""
    root = logging.getLogger()
    for target in (root, *root.handlers):
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)


class RedactingStream:
    """A text stream that redacts what is written through it (stdout/stderr of a process
    that may print a secret: an error line, a child's traceback)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        return self._stream.write(redact(text) if isinstance(text, str) else text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def redact_std_streams() -> None:
    """Route sys.stdout and sys.stderr through ``redact`` (once)."""
    import sys

    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))


def normalise_title(value: str | None) -> str:
    """A title reduced for equality tests: no tags, accents, case or punctuation."""
    text = unicodedata.normalize("NFKD", fragment_to_text(value))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.findall(r"\w+", text))
