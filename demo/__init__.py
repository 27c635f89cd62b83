"""The demo: a small Pyramid project whose sessions live in Redis.

``main`` is the WSGI app factory that ``pserve demo/development.ini`` calls
(the ``paste.app_factory`` entry point in ``demo/pyproject.toml``).  The
pages are in ``demo.views``, their HTML in ``demo.pages``, and the log of
what each request did with its session in ``demo.requestlog``.
"""

from __future__ import annotations

from typing import Any, Dict

from pyramid.config import Configurator
from pyramid.router import Router

from pyramid_session_redis.exceptions import SessionBackendError

from .views import add_demo_views, redis_failed


def main(global_config: Dict[str, Any], **settings: Any) -> Router:
    """The demo app, configured by the ``[app:main]`` section's settings."""
    with Configurator(settings=settings) as config:
        # The session factory, built from the redis.sessions.* settings.
        config.include("pyramid_session_redis")
        # Traces every request's session for the session page (a tween).
        config.include(".requestlog")
        add_demo_views(config)
        # A session Redis cannot load is a 503 page that says so.
        config.add_exception_view(redis_failed, context=SessionBackendError)
    return config.make_wsgi_app()
