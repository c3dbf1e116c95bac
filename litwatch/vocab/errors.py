"""One exception type for every failure a user can act on.

The CLI prints ``LitwatchError`` as a single ``litwatch: error: ...`` line and exits non-zero;
anything else is a bug and keeps its traceback under ``--debug``.
"""


class LitwatchError(Exception):
    """A failure with a message that says what went wrong and what to do."""

    exit_code = 1


class ConfigError(LitwatchError):
    """The watchlist or an environment variable is wrong."""

    exit_code = 2


class QueryError(LitwatchError):
    """A search query the full-text engine cannot parse."""

    exit_code = 2
