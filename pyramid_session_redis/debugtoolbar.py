"""A ``pyramid_debugtoolbar`` panel: what each request did with its Redis session.

Enable it with::

    config.include("pyramid_debugtoolbar")
    config.include("pyramid_session_redis.debugtoolbar")   # before or after, either works

(or list ``pyramid_session_redis.debugtoolbar`` in ``debugtoolbar.includes``).
It needs the ``debugtoolbar`` extra; ``pyramid_session_redis`` itself never
imports this module.

For each request the toolbar records, the panel shows whether the session was
used, loaded, changed, persisted, refreshed or deleted; the persistence
policy's decision and the ``SessionView`` that led to it; the reports made
(invalid session, conflict, Redis failure); the state of the process's circuit
breaker (``backend_cooldown``) when the page is viewed; every Redis command
sent, with its reply and duration; and the session's contents at the end of
the request.

How it stays out of the way:

* The panel only *traces* the request (``trace.trace_request``), when the
  toolbar creates it, before the view runs.  It never touches
  ``request.session``: a request that does not use its session sends no Redis
  command with the panel on.
* The session is written by a finished callback, which Pyramid runs after the
  toolbar's tween has called ``process_response``.  So the panel records
  nothing at ``process_response``: ``pyramid_debugtoolbar`` calls
  ``render_content`` when the toolbar page is viewed, and the panel reads the
  trace then, by which time the request has finished and the final write is in
  it.  A request still running when its page is rendered is labelled as such.
"""

from __future__ import annotations

import contextlib
import html
import pprint
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

from pyramid_debugtoolbar.panels import DebugPanel
from pyramid_debugtoolbar.toolbar import IPanelMap
from pyramid_debugtoolbar.utils import as_list

from .exceptions import (
    InvalidSession,
    InvalidSession_NoSessionCookie,
    SessionBackendError,
    SessionConflict,
    SessionPayloadError,
)
from .policy import Action
from .trace import SessionTrace, trace_request

__all__ = ["RedisSessionPanel", "includeme"]

#: The setting ``pyramid_debugtoolbar`` reads its additional per-request panels from.
EXTRA_PANELS = "debugtoolbar.extra_panels"

# Re-queued at most this many times to run after finished callbacks added late.
_MAX_REQUEUES = 8

# What each flag of the summary means, as the panel explains it.
_FLAGS = (
    ("used", "the application read or wrote request.session"),
    ("loaded", "a stored session was found in Redis and loaded"),
    ("cached", "local_cache served it from this process's memory: no Redis command"),
    ("changed", "changed through the session API, or a mutable value was handed out"),
    ("persisted", "the session was written to Redis"),
    ("refreshed", "its time to live was extended (GETEX on load, or EXPIRE)"),
    ("deleted", "a session was deleted from Redis"),
)


class RedisSessionPanel(DebugPanel):  # type: ignore[misc]  # pyramid_debugtoolbar is untyped: its class is Any
    """The toolbar's panel for one request's Redis session."""

    name = "pyramid_session_redis"
    title = "Redis session"
    nav_title = "Redis session"
    has_content = True
    user_activate = False  # always on: tracing costs no Redis command

    def __init__(self, request: Any) -> None:
        #: The request's trace (None: the session was used before the toolbar saw the request).
        self.trace: Optional[SessionTrace] = None
        #: The request's finished callbacks have run: the trace is complete.
        self.finished = False
        self._requeued = 0
        # RuntimeError: something above the toolbar's tween used request.session first.
        with contextlib.suppress(RuntimeError):
            self.trace = trace_request(request)

    # -- the request's lifecycle ------------------------------------------

    def wrap_handler(self, handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def handle(request: Any) -> Any:
            try:
                return handler(request)
            finally:
                # After the view, hence after the session's own finished callback
                # (registered when the view first used the session).
                request.add_finished_callback(self._finished)

        return handle

    def _finished(self, request: Any) -> None:
        if request.finished_callbacks and self._requeued < _MAX_REQUEUES:
            # Callbacks registered after this one (a session first used by an
            # outer tween or a response callback): run after them.
            self._requeued += 1
            request.add_finished_callback(self._finished)
            return
        self.finished = True

    # -- what the toolbar shows -------------------------------------------

    @property
    def nav_subtitle(self) -> str:
        trace = self.trace
        if trace is None:
            return "not traced"
        if not trace.used:
            return "not used"
        n = len(trace.commands)
        return f"{n} command" if n == 1 else f"{n} commands"

    @property
    def nav_subtitle_style(self) -> str:
        reports = self.trace.reports if self.trace is not None else []
        if any(isinstance(r, (SessionBackendError, SessionConflict, SessionPayloadError)) for r in reports):
            return "progress-bar-danger"
        if any(isinstance(r, InvalidSession) and type(r) is not InvalidSession_NoSessionCookie for r in reports):
            return "progress-bar-warning"
        return ""

    def render_content(self, request: Any) -> str:
        """The panel's HTML, from the trace as it is now (called when the toolbar page is viewed)."""
        trace = self.trace
        if trace is None:
            return _p(
                "This request was not traced: <code>request.session</code> had been used before the toolbar "
                "saw the request (by a tween above the toolbar's). Trace it yourself with "
                "<code>pyramid_session_redis.trace.trace_request(request)</code>, earlier."
            )
        parts: List[str] = []
        if not self.finished:
            parts.append(_note("warning", "This request had not finished when this page was rendered: the session "
                                          "is written after the response. Reload for the complete record."))
        if not trace.used:
            parts.append(_note("info", "The application did not use <code>request.session</code> in this request: "
                                       "the session was not loaded, and no Redis command was sent."))
        parts.append(_summary(trace))
        parts.append(_decision(trace))
        parts.append(_reports(trace.reports))
        parts.append(_breaker(trace))
        parts.append(_commands(trace))
        parts.append(_contents(trace))
        return "\n".join(parts)


# -- HTML ---------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _p(inner_html: str) -> str:
    return f"<p>{inner_html}</p>"


def _note(kind: str, inner_html: str) -> str:
    return f'<div class="alert alert-{kind}">{inner_html}</div>'


def _yes_no(value: Optional[bool]) -> str:
    if value is None:
        return "not known"
    return "yes" if value else "no"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], footer: Optional[Sequence[str]] = None) -> str:
    """A table; the cells of ``rows`` and ``footer`` are HTML already, the headers are text."""
    out = ['<table class="table table-striped table-condensed">', "<thead><tr>"]
    out += [f"<th>{_e(h)}</th>" for h in headers]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    out.append("</tbody>")
    if footer is not None:
        out.append("<tfoot><tr>" + "".join(f"<th>{cell}</th>" for cell in footer) + "</tr></tfoot>")
    out.append("</table>")
    return "".join(out)


def _summary(trace: SessionTrace) -> str:
    rows = [(_e(flag), _e(_yes_no(getattr(trace, flag))), _e(meaning)) for flag, meaning in _FLAGS]
    operations = ", ".join(f"{name}: {outcome}" for name, outcome in trace.operations) or "none"
    return (
        "<h4>Summary</h4>"
        + _table(("", "", "meaning"), rows)
        + _p("Store operations: " + _e(operations))
    )


def _shown(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(getattr(value, "value", value))  # an Action: its name in words


def _decision(trace: SessionTrace) -> str:
    decision, view = trace.decision, trace.view
    out = ["<h4>Decision</h4>", _p("End-of-request storage decision: <strong>" + _e(trace.action) + "</strong>")]
    if decision is not None:
        fields = decision._asdict()
        if decision.action is not Action.SAVE_IF_CHANGED:
            del fields["otherwise"]  # only meaningful for save_if_changed
        out.append(_table(("field", "value"), ((_e(k), _e(_shown(v))) for k, v in fields.items())))
    if view is not None:
        out.append("<h4>SessionView</h4>")
        out.append(_p("What the persistence policy saw when it decided:"))
        out.append(_table(("flag", "value"), ((_e(k), _e(_shown(v))) for k, v in view._asdict().items())))
    return "".join(out)


def _reports(reports: Sequence[Exception]) -> str:
    if not reports:
        return "<h4>Reports</h4>" + _p("None: no invalid session, conflict, Redis failure or payload error.")
    rows = []
    for exc in reports:
        kind = type(exc)
        message = str(exc)
        if exc.__cause__ is not None:
            message += f" (caused by {type(exc.__cause__).__name__}: {exc.__cause__})"
        rows.append((f"<code>{_e(kind.__module__)}.{_e(kind.__qualname__)}</code>", _e(message)))
    return "<h4>Reports</h4>" + _table(("type", "message"), rows)


def _breaker(trace: SessionTrace) -> str:
    """The factory's circuit breaker as it is now (it is the process's, not this request's)."""
    title = "<h4>Circuit breaker</h4>"
    breaker = trace.breaker
    if breaker is None:
        return title + _p("Off: <code>backend_cooldown = 0</code>, or an in-process (memory://) store.")
    state = breaker.describe()
    if state["state"] == "closed":
        return title + _p(
            f"Closed (<code>backend_cooldown = {_e(state['cooldown'])}</code>): session commands are sent to Redis."
        )
    if state["next_try_in"] is None:
        next_try = "now: a request is trying Redis"
    else:
        next_try = f"in {state['next_try_in']:.2f} s"
    rows = [
        ("state", _e(state["state"])),
        ("open for", _e(f"{state['open_for']:.2f} s")),
        ("failure that opened it (or the latest)", _e(state["last_error"])),
        ("next try", _e(next_try)),
        ("session commands failed at once", _e(state["failed_at_once"])),
        ("tries that failed", _e(state["failed_tries"])),
        ("backend_cooldown", _e(f"{state['cooldown']} s")),
    ]
    return title + _note(
        "danger",
        "Open: Redis failed, and this process's session commands fail at once "
        "(<code>SessionBackendUnavailable</code>) until a try succeeds.",
    ) + _table(("", "now"), rows)


def _commands(trace: SessionTrace) -> str:
    commands = trace.commands
    title = f"<h4>Redis commands ({len(commands)})</h4>"
    if not commands:
        return title + _p("No Redis command was sent.")
    rows = [
        (str(i), f"<code>{_e(c.command)}</code>", f"<code>{_e(c.key)}</code>", _e(c.arguments), _e(c.reply),
         _e(f"{c.seconds * 1000:.2f}"))
        for i, c in enumerate(commands, 1)
    ]
    total = sum(c.seconds for c in commands) * 1000
    footer = ("", "total", "", "", "", _e(f"{total:.2f}"))
    return title + _table(("#", "command", "key", "arguments", "reply", "ms"), rows, footer)


def _contents(trace: SessionTrace) -> str:
    # Without a decision (Redis failed in degrade mode, or the request is still
    # running): what the session holds in memory, read without loading it.
    data: Optional[Dict[str, Any]] = trace.contents
    if trace.decision is not None:
        caption = "The session's contents when the end-of-request decision was taken:"
    else:
        caption = "The session's contents in memory (no end-of-request decision was taken):"
    if data is None:
        return "<h4>Contents</h4>" + _p("Not loaded.")
    if not data:
        return "<h4>Contents</h4>" + _p(_e(caption) + " empty.")
    rows = [(f"<code>{_e(key)}</code>", f"<pre>{_e(_pretty(data[key]))}</pre>") for key in sorted(data, key=str)]
    return "<h4>Contents</h4>" + _p(_e(caption)) + _table(("key", "value"), rows)


def _pretty(value: Any) -> str:
    try:
        return pprint.pformat(value, width=100)
    except Exception as exc:  # a value whose repr fails
        return f"<unprintable {type(value).__name__}: {exc!r}>"


# -- registration ---------------------------------------------------------------


def includeme(config: Any) -> None:
    """Add the panel to ``pyramid_debugtoolbar``; include it before or after the toolbar.

    Included by the application (``config.include``), it adds the panel to the
    ``debugtoolbar.extra_panels`` setting, which the toolbar's tween reads when
    the WSGI app is made, so the order of the two includes does not matter and
    an explicit ``debugtoolbar.panels`` list keeps the panel too.  Listed in
    ``debugtoolbar.includes`` instead, it is given the toolbar's own
    configuration, and registers the panel with ``add_debugtoolbar_panel``.
    """
    if config.registry.queryUtility(IPanelMap) is not None:
        config.add_debugtoolbar_panel(RedisSessionPanel)
        return
    panels: List[Any] = as_list(config.get_settings().get(EXTRA_PANELS) or [])
    if RedisSessionPanel not in panels:
        panels.append(RedisSessionPanel)
    config.add_settings({EXTRA_PANELS: panels})
