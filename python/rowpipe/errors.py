"""rowpipe's exceptions: one base class, ``Error``, and a subclass for each kind of failure.

An export that fails before its first byte raises from ``export()`` (so a view can still
answer with a status); one that fails later raises from the iterator (so the server aborts
the response instead of ending it as if complete). Every exception's message names the
problem; ``sqlstate`` is the database's error code when it gave one (``"42P01"``).
"""

from typing import Optional

__all__ = [
    "Error",
    "InvalidRequest",
    "Unavailable",
    "RecoveryConflict",
    "QueryError",
    "QueryTimeout",
    "LimitExceeded",
    "InvalidKey",
    "Malformed",
    "WriteError",
    "ConfigError",
]


class Error(Exception):
    """A failed export. ``str(error)`` is the whole story in one line."""

    #: The SQLSTATE the database reported, or ``None``.
    sqlstate: Optional[str]

    def __init__(self, message: str, sqlstate: Optional[str] = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class InvalidRequest(Error, ValueError):
    """The request does not fit the query or the output: a bad parameter value, an unknown
    column or key, an option the format refuses. Retrying the same request fails the same
    way (an HTTP view's 400)."""


class Unavailable(Error):
    """The database cannot be reached, refuses the login, is shutting down, or every
    connection stayed busy: worth retrying later (503)."""


class RecoveryConflict(Unavailable):
    """A standby (read replica) cancelled the query because replaying the primary's changes
    conflicted with it (``sqlstate`` 40001 or 57P04): worth retrying (503), and a keyed
    export resumes after its last key."""


class QueryError(Error):
    """The database rejected or failed the query: bad SQL, a missing table, a permission."""


class QueryTimeout(Error):
    """The query ran past its ``statement_timeout`` (or was cancelled on the server)."""


class LimitExceeded(Error):
    """The export passed ``max_rows`` or ``max_bytes``."""


class InvalidKey(Error):
    """A keyed export's keys were not unique, not in order, or NULL."""


class Malformed(Error):
    """The database sent data rowpipe could not read."""


class WriteError(Error):
    """Writing the output file failed (a full disk, a missing folder)."""


class ConfigError(Error):
    """The database URL is not valid, or names a SQLite file that is missing or not a
    database."""
