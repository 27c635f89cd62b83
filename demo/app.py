"""Demo views: a visit counter, flash messages and a CSRF-protected form."""

from __future__ import annotations

import html
from typing import Any, Dict

from pyramid.config import Configurator
from pyramid.csrf import check_csrf_token
from pyramid.httpexceptions import HTTPFound
from pyramid.response import Response

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>pyramid_session_redis demo</title></head>
<body>
<h1>pyramid_session_redis demo</h1>
{flashes}
<p>You have visited this page <strong id="visits">{visits}</strong> times in this session.</p>
<p>Session id: <code id="session-id">{session_id}</code></p>
<p>CSRF token: <code id="csrf">{csrf}</code></p>
<form method="post" action="/say">
  <input type="hidden" name="csrf_token" value="{csrf}">
  <input name="message" placeholder="a message to flash">
  <button type="submit">Flash it</button>
</form>
<form method="post" action="/logout">
  <input type="hidden" name="csrf_token" value="{csrf}">
  <button type="submit">Forget me (invalidate the session)</button>
</form>
</body></html>
"""


def home(request: Any) -> Response:
    session = request.session
    session["visits"] = session.get("visits", 0) + 1
    if session["visits"] == 1:
        session.flash("Welcome! This session lives in Redis.")
    flashes = "".join(f'<p class="flash">{html.escape(str(m))}</p>' for m in session.pop_flash())
    return Response(
        PAGE.format(
            flashes=flashes,
            visits=session["visits"],
            session_id=html.escape(session.session_id_safecheck or ""),
            csrf=session.get_csrf_token(),
        )
    )


def say(request: Any) -> Response:
    check_csrf_token(request)  # a bad or missing token is a 400
    message = request.POST.get("message", "").strip()[:200]
    if message:
        request.session.flash(message)
    return HTTPFound(location="/")


def logout(request: Any) -> Response:
    check_csrf_token(request)
    request.session.invalidate()
    return HTTPFound(location="/")


def make_app(settings: Dict[str, Any]) -> Any:
    """WSGI app; sessions come from the ``redis.sessions.*`` settings."""
    config = Configurator(settings=settings)
    config.include("pyramid_session_redis")
    add_demo_views(config)
    return config.make_wsgi_app()


def add_demo_views(config: Configurator) -> None:
    """The demo's pages (also served by the load test)."""
    config.add_route("home", "/")
    config.add_route("say", "/say", request_method="POST")
    config.add_route("logout", "/logout", request_method="POST")
    config.add_view(home, route_name="home")
    config.add_view(say, route_name="say")
    config.add_view(logout, route_name="logout")
