"""Deliver a built digest: SMTP from ``LITWATCH_SMTP_URL``, else files in the outbox.

Delivery either succeeds (the server accepted the message for every recipient, or the
outbox files are flushed and renamed into place) or raises ``DeliveryError`` with one line
that names the server by host and port only: the password never appears in a message,
a log line or the database.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import smtplib
import socket
import ssl
import tempfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from litwatch.vocab.errors import ConfigError, LitwatchError

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
# Long enough for a slow relay to answer DATA, short enough that a dead server fails the
# run within a minute instead of hanging the scheduler.
DEFAULT_TIMEOUT_S = 60.0
FILE_MODE = 0o644
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class DeliveryError(LitwatchError):
    """The digest could not be delivered; nothing was marked delivered."""


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to submit mail.  ``password`` is kept out of ``repr``."""

    scheme: str  # smtp | smtps
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout: float = DEFAULT_TIMEOUT_S

    def describe(self) -> str:
        """The server as a user may see it in an error line: no credentials."""
        tls = " (STARTTLS)" if self.starttls else ""
        return f"{self.scheme}://{self.host}:{self.port}{tls}"


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://[user:pass@]host[:port][?starttls=1&timeout=S]`` or ``smtps://...``.

    User and password are percent-decoded (write ``@`` as ``%40``).  Errors never quote the
    URL itself, which may hold the password.
    """
    where = "LITWATCH_SMTP_URL"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ConfigError(f"{where}: not a valid URL or port (expected smtp://[user:pass@]host[:port][?starttls=1])") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ConfigError(f"{where}: scheme must be smtp or smtps, not {scheme or 'missing'!r}")
    if not parts.hostname:
        raise ConfigError(f"{where}: no host (expected {scheme}://host[:port])")
    options = {k.lower(): v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(options) - {"starttls", "timeout"})
    if unknown:
        raise ConfigError(f"{where}: unknown option {unknown[0]!r} (known: starttls, timeout)")
    starttls_word = options.get("starttls", "0").lower()
    if starttls_word not in TRUE_WORDS | FALSE_WORDS:
        raise ConfigError(f"{where}: starttls must be 1 or 0")
    starttls = starttls_word in TRUE_WORDS
    if starttls and scheme == "smtps":
        raise ConfigError(f"{where}: smtps:// is already TLS; use smtp://...?starttls=1 for STARTTLS")
    try:
        timeout = float(options.get("timeout", DEFAULT_TIMEOUT_S))
        if timeout <= 0:
            raise ValueError
    except ValueError:
        raise ConfigError(f"{where}: timeout must be a positive number of seconds") from None
    return SmtpTarget(
        scheme=scheme,
        host=parts.hostname,
        port=port or DEFAULT_PORTS[scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        starttls=starttls,
        timeout=timeout,
    )


def sender_domain(sender: str) -> str:
    """The domain of the configured sender (``"litwatch <digest@example.org>"`` -> example.org)."""
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2].strip().lower() or "localhost"


def unsubscribe_headers(sender: str, url: str | None) -> dict[str, str]:
    """RFC 2369 ``List-Unsubscribe`` (a mailto to the sender) and, when an https URL is
    configured, RFC 8058 one-click (``List-Unsubscribe-Post``)."""
    address = parseaddr(sender)[1]
    targets = []
    if url:
        if not url.startswith("https://") or any(c in url for c in "<>, \r\n"):
            raise ConfigError("unsubscribe URL: must be an https:// URL without spaces, commas or angle brackets")
        targets.append(f"<{url}>")
    if address:
        targets.append(f"<mailto:{address}?subject=unsubscribe>")
    out = {"List-Unsubscribe": ", ".join(targets)} if targets else {}
    if url:
        out["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return out


def build_message(
    *, subject: str, sender: str, recipients: list[str], text: str, html: str, date: dt.datetime, digest_id: int | None,
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    """multipart/alternative: the plain-text part first, the HTML part last (preferred).

    Message-ID and List-Id take the configured sender's domain (what SPF/DKIM align with);
    the Subject is folded at spaces where it is longer than a line (RFC 5322).
    """
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients) if recipients else "undisclosed-recipients:;"
    msg["Date"] = format_datetime(date)
    domain = sender_domain(sender)
    msg["Message-ID"] = message_id(date, digest_id, domain)
    msg["List-Id"] = f"litwatch digest <litwatch.{domain}>"
    for name, value in unsubscribe_headers(sender, unsubscribe_url).items():
        msg[name] = value
    msg["Auto-Submitted"] = "auto-generated"
    if digest_id is not None:
        msg["X-Litwatch-Digest"] = str(digest_id)
    # Quoted-printable keeps every body line short and 7-bit, whatever the server supports.
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return msg


def message_id(date: dt.datetime, digest_id: int | None, domain: str) -> str:
    """Unique and short: a header line over 78 characters is folded, and some readers
    (Python's own email parser among them) then keep the fold's space in the id."""
    stamp = date.astimezone(dt.timezone.utc).strftime("%Y%m%d%H%M%S")
    return f"<litwatch.{stamp}.{digest_id or 0}.{secrets.token_hex(6)}@{domain}>"


def _smtp_reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {' '.join(text.split())}"


def send_smtp(msg: EmailMessage | bytes, target: SmtpTarget, *, sender: str, recipients: list[str], ssl_context: ssl.SSLContext | None = None) -> None:
    """Submit ``msg`` (a message, or its exact bytes); returns only when the server accepted
    it for every recipient."""
    if not recipients:
        raise ConfigError("no digest recipients: set LITWATCH_DIGEST_TO or [digest] to in the watchlist")
    where = target.describe()
    context = ssl_context or ssl.create_default_context()
    try:
        if target.scheme == "smtps":
            client = smtplib.SMTP_SSL(target.host, target.port, timeout=target.timeout, context=context)
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=target.timeout)
        try:
            client.ehlo()
            if target.starttls:
                client.starttls(context=context)
                client.ehlo()
            if target.username:
                client.login(target.username, target.password or "")
            if isinstance(msg, bytes):
                refused = client.sendmail(sender, recipients, msg)
            else:
                refused = client.send_message(msg, from_addr=sender, to_addrs=recipients)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
    except smtplib.SMTPRecipientsRefused as exc:
        first = next(iter(exc.recipients.items()), None)
        detail = f"{first[0]}: {first[1][0]} {first[1][1].decode('utf-8', 'replace')}" if first else "all recipients"
        raise DeliveryError(f"SMTP server {where} refused the recipients ({detail})") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"SMTP server {where} refused the login for user {target.username!r}: {_smtp_reply(exc)}") from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP server {where} refused the digest: {_smtp_reply(exc)}") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(f"SMTP server {where}: {str(exc).rstrip('.')}") from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"TLS with SMTP server {where} failed: {exc.reason or exc}") from None
    except (smtplib.SMTPException, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc) or type(exc).__name__)
        if isinstance(exc, (socket.timeout, TimeoutError)):
            reason = f"no answer within {target.timeout:g}s"
        raise DeliveryError(f"cannot deliver to SMTP server {where}: {reason}") from None
    if refused:
        addr, (code, text) = next(iter(refused.items()))
        raise DeliveryError(
            f"SMTP server {where} refused {len(refused)} of {len(recipients)} recipients "
            f"({addr}: {code} {text.decode('utf-8', 'replace')}); the digest counts as not delivered"
        )


def write_atomically(path: Path, data: bytes) -> None:
    """Write, flush and fsync a temporary file beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes it private (0600); a digest is no secret, and a mail pickup or
        # web server reading the outbox may run as another user.
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_files(folder: str | os.PathLike, files: dict[str, bytes]) -> dict[str, Path]:
    """Write each ``name -> bytes`` into ``folder`` atomically; raises DeliveryError."""
    folder = Path(folder)
    written: dict[str, Path] = {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            path = folder / name
            write_atomically(path, data)
            written[name] = path.resolve()
    except OSError as exc:
        raise DeliveryError(f"cannot write to {folder}: {exc.strerror or exc}") from None
    return written


def write_outbox(msg: EmailMessage, html: str, outbox: str | os.PathLike, basename: str) -> Path:
    """The ``.html`` first, the ``.eml`` last: an ``.eml`` present means the digest is complete."""
    paths = write_files(outbox, {f"{basename}.html": html.encode("utf-8")})
    paths |= write_files(outbox, {f"{basename}.eml": bytes(msg)})
    return paths[f"{basename}.eml"]


def write_outbox_bytes(raw: bytes, outbox: str | os.PathLike, basename: str) -> Path:
    """A stored message (a resumed claim) into the outbox, exactly as it was built."""
    return write_files(outbox, {f"{basename}.eml": raw})[f"{basename}.eml"]
