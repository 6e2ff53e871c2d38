"""The Django project the Python benchmark serves under gunicorn (one sync worker): the
classic generator pipeline beside the same table through rowpipe's iterator.

Settings come from the environment: ``BENCH_DSN`` (libpq key=value) and ``BENCH_TABLE``.
"""

import csv
import os

import django
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

DSN = os.environ["BENCH_DSN"]
TABLE = os.environ["BENCH_TABLE"]
SQL = f"SELECT * FROM {TABLE} ORDER BY id"

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only",
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    DATABASES={},
)
django.setup()


class _Echo:
    """csv.writer's file: hands each line back instead of keeping it."""

    def write(self, value):
        return value


def classic(request):
    """The pattern that Django's documentation and countless answers give: a server-side
    (named) cursor fetched 5,000 rows at a time, ``csv.writer`` per row, lines gathered
    into ~64 KiB chunks for ``StreamingHttpResponse``."""
    import psycopg2

    def rows():
        connection = psycopg2.connect(DSN)
        try:
            with connection.cursor(name="bench_export") as cursor:
                cursor.itersize = 5000
                cursor.execute(SQL)
                # A named cursor knows its columns once it has fetched.
                first = cursor.fetchone()
                writer = csv.writer(_Echo())
                yield writer.writerow([column.name for column in cursor.description])
                if first is not None:
                    yield writer.writerow(first)
                for row in cursor:
                    yield writer.writerow(row)
        finally:
            connection.close()

    def rechunked(lines, size=64 * 1024):
        buffer, length = [], 0
        for line in lines:
            buffer.append(line)
            length += len(line)
            if length >= size:
                yield "".join(buffer).encode()
                buffer, length = [], 0
        if buffer:
            yield "".join(buffer).encode()

    return StreamingHttpResponse(rechunked(rows()), content_type="text/csv")


_database = None


def with_rowpipe(request):
    """The same download through rowpipe's iterator."""
    import rowpipe
    from rowpipe.django import download

    global _database
    if _database is None:
        _database = rowpipe.Database(DSN, pool_size=2)
    return download(_database.export(SQL, format="csv"), TABLE)


def ready(request):
    return HttpResponse("ok")


urlpatterns = [path("classic", classic), path("rowpipe", with_rowpipe), path("ready", ready)]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
