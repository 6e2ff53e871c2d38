"""One view: an export by name, as a download; an error before the first byte is a
status with a JSON body."""

from django.http import Http404, JsonResponse

import rowpipe
from queries import DB, QUERIES, status_of
from rowpipe.django import download


def export(request, name):
    if name not in QUERIES:
        raise Http404(name)
    try:
        chunks = DB.export(QUERIES[name], format=request.GET.get("format", "csv"))
    except rowpipe.Error as error:
        return JsonResponse({"error": str(error), "sqlstate": error.sqlstate}, status=status_of(error))
    return download(chunks, name)
