"""The Starlette app the Python benchmark serves under uvicorn: rowpipe's async iterator.

Settings come from the environment: ``BENCH_DSN`` and ``BENCH_TABLE``.
"""

import os

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import rowpipe
from rowpipe.starlette import download

DSN = os.environ["BENCH_DSN"]
TABLE = os.environ["BENCH_TABLE"]
DATABASE = rowpipe.Database(DSN, pool_size=2)


async def with_rowpipe(request):
    chunks = await DATABASE.export_async(f"SELECT * FROM {TABLE} ORDER BY id", format="csv")
    return download(chunks, TABLE)


async def ready(request):
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/rowpipe", with_rowpipe), Route("/ready", ready)])
