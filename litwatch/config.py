"""The watchlist (TOML, written by hand) and the environment settings, loaded and validated.

Loading fails early with one line that names the file and the key, because a watchlist
mistake found at 05:00 by the scheduler is a week of missed evidence.  Everything the rest
of the program needs from outside (paths, base URLs, secrets) is read here and only here.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from litwatch.vocab.errors import ConfigError
from litwatch.vocab.text import register_setting_secrets
from litwatch.vocab.times import today_utc

DEFAULT_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
DEFAULT_CTGOV_URL = "https://clinicaltrials.gov/api/v2/"
DEFAULT_IDCONV_URL = "https://pmc.ncbi.nlm.nih.gov/tools/idconv/api/v1/articles/"
TOOL_NAME = "litwatch"

NCT_RE = re.compile(r"^NCT\d{8}$")
TOPIC_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

# Keys each table may hold.  Unknown keys are errors: a typo ("pubmd") would otherwise
# silently drop a whole source from the watch.
TOP_KEYS = {"follow_trials", "topic", "schedule", "digest", "backfill_from", "overlap_days"}
TOPIC_KEYS = {"name", "title", "pubmed", "ctgov", "feeds", "keywords", "backfill_from"}
CTGOV_KEYS = {"term", "cond", "intr", "titles", "outc", "spons", "lead", "id", "locn"}
SCHEDULE_KEYS = {"timezone", "crawl", "digest", "crawl_timeout_minutes"}
DIGEST_KEYS = {"to", "from", "max_per_section", "send_when_empty", "subject_prefix", "unsubscribe_url"}


@dataclass(frozen=True)
class Topic:
    """One watched topic: what to ask PubMed, ClinicalTrials.gov and which feeds to read."""

    name: str
    title: str
    pubmed: str
    ctgov: dict[str, str]  # query.* parameter suffix -> Essie expression ("term" for a string)
    feeds: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    backfill_from: dt.date | None = None


@dataclass(frozen=True)
class Schedule:
    timezone: str = "UTC"
    crawl: str = "0 5 * * *"
    digest: str = "0 7 * * mon"
    crawl_timeout_minutes: int = 120


@dataclass(frozen=True)
class DigestOptions:
    to: tuple[str, ...] = ()
    sender: str = "litwatch@localhost"
    max_per_section: int = 25
    send_when_empty: bool = False
    subject_prefix: str = "litwatch"
    # An https URL that unsubscribes in one click (RFC 8058); without it the digest offers
    # a mailto to the sender.  LITWATCH_UNSUBSCRIBE_URL overrides it.
    unsubscribe_url: str | None = None


@dataclass(frozen=True)
class Watchlist:
    path: str
    topics: tuple[Topic, ...]
    follow_trials: tuple[str, ...] = ()
    schedule: Schedule = field(default_factory=Schedule)
    digest: DigestOptions = field(default_factory=DigestOptions)
    # First crawl of a topic reaches back to this entry date (PubMed) / update date (CT.gov).
    backfill_from: dt.date = dt.date(2015, 1, 1)
    # Entry dates arrive late (NLM backdates EDAT to the day a record was created), so each
    # incremental crawl re-asks for a few days before its watermark.
    overlap_days: int = 7

    def topic_rows(self) -> list[dict]:
        """The topics as plain rows for the database's ``topics`` table (db.topics.sync_topics)."""
        return [{"name": t.name, "title": t.title, "pubmed": t.pubmed, "ctgov": dict(t.ctgov), "feeds": list(t.feeds),
                 "keywords": list(t.keywords)} for t in self.topics]

    def topic(self, name: str) -> Topic:
        for t in self.topics:
            if t.name == name:
                return t
        raise ConfigError(f"{self.path}: no topic named {name!r} (known: {', '.join(t.name for t in self.topics)})")


def _fail(path: str, key: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {message}")


def _check_keys(path: str, where: str, table: dict, allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _fail(path, f"{where}{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _string(path: str, key: str, value: Any, *, required: bool = True) -> str:
    if value is None:
        if required:
            raise _fail(path, key, "missing")
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _fail(path, key, "must be a non-empty string")
    return value.strip()


def _string_list(path: str, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(path, key, "must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


# Sensible ranges for the watchlist's numbers (inclusive): a value outside them is a typo
# that would fail later ("Python int too large") or silently do nothing.
RANGES = {
    "overlap_days": (0, 365),
    "schedule.crawl_timeout_minutes": (1, 24 * 60),
    "digest.max_per_section": (1, 1000),
}
EARLIEST_DATE = dt.date(1800, 1, 1)  # PubMed's oldest records are from the 1780s: nothing useful lies before
# Characters that end a header line or a line anywhere: a header value holding one would
# either inject a header or make every digest fail at the mail library.
LINE_BREAKS = ("\r", "\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c")
CRON_MAX_GAP = dt.timedelta(days=366)


def _int(path: str, key: str, value: Any, default: int) -> int:
    """A whole number within RANGES[key]; booleans are not numbers (TOML ``true`` is not 1)."""
    if value is None:
        value = default
    low, high = RANGES[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, key, f"must be a whole number from {low} to {high}, not {value!r}")
    if not low <= value <= high:
        raise _fail(path, key, f"{value} is out of range: use a whole number from {low} to {high}")
    return value


def _date(path: str, key: str, value: Any, today: dt.date | None = None) -> dt.date | None:
    if value is None:
        return None
    date = None
    if isinstance(value, dt.datetime):
        date = value.date()
    elif isinstance(value, dt.date):
        date = value
    elif isinstance(value, str):
        try:
            date = dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    if date is None:
        raise _fail(path, key, f"bad date {value!r} (use YYYY-MM-DD)")
    today = today or today_utc()
    if date > today:
        raise _fail(path, key, f"{date.isoformat()} is in the future: nothing would be fetched (use a past date)")
    if date < EARLIEST_DATE:
        raise _fail(path, key, f"{date.isoformat()} is before {EARLIEST_DATE.isoformat()}: use a real start date")
    return date


def _header(path: str, key: str, value: str) -> str:
    """A value that goes into a mail header: one line."""
    if any(ch in value for ch in LINE_BREAKS) or any(ord(ch) < 32 and ch != "\t" for ch in value):
        raise _fail(path, key, f"{value!r} holds a line break or control character: a header value is one line")
    return value


def _address(path: str, key: str, value: str) -> str:
    """Exactly one mail address (``a@b`` or ``Name <a@b>``), parsed by ``email.utils``."""
    from email.utils import getaddresses

    _header(path, key, value)
    found = [addr for _, addr in getaddresses([value]) if addr]
    if len(found) != 1:
        raise _fail(path, key, f"{value!r} must be one address, not {len(found)} (give each address its own entry)")
    local, _, domain = found[0].rpartition("@")
    if not local or not domain or " " in found[0]:
        raise _fail(path, key, f"{value!r} is not a mail address (like reader@example.org)")
    return value


def _cron(path: str, key: str, value: Any, timezone: str, now: dt.datetime | None = None) -> str:
    """A crontab expression that parses and fires at least once a year (``0 0 31 2 *`` never does)."""
    text = _string(path, key, value)
    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(text, timezone=timezone)
    except ValueError as exc:
        raise _fail(path, key, f"bad cron expression {text!r}: {exc}") from None
    moment = now or dt.datetime.now(ZoneInfo(timezone))
    for _ in range(5):  # five fires in a row, each within a year of the one before
        fire = trigger.get_next_fire_time(None, moment)
        if fire is None or fire - moment > CRON_MAX_GAP:
            raise _fail(path, key, f"cron expression {text!r} does not fire at least once a year")
        moment = fire + dt.timedelta(seconds=1)
    return text


def _ctgov(path: str, key: str, value: Any) -> dict[str, str]:
    if value is None:
        raise _fail(path, key, "missing")
    if isinstance(value, str):
        return {"term": _string(path, key, value)}
    if isinstance(value, dict):
        _check_keys(path, f"{key}.", value, CTGOV_KEYS)
        if not value:
            raise _fail(path, key, "empty: give at least one of " + ", ".join(sorted(CTGOV_KEYS)))
        return {k: _string(path, f"{key}.{k}", v) for k, v in value.items()}
    raise _fail(path, key, "must be a string (query.term) or a table such as { intr = ..., cond = ... }")


def parse_watchlist(data: dict, path: str, *, today: dt.date | None = None) -> Watchlist:
    """Validate a decoded TOML document and build the Watchlist; raises ConfigError.

    ``today`` (default: the UTC date) is what "not in the future" compares with.
    """
    _check_keys(path, "", data, TOP_KEYS)
    follow = _string_list(path, "follow_trials", data.get("follow_trials"))
    for nct in follow:
        if not NCT_RE.match(nct.upper()):
            raise _fail(path, "follow_trials", f"{nct!r} is not an NCT number (NCT and 8 digits)")
    follow = tuple(dict.fromkeys(n.upper() for n in follow))

    raw_topics = data.get("topic")
    if raw_topics is None:
        raise _fail(path, "topic", "missing: add at least one [[topic]]")
    if not isinstance(raw_topics, list) or not all(isinstance(t, dict) for t in raw_topics):
        raise _fail(path, "topic", "must be an array of tables ([[topic]])")
    topics: list[Topic] = []
    for i, raw in enumerate(raw_topics):
        where = f"topic[{i}]"
        name = raw.get("name")
        if isinstance(name, str) and name:
            where = f"topic.{name}"
        _check_keys(path, f"{where}.", raw, TOPIC_KEYS)
        name = _string(path, f"{where}.name", raw.get("name"))
        if not TOPIC_NAME_RE.match(name):
            raise _fail(path, f"{where}.name", f"{name!r}: use lower-case letters, digits, '-' and '_'")
        if any(t.name == name for t in topics):
            raise _fail(path, f"{where}.name", f"duplicate topic name {name!r}")
        topics.append(
            Topic(
                name=name,
                title=_string(path, f"{where}.title", raw.get("title"), required=False) or name,
                pubmed=_string(path, f"{where}.pubmed", raw.get("pubmed")),
                ctgov=_ctgov(path, f"{where}.ctgov", raw.get("ctgov")),
                feeds=_string_list(path, f"{where}.feeds", raw.get("feeds")),
                keywords=_string_list(path, f"{where}.keywords", raw.get("keywords")),
                backfill_from=_date(path, f"{where}.backfill_from", raw.get("backfill_from"), today),
            )
        )

    sched_raw = data.get("schedule", {})
    if not isinstance(sched_raw, dict):
        raise _fail(path, "schedule", "must be a table")
    _check_keys(path, "schedule.", sched_raw, SCHEDULE_KEYS)
    tz = _string(path, "schedule.timezone", sched_raw.get("timezone", "UTC"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(path, "schedule.timezone", f"unknown timezone {tz!r} (e.g. Europe/Berlin)") from None
    timeout = _int(path, "schedule.crawl_timeout_minutes", sched_raw.get("crawl_timeout_minutes"), 120)
    schedule = Schedule(
        timezone=tz,
        crawl=_cron(path, "schedule.crawl", sched_raw.get("crawl", Schedule.crawl), tz),
        digest=_cron(path, "schedule.digest", sched_raw.get("digest", Schedule.digest), tz),
        crawl_timeout_minutes=timeout,
    )

    dig_raw = data.get("digest", {})
    if not isinstance(dig_raw, dict):
        raise _fail(path, "digest", "must be a table")
    _check_keys(path, "digest.", dig_raw, DIGEST_KEYS)
    to = dig_raw.get("to", [])
    if isinstance(to, str):
        to = [to]
    cap = _int(path, "digest.max_per_section", dig_raw.get("max_per_section"), DigestOptions.max_per_section)
    recipients = _string_list(path, "digest.to", to)
    for address in recipients:
        _address(path, "digest.to", address)
    send_empty = dig_raw.get("send_when_empty", False)
    if not isinstance(send_empty, bool):
        raise _fail(path, "digest.send_when_empty", "must be true or false")
    digest = DigestOptions(
        to=recipients,
        sender=_address(path, "digest.from", _string(path, "digest.from", dig_raw.get("from", DigestOptions.sender))),
        max_per_section=cap,
        send_when_empty=send_empty,
        subject_prefix=_header(path, "digest.subject_prefix",
                               _string(path, "digest.subject_prefix", dig_raw.get("subject_prefix", "litwatch"))),
        unsubscribe_url=_unsubscribe_url(path, dig_raw.get("unsubscribe_url")),
    )

    overlap = _int(path, "overlap_days", data.get("overlap_days"), 7)
    return Watchlist(
        path=path,
        topics=tuple(topics),
        follow_trials=follow,
        schedule=schedule,
        digest=digest,
        backfill_from=_date(path, "backfill_from", data.get("backfill_from"), today) or dt.date(2015, 1, 1),
        overlap_days=overlap,
    )


def bundled_seeds_dir() -> Path:
    """The seed documents shipped with the package (the repository's ``seeds/``).

    A clone or an editable install finds them beside the package, in the repository
    itself; a wheel carries them inside the package as ``litwatch/seeds``.
    """
    beside = Path(__file__).resolve().parent.parent / "seeds"
    if (beside / "watchlist.toml").is_file():
        return beside
    return Path(__file__).resolve().parent / "seeds"


def load_watchlist(path: str | os.PathLike | None = None) -> Watchlist:
    """Load the watchlist: explicit path, else $LITWATCH_CONFIG, else ./seeds/watchlist.toml,
    else the copy bundled with the package (the "embedded defaults" of CONTRACT.md)."""
    if path is None:
        path = os.environ.get("LITWATCH_CONFIG") or None
    if path is None:
        local = Path("seeds/watchlist.toml")
        path = local if local.is_file() else bundled_seeds_dir() / "watchlist.toml"
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read watchlist: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_watchlist(data, str(path))


@dataclass(frozen=True)
class Settings:
    """Environment settings (CONTRACT.md's table).  Secrets are kept out of ``repr``."""

    db_path: str
    seeds_dir: str
    eutils_url: str
    ctgov_url: str
    idconv_url: str
    ncbi_email: str | None
    ncbi_api_key: str | None = field(default=None, repr=False)
    smtp_url: str | None = field(default=None, repr=False)
    digest_from: str | None = None
    digest_to: tuple[str, ...] = ()
    outbox: str = "./outbox"
    unsubscribe_url: str | None = None  # LITWATCH_UNSUBSCRIBE_URL: one-click unsubscribe (https)
    user_agent: str = "litwatch/0.1 (literature watch)"

    @property
    def eutils_rate(self) -> float:
        """Requests per second NCBI allows this client: 10 with an API key, 3 without."""
        return 10.0 if self.ncbi_api_key else 3.0


def contact_warning(settings: Settings) -> str | None:
    """NCBI asks every tool to name a contact: one warning line for a crawl without NCBI_EMAIL."""
    if settings.ncbi_email:
        return None
    return ("warning: NCBI_EMAIL is not set: NCBI asks every tool for a contact address "
            "(export NCBI_EMAIL=you@example.org); requests go out without one")


def _unsubscribe_url(path: str, value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("https://") or any(c in value for c in "<>, \r\n\t"):
        raise _fail(path, "digest.unsubscribe_url", "must be an https:// URL (no spaces, commas or angle brackets)")
    return value


def _base(value: str) -> str:
    return value if value.endswith("/") else value + "/"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    seeds_default = "seeds" if Path("seeds").is_dir() else str(bundled_seeds_dir())
    email = env.get("NCBI_EMAIL") or None
    contact = f"; mailto:{email}" if email else ""
    settings = Settings(
        db_path=env.get("LITWATCH_DB") or "./litwatch.db",
        seeds_dir=env.get("LITWATCH_SEEDS") or seeds_default,
        eutils_url=_base(env.get("LITWATCH_EUTILS_URL") or DEFAULT_EUTILS_URL),
        ctgov_url=_base(env.get("LITWATCH_CTGOV_URL") or DEFAULT_CTGOV_URL),
        idconv_url=_base(env.get("LITWATCH_IDCONV_URL") or DEFAULT_IDCONV_URL),
        ncbi_email=email,
        ncbi_api_key=env.get("NCBI_API_KEY") or None,
        smtp_url=env.get("LITWATCH_SMTP_URL") or None,
        digest_from=env.get("LITWATCH_DIGEST_FROM") or None,
        digest_to=tuple(a.strip() for a in (env.get("LITWATCH_DIGEST_TO") or "").split(",") if a.strip()),
        outbox=env.get("LITWATCH_OUTBOX") or "./outbox",
        unsubscribe_url=env.get("LITWATCH_UNSUBSCRIBE_URL") or None,
        user_agent=f"litwatch/0.1 (literature watch{contact})",
    )
    # Secrets never leave (issue 10): every outgoing text passes through vocab.text.redact.
    register_setting_secrets(api_keys=[settings.ncbi_api_key], urls=[
        settings.smtp_url, settings.eutils_url, settings.ctgov_url, settings.idconv_url,
        *(v for k, v in env.items() if k.endswith("_URL")),
    ])
    return settings
