"""The command line as a whole (``cli/parser.py``): options, exit statuses, ``python -m``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from pyramid_session_redis.cookies import SessionIdSigner

from .app import SECRET, make_app
from .cli_helpers import PREFIX, REPO, new_session, prefixed_keys, run, write_ini


def test_ids_and_cookie_values_that_start_with_a_dash_are_not_taken_for_options(ini, redis_server, redis_client, capsys):
    signer = SessionIdSigner(SECRET)
    # base64url: one id or cookie value in 64 starts with "-"; find such ones, deterministically.
    dashed_id = "-" + "a" * 42
    plain_id = next(f"id{i}" for i in range(10_000) if signer.dumps(f"id{i}").startswith(b"-"))
    for session_id in (dashed_id, plain_id):
        new_session(make_app(redis_server.url, prefix=PREFIX, id_generator=lambda s=session_id: s))
    cookie = signer.dumps(plain_id).decode()

    status, out, err = run(capsys, ini, "show", dashed_id)
    assert (status, err) == (0, "")
    assert out.startswith(f"session:  {dashed_id}\n")
    status, out, _ = run(capsys, ini, "show", cookie, "--prefix", PREFIX)  # an option after it still counts
    assert status == 0
    assert out.startswith(f"session:  {plain_id}  (from a cookie value")
    status, out, _ = run(capsys, ini, "delete", "--", cookie)  # the explicit way works too
    assert (status, out.split(" (")[0]) == (0, f"deleted session {plain_id}")
    status, _, _ = run(capsys, ini, "delete", dashed_id)
    assert status == 0
    assert prefixed_keys(redis_client) == []


@pytest.mark.parametrize("command", [["stats"], ["show", "some-id"], ["delete", "some-id"], ["purge", "--yes"]])
def test_unreachable_redis_is_one_line_and_exit_status_3(tmp_path, command, capsys):
    path = write_ini(tmp_path, redis_url="redis://127.0.0.1:1/0", prefix=PREFIX, secret=SECRET,
                     redis_socket_connect_timeout="1")
    status, out, err = run(capsys, path, *command)
    assert (status, out) == (3, "")
    assert re.fullmatch(
        r"pyramid-session-redis: Redis error at redis://127\.0\.0\.1:1/0, db 0: ConnectionError: "
        r"Error 111 connecting to 127\.0\.0\.1:1\. Connection refused\.\n", err,
    ), err


@pytest.mark.parametrize(
    "setup, argv, message",
    [
        ("missing", ["stats"], "cannot read the settings of "),
        ("section", ["stats"], "cannot read the settings of "),
        ("unknown", ["stats"], "unknown session option 'redis.sessions.prefx'; did you mean 'redis.sessions.prefix'?"),
        ("bad", ["stats"], "redis.sessions.timeout = 'soon' is not valid"),
        ("cluster-db", ["stats"], "redis.sessions.redis_db must be 0 with redis.sessions.redis_cluster"),
        ("tls", ["stats"], "redis_ssl_ca_certs is set but the connection to Redis does not use TLS"),
        ("good", ["stats", "--batch", "0"], "argument --batch: 0 is not >= 1"),
        ("good", ["stats", "--batch", "many"], "argument --batch: 'many' is not a whole number"),
        ("good", ["frobnicate"], "invalid choice: 'frobnicate'"),
        ("good", [], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_and_settings_errors_exit_2_naming_the_setting(tmp_path, redis_server, setup, argv, message, capsys):
    settings = {"redis_url": redis_server.url, "secret": SECRET}
    extra = {
        "unknown": {"prefx": "x:"},
        "bad": {"timeout": "soon"},
        "cluster-db": {"redis_cluster": "true", "redis_db": "1"},
        "tls": {"redis_ssl_ca_certs": "/ca.pem"},
    }.get(setup, {})
    path = write_ini(tmp_path, **settings, **extra)
    if setup == "missing":
        path = str(tmp_path / "nowhere.ini")
    elif setup == "section":
        path += "#nosuchsection"
    status, out, err = run(capsys, path, *argv)
    assert (status, out) == (2, "")
    assert message in err
    assert "Traceback" not in err


def test_help_exits_0_and_lists_the_commands(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for command in ("stats", "show", "delete", "purge", "config_uri"):
        assert command in out


def test_the_package_runs_main_when_run_as_a_module(monkeypatch, capsys):
    """What ``python -m pyramid_session_redis.cli`` runs, in this process (the test below runs it for real)."""
    import importlib

    monkeypatch.setattr(sys, "argv", ["pyramid-session-redis", "--help"])
    # (Imported, not run with runpy: with this package's pytest11 entry point
    # installed, pytest's assertion rewriting owns the package's modules, and
    # runpy cannot ask its loader for their code.)
    monkeypatch.delitem(sys.modules, "pyramid_session_redis.cli.__main__", raising=False)
    with pytest.raises(SystemExit) as exited:
        importlib.import_module("pyramid_session_redis.cli.__main__")
    assert exited.value.code == 0
    assert "config_uri" in capsys.readouterr().out


def test_python_dash_m_runs_stats_end_to_end(ini, redis_server, redis_client):
    app = make_app(redis_server.url, prefix=PREFIX)
    for _ in range(7):
        new_session(app)
    # Pyramid 2.0/2.1 import pkg_resources, which setuptools >= 80 (what a Python 3.12+
    # venv gets, having no bundled setuptools) warns about on stderr; not ours to check.
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "PYTHONWARNINGS": "ignore:pkg_resources is deprecated as an API:UserWarning"}
    done = subprocess.run(
        [sys.executable, "-m", "pyramid_session_redis.cli", ini, "stats", "--json"],
        capture_output=True, text=True, timeout=60, cwd=str(REPO), env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)["sessions"] == 7

    done = subprocess.run(
        [sys.executable, "-m", "pyramid_session_redis.cli", ini, "show", "nope"],
        capture_output=True, text=True, timeout=60, cwd=str(REPO), env=env,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("pyramid-session-redis: no session 'nope'")
