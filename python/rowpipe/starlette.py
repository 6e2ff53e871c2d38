"""A Starlette (and FastAPI) response for an export: ``StreamingResponse`` with
``Content-Type`` and ``Content-Disposition`` set. When the client leaves, the server
cancels the streaming task, which cancels the query.

::

    from rowpipe.starlette import download

    async def orders(request):
        chunks = await db.export_async("SELECT * FROM orders ORDER BY id", format="jsonl")
        return download(chunks, "orders")
"""

from starlette.responses import StreamingResponse

from . import AsyncChunks
from ._disposition import content_disposition

__all__ = ["download"]


def download(chunks: AsyncChunks, name: str) -> StreamingResponse:
    """The export as a download named ``name`` (the extension is added)."""
    return StreamingResponse(
        chunks,
        media_type=chunks.content_type,
        headers={
            "Content-Disposition": content_disposition(chunks.filename(name)),
            "Cache-Control": "no-store",
        },
    )
