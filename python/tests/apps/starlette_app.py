"""A Starlette app serving exports through the async iterator."""

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

import rowpipe
from queries import DB, QUERIES, status_of
from rowpipe.starlette import download


async def export(request):
    name = request.path_params["name"]
    if name not in QUERIES:
        return JSONResponse({"error": f"no export {name}"}, status_code=404)
    try:
        chunks = await DB.export_async(QUERIES[name], format=request.query_params.get("format", "csv"))
    except rowpipe.Error as error:
        return JSONResponse({"error": str(error), "sqlstate": error.sqlstate}, status_code=status_of(error))
    return download(chunks, name)


app = Starlette(routes=[Route("/export/{name}", export)])
