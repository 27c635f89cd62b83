"""Serve one implementation's benchmark app with waitress (``python bench/serve.py IMPL PORT REDIS_URL``).

Run as a script from the implementation's own virtual environment, like
``worker.py``, so that a 1.8.1 server imports the release, not this checkout.
"""

import logging
import sys

import waitress
import wsgiapps

if __name__ == "__main__":
    impl, port, redis_url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    # 64 connections on 4 threads queue by design; the queue warning is noise here.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = wsgiapps.make_app(impl, redis_url, "read", "default", 0)
    waitress.serve(app, host="127.0.0.1", port=port, threads=threads, connection_limit=200, _quiet=True)
