"""The pyramid_debugtoolbar panel, as a developer sees it, against the private redis-server.

Each test makes requests to a small app with the toolbar on, then opens the
toolbar page of one request through the link the toolbar injects into HTML
responses, and reads the panel there.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

pytest.importorskip("pyramid_debugtoolbar")

from pyramid.config import Configurator
from pyramid.events import NewResponse
from pyramid.interfaces import ISessionFactory
from pyramid.request import Request
from pyramid.response import Response
from webtest import TestApp

from pyramid_session_redis import RedisSessionFactory
from pyramid_session_redis.debugtoolbar import RedisSessionPanel
from pyramid_session_redis.store import CHECKED_WRITE
from pyramid_session_redis.trace import request_trace

from .app import SECRET

PANEL_ID = "pDebugPanel-pyramid_session_redis"
# The toolbar's request panels, without its own Session panel (which reads the session: see docs/debugtoolbar.rst).
WITHOUT_BUILTIN_SESSION_PANEL = "headers logging performance renderings request_vars sqlalchemy traceback"


def _page(text: str) -> Response:
    # An HTML page with a </body>: the toolbar injects its link there.
    return Response(f"<html><head></head><body>{text}</body></html>")


def write(request: Any) -> Response:
    request.session[request.params.get("key", "k")] = request.params.get("value", "v")
    return _page("written")


def read(request: Any) -> Response:
    return _page(repr(request.session.get(request.params.get("key", "k"))))


def incr(request: Any) -> Response:
    request.session["n"] = request.session.get("n", 0) + 1
    return _page(str(request.session["n"]))


def cart(request: Any) -> Response:
    request.session["cart"] = {"items": ["apple"]}
    return _page("cart")


def look_at_cart(request: Any) -> Response:
    return _page(repr(request.session.get("cart")))  # a mutable value, handed out unchanged


def invalidate(request: Any) -> Response:
    request.session.invalidate()
    return _page("invalidated")


def untouched(request: Any) -> Response:
    return _page("untouched")


VIEWS = (write, read, incr, cart, look_at_cart, invalidate, untouched)


def toolbar_app(
    redis_url: str,
    *,
    order: str = "after",
    settings: Optional[Dict[str, Any]] = None,
    setup: Optional[Callable[[Configurator], None]] = None,
    **options: Any,
) -> TestApp:
    """The views above, with the toolbar and the panel; ``order`` says how the panel is included."""
    settings = {"debugtoolbar.hosts": "127.0.0.1", **(settings or {})}
    if order == "includes":
        settings["debugtoolbar.includes"] = "pyramid_session_redis.debugtoolbar"
    config = Configurator(settings=settings)
    if order == "before":
        config.include("pyramid_session_redis.debugtoolbar")
    config.include("pyramid_debugtoolbar")
    if order == "after":
        config.include("pyramid_session_redis.debugtoolbar")
    options.setdefault("secret", SECRET)
    options.setdefault("timeout", 1200)
    config.set_session_factory(RedisSessionFactory(redis_url=redis_url, **options))
    for view in VIEWS:
        config.add_route(view.__name__, "/" + view.__name__)
        config.add_view(view, route_name=view.__name__)
    if setup is not None:
        setup(config)
    return TestApp(config.make_wsgi_app(), extra_environ={"REMOTE_ADDR": "127.0.0.1"})


class Panel:
    """The panel of one request, read from its toolbar page."""

    def __init__(self, page: str):
        self.page = page
        start = page.index(f'id="{PANEL_ID}-content"')
        self.html = page[start:page.index('<div class="tab-pane" id="global">', start)]
        badge = re.search(rf'id="{PANEL_ID}">.*?<span class="badge pull-right ([^"]*)">([^<]*)</span>', page, re.S)
        assert badge is not None, "no subtitle"
        self.subtitle_style, self.subtitle = badge.group(1).strip(), badge.group(2)
        self.tables = _Tables.parse(self.html)
        self.text = re.sub(r"\s+", " ", _Tables.text_of(self.html))

    def table(self, heading: str) -> List[List[str]]:
        return self.tables[heading]

    def pairs(self, heading: str) -> Dict[str, str]:
        return {row[0]: row[1] for row in self.tables[heading]}

    @property
    def flags(self) -> Dict[str, str]:
        return self.pairs("Summary")

    @property
    def commands(self) -> List[Tuple[str, str, str, str]]:
        """(command, key, arguments, reply) of each command sent."""
        heading = next(h for h in self.tables if h.startswith("Redis commands"))
        return [(row[1], row[2], row[3], row[4]) for row in self.tables[heading]]


class _Tables(HTMLParser):
    """The panel's tables, by the <h4> heading above them: body rows of cell texts (unescaped)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: Dict[str, List[List[str]]] = {}
        self.heading = ""
        self.texts: List[str] = []
        self._in: Optional[str] = None  # "h4", "cell" or None
        self._section = ""
        self._row: Optional[List[str]] = None
        self._cell: List[str] = []

    @classmethod
    def parse(cls, html: str) -> Dict[str, List[List[str]]]:
        parser = cls()
        parser.feed(html)
        return parser.tables

    @classmethod
    def text_of(cls, html: str) -> str:
        parser = cls()
        parser.feed(html)
        return " ".join(parser.texts)

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "h4":
            self._in, self.heading = "h4", ""
        elif tag in ("thead", "tbody", "tfoot"):
            self._section = tag
        elif tag == "tr" and self._section == "tbody":
            self._row = []
        elif tag == "td" and self._row is not None:
            self._in, self._cell = "cell", []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h4":
            self._in = None
            self.tables.setdefault(self.heading.strip(), [])
        elif tag == "td" and self._in == "cell" and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._in = None
        elif tag == "tr" and self._row is not None:
            self.tables[self.heading.strip()].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        if self._in == "h4":
            self.heading += data
        elif self._in == "cell":
            self._cell.append(data)


def panel_for(app: TestApp, response: Any) -> Panel:
    """Open the toolbar page of the request that gave ``response``, from the link injected into it."""
    link = re.search(r'href="http://localhost(/_debug_toolbar/[0-9a-f]+)"', response.text)
    assert link is not None, "the toolbar injected no link"
    return Panel(app.get(link.group(1)).text)


def get(app: TestApp, path: str, **params: str) -> Panel:
    return panel_for(app, app.get(path, params=params))


# -- what each kind of request shows -----------------------------------------------


def test_a_new_session_shows_its_set_nx_written_after_process_response(redis_server, redis_client):
    at_new_response: List[int] = []

    def on_new_response(event: Any) -> None:
        trace = request_trace(event.request)
        if trace is not None:  # (not the toolbar's own pages)
            at_new_response.append(len(trace.commands))

    def setup(config: Configurator) -> None:
        # NewResponse comes after the toolbar's tween has run process_response,
        # and before the finished callback that writes the session.
        config.add_subscriber(on_new_response, NewResponse)

    app = toolbar_app(redis_server.url, setup=setup)
    panel = get(app, "/write", key="a", value="1")
    assert at_new_response == [0]  # nothing was sent when the toolbar processed the response...
    [(command, key, arguments, reply)] = panel.commands  # ...but the panel shows the write
    assert command == "SET" and arguments.endswith(" bytes> EX 1200 NX") and reply == "True"
    assert redis_client.keys() == [key.encode()]
    assert panel.subtitle == "1 command" and panel.subtitle_style == ""
    assert panel.flags == {"used": "yes", "loaded": "no", "cached": "no", "changed": "yes", "persisted": "yes",
                           "refreshed": "no", "deleted": "no"}
    assert "End-of-request storage decision: create" in panel.text
    assert panel.pairs("Decision")["action"] == "create" and panel.pairs("Decision")["ttl"] == "1200"
    assert "otherwise" not in panel.pairs("Decision")  # only for save_if_changed
    view = panel.pairs("SessionView")
    assert view["new"] == "yes" and view["dirty"] == "yes" and view["cookie_sent"] == "yes" and view["stored"] == "no"
    assert panel.table("Reports") == [["pyramid_session_redis.exceptions.InvalidSession_NoSessionCookie",
                                       "no session cookie"]]
    assert panel.pairs("Contents") == {"a": "'1'"}
    assert "Store operations: create: written" in panel.text
    assert "had not finished" not in panel.text


def test_a_read_is_one_getex_that_refreshes(redis_server):
    app = toolbar_app(redis_server.url)
    app.get("/write", params={"key": "a", "value": "1"})
    panel = get(app, "/read", key="a")
    [(command, _, arguments, reply)] = panel.commands
    assert (command, arguments) == ("GETEX", "EX 1200") and re.fullmatch(r"<\d+ bytes>", reply)
    assert panel.flags["loaded"] == "yes" and panel.flags["refreshed"] == "yes"
    assert panel.flags["persisted"] == "no" and panel.flags["changed"] == "no"
    assert panel.pairs("Decision")["action"] == "nothing"
    assert "None: no invalid session, conflict, Redis failure or payload error." in panel.text
    assert panel.pairs("Contents") == {"a": "'1'"}


def test_a_write_to_an_existing_session_is_getex_then_a_checked_write_with_a_total(redis_server, redis_client):
    redis_client.script_load(CHECKED_WRITE)  # as on a server that has run it once
    app = toolbar_app(redis_server.url)
    app.get("/incr")
    panel = get(app, "/incr")
    assert [(c, a.startswith("checked-write <") and a.endswith("bytes> 1200"))
            for c, _, a, _ in panel.commands] == [("GETEX", False), ("EVALSHA", True)]
    assert "NX" not in panel.commands[1][2]
    assert panel.subtitle == "2 commands"
    assert panel.flags["persisted"] == "yes" and panel.pairs("Decision")["action"] == "save"
    assert panel.pairs("Contents") == {"n": "2"}
    assert "Store operations: load: found, checked_save: written" in panel.text
    # One row per command, in milliseconds, and their total below.
    rows = panel.table("Redis commands (2)")
    times = [float(row[5]) for row in rows]
    total = re.search(r"<tfoot><tr><th></th><th>total</th><th></th><th></th><th></th><th>([\d.]+)</th>", panel.html)
    assert total is not None and abs(float(total.group(1)) - sum(times)) <= 0.01 * len(times)


def test_a_mutable_value_read_back_is_save_if_changed_and_not_rewritten(redis_server):
    app = toolbar_app(redis_server.url)
    app.get("/cart")
    panel = get(app, "/look_at_cart")
    assert [c for c, _, _, _ in panel.commands] == ["GETEX"]  # same bytes: nothing written
    decision = panel.pairs("Decision")
    assert decision["action"] == "save_if_changed" and decision["otherwise"] == "nothing"
    assert panel.flags["changed"] == "yes" and panel.flags["persisted"] == "no"  # handed out, so maybe changed
    assert panel.pairs("Contents") == {"cart": "{'items': ['apple']}"}


def test_invalidate_is_one_del(redis_server, redis_client):
    app = toolbar_app(redis_server.url, settings={"debugtoolbar.panels": WITHOUT_BUILTIN_SESSION_PANEL})
    app.get("/incr")
    [key] = redis_client.keys()
    panel = get(app, "/invalidate")
    assert panel.commands == [("DEL", key.decode(), "", "1")]  # not loaded first; one key deleted
    assert panel.flags["deleted"] == "yes" and panel.flags["loaded"] == "no"
    assert "End-of-request storage decision: delete the old key (invalidated or regenerated), then nothing" in panel.text
    assert panel.pairs("Decision")["delete_old"] == "yes"
    assert "The session's contents when the end-of-request decision was taken: empty." in panel.text
    assert redis_client.exists(key) == 0


def test_the_builtin_session_panel_reads_the_session_when_it_is_touched(redis_server):
    # What docs/debugtoolbar.rst says of pyramid_debugtoolbar's own Session panel
    # (there by default, not activated): it reads every value of the session on
    # the first request.session, so invalidate() costs a GETEX...
    app = toolbar_app(redis_server.url)
    app.get("/cart")
    panel = get(app, "/invalidate")
    assert [c for c, _, _, _ in panel.commands] == ["GETEX", "DEL"]
    # ...and a mutable value it was handed counts as possibly changed.
    app.get("/cart")
    panel = get(app, "/read", key="other")
    assert [c for c, _, _, _ in panel.commands] == ["GETEX"]
    assert panel.flags["changed"] == "yes" and panel.pairs("Decision")["action"] == "save_if_changed"
    # Without it, the same read is left alone.
    app = toolbar_app(redis_server.url, settings={"debugtoolbar.panels": WITHOUT_BUILTIN_SESSION_PANEL})
    app.get("/cart")
    panel = get(app, "/read", key="other")
    assert panel.flags["changed"] == "no" and panel.pairs("Decision")["action"] == "nothing"


def test_the_builtin_session_panel_activated_loads_every_session(redis_server):
    app = toolbar_app(redis_server.url, settings={"debugtoolbar.active_panels": "session"})
    app.get("/incr")
    panel = get(app, "/untouched")
    assert [c for c, _, _, _ in panel.commands] == ["GETEX"]


def test_an_untouched_page_sends_nothing_and_neither_does_its_toolbar_page(redis_server, commands):
    app = toolbar_app(redis_server.url)  # every default panel, the toolbar's own Session panel too
    app.get("/incr")  # a session cookie: loading it would cost a GETEX
    commands.reset()
    response = app.get("/untouched")
    assert commands.counts() == {}
    panel = panel_for(app, response)
    assert commands.counts() == {}  # rendering the panel loaded nothing either
    assert panel.subtitle == "not used"
    assert "did not use request.session in this request" in panel.text
    assert "No Redis command was sent." in panel.text
    assert panel.flags["used"] == "no" and panel.flags["changed"] == "not known"
    assert "End-of-request storage decision: none (session not used)" in panel.text
    assert "Contents Not loaded." in panel.text


def test_a_forged_cookie_is_reported_and_costs_nothing(redis_server, commands):
    app = toolbar_app(redis_server.url)
    app.set_cookie("session", "forged-" + "x" * 60)
    commands.reset()
    response = app.get("/read")
    assert commands.counts() == {}
    panel = panel_for(app, response)
    assert panel.table("Reports") == [["pyramid_session_redis.exceptions.InvalidSession_BadCookie",
                                       "session cookie could not be verified"]]
    assert panel.subtitle == "0 commands" and panel.subtitle_style == "progress-bar-warning"
    assert panel.pairs("SessionView")["bad_cookie"] == "yes"


def test_a_stale_cookie_is_reported(redis_server, redis_client):
    app = toolbar_app(redis_server.url)
    app.get("/incr")
    [key] = redis_client.keys()
    redis_client.delete(key)
    panel = get(app, "/read")
    assert panel.commands == [("GETEX", key.decode(), "EX 1200", "None")]
    [[kind, message]] = panel.table("Reports")
    assert kind == "pyramid_session_redis.exceptions.InvalidSession_NotInBackend" and "not in Redis" in message
    assert panel.subtitle_style == "progress-bar-warning"
    assert "Store operations: load: missing" in panel.text and panel.flags["loaded"] == "no"


def test_html_in_session_keys_and_values_is_escaped(redis_server):
    app = toolbar_app(redis_server.url)
    panel = get(app, "/write", key="<i>k</i>", value='<script>alert("v")</script>')
    assert panel.pairs("Contents") == {"<i>k</i>": "'<script>alert(\"v\")</script>'"}  # shown as text...
    assert "&lt;script&gt;alert(&quot;v&quot;)&lt;/script&gt;" in panel.html  # ...because escaped
    assert "<script>alert" not in panel.html and "<i>k</i>" not in panel.html


def test_a_session_that_cannot_be_stored_is_shown(redis_server, redis_client):
    def unstorable(request: Any) -> Response:
        request.session["s"] = {1, 2}
        return _page("set")

    app = toolbar_app(redis_server.url, setup=lambda config: (config.add_route("u", "/u"),
                                                                config.add_view(unstorable, route_name="u")))
    response = app.get("/u")
    assert response.status_int == 200 and redis_client.dbsize() == 0
    panel = panel_for(app, response)
    [first_visit, [kind, message]] = panel.table("Reports")
    assert first_visit[0] == "pyramid_session_redis.exceptions.InvalidSession_NoSessionCookie"
    assert kind == "pyramid_session_redis.exceptions.SessionPayloadError" and "cannot be stored as JSON" in message
    assert "(caused by TypeError" in message and panel.subtitle_style == "progress-bar-danger"


def test_redis_failures_are_shown(redis_server):
    good = toolbar_app(redis_server.url)
    good.get("/incr")
    cookie = good.cookies["session"]
    app = toolbar_app("redis://127.0.0.1:1/0", on_backend_error="degrade", redis_socket_connect_timeout=0.2)
    app.set_cookie("session", cookie)
    panel = get(app, "/write", key="a", value="1")
    [(command, _, _, reply)] = panel.commands
    assert command == "GETEX" and reply.startswith("error: ConnectionError")
    [[kind, message]] = panel.table("Reports")
    assert kind == "pyramid_session_redis.exceptions.SessionBackendError" and "(caused by ConnectionError" in message
    assert panel.subtitle_style == "progress-bar-danger"
    # Degraded: no end-of-request decision; the panel shows what the view left in memory.
    assert "End-of-request storage decision: none: not reached (Redis failed with on_backend_error = degrade" in panel.text
    assert "SessionView" not in panel.tables
    assert "contents in memory (no end-of-request decision was taken)" in panel.text
    assert panel.pairs("Contents") == {"a": "'1'"}


def test_the_circuit_breaker_is_shown_closed_open_or_off(redis_server):
    panel = get(toolbar_app(redis_server.url), "/incr")
    assert "Closed ( backend_cooldown = 5.0 ): session commands are sent to Redis." in panel.text
    assert panel.table("Circuit breaker") == []
    panel = get(toolbar_app(redis_server.url, backend_cooldown=0), "/incr")
    assert "Off: backend_cooldown = 0 , or an in-process (memory://) store." in panel.text

    app = toolbar_app("redis://127.0.0.1:1/0", on_backend_error="degrade", redis_socket_connect_timeout=0.2,
                      backend_cooldown=30)
    get(app, "/write", key="a", value="1")  # refused: the breaker opens
    panel = get(app, "/write", key="a", value="2")  # failed at once
    assert panel.commands == []  # nothing was sent
    [[kind, message]] = panel.table("Reports")
    assert kind == "pyramid_session_redis.exceptions.SessionBackendUnavailable"
    assert message.startswith("Redis not tried during load: the circuit breaker is open since Redis failed")
    assert panel.subtitle_style == "progress-bar-danger"
    assert "Open: Redis failed, and this process's session commands fail at once" in panel.text
    breaker = panel.pairs("Circuit breaker")
    assert breaker["state"] == "open" and breaker["backend_cooldown"] == "30.0 s"
    assert breaker["failure that opened it (or the latest)"].startswith("ConnectionError: Error 111 connecting")
    assert breaker["session commands failed at once"] == "1" and breaker["tries that failed"] == "0"
    assert re.fullmatch(r"in \d+\.\d\d s", breaker["next try"]) and breaker["open for"].endswith(" s")


def test_an_open_breaker_says_when_a_request_is_trying_redis(redis_server):
    from pyramid_session_redis.debugtoolbar import _breaker
    from pyramid_session_redis.trace import SessionTrace

    app = toolbar_app("redis://127.0.0.1:1/0", on_backend_error="degrade", redis_socket_connect_timeout=0.2,
                      backend_cooldown=0.01)
    get(app, "/write", key="a", value="1")
    trace = SessionTrace()
    trace.breaker = app.app.registry.queryUtility(ISessionFactory).breaker
    time.sleep(0.02)
    assert trace.breaker.admit("load") == -1  # this caller is now the one trying Redis
    html = _breaker(trace)
    assert "now: a request is trying Redis" in html and "probing" in html


# -- registration ---------------------------------------------------------------------


@pytest.mark.parametrize("order", ["before", "after", "includes"])
def test_the_panel_is_there_whatever_the_include_order(redis_server, order):
    app = toolbar_app(redis_server.url, order=order)
    panel = get(app, "/incr")
    assert panel.subtitle == "1 command" and panel.commands[0][0] == "SET"
    assert panel.page.count(f'id="{PANEL_ID}"') == 1


@pytest.mark.parametrize("named", ["as text", "as a class"])
def test_an_explicit_panel_list_keeps_the_panel_once(redis_server, named):
    settings = {
        "debugtoolbar.panels": "headers",
        # The panel named there too: as text (as an .ini file gives it), or as a class.
        "debugtoolbar.extra_panels": (
            "pyramid_session_redis.debugtoolbar.RedisSessionPanel" if named == "as text" else [RedisSessionPanel]
        ),
    }
    app = toolbar_app(redis_server.url, settings=settings)
    panel = get(app, "/incr")
    assert panel.page.count(f'id="{PANEL_ID}"') == 1 and panel.commands[0][0] == "SET"
    assert 'id="pDebugPanel-headers"' in panel.page and 'id="pDebugPanel-session"' not in panel.page


def touch_session_tween_factory(handler: Any, registry: Any) -> Any:
    def tween(request: Any) -> Any:
        request.session.get("x")
        return handler(request)

    return tween


def test_a_session_used_above_the_toolbar_is_not_traced(redis_server):
    def setup(config: Configurator) -> None:
        config.add_tween(f"{__name__}.touch_session_tween_factory", over="pyramid_debugtoolbar.toolbar_tween_factory")

    app = toolbar_app(redis_server.url, setup=setup)
    panel = get(app, "/incr")
    assert panel.subtitle == "not traced" and panel.subtitle_style == ""
    assert "This request was not traced" in panel.text


# -- the finished marker ----------------------------------------------------------------------


def test_a_request_still_running_is_labelled_as_such():
    request = Request.blank("/")
    panel = RedisSessionPanel(request)
    html = panel.render_content(request)
    assert "had not finished when this page was rendered" in html


def test_the_panel_marks_the_request_finished_after_late_finished_callbacks():
    request = Request.blank("/")
    panel = RedisSessionPanel(request)
    assert panel.wrap_handler(lambda r: "response")(request) == "response"
    seen: List[bool] = []
    # Registered after the panel's own callback (as by a session first used in a response callback).
    request.add_finished_callback(lambda r: seen.append(panel.finished))
    request._process_finished_callbacks()
    assert seen == [False] and panel.finished


def test_the_panel_does_not_wait_forever_for_callbacks_that_keep_coming():
    request = Request.blank("/")
    panel = RedisSessionPanel(request)
    panel.wrap_handler(lambda r: None)(request)
    calls: List[int] = []

    def endless(r: Any) -> None:
        calls.append(1)
        if len(calls) < 50:
            r.add_finished_callback(endless)

    request.add_finished_callback(endless)
    request._process_finished_callbacks()
    assert panel.finished and len(calls) == 50


def test_a_value_that_cannot_be_printed_does_not_break_the_page():
    class Unprintable:
        def __repr__(self) -> str:
            raise ValueError("no repr")

    request = Request.blank("/")
    panel = RedisSessionPanel(request)
    panel.trace.data = {"x": Unprintable()}
    html = panel.render_content(request)
    assert "&lt;unprintable Unprintable: ValueError(&#x27;no repr&#x27;)&gt;" in html


def test_the_package_does_not_need_pyramid_debugtoolbar():
    code = (
        "import sys; sys.modules['pyramid_debugtoolbar'] = None\n"  # importing it now raises ImportError
        "import pyramid_session_redis, pyramid_session_redis.trace\n"
        "assert 'pyramid_session_redis.debugtoolbar' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
