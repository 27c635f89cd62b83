"""What each request did with its session, for the session page.

A tween turns on ``pyramid_session_redis.trace`` for every request (before
anything touches ``request.session``) and, once the request is over, adds a
line to a short log kept in this process: the method, the path, the
persistence policy's decision and the Redis commands sent.

The session writes itself to Redis in a Pyramid *finished callback*, which
runs after the page has been rendered.  The session registers that callback
when the view first uses it; the tween registers its own after the view has
returned, so it runs later and sees the final write too.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Callable, Deque, List, NamedTuple, Optional, Sequence

from pyramid.config import Configurator
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

from pyramid_session_redis.trace import SentCommand, SessionTrace, request_trace, trace_request

#: Where the log lives: ``request.registry[LOG_KEY]``.
LOG_KEY = "demo.request_log"


def describe(command: SentCommand, shorten: bool = False) -> str:
    """``GETEX <key> EX 1200 -> <85 bytes> (0.2 ms)``, as the session page shows a command.

    ``shorten`` keeps only the start of the key: the log is shown to everyone
    who uses this process, and their session ids are theirs.
    """
    key = command.key
    if shorten and len(key) > 12:
        key = key[:8] + "..."
    return f"{command._replace(key=key)} -> {command.reply} ({command.seconds * 1000:.1f} ms)"


class LoggedRequest(NamedTuple):
    method: str
    path: str
    action: str  # the policy's decision, in words (SessionTrace.action)
    commands: Sequence[str]  # as ``describe(..., shorten=True)`` shows them


class RequestLog:
    """The last ``size`` finished requests of this process (thread-safe)."""

    def __init__(self, size: int = 10):
        self._entries: Deque[LoggedRequest] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, request: Request, trace: SessionTrace) -> None:
        entry = LoggedRequest(
            request.method,
            request.path_qs[:200],
            trace.action,
            tuple(describe(command, shorten=True) for command in trace.commands),
        )
        with self._lock:
            self._entries.append(entry)

    def newest_first(self) -> List[LoggedRequest]:
        with self._lock:
            return list(reversed(self._entries))


def session_trace_tween(handler: Callable[[Request], Response], registry: Registry) -> Callable[[Request], Response]:
    log: RequestLog = registry[LOG_KEY]

    def tween(request: Request) -> Response:
        trace = trace_request(request)  # must come before the first use of request.session
        try:
            return handler(request)
        finally:
            # Registered after the session's own finished callback (added when
            # the view used the session), so it runs after the session's write.
            request.add_finished_callback(lambda request: log.add(request, trace))

    return tween


def includeme(config: Configurator) -> None:
    """``config.include("demo.requestlog")``"""
    config.registry[LOG_KEY] = RequestLog()
    config.add_tween("demo.requestlog.session_trace_tween")


def request_log(request: Request) -> Optional[RequestLog]:
    """This process's log (None in an app that did not include this module, such as the load test's)."""
    return request.registry.get(LOG_KEY)  # type: ignore[no-any-return]


def commands_so_far(request: Request) -> Optional[List[str]]:
    """The commands this request has sent up to now (None: it is not traced)."""
    trace: Optional[SessionTrace] = request_trace(request)
    if trace is None:
        return None
    return [describe(command) for command in trace.commands]

