"""Where Redis is: the URL the client connects to, and the database a URL selects.

Kept apart from ``connection`` (which imports redis) so that the option
checks can look at the same URL the client will use, $REDIS_URL included.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_URL = "redis://localhost:6379/0"

# Options that say where Redis is without a URL; with none of them, nor a URL,
# the environment's $REDIS_URL (then DEFAULT_URL) is used.
_LOCATED_WITHOUT_URL = ("redis_host", "redis_port", "redis_unix_socket_path", "redis_connection_pool")


def location_url(options: Mapping[str, Any]) -> Optional[str]:
    """The URL the client connects to, or None when host/port/socket/pool say where.

    With no Redis location given at all, ``$REDIS_URL`` is used, then
    ``redis://localhost:6379/0``; a ``redis_db`` other than 0 then replaces
    the database that URL selects (a setting beats a default or the
    environment; a ``redis_url`` that names another database than
    ``redis_db`` is refused with the options).
    """
    url: Optional[str] = options["redis_url"]
    if url or options["redis_sentinels"] is not None:
        return url
    if any(options[name] is not None for name in _LOCATED_WITHOUT_URL):
        return None
    url = os.environ.get("REDIS_URL") or DEFAULT_URL
    return without_database(url) if options["redis_db"] else url


def url_database(url: str) -> str:
    """The database number ``url`` selects, as text ("" when it selects none).

    Read where redis-py reads it: ``?db=N`` first, else the path (not for
    unix://, whose path is the socket's).
    """
    parts = urlsplit(url)
    path = "" if parts.scheme == "unix" else unquote(parts.path).replace("/", "")
    return parse_qs(parts.query).get("db", [path])[0]


def without_database(url: str) -> str:
    """``url`` selecting no database (no ``?db=``, no database path), so that
    redis-py takes ``redis_db``; a URL of another scheme (memory://) as it is."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        return url
    query = "&".join(pair for pair in parts.query.split("&") if pair and pair.split("=", 1)[0] != "db")
    path = parts.path if parts.scheme == "unix" else ""
    # Put together by hand: urlunsplit would turn unix:///path into unix:/path.
    return f"{parts.scheme}://{parts.netloc}{path}" + (f"?{query}" if query else "")
