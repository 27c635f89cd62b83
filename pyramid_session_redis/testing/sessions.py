"""Reading and setting sessions from an application's tests.

For WebTest: ``session_of(testapp)`` is the session the test client's cookie
points to, and ``set_session(testapp, data)`` gives the client a session
holding ``data`` (stored, with its signed cookie in the client's jar), so a
test can start logged in without going through the login form.

For ``pyramid.testing.DummyRequest`` (or any request a test builds):
``attach_session(request, factory, data)`` puts a real session on
``request.session``, and ``finish_request(request)`` runs the callbacks
Pyramid's router would, which set the cookie and write the session.

Below these, for any other client: ``store_session(factory, data)`` stores a
session and returns its id, ``signed_cookie(factory, session_id)`` is the
cookie value for it, and ``read_session(factory, session_id)`` what is
stored.  They read without side effects (no TTL is refreshed) and tell the
factory's hooks nothing.  Nothing here needs WebTest or pytest installed.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from pyramid.interfaces import ISessionFactory
from pyramid.request import Request
from pyramid.response import Response
from webob.cookies import parse_cookie

from .. import lifecycle
from .. import payload as payload_format
from ..factory import SessionFactory
from ..resolved import Hooks
from ..session import RedisSession
from ..store import Store

__all__ = [
    "attach_session",
    "factory_of",
    "finish_request",
    "read_session",
    "session_id_of",
    "session_of",
    "set_session",
    "signed_cookie",
    "store_session",
]


def factory_of(testapp: Any) -> SessionFactory:
    """The session factory of the Pyramid application a WebTest ``TestApp`` wraps.

    Found in the application's registry, where ``config.set_session_factory``
    or ``config.include("pyramid_session_redis")`` put it.  An application
    wrapped in WSGI middleware has no registry to look in: give the factory
    to the helpers (``factory=``) instead.
    """
    app = getattr(testapp, "app", testapp)
    registry = getattr(app, "registry", None)
    if registry is None:
        raise TypeError(
            f"cannot find a Pyramid registry on {type(app).__name__} (WSGI middleware around the "
            "Pyramid app?): pass the session factory, factory=..."
        )
    factory = registry.queryUtility(ISessionFactory)
    if not isinstance(factory, SessionFactory):
        found = "no session factory" if factory is None else f"the session factory {factory!r}"
        raise TypeError(f"the application has {found}, not one of pyramid_session_redis: pass factory=...")
    return factory


def _store(factory: SessionFactory) -> Store:
    if factory.store is not None:
        return factory.store
    # redis_client_callable: the factory builds a store per request, from the request.
    return factory._callable_store(Request.blank("/"))


def signed_cookie(factory: SessionFactory, session_id: str) -> str:
    """The value of the cookie that leads ``factory``'s sessions to ``session_id``."""
    value = factory.settings.cookies.signer.dumps(session_id)
    return value.decode("ascii") if isinstance(value, bytes) else value


def store_session(factory: SessionFactory, data: Dict[str, Any]) -> str:
    """Store a new session holding ``data`` (even an empty one) and return its id.

    Written as a request's ``do_persist()`` writes it: same serializer, expiry
    and TTL.  The factory's hooks are not told (a new session would be
    reported to ``func_invalid_logger`` as having no cookie).
    """
    session = RedisSession(Request.blank("/"), factory.settings, _store(factory), Hooks())
    session.update(data)
    session.do_persist()
    return session.ensure_id()


def read_session(factory: SessionFactory, session_id: str) -> Optional[Dict[str, Any]]:
    """What is stored in session ``session_id``; None when there is no such session.

    A session whose expiry (kept in the payload with ``python_expires``) has
    passed counts as none, as it would for the application.  The read is a
    plain GET: unlike a request's read, it leaves the TTL as it was.  A payload
    that cannot be decoded raises, where a request would start a new session.
    """
    raw = _store(factory).load(session_id)
    if raw is None:
        return None
    stored = payload_format.decode(factory.settings.deserialize(raw))
    expires = stored.expires if factory.settings.rules.track_expiry else None
    if expires is not None and lifecycle.current_time() >= expires:
        return None
    return stored.data


def session_id_of(testapp: Any, factory: Optional[SessionFactory] = None) -> Optional[str]:
    """The session id in the client's cookie; None without a cookie or with one that does not verify."""
    factory = factory or factory_of(testapp)
    name = factory.settings.cookies.name
    value = testapp.cookies.get(name)
    if value is None:
        return None
    # As the application reads it: WebTest's set_cookie() stores values quoted.
    unquoted = dict(parse_cookie(f"{name}={value}")).get(name.encode("utf-8"), b"")
    session_id, _ = factory.settings.cookies.verify_value(unquoted.decode("utf-8", "replace"))
    return session_id


def session_of(testapp: Any, factory: Optional[SessionFactory] = None) -> Dict[str, Any]:
    """The session the client's cookie points to, as a dict: what the next
    request's ``request.session`` will hold.  ``{}`` when the client has no
    session (no cookie, a cookie that does not verify, or a session that ended).
    """
    factory = factory or factory_of(testapp)
    session_id = session_id_of(testapp, factory)
    if session_id is None:
        return {}
    return read_session(factory, session_id) or {}


def set_session(testapp: Any, data: Dict[str, Any], factory: Optional[SessionFactory] = None) -> str:
    """Give the client a new session holding ``data``; return its id.

    The session is stored, and its signed cookie replaces any session cookie
    in the client's jar.  The client's previous session, if any, is left in
    the store, as a browser's would be when its cookie is replaced.
    """
    factory = factory or factory_of(testapp)
    session_id = store_session(factory, data)
    name = factory.settings.cookies.name
    jar = testapp.cookiejar
    for cookie in [c for c in jar if c.name == name]:
        jar.clear(cookie.domain, cookie.path, cookie.name)
    testapp.set_cookie(name, signed_cookie(factory, session_id))
    return session_id


def attach_session(request: Any, factory: SessionFactory, data: Optional[Dict[str, Any]] = None) -> RedisSession:
    """Give a test's request (``pyramid.testing.DummyRequest``, say) a real session.

    With ``data``, a session holding it is stored first and the request
    carries its cookie, as a returning visitor's would; without, the request
    is a new visitor's.  The session is set as ``request.session`` and
    returned.  Nothing is written until ``finish_request(request)`` (or the
    session's ``do_persist()``).
    """
    if data is not None:
        request.cookies[factory.settings.cookies.name] = signed_cookie(factory, store_session(factory, data))
    session = factory(request)
    request.session = session
    return session


def finish_request(request: Any, response: Any = None) -> Any:
    """Run the request's response and finished callbacks, as Pyramid's router
    does after a view: the session's cookie goes on ``response`` (a new empty
    ``Response`` if none is given) and the session is written.  Returns the
    response."""
    if response is None:
        response = Response()
    request._process_response_callbacks(response)
    request._process_finished_callbacks()
    return response
