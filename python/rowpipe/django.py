"""A Django response for an export: ``StreamingHttpResponse`` with ``Content-Type`` and
``Content-Disposition`` set. Under WSGI, Django closes the chunks when the response is
closed (the client left, or the download ended), which cancels the query.

::

    from rowpipe.django import download

    def orders(request):
        try:
            chunks = db.export("SELECT * FROM orders ORDER BY id", format="csv")
        except rowpipe.InvalidRequest as error:
            return HttpResponseBadRequest(str(error))
        return download(chunks, "orders")
"""

from typing import Union

from django.http import StreamingHttpResponse

from . import AsyncChunks, Chunks
from ._disposition import content_disposition

__all__ = ["download"]


def download(chunks: Union[Chunks, AsyncChunks], name: str) -> StreamingHttpResponse:
    """The export as a download named ``name`` (the extension is added)."""
    response = StreamingHttpResponse(chunks, content_type=chunks.content_type)
    response["Content-Disposition"] = content_disposition(chunks.filename(name))
    response["Cache-Control"] = "no-store"
    return response
