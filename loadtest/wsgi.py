"""The load-test app for any WSGI server: ``gunicorn loadtest.wsgi:app``.

``loadtest.stall`` serves it with gunicorn.  The environment says how:
``LOADTEST_SESSION_OPTIONS`` (JSON: ``RedisSessionFactory`` keywords, at least
the Redis location) and ``LOADTEST_MODE`` (``on_backend_error``: raise or
degrade).  The package's log lines (the circuit breaker opening and closing)
go to stderr, which is the server's error log.
"""

from __future__ import annotations

import json
import logging
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from loadtest.app import make_app  # noqa: E402

logging.basicConfig(level=logging.WARNING, format="%(asctime)s [%(process)d] %(name)s %(levelname)s %(message)s")
logging.getLogger("pyramid_session_redis").setLevel(logging.INFO)

app, counters = make_app(json.loads(os.environ["LOADTEST_SESSION_OPTIONS"]), os.environ.get("LOADTEST_MODE", "raise"))
