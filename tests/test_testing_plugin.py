"""The pytest plugin for applications' tests (``pyramid_session_redis.testing.pytest_plugin``)
and its switch (``_pyramid_session_redis_pytest``, the ``pytest11`` entry point), run as a
user would run them: pytester writes a small project's tests and runs pytest on them."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pyramid_session_redis.testing import pytest_plugin
from pyramid_session_redis.testing.servers import find_redis_server

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "pyramid_session_redis.testing.pytest_plugin"
ENTRY = "_pyramid_session_redis_pytest"
needs_redis = pytest.mark.skipif(find_redis_server() is None, reason="needs a redis-server binary")

# A user's tests: an app whose session is in the plugin's Redis, and tests that use it.
USER_TESTS = '''
import pytest
from pyramid.config import Configurator
from pyramid.response import Response
from webtest import TestApp

from pyramid_session_redis.testing import session_of, set_session


def incr(request):
    request.session["n"] = request.session.get("n", 0) + 1
    return Response(str(request.session["n"]))


@pytest.fixture
def app(session_redis_url):
    config = Configurator(settings={
        "redis.sessions.secret": "test",
        "redis.sessions.redis_url": session_redis_url,
    })
    config.include("pyramid_session_redis")
    config.add_route("incr", "/")
    config.add_view(incr, route_name="incr")
    return TestApp(config.make_wsgi_app())


def test_first(app, session_redis_client):
    assert app.get("/").text == "1"
    assert session_of(app) == {"n": 1}
    assert session_redis_client.dbsize() == 1


def test_the_server_is_emptied_between_tests(app, session_redis_client):
    assert session_redis_client.dbsize() == 0
    set_session(app, {"n": 41})
    assert app.get("/").text == "42"
'''


@pytest.fixture(autouse=True)
def no_autoload(monkeypatch):
    """The runs below load the entry point with ``-p``, as pytest loads it from an
    installed package, and no other plugin: the same whether or not the package
    in this environment was installed with the entry point."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def _fake_redis_server(pytester: pytest.Pytester, log: Path, name: str = "logging-redis-server") -> str:
    """A redis-server that notes each start in ``log``, then is the real one."""
    real = find_redis_server()
    script = pytester.path / name
    script.write_text(f'#!/bin/sh\necho started >> "{log}"\nexec "{real}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


# -- off unless asked for -----------------------------------------------------------


def test_the_entry_point_alone_registers_no_fixture(pytester):
    pytester.makepyfile(test_user="def test_it(session_redis_server):\n    pass\n")
    result = pytester.runpytest("-p", ENTRY)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'session_redis_server' not found*"])
    assert "memory_session_factory" not in result.stdout.str()  # not even listed as available


def test_the_entry_point_adds_only_its_switch_to_pytest_help(pytester):
    result = pytester.runpytest("-p", ENTRY, "--help")
    assert re.search(r"pyramid_session_redis_fixtures \(bool\):", result.stdout.str())
    assert "pyramid_session_redis_server_bin" not in result.stdout.str()


@needs_redis
@pytest.mark.parametrize("how", ["ini switch", "pyproject.toml switch", "-p", "pytest_plugins in conftest.py"])
def test_the_fixtures_are_there_when_asked_for(pytester, how):
    pytester.makepyfile(test_user=USER_TESTS)
    args = ["-p", ENTRY]  # as the installed entry point is
    if how == "ini switch":
        pytester.makeini("[pytest]\npyramid_session_redis_fixtures = true\n")
    elif how == "pyproject.toml switch":
        pytester.makepyprojecttoml("[tool.pytest.ini_options]\npyramid_session_redis_fixtures = true\n")
    elif how == "-p":
        args += ["-p", PLUGIN]
    else:
        pytester.makeconftest(f"pytest_plugins = [{PLUGIN!r}]\n")
    pytester.runpytest(*args).assert_outcomes(passed=2)


@needs_redis
def test_asking_twice_loads_the_plugin_once(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    pytester.makeini("[pytest]\npyramid_session_redis_fixtures = true\n")
    pytester.makeconftest(f"pytest_plugins = [{PLUGIN!r}]\n")
    pytester.runpytest("-p", ENTRY, "-p", PLUGIN).assert_outcomes(passed=2)


def test_the_switch_off_is_the_default_and_false_is_off(pytester):
    pytester.makepyfile(test_user="def test_it(memory_session_factory):\n    pass\n")
    pytester.makeini("[pytest]\npyramid_session_redis_fixtures = false\n")
    pytester.runpytest("-p", ENTRY).assert_outcomes(errors=1)


# -- the redis-server: started once, and only when a test asks ------------------------


@needs_redis
def test_redis_server_starts_once_per_run_and_only_when_asked_for(pytester, monkeypatch):
    log = pytester.path / "starts.log"
    monkeypatch.setenv("REDIS_SERVER_BIN", _fake_redis_server(pytester, log))
    pytester.makepyfile(test_memory="def test_it(memory_session_factory):\n    assert memory_session_factory\n")
    pytester.runpytest("-p", PLUGIN, "test_memory.py").assert_outcomes(passed=1)
    assert not log.exists()  # no test asked for Redis: no server was started

    pytester.makepyfile(test_user=USER_TESTS)
    pytester.runpytest("-p", PLUGIN).assert_outcomes(passed=3)
    assert log.read_text() == "started\n"


@needs_redis
def test_the_ini_option_names_the_binary_and_redis_server_bin_wins_over_it(pytester, monkeypatch):
    ini_log, env_log = pytester.path / "ini.log", pytester.path / "env.log"
    pytester.makeini(f"[pytest]\npyramid_session_redis_server_bin = {_fake_redis_server(pytester, ini_log)}\n")
    pytester.makepyfile(test_user="def test_it(session_redis_server):\n    assert session_redis_server.client().ping()\n")
    monkeypatch.delenv("REDIS_SERVER_BIN", raising=False)
    pytester.runpytest("-p", PLUGIN).assert_outcomes(passed=1)
    assert ini_log.read_text() == "started\n"

    monkeypatch.setenv("REDIS_SERVER_BIN", _fake_redis_server(pytester, env_log, "env-redis-server"))
    pytester.runpytest("-p", PLUGIN).assert_outcomes(passed=1)
    assert env_log.read_text() == "started\n" and ini_log.read_text() == "started\n"


def test_without_a_redis_server_the_tests_that_need_one_skip_saying_why(pytester, monkeypatch):
    monkeypatch.delenv("REDIS_SERVER_BIN", raising=False)
    monkeypatch.setattr(pytest_plugin, "find_redis_server", lambda: None)
    pytester.makepyfile(test_user=USER_TESTS + "\n\ndef test_memory(memory_session_factory):\n    pass\n")
    result = pytester.runpytest("-p", PLUGIN, "-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*no redis-server binary found for the session_redis_server fixture: install one*"])


def test_a_binary_named_explicitly_but_missing_is_an_error_not_a_skip(pytester, monkeypatch):
    monkeypatch.setenv("REDIS_SERVER_BIN", str(pytester.path / "no-such-redis-server"))
    pytester.makepyfile(test_user="def test_it(session_redis_url):\n    pass\n")
    result = pytester.runpytest("-p", PLUGIN)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*FileNotFoundError*no-such-redis-server*"])


# -- the factories -----------------------------------------------------------------


def test_memory_session_factory_is_empty_for_each_test_and_needs_no_redis(pytester, monkeypatch):
    monkeypatch.setattr(pytest_plugin, "find_redis_server", lambda: None)
    pytester.makepyfile(test_user='''
        from pyramid.testing import DummyRequest
        from pyramid_session_redis.memory import memory_data
        from pyramid_session_redis.testing import attach_session, finish_request, read_session

        def test_one(memory_session_factory):
            request = DummyRequest()
            attach_session(request, memory_session_factory)["a"] = 1
            finish_request(request)
            assert read_session(memory_session_factory, request.session.session_id) == {"a": 1}
            assert len(list(memory_data(memory_session_factory.options["redis_url"]).keys())) == 1

        def test_two(memory_session_factory):
            assert list(memory_data(memory_session_factory.options["redis_url"]).keys()) == []
    ''')
    pytester.runpytest("-p", PLUGIN).assert_outcomes(passed=2)


@needs_redis
def test_session_options_can_be_overridden_by_the_project(pytester):
    pytester.makeconftest('''
        import pytest

        @pytest.fixture
        def session_options():
            return {"secret": "the project's test secret", "prefix": "shop:", "cookie_name": "sid"}
    ''')
    pytester.makepyfile(test_user='''
        from pyramid_session_redis.testing import store_session

        def test_redis(redis_session_factory, session_redis_client):
            session_id = store_session(redis_session_factory, {"a": 1})
            assert session_redis_client.keys() == [b"shop:" + session_id.encode()]
            assert redis_session_factory.settings.cookies.name == "sid"

        def test_memory(memory_session_factory):
            assert memory_session_factory.options["prefix"] == "shop:"
    ''')
    pytester.runpytest("-p", PLUGIN).assert_outcomes(passed=2)


# -- the entry point, as pip installs it ------------------------------------------------


def test_loading_the_entry_point_imports_neither_the_package_nor_pyramid():
    # pytest loads it in every run; pytest-cov starts measuring only afterwards.
    code = "import sys, _pyramid_session_redis_pytest; print(sorted({m.split('.')[0] for m in sys.modules}))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = done.stdout
    assert "'_pyramid_session_redis_pytest'" in loaded and "'pytest'" in loaded
    for package in ("pyramid_session_redis", "pyramid", "redis", "webob"):
        assert f"'{package}'" not in loaded


def test_the_package_declares_the_entry_point():
    # setup.py today; pyproject.toml's [project.entry-points.pytest11] once the metadata moves there.
    declared = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "setup.py", ROOT / "pyproject.toml") if p.exists())
    assert re.search(r'pytest11.{0,200}?\bpyramid_session_redis\s*=\s*"?' + re.escape(ENTRY) + '"', declared, re.S)


@needs_redis
def test_pytest_loads_the_entry_point_of_an_installed_distribution(pytester, monkeypatch):
    # A distribution with this entry point on sys.path, as pip would leave it:
    # pytest finds it with importlib.metadata, as it does the installed package's.
    site = pytester.path / "site"
    dist = site / "psr_entry_probe-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: psr-entry-probe\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[pytest11]\npyramid_session_redis = {ENTRY}\n")
    pytester.makepyfile(test_user=USER_TESTS)
    pytester.makeini("[pytest]\npyramid_session_redis_fixtures = true\n")
    env_path = os.pathsep.join([str(site), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    monkeypatch.setenv("PYTHONPATH", env_path)
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    # ... and -p no:NAME turns it off, as for any plugin.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:pyramid_session_redis")
    result.assert_outcomes(errors=2)
