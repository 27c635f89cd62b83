"""pyramid_session_redis's ``pytest11`` entry point: a switch, and nothing else.

pytest loads this module in every run where pyramid_session_redis is
installed.  It adds one ini key and registers no fixture, so installing the
package changes nothing in anybody's tests.  With
``pyramid_session_redis_fixtures = true`` in the pytest configuration, it
loads the fixtures (``pyramid_session_redis.testing.pytest_plugin``), as
``-p pyramid_session_redis.testing.pytest_plugin`` would.

It is a top-level module, not part of the package, so that loading it does
not import pyramid_session_redis (nor Pyramid and redis-py): that happens only
in runs that turn the fixtures on, after coverage measurement has started.
"""

from __future__ import annotations

import pytest

SWITCH_INI = "pyramid_session_redis_fixtures"
PLUGIN = "pyramid_session_redis.testing.pytest_plugin"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(SWITCH_INI, f"load pyramid_session_redis's session and redis-server fixtures ({PLUGIN})",
                  type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    if config.getini(SWITCH_INI):
        # (import_plugin does nothing when -p or pytest_plugins already loaded it,
        # and respects -p no:pyramid_session_redis.testing.pytest_plugin.)
        config.pluginmanager.import_plugin(PLUGIN)
