"""Types of rowpipe's native module (the Python part re-exports what is public)."""

import os
import sys
from types import TracebackType
from typing import Iterator, Literal, Optional, Sequence, Type, TypedDict, Union, final

if sys.version_info >= (3, 11):
    from typing import Self, Unpack
else:
    from typing_extensions import Self, Unpack

class ExportOptions(TypedDict, total=False):
    """The options of an export, those of ``rowpipe export``."""

    #: ``$1``, ``$2``, ...: ``str`` as it is, other values as their ``str()``, ``bool`` as
    #: ``true``/``false``; never pasted into the SQL. ``None`` and ``bytes`` are refused.
    params: Sequence[object]
    #: A type name per parameter (``int8``, ``timestamptz``; for SQLite ``integer``,
    #: ``real``, ``text``, ``blob``), checked before the query runs; ``None`` lets the
    #: server infer it.
    param_types: Sequence[Optional[str]]
    format: Literal["csv", "tsv", "jsonl", "json"]
    compress: Optional[Literal["gzip", "zstd"]]
    #: csv and tsv: the header line (default True).
    header: bool
    delimiter: str
    quote: str
    escape: str
    #: What CSV writes for NULL (default: nothing).
    null: str
    quoting: Literal["minimal", "all", "nonnumeric"]
    #: CSV for Excel: a byte-order mark, CRLF, formula-like text made inert.
    excel: bool
    columns: Sequence[str]
    limit: int
    #: A unique, not-NULL column the export is read in the order of (checked as it
    #: streams), for ``after``.
    key: str
    #: Only the rows whose key is greater than this: the rest of a broken export.
    after: object
    #: Fail the export (``LimitExceeded``) past this many rows.
    max_rows: int
    #: Fail the export (``LimitExceeded``) past this many bytes.
    max_bytes: int
    #: Bytes per chunk (default 65536).
    chunk_size: int
    #: Chunks produced ahead of the reader (default 4).
    prefetch_depth: int
    #: Seconds (default 3600); ``None`` leaves the server's setting.
    statement_timeout: Optional[float]
    engine: Literal["typed", "copy"]
    server_formatting: bool

class Database:
    """A database to export from, opened once and shared; see ``rowpipe.Database``."""

    def __new__(cls, dsn: str, pool_size: int = 8) -> Self: ...
    def export(self, sql: str, **options: Unpack[ExportOptions]) -> "Chunks":
        """Starts an export of ``sql`` and returns its chunks once the database has
        accepted the query; errors before the first byte raise here."""

@final
class Chunks(Iterator[bytes]):
    """The chunks of a running export. Closing, dropping or garbage-collecting it cancels
    the query; an error after the first byte raises from ``__next__``."""

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` of what the export writes."""
    def filename(self, name: str) -> str:
        """``name`` with the format's extension (and the compression's)."""
    def __iter__(self) -> "Chunks": ...
    def __next__(self) -> bytes: ...
    def next_chunk(self) -> Optional[bytes]:
        """The next chunk, or ``None`` at the end."""
    def close(self) -> None:
        """Stops the export, cancels its query; safe from any thread, more than once."""
    def to_file(self, path: Union[str, "os.PathLike[str]"]) -> int:
        """Writes the whole export to ``path`` atomically (via ``path.part``); returns the
        bytes written."""
    def __enter__(self) -> "Chunks": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None: ...
