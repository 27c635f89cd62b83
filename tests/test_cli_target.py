"""From the ini file and the overrides to the sessions to work on (``cli/target.py``)."""

from __future__ import annotations

import json
import sys

import pytest

from pyramid_session_redis import options as option_table
from pyramid_session_redis.cli.target import describe_location, escape_glob, hide_password
from pyramid_session_redis.exceptions import InvalidSetting
from pyramid_session_redis.keyspace import Keyspace

from .app import SECRET, make_app
from .cli_app import REVERSING_SIGNER
from .cli_helpers import PREFIX, FakeTTY, new_session, run, write_ini


def test_escape_glob_escapes_exactly_the_pattern_characters():
    assert escape_glob("shop:session:") == "shop:session:"
    assert escape_glob("a*b?c[d]e\\f-^g") == "a\\*b\\?c\\[d\\]e\\\\f-^g"


def test_the_library_still_refuses_settings_without_a_secret(redis_server):
    from pyramid_session_redis import session_factory_from_settings
    from pyramid_session_redis.exceptions import InvalidSetting

    with pytest.raises(InvalidSetting, match="give exactly one of redis.sessions.secret"):
        session_factory_from_settings({"redis.sessions.redis_url": redis_server.url})


def test_secret_fallbacks_without_a_secret_is_still_a_settings_error(tmp_path, redis_server, redis_client, capsys):
    path = write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX, secret_fallbacks="old")
    status, _, err = run(capsys, path, "stats")
    assert status == 2
    assert "redis.sessions.secret" in err


def test_settings_without_a_signer_are_valid_only_when_none_is_required():
    """What the CLI asks of the library's validation instead of a stand-in signer."""
    values = option_table.validate({"redis_url": "redis://h"}, require_signer=False)
    assert values["secret"] is None and values["cookie_signer"] is None
    with pytest.raises(InvalidSetting, match="give exactly one of secret and cookie_signer"):
        option_table.validate({"secret": "s" * 32, "cookie_signer": REVERSING_SIGNER}, require_signer=False)
    with pytest.raises(InvalidSetting, match="give exactly one of secret and cookie_signer"):
        option_table.validate({"redis_url": "redis://h"})


def test_the_prompt_hides_the_password(tmp_path, redis_client, monkeypatch, capsys):
    path = write_ini(tmp_path, redis_url="redis://admin:hunter2@127.0.0.1:1/4?password=hunter3", prefix=PREFIX)
    monkeypatch.setattr(sys, "stdin", FakeTTY("no\n"))
    status, _, err = run(capsys, path, "purge", "--no-count")  # answered before any connection
    assert status == 1
    assert "in redis://admin:***@127.0.0.1:1/4?password=***, db 4: unknown keys found." in err
    assert "hunter" not in err


@pytest.mark.parametrize(
    "settings, shown",
    [
        ({"redis_host": "redis.internal", "redis_port": "6380", "redis_db": "2", "redis_password": "pw"},
         ("redis://redis.internal:6380 (with a password)", 2)),
        ({"redis_host": "redis.internal", "redis_ssl": "true"}, ("rediss://redis.internal:6379", 0)),
        ({"redis_unix_socket_path": "/run/redis.sock", "redis_db": "1"}, ("unix:///run/redis.sock", 1)),
        ({"redis_url": "unix:///run/redis.sock?db=5"}, ("unix:///run/redis.sock?db=5", 5)),
        ({"redis_url": "redis://h:6379", "redis_db": "3"}, ("redis://h:6379", 3)),
        ({"redis_url": "redis://h:7000/0", "redis_cluster": "true"}, ("redis://h:7000/0", 0)),
        ({"redis_sentinels": "s1:26379 s2:26379", "redis_sentinel_master": "mymaster"},
         ("the master 'mymaster' of the sentinels s1:26379, s2:26379", 0)),
    ],
)
def test_where_the_sessions_are_is_described_without_secrets(settings, shown):
    from pyramid_session_redis import options as option_table
    from pyramid_session_redis.factory import make_factory

    factory = make_factory({**option_table.parse_settings(
        {f"redis.sessions.{k}": v for k, v in settings.items()}), "secret": "s" * 32})
    keys = Keyspace(client_for=lambda: factory.client, cluster=factory.options["redis_cluster"])
    assert describe_location(factory.options, keys) == shown  # (nothing connects)


def test_hide_password():
    assert hide_password("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert hide_password("rediss://user:pw@h:1/0") == "rediss://user:***@h:1/0"
    assert hide_password("redis://user@h:1/0") == "redis://user@h:1/0"
    assert hide_password("redis://h:1/0?db=2&password=pw&x") == "redis://h:1/0?db=2&password=***&x"


def test_memory_stores_are_refused(tmp_path, capsys):
    path = write_ini(tmp_path, redis_url="memory://", prefix=PREFIX, secret=SECRET)
    for command in (["stats"], ["show", "x"], ["delete", "x"], ["purge", "--yes"]):
        status, out, err = run(capsys, path, *command)
        assert (status, out) == (1, "")
        assert err == (
            "pyramid-session-redis: redis.sessions.redis_url = memory://: these sessions live inside the "
            "application's own processes, where this tool cannot reach them (give --redis-url to look at a "
            "Redis server instead)\n"
        )


def test_redis_client_callable_needs_a_redis_url(tmp_path, redis_server, redis_client, capsys):
    path = write_ini(tmp_path, prefix=PREFIX, secret=SECRET,
                     redis_client_callable="redis.Redis")
    status, _, err = run(capsys, path, "stats")
    assert status == 2
    assert "redis.sessions.redis_client_callable builds the Redis client inside the application" in err
    assert "--redis-url" in err
    status, out, _ = run(capsys, path, "stats", "--json", "--redis-url", redis_server.url)
    assert status == 0 and json.loads(out)["sessions"] == 0


def test_redis_url_and_prefix_override_an_ini_without_session_settings(tmp_path, redis_server, redis_client, capsys):
    app = make_app(redis_server.url, prefix="py:")
    ids = [new_session(app) for _ in range(3)]
    (tmp_path / "app.ini").write_text("[app:main]\nuse = call:tests.cli_app:app_factory\nother.setting = 1\n")
    path = str(tmp_path / "app.ini")

    # Options before or after the command.
    for argv in (
        ["--redis-url", redis_server.url, "--prefix", "py:", path, "stats", "--json"],
        [path, "stats", "--json", "--redis-url", redis_server.url, "--prefix", "py:"],
        ["--redis-url", redis_server.url, path, "stats", "--prefix", "py:", "--json"],
    ):
        status, out, _ = run(capsys, *argv)
        assert status == 0, argv
        report = json.loads(out)
        assert (report["sessions"], report["prefix"], report["location"]) == (3, "py:", redis_server.url)
    status, out, _ = run(capsys, path, "show", ids[0], "--redis-url", redis_server.url, "--prefix", "py:")
    assert status == 0 and out.startswith(f"session:  {ids[0]}\n")


def test_the_redis_url_option_replaces_every_location_setting(tmp_path, redis_server, redis_client, capsys):
    path = write_ini(tmp_path, redis_sentinels="127.0.0.1:1", redis_sentinel_master="mymaster", prefix=PREFIX)
    status, out, _ = run(capsys, path, "--redis-url", redis_server.url, "stats", "--json")
    assert status == 0
    assert json.loads(out)["location"] == redis_server.url


def test_section_of_the_ini_file(tmp_path, redis_server, redis_client, capsys):
    new_session(make_app(redis_server.url, prefix="second:"))
    path = write_ini(tmp_path, sections={"second": {"redis_url": redis_server.url, "prefix": "second:"}},
                     redis_url=redis_server.url, prefix=PREFIX)
    status, out, _ = run(capsys, path + "#second", "stats", "--json")
    assert status == 0 and json.loads(out)["sessions"] == 1
    status, out, _ = run(capsys, path, "stats", "--json")
    assert status == 0 and json.loads(out)["sessions"] == 0
