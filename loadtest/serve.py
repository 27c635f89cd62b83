"""Serve the load-test app with waitress: ``python -m loadtest.serve OPTIONS_JSON MODE THREADS``.

Run in its own process, so that the load generator does not share its GIL
and the soak's RSS and tracemalloc figures are the server's alone.  Prints
``PORT <n>`` once it listens (on a free loopback port) and serves until
SIGTERM.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _exit_with_parent(parent: int) -> None:
    """A load generator killed outright cannot stop us: leave when it is gone."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def main(argv: list) -> None:
    options, mode, threads = json.loads(argv[0]), argv[1], int(argv[2])
    from loadtest.app import make_app

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Requests queue behind busy threads while Redis is down: expected here.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app, _ = make_app(options, mode)
    serve(app, threads, connection_limit=200)


def serve(app: object, threads: int, **waitress_options: object) -> None:
    """Serve ``app`` with waitress on a free loopback port until SIGTERM (or until the
    parent process is gone), after printing ``PORT <n>``; the tests' servers use it too."""
    import waitress

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads, channel_timeout=60,
                                    **waitress_options)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    print(f"PORT {server.effective_port}", flush=True)
    try:
        server.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main(sys.argv[1:])
