"""The demo's pages: a visit counter, flash messages, logging in and out, and the session page.

Every form posts back with the session's CSRF token (``require_csrf=True``
on its view: a missing or wrong token is a 400), and every POST answers with
a redirect, so that reloading a page never sends a form twice.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPFound
from pyramid.interfaces import ISessionFactory
from pyramid.request import Request
from pyramid.response import Response

from pyramid_session_redis.exceptions import SessionBackendError

from . import pages
from .requestlog import commands_so_far, request_log

log = logging.getLogger(__name__)


def home(request: Request) -> Response:
    session = request.session
    visits = session.get("visits", 0) + 1
    session["visits"] = visits
    if visits == 1:
        session.flash("Welcome! This session lives in Redis.")
    return Response(
        pages.home_page(
            request,
            user=session.get("user"),
            visits=visits,
            flashes=session.pop_flash(),
            csrf_token=session.get_csrf_token(),
        )
    )


def say(request: Request) -> HTTPFound:
    message = request.POST.get("message", "").strip()[:200]
    if message:
        request.session.flash(message)
    return HTTPFound(location=request.route_url("home"))


def login(request: Request) -> HTTPFound:
    # A demo: any name logs in.  A real site checks a password here.
    user = " ".join(request.POST.get("user", "").split())[:40]
    session = request.session
    if not user:
        session.flash("Give a user name to log in.")
        return HTTPFound(location=request.route_url("home"))
    # A new id whenever privileges change, before storing the user: an id that
    # was planted in the browser or seen before the login (session fixation)
    # now leads nowhere.  The contents move to the new id; the old key is deleted,
    # and the CSRF token is replaced: one learned before the login is worthless.
    session.regenerate_id()
    session["user"] = user
    session.flash(f"Welcome, {user}! You are logged in, and your session has a new id.")
    log.info("logged in: %r", user)
    return HTTPFound(location=request.route_url("home"))


def logout(request: Request) -> HTTPFound:
    session = request.session
    # invalidate(), not regenerate_id(): logging out should leave nothing of the
    # logged-in session behind.  Its contents (the user, the visit count, the
    # CSRF token) are dropped and its key deleted; the goodbye below goes into
    # a fresh session with a new id.  regenerate_id() would carry everything
    # over to a new id: right at login, where the visitor stays and gains
    # privileges, but here it would keep the user's data around after they left.
    session.invalidate()
    session.flash("You are logged out.")
    return HTTPFound(location=request.route_url("home"))


def session_ttl(request: Request, session_id: str) -> Optional[int]:
    """The TTL of the session's key, as Redis's TTL answers (-2: no such key).

    The demo's own extra command: it goes through the factory's shared store,
    not the traced one this request's session uses, so it is not in the log.
    None when the factory has no shared store (``redis_client_callable``).
    """
    factory: Any = request.registry.queryUtility(ISessionFactory)
    store = getattr(factory, "store", None)
    if store is None:
        return None
    key = store.prefix + session_id
    if store.client is not None:
        return int(store.client.ttl(key))
    return int(store.data.ttl(key))  # memory://: the in-process store answers the same way


def session_page(request: Request) -> Response:
    session = request.session
    contents = dict(session.items())  # loads the session: the GETEX listed on the page
    session_id = session.session_id
    process_log = request_log(request)
    return Response(
        pages.session_page(
            request,
            session_id=session_id,
            ttl=session_ttl(request, session_id) if session_id else None,
            contents=contents,
            commands_so_far=commands_so_far(request),
            log=process_log.newest_first() if process_log is not None else None,
        )
    )


def add_demo_views(config: Configurator) -> None:
    """The demo's routes and views (the load test serves them too, next to its own)."""
    config.add_route("home", "/")
    config.add_route("session", "/session")
    config.add_route("say", "/say", request_method="POST")
    config.add_route("login", "/login", request_method="POST")
    config.add_route("logout", "/logout", request_method="POST")
    config.add_view(home, route_name="home")
    config.add_view(session_page, route_name="session")
    config.add_view(say, route_name="say", require_csrf=True)
    config.add_view(login, route_name="login", require_csrf=True)
    config.add_view(logout, route_name="logout", require_csrf=True)


def redis_failed(exc: SessionBackendError, request: Request) -> Response:
    """Redis did not answer: a page that says so (503), instead of a bare error page.
    (The demo's own exception view, added by ``demo.main``: the load test has its own.)"""
    log.error("sessions unavailable: %s", exc)
    return Response(pages.redis_failed_page(request, str(exc)), status=503)
