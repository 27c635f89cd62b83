"""Sessions built as the factory builds them, outside a WSGI app, and small
recorders: for the tests of one module at a time (persist, loading, store...)."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional

from pyramid.request import Request

from pyramid_session_redis import RedisSessionFactory
from pyramid_session_redis.factory import SessionFactory
from pyramid_session_redis.session import RedisSession

from .app import SECRET, make_app


def factory_for(url: str, **options: Any) -> SessionFactory:
    options.setdefault("secret", SECRET)
    return RedisSessionFactory(redis_url=url, **options)


def signed(factory: SessionFactory, session_id: str) -> str:
    """The cookie value the factory sets for ``session_id``."""
    value = factory.settings.cookies.signer.dumps(session_id)
    return value.decode("ascii") if isinstance(value, bytes) else value


def make_request(cookie: Optional[str] = None) -> Request:
    """A Pyramid request, with ``session=cookie`` when a cookie is given."""
    return Request.blank("/", headers={"Cookie": f"session={cookie}"} if cookie is not None else {})


def new_session(factory: SessionFactory) -> RedisSession:
    return factory(make_request())


def stored_session(factory: SessionFactory, data: Dict[str, Any]) -> str:
    """Store a session holding ``data`` (as ``do_persist()`` does); its id."""
    session = new_session(factory)
    session.update(data)
    session.do_persist()
    assert session.session_id is not None
    return session.session_id


def loaded_session(factory: SessionFactory, session_id: str) -> RedisSession:
    """The session a request with the cookie of ``session_id`` has, loaded."""
    session = factory(make_request(signed(factory, session_id)))
    assert not session.new, "the stored session was not found"
    return session


class Reports(list):
    """A hook (``func_*_logger``) that keeps what it was told."""

    def __call__(self, request: Any, exc: Exception) -> None:
        assert request is not None
        self.append(exc)


class Ids:
    """An ``id_generator`` that hands out ``queue`` first, then ``fallback-N`` ids."""

    def __init__(self) -> None:
        self.queue: List[str] = []
        self.drawn = 0

    def __call__(self) -> str:
        self.drawn += 1
        return self.queue.pop(0) if self.queue else f"fallback-{self.drawn}"


# -- a WebTest app with one extra view ----------------------------------------------


def run(redis_server: Any, view: Callable[[Any], Any], **options: Any) -> Any:
    """An app with one extra view at /v, which calls ``view(session)`` and shows its repr; the TestApp."""

    def wrapped(request: Any) -> Any:
        result = view(request.session)
        response = request.response
        response.text = repr(result)
        return response

    return make_app(redis_server.url, views={"v": wrapped}, **options)


def payload(redis_client: Any) -> Dict[str, Any]:
    """The decoded JSON payload of the one key in Redis."""
    (key,) = redis_client.keys("*")
    result: Dict[str, Any] = json.loads(redis_client.get(key))
    return result
