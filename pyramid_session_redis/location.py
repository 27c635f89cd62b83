"""Where Redis is: the URL the client connects to, and the database a URL selects.

Kept apart from ``connection`` (which imports redis) so that the option
checks can look at the same URL the client will use, $REDIS_URL included.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional
from urllib.parse import parse_qs, urlsplit

DEFAULT_URL = "redis://localhost:6379/0"

# Options that say where Redis is without a URL; with none of them, nor a URL,
# the environment's $REDIS_URL (then DEFAULT_URL) is used.
_LOCATED_WITHOUT_URL = ("redis_host", "redis_port", "redis_unix_socket_path", "redis_connection_pool")


def location_url(options: Mapping[str, Any]) -> Optional[str]:
    """The URL the client connects to, or None when host/port/socket/pool say where.

    With no Redis location given at all, ``$REDIS_URL`` is used, then
    ``redis://localhost:6379/0``.
    """
    url: Optional[str] = options["redis_url"]
    if url or options["redis_sentinels"] is not None:
        return url
    if any(options[name] is not None for name in _LOCATED_WITHOUT_URL):
        return None
    return os.environ.get("REDIS_URL") or DEFAULT_URL


def url_database(url: str) -> str:
    """The database number ``url`` selects, as text ("" when it selects none).

    Read where redis-py reads it: ``?db=N`` first, else the path.
    """
    parts = urlsplit(url)
    return parse_qs(parts.query).get("db", [parts.path.replace("/", "")])[0]
