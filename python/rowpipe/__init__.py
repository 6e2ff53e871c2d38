"""Stream a SQL query's result out of PostgreSQL or a SQLite file as ready-to-send CSV,
TSV, JSON Lines or JSON chunks, from rowpipe's native engine.

::

    chunks = rowpipe.export(dsn, "SELECT * FROM orders WHERE created_at >= $1 ORDER BY id",
                            params=["2024-01-01"], format="csv")
    return StreamingHttpResponse(chunks, content_type=chunks.content_type)

``export`` checks the query and returns an iterator of ``bytes``; ``export_async`` is the
same for ASGI apps. The GIL is released while a chunk is produced, closing or dropping the
iterator cancels the query on the server, and every failure is a ``rowpipe.Error``.
"""

import asyncio
import functools
import os
from typing import TYPE_CHECKING, Union

from . import errors
from ._rowpipe import Chunks
from ._rowpipe import Database as _NativeDatabase
from .errors import (
    ConfigError,
    Error,
    InvalidKey,
    InvalidRequest,
    LimitExceeded,
    Malformed,
    QueryError,
    QueryTimeout,
    RecoveryConflict,
    Unavailable,
    WriteError,
)

if TYPE_CHECKING:
    import sys

    from ._rowpipe import ExportOptions

    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

__all__ = [
    "AsyncChunks",
    "Chunks",
    "ConfigError",
    "Database",
    "Error",
    "InvalidKey",
    "InvalidRequest",
    "LimitExceeded",
    "Malformed",
    "QueryError",
    "QueryTimeout",
    "RecoveryConflict",
    "Unavailable",
    "WriteError",
    "errors",
    "export",
    "export_async",
]


class Database(_NativeDatabase):
    """A database to export from, opened once and shared: a PostgreSQL URL
    (``postgres://user:password@host/db`` or libpq's ``key=value`` form; a pool of up to
    ``pool_size`` connections, opened as needed) or a SQLite file (``sqlite:PATH``, or a
    path ending in ``.db``, ``.sqlite`` or ``.sqlite3``; opened read-only).

    ``Database(dsn).export(sql, ...)`` takes the options of ``rowpipe.export``.
    """

    async def export_async(self, sql: str, **options: "Unpack[ExportOptions]") -> "AsyncChunks":
        """``export`` for asyncio: starts the export on a worker thread, and returns an
        async iterator of its chunks."""
        loop = asyncio.get_running_loop()
        chunks = await loop.run_in_executor(
            None, functools.partial(self.export, sql, **options)
        )
        return AsyncChunks(chunks)


def export(
    dsn: Union[str, "os.PathLike[str]"], sql: str, **options: "Unpack[ExportOptions]"
) -> Chunks:
    """Starts an export of ``sql`` from the database ``dsn`` names (see ``Database``) on a
    connection of its own, and returns its chunks once the database has accepted the query.

    Errors known before the first byte (no database, bad SQL, a bad parameter, an unknown
    column) raise here; a later failure raises from the iterator. The options are those of
    ``rowpipe export``: ``params``, ``param_types``, ``format`` (csv, tsv, jsonl, json),
    ``compress``, ``header``, ``delimiter``, ``quote``, ``escape``, ``null``, ``quoting``,
    ``excel``, ``columns``, ``limit``, ``key``, ``after``, ``max_rows``, ``max_bytes``,
    ``chunk_size``, ``prefetch_depth``, ``statement_timeout`` (seconds, default 3600; None
    leaves the server's), ``engine``, ``server_formatting``.
    """
    return Database(os.fspath(dsn), pool_size=1).export(sql, **options)


async def export_async(
    dsn: Union[str, "os.PathLike[str]"], sql: str, **options: "Unpack[ExportOptions]"
) -> "AsyncChunks":
    """``export`` for asyncio (Django's ASGI views, Starlette, FastAPI): the query is
    checked on a worker thread, and the chunks come as an async iterator."""
    loop = asyncio.get_running_loop()
    chunks = await loop.run_in_executor(
        None, functools.partial(export, dsn, sql, **options)
    )
    return AsyncChunks(chunks)


class AsyncChunks:
    """The chunks of a running export as an async iterator of ``bytes``. Each chunk is
    produced on a worker thread, without the GIL. Cancelling the task that iterates it (as
    an ASGI server does when the client leaves), ``aclose()``, or dropping it cancels the
    query on the server."""

    def __init__(self, chunks: Chunks) -> None:
        self._chunks = chunks

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` of what the export writes."""
        return self._chunks.content_type

    def filename(self, name: str) -> str:
        """``name`` with the format's extension (and the compression's)."""
        return self._chunks.filename(name)

    def __aiter__(self) -> "AsyncChunks":
        return self

    async def __anext__(self) -> bytes:
        loop = asyncio.get_running_loop()
        try:
            chunk = await loop.run_in_executor(None, self._chunks.next_chunk)
        except asyncio.CancelledError:
            self._chunks.close()
            raise
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        """Stops the export and cancels its query."""
        self._chunks.close()

    def close(self) -> None:
        """Stops the export and cancels its query (from synchronous code)."""
        self._chunks.close()

    async def to_file(self, path: Union[str, "os.PathLike[str]"]) -> int:
        """Writes the whole export to ``path`` atomically (see ``Chunks.to_file``)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._chunks.to_file, os.fspath(path))
