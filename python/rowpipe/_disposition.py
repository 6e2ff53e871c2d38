"""``Content-Disposition`` for a download's file name, shared by the framework helpers."""

from urllib.parse import quote


def content_disposition(filename: str) -> str:
    """``attachment`` with the name as plain ASCII (anything else replaced by ``_``) and,
    when that lost something, as RFC 5987's UTF-8 ``filename*``."""
    plain = "".join(
        c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename
    )
    value = f'attachment; filename="{plain}"'
    if plain != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value
