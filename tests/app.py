"""A small Pyramid app that exercises every part of the session API, for WebTest."""

from __future__ import annotations

import contextlib
import re
from typing import Any, Dict, Iterator, Optional

import pytest
from pyramid.config import Configurator
from pyramid.response import Response
from webtest import TestApp

from pyramid_session_redis import RedisSessionFactory
from pyramid_session_redis.exceptions import SessionBackendError

SECRET = "test secret, long enough to be realistic"


class Boom(Exception):
    pass


def _text(value: Any) -> Response:
    return Response(repr(value))


def untouched(request):
    return Response("untouched")


def read(request):
    return _text(request.session.get(request.params.get("key", "k")))


def write(request):
    request.session[request.params.get("key", "k")] = request.params.get("value", "v")
    return _text(request.session.session_id_safecheck)


def incr(request):
    request.session["n"] = request.session.get("n", 0) + 1
    return _text(request.session["n"])


def nested(request):
    cart = request.session.setdefault("cart", {"n": 0})
    cart["n"] += 1  # no changed(): detect_changes must find it
    return _text(cart["n"])


def peek(request):
    return _text(dict(request.session.items()))


def touch(request):
    return _text(len(request.session))


def invalidate(request):
    request.session.invalidate()
    return Response("invalidated")


def invalidate_then_write(request):
    request.session.invalidate()
    request.session["after"] = "logout"
    return Response("invalidated and written")


def clear(request):
    request.session.clear()
    return Response("cleared")


def flash(request):
    request.session.flash(request.params.get("msg", "hello"))
    return Response("flashed")


def pop_flash(request):
    return _text(request.session.pop_flash())


def csrf(request):
    return Response(request.session.get_csrf_token())


def boom(request):
    request.session["during_error"] = True
    raise Boom()


def boom_view(exc, request):
    return Response("handled", status=500)


def cacheable(request):
    request.session["cached"] = True
    response = Response("cacheable")
    response.cache_control.max_age = 60
    return response


def ensure(request):
    return Response(request.session.ensure_id())


VIEWS = {name: fn for name, fn in globals().items() if callable(fn) and getattr(fn, "__module__", None) == __name__
         and name not in ("make_app", "make_wsgi", "boom_view", "Boom", "_text", "TestApp", "Response", "Configurator", "RedisSessionFactory")}


def make_wsgi(session_factory: Any = None, views: Optional[Dict[str, Any]] = None) -> Any:
    config = Configurator()
    if session_factory is not None:
        config.set_session_factory(session_factory)
    for name, view in {**VIEWS, **(views or {})}.items():
        config.add_route(name, "/" + name)
        config.add_view(view, route_name=name)
    config.add_view(boom_view, context=Boom)
    return config.make_wsgi_app()


def make_app(redis_url: str, views: Optional[Dict[str, Any]] = None, **options: Any) -> TestApp:
    options.setdefault("secret", SECRET)
    factory = RedisSessionFactory(redis_url=redis_url, **options)
    app = TestApp(make_wsgi(factory, views))
    app.factory = factory
    return app


@contextlib.contextmanager
def backend_failure(cause: type, match: Optional[str] = None) -> Iterator[Any]:
    """The request fails with SessionBackendError, caused by this redis-py error."""
    with pytest.raises(SessionBackendError) as caught:
        yield caught
    assert isinstance(caught.value.__cause__, cause), repr(caught.value.__cause__)
    if match is not None:
        assert re.search(match, str(caught.value.__cause__)), str(caught.value.__cause__)
