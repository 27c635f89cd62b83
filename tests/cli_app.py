"""What the ini files of the command line's tests name: the application, and a custom cookie signer."""

from __future__ import annotations

from typing import Any, Dict

from pyramid.config import Configurator

from .app import VIEWS


def app_factory(global_config: Dict[str, Any], **settings: Any) -> Any:
    """The WSGI application the test ini files name (``use = call:tests.cli_app:app_factory``)."""
    config = Configurator(settings=settings)
    config.include("pyramid_session_redis")
    for name, view in VIEWS.items():
        config.add_route(name, "/" + name)
        config.add_view(view, route_name=name)
    return config.make_wsgi_app()


class ReversingSigner:
    """A custom ``cookie_signer`` (named in the ini by its dotted name): "signs" by reversing."""

    def dumps(self, session_id: str) -> bytes:
        return session_id[::-1].encode()

    def loads(self, signed: bytes) -> str:
        if signed.startswith(b"!"):
            raise ValueError("not mine")
        return signed.decode()[::-1]


REVERSING_SIGNER = ReversingSigner()
