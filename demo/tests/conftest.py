"""The demo's own tests, written as any Pyramid project's can be: with
pyramid_session_redis's pytest fixtures (docs/testing.rst) for a private
redis-server, and its helpers to read and set a test client's session.

Run them from the repository's root: ``python -m pytest demo/tests``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pyramid.paster import get_appsettings
from webtest import TestApp

import demo

pytest_plugins = ["pyramid_session_redis.testing.pytest_plugin"]

INI = str(Path(__file__).resolve().parent.parent / "development.ini")


@pytest.fixture
def app(session_redis_url: str) -> TestApp:
    """The demo as development.ini configures it, its sessions in the private redis-server
    (``redis_url`` given as pserve's command line would give it)."""
    settings = get_appsettings(INI, options={"redis_url": session_redis_url})
    return TestApp(demo.main({}, **settings))
