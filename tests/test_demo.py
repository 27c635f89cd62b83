"""The demo project works end to end against a real Redis.

Its pages through webtest (the app built by ``demo.main`` with the settings
of ``demo/development.ini``), then the real thing: ``pserve
demo/development.ini`` and ``python -m demo`` as servers, over HTTP.
"""

from __future__ import annotations

import configparser
import http.cookiejar
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import redis
from webtest import TestApp

import demo
from demo import __main__ as demo_main
from pyramid_session_redis.testing.servers import find_redis_server, free_port

ROOT = Path(__file__).resolve().parent.parent
INI = ROOT / "demo" / "development.ini"
PSERVE = Path(sys.executable).with_name("pserve")


def ini_settings(**variables: str) -> Dict[str, str]:
    """The ``[app:main]`` settings of development.ini, as PasteDeploy hands them to ``main``.

    ``get name = variable`` takes the variable from ``variables`` (the pserve
    command line) or else from ``[DEFAULT]``; ``use`` is PasteDeploy's own.
    """
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment]
    parser.read(INI)
    defaults = dict(parser.defaults(), **variables)
    settings = {}
    for key, value in parser.items("app:main"):
        if key.startswith("get "):
            settings[key[4:].strip()] = defaults[value]
        elif key not in parser.defaults() and key != "use":
            settings[key] = value
    return settings


def demo_app(redis_url: str) -> TestApp:
    return TestApp(demo.main({}, **ini_settings(redis_url=redis_url)))


def csrf_token(page: Any) -> str:
    return str(page.html.find("input", attrs={"name": "csrf_token"})["value"])


def stored(client: redis.Redis, session_id: str) -> Optional[Dict[str, Any]]:
    """What the application keeps in session ``session_id`` (None: no such key)."""
    raw = client.get(session_id)
    return None if raw is None else dict(json.loads(raw)["m"])


def only_key(client: redis.Redis) -> str:
    keys = client.keys("*")
    assert len(keys) == 1, keys
    return str(keys[0].decode())


# -- the pages, through webtest ------------------------------------------------


def test_the_settings_are_those_of_development_ini():
    settings = ini_settings(redis_url="redis://example:1/2")
    assert settings["redis.sessions.redis_url"] == "redis://example:1/2"
    assert ini_settings()["redis.sessions.redis_url"] == "redis://127.0.0.1:6379/0"
    assert settings["redis.sessions.timeout"] == "1200" and settings["redis.sessions.secret"]


def test_counts_visits_and_flashes_the_welcome_once(redis_server, redis_client):
    app = demo_app(redis_server.url)
    first = app.get("/")
    assert '<strong id="visits">1</strong>' in first.text and "Welcome! This session lives in Redis." in first.text
    second = app.get("/")
    assert '<strong id="visits">2</strong>' in second.text and "Welcome!" not in second.text
    assert stored(redis_client, only_key(redis_client)) == {"visits": 2, "_csrft_": csrf_token(second)}


def test_a_flashed_message_is_shown_once_and_escaped(redis_server, redis_client):
    app = demo_app(redis_server.url)
    token = csrf_token(app.get("/"))
    app.post("/say", {"message": "<script>alert(1)</script>", "csrf_token": token}, status=302)
    shown = app.get("/").text
    assert '<p class="flash">&lt;script&gt;alert(1)&lt;/script&gt;</p>' in shown
    assert "<script>" not in shown
    assert "alert(1)" not in app.get("/").text


@pytest.mark.parametrize("path, fields", [("/say", {"message": "forged"}), ("/login", {"user": "mallory"}), ("/logout", {})])
@pytest.mark.parametrize("token", [None, "wrong"])
def test_every_form_needs_the_csrf_token(redis_server, redis_client, path, fields, token):
    app = demo_app(redis_server.url)
    app.get("/")
    session_id = only_key(redis_client)
    before = stored(redis_client, session_id)
    app.post(path, dict(fields, **({"csrf_token": token} if token else {})), status=400)
    assert only_key(redis_client) == session_id and stored(redis_client, session_id) == before
    page = app.get("/").text
    assert "Logged in as" not in page and "forged" not in page


def test_login_gives_the_session_a_new_id_and_stores_the_user(redis_server, redis_client):
    app = demo_app(redis_server.url)
    token = csrf_token(app.get("/"))
    old_id, old_cookie = only_key(redis_client), app.cookies["session"]
    app.post("/login", {"user": "  alice\n<b>  ", "csrf_token": token}, status=302)
    new_id = only_key(redis_client)
    assert new_id != old_id and redis_client.exists(old_id) == 0
    after = stored(redis_client, new_id)
    assert after == {"_csrft_": after["_csrft_"], "visits": 1, "user": "alice <b>",
                     "_f_": ["Welcome, alice <b>! You are logged in, and your session has a new id."]}
    assert len(after["_csrft_"]) == 64 and after["_csrft_"] != token  # a token seen before the login is worthless
    assert app.cookies["session"] != old_cookie
    page = app.get("/").text
    assert '<strong id="user">alice &lt;b&gt;</strong>' in page and "Welcome, alice &lt;b&gt;!" in page
    assert '<strong id="visits">2</strong>' in page  # the contents moved to the new id


def test_login_needs_a_user_name(redis_server, redis_client):
    app = demo_app(redis_server.url)
    token = csrf_token(app.get("/"))
    app.post("/login", {"user": "   ", "csrf_token": token}, status=302)
    page = app.get("/").text
    assert "Give a user name to log in." in page and "Logged in as" not in page


def test_logout_ends_the_logged_in_session(redis_server, redis_client):
    app = demo_app(redis_server.url)
    app.post("/login", {"user": "alice", "csrf_token": csrf_token(app.get("/"))}, status=302)
    logged_in_id, old_token = only_key(redis_client), csrf_token(app.get("/"))
    app.post("/logout", {"csrf_token": old_token}, status=302)
    assert redis_client.exists(logged_in_id) == 0
    fresh_id = only_key(redis_client)  # the goodbye message's new session
    assert stored(redis_client, fresh_id) == {"_f_": ["You are logged out."]}
    page = app.get("/")
    assert "You are logged out." in page.text and "Logged in as" not in page.text
    assert page.html.find("input", attrs={"name": "user"}) is not None  # the login form again
    assert '<strong id="visits">1</strong>' in page.text
    assert csrf_token(page) != old_token  # the logged-in session's token went with it
    app.post("/logout", {"csrf_token": old_token}, status=400)


def log_entries(page: Any) -> List[Dict[str, Any]]:
    """The session page's log: request, decision and command names, newest first."""
    entries = []
    for row in page.html.find(id="log").find_all("tr")[1:]:
        request, decision, commands = row.find_all("td")
        names = [li.text.split()[0] for li in commands.find_all("li")]
        entries.append({"request": request.text, "decision": decision.text, "commands": names,
                        "text": commands.text})
    return entries


def test_the_session_page_shows_id_ttl_contents_and_commands(redis_server, redis_client):
    app = demo_app(redis_server.url)
    app.get("/")  # a new session: SET NX
    app.get("/")  # a read and a write: GETEX, then SET
    page = app.get("/session")
    session_id = only_key(redis_client)
    assert page.html.find(id="session-id").text == session_id
    ttl = int(page.html.find(id="ttl").text)
    assert 1195 <= ttl <= 1200 and abs(ttl - redis_client.ttl(session_id)) <= 1
    contents = {tr.find_all("td")[0].text: tr.find_all("td")[1].text for tr in page.html.find(id="contents").find_all("tr")[1:]}
    assert contents["visits"] == "2" and set(contents) == {"visits", "_csrft_"}
    # So far, this request has only loaded the session (the demo's TTL is not listed).
    so_far = [li.text for li in page.html.find(id="commands-so-far").find_all("li")]
    assert len(so_far) == 1 and so_far[0].startswith(f"GETEX {session_id} EX 1200 -> <")
    assert [(e["request"], e["decision"], e["commands"]) for e in log_entries(page)] == [
        ("GET /", "save", ["GETEX", "EVALSHA"]),
        ("GET /", "create", ["SET"]),
    ]
    # This request's own end shows on the next visit: it read the session and wrote nothing.
    entries = log_entries(app.get("/session"))
    assert (entries[0]["request"], entries[0]["commands"]) == ("GET /session", ["GETEX"])
    assert all("TTL" not in entry["commands"] for entry in entries)


def test_the_log_shows_only_the_start_of_session_ids_and_escapes_paths(redis_server, redis_client):
    app = demo_app(redis_server.url)
    app.get("/")
    app.get("/<script>?x=<b>", status=404)
    page = app.get("/session")
    session_id = only_key(redis_client)
    log = page.html.find(id="log")
    assert session_id not in str(log) and f"SET {session_id[:8]}... <" in log.text
    # The path arrives percent-encoded; the query string as it was sent, so escaped here.
    assert "GET <code>/%3Cscript%3E?x=&lt;b&gt;</code></td><td>none (session not used)</td>" in page.text
    assert "<script>" not in page.text and "<b>" not in page.text


def test_the_session_page_of_a_new_visitor_stores_nothing(redis_server, redis_client):
    page = demo_app(redis_server.url).get("/session")
    assert page.html.find(id="session-id").text == "none"
    assert page.html.find(id="commands-so-far").text == "none" and page.html.find(id="contents").text == "empty"
    assert redis_client.dbsize() == 0 and "Set-Cookie" not in page.headers


def test_the_session_page_reads_the_ttl_of_a_memory_store():
    app = demo_app("memory://test_demo_ttl")
    app.get("/")
    page = app.get("/session")
    assert 1199 <= int(page.html.find(id="ttl").text) <= 1200
    assert "(memory://, in process)" in page.html.find(id="commands-so-far").text


def test_the_load_test_serves_the_demo_pages_next_to_its_own(monkeypatch):
    from loadtest.app import make_app

    library_log = logging.getLogger("pyramid_session_redis")
    monkeypatch.setattr(library_log, "handlers", list(library_log.handlers))  # make_app adds one of its own
    wsgi, _ = make_app({"redis_url": "memory://test_demo_loadtest"})
    app = TestApp(wsgi)
    assert '<strong id="visits">1</strong>' in app.get("/").text
    assert app.get("/new?t=abc").text == "new abc 0"
    assert "(no log in this app)" in app.get("/session").text


# -- python -m demo: where the sessions go ---------------------------------------------


def test_demo_falls_back_to_memory_only_without_redis_server_and_says_so(monkeypatch, capsys):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(demo_main, "find_redis_server", lambda: None)
    with demo_main.redis_url() as url:
        assert url == demo_main.MEMORY_URL == "memory://demo"
    out = capsys.readouterr().out
    assert "WARNING: no redis-server found" in out and "in this process only" in out
    app = demo_app(url)
    app.get("/")
    assert '<strong id="visits">2</strong>' in app.get("/").text


def test_demo_uses_a_private_redis_server_when_one_is_installed(monkeypatch, capsys):
    monkeypatch.delenv("REDIS_URL", raising=False)
    with demo_main.redis_url() as url:
        assert url.startswith("redis://127.0.0.1:") and not url.startswith("redis://127.0.0.1:6379/")
        assert demo_app(url).get("/").status_int == 200
    out = capsys.readouterr().out
    assert "started a private redis-server" in out and "stopping the private redis-server" in out
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()


def test_demo_uses_redis_url_from_the_environment(monkeypatch, capsys, redis_server):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    with demo_main.redis_url() as url:
        assert url == redis_server.url
    assert "sessions in $REDIS_URL" in capsys.readouterr().out
    assert demo_main.pserve_argv(url, 8080) == ["pserve", str(INI), f"redis_url={url}", "http_port=8080"]


# -- real servers, over HTTP -----------------------------------------------------------


@pytest.fixture
def demo_installed() -> None:
    """pserve finds the app through the demo project's entry point."""
    try:
        metadata.distribution("pyramid_session_redis_demo")
    except metadata.PackageNotFoundError:
        pytest.fail("the demo project is not installed: `.venv/bin/pip install -e demo` (scripts/demo.sh does it)")


class Server:
    """A server started for a test in its own process group, which is gone afterwards."""

    def __init__(self, command: List[str], log: Path, env: Optional[Dict[str, str]] = None):
        self.log = log
        # This checkout's demo and package first, even for pserve (whose sys.path starts
        # with its bin directory): an editable install may point at another checkout.
        env = dict(os.environ if env is None else env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        with open(log, "wb") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                            env=env, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_listening(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited ({self.process.returncode}):\n{self.output()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"nothing listens on {port} after {timeout} s:\n{self.output()}")

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``signum`` to the server, wait for it and for every process it started."""
        self.process.send_signal(signum)
        returncode = self.process.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while self.group_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        return returncode

    def kill_leftovers(self) -> None:
        """After a failed test: what it started must not outlive it."""
        if self.group_alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def servers() -> Iterator[List[Server]]:
    started: List[Server] = []
    yield started
    for server in started:
        server.kill_leftovers()


def browser() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def visits(opener: urllib.request.OpenerDirector, port: int) -> int:
    with opener.open(f"http://127.0.0.1:{port}/", timeout=10) as response:
        page = response.read().decode()
    found = re.search(r'<strong id="visits">(\d+)</strong>', page)
    assert found, page
    return int(found.group(1))


def session_id(opener: urllib.request.OpenerDirector, port: int) -> str:
    with opener.open(f"http://127.0.0.1:{port}/session", timeout=10) as response:
        found = re.search(r'<code id="session-id">([^<]+)</code>', response.read().decode())
    assert found
    return found.group(1)


@pytest.mark.parametrize("reload", [False, True], ids=["pserve", "pserve --reload"])
def test_pserve_serves_development_ini(demo_installed, redis_server, redis_client, servers, tmp_path, reload):
    port = free_port()
    command = [str(PSERVE), str(INI.relative_to(ROOT)), f"redis_url={redis_server.url}", f"http_port={port}"]
    server = Server(command + (["--reload"] if reload else []), tmp_path / "pserve.log")
    servers.append(server)
    server.wait_listening(port)
    opener = browser()
    assert [visits(opener, port), visits(opener, port)] == [1, 2]
    assert [key.decode() for key in redis_client.keys("*")] == [session_id(opener, port)]
    assert visits(browser(), port) == 1  # another browser, another session
    assert redis_client.dbsize() == 2
    # Killed by the signal; with --reload, hupper's monitor exits with its worker's -15, as 241.
    assert server.stop(signal.SIGTERM) in (-signal.SIGTERM, 256 - signal.SIGTERM), server.output()
    assert not server.group_alive(), server.output()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


@pytest.mark.skipif(find_redis_server() is None, reason="needs a redis-server binary")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_python_m_demo_serves_with_a_private_redis_and_stops_it(demo_installed, servers, tmp_path, signum):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    server = Server([sys.executable, "-m", "demo", "--port", str(port)], tmp_path / "demo.log", env)
    servers.append(server)
    server.wait_listening(port)
    found = re.search(r"started a private redis-server at (redis://127\.0\.0\.1:\d+/0)", server.output())
    assert found, server.output()
    private = redis.Redis.from_url(found.group(1), socket_connect_timeout=1)
    opener = browser()
    assert [visits(opener, port), visits(opener, port)] == [1, 2]
    assert private.dbsize() == 1
    assert server.stop(signum) == 0, server.output()
    assert not server.group_alive()
    assert "stopping the private redis-server" in server.output()
    with pytest.raises(redis.ConnectionError):
        private.ping()

