"""Named serializers, and moving a site off pickle without logging anyone out.

Payloads are planted in and read back from the suite's real Redis.
"""

from __future__ import annotations

import datetime
import json
import logging
import pickle
import sys

import msgpack
import pytest
from pyramid.response import Response

from pyramid_session_redis import RedisSessionFactory
from pyramid_session_redis.exceptions import InvalidSession_PayloadLegacy, InvalidSetting

from .app import SECRET, make_app


class Seen(list):
    def __call__(self, request, exc):
        self.append(type(exc))


def only_value(client):
    (key,) = client.keys("*")
    return key, client.get(key)


def plant_1x_pickle_session(app, client, data, timeout=1200):
    """What 1.x with its default (pickle) serializer left in Redis, and the browser's cookie for it."""
    client.set("legacy-id", pickle.dumps({"m": data, "c": 1_700_000_000, "v": 1, "t": timeout}), ex=timeout)
    app.set_cookie("session", app.factory.settings.cookies.signer.dumps("legacy-id").decode())


def test_pickle_by_name_stores_pickle_and_warns_why(redis_server, redis_client, caplog):
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        app = make_app(redis_server.url, serializer="pickle")
    assert "anyone who can write to this Redis server can run code" in caplog.text

    def stamp(request):
        request.session["when"] = datetime.date(2026, 11, 23)
        return Response("ok")

    app = make_app(redis_server.url, serializer="pickle", views={"stamp": stamp})
    app.get("/stamp")
    _, raw = only_value(redis_client)
    assert raw[:1] == b"\x80" and pickle.loads(raw)["m"] == {"when": datetime.date(2026, 11, 23)}
    assert app.get("/read?key=when").text == "datetime.date(2026, 11, 23)"


def test_msgpack_by_name_stores_msgpack_and_keeps_bytes(redis_server, redis_client, caplog):
    def blob(request):
        request.session["blob"] = b"\x00\xff"
        return Response("ok")

    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        app = make_app(redis_server.url, serializer="msgpack", views={"blob": blob})
    assert caplog.text == ""
    app.get("/blob")
    _, raw = only_value(redis_client)
    assert msgpack.unpackb(raw, raw=False)["m"] == {"blob": b"\x00\xff"}
    assert app.get("/read?key=blob").text == repr(b"\x00\xff")


def test_json_is_the_default_and_warns_nothing(redis_server, redis_client, caplog):
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        app = make_app(redis_server.url, serializer="json")
        make_app(redis_server.url)
    assert caplog.text == ""
    app.get("/write?key=k&value=v")
    assert json.loads(only_value(redis_client)[1])["m"] == {"k": "v"}


@pytest.mark.parametrize("kw, message", [
    ({"serializer": "pickle", "serialize": json.dumps, "deserialize": json.loads}, "give serializer or serialize/deserialize, not both"),
    ({"serializer": "pickle", "pickle_migration": True}, "pickle_migration moves sessions to JSON"),
    ({"serialize": pickle.dumps, "deserialize": pickle.loads, "pickle_migration": True}, "pickle_migration"),
    ({"serializer": "yaml"}, "serializer = 'yaml' is not valid: serializer accepts 'json' or 'pickle' or 'msgpack', or None"),
])
def test_impossible_serializer_settings(kw, message):
    with pytest.raises(InvalidSetting, match=message):
        RedisSessionFactory(secret=SECRET, **kw)


def test_msgpack_without_the_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "msgpack", None)  # makes `import msgpack` fail
    with pytest.raises(InvalidSetting, match="needs the msgpack package: pip install msgpack"):
        RedisSessionFactory(secret=SECRET, serializer="msgpack")


def test_ini_serializer_names():
    from pyramid_session_redis.options import parse_settings

    assert parse_settings({"redis.sessions.serializer": " Pickle "})["serializer"] == "pickle"
    assert parse_settings({"redis.sessions.serializer": "None"})["serializer"] is None
    assert parse_settings({"redis.sessions.pickle_migration": "true"})["pickle_migration"] is True


# -- moving off pickle -----------------------------------------------------------------


def test_an_upgrade_keeps_users_logged_in_a_plain_1x_pickle_is_read_and_stored_as_json(redis_server, redis_client):
    seen = Seen()
    app = make_app(redis_server.url, func_invalid_logger=seen)  # the defaults: JSON, no pickle_migration
    plant_1x_pickle_session(app, redis_client, {"user": "alice", "cart": (1, 2), "n": 2.5, "ok": None})
    assert app.get("/read?key=user").text == "'alice'"
    assert seen == []
    _, raw = only_value(redis_client)
    stored = json.loads(raw)  # stored again as JSON, by the request that read it
    assert stored["m"] == {"user": "alice", "cart": [1, 2], "n": 2.5, "ok": None} and stored["c"] == 1_700_000_000
    assert app.get("/read?key=cart").text == "[1, 2]"


class Planted:
    """What an attacker with write access to Redis might plant: unpickling it runs code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_1x_pickle_that_names_anything_is_never_unpickled(redis_server, redis_client, tmp_path):
    seen = Seen()
    app = make_app(redis_server.url, func_invalid_logger=seen)
    target = tmp_path / "ran"
    plant_1x_pickle_session(app, redis_client, {"user": "alice", "x": Planted(str(target))})
    assert app.get("/read?key=user").text == "None"
    assert not target.exists()  # no code ran
    assert seen == [InvalidSession_PayloadLegacy]


def test_a_1x_pickle_holding_bytes_starts_a_new_session_since_json_cannot_store_it(redis_server, redis_client):
    seen = Seen()
    app = make_app(redis_server.url, func_invalid_logger=seen)
    plant_1x_pickle_session(app, redis_client, {"user": "alice", "token": b"\x00\x01"})
    assert app.get("/read?key=user").text == "None"
    assert seen == [InvalidSession_PayloadLegacy]


def test_migration_reads_pickle_and_writes_json_once(redis_server, redis_client, commands, caplog):
    seen = Seen()
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        app = make_app(redis_server.url, pickle_migration=True, func_invalid_logger=seen)
    assert "turn pickle_migration off once the pickled sessions have expired" in caplog.text
    plant_1x_pickle_session(app, redis_client, {"user": "alice", "cart": [1, 2]})
    commands.reset()
    assert app.get("/read?key=user").text == "'alice'"
    assert commands.counts() == {"getex": 1, "evalsha": 1}  # the read-only request stored it as JSON
    key, raw = only_value(redis_client)
    assert key == b"legacy-id"
    stored = json.loads(raw)
    assert stored["m"] == {"user": "alice", "cart": [1, 2]} and stored["c"] == 1_700_000_000 and stored["t"] == 1200
    assert 1190 <= redis_client.ttl(key) <= 1200
    commands.reset()
    assert app.get("/read?key=cart").text == "[1, 2]"
    assert commands.counts() == {"getex": 1}  # JSON now: nothing more to migrate
    assert seen == []


def test_migration_replaces_a_session_json_cannot_hold_instead_of_failing(redis_server, redis_client):
    seen = Seen()
    app = make_app(redis_server.url, pickle_migration=True, func_invalid_logger=seen)
    plant_1x_pickle_session(app, redis_client, {"when": datetime.datetime(2020, 1, 1)})
    response = app.get("/read?key=when")
    assert response.status_int == 200 and response.text == "None"
    assert seen == [InvalidSession_PayloadLegacy]
    app.get("/write?key=k&value=v")  # and the new session works
    assert app.get("/read?key=k").text == "'v'"


def test_migration_still_reads_json_sessions(redis_server, redis_client, commands):
    app = make_app(redis_server.url, pickle_migration=True)
    app.get("/write?key=k&value=v")
    commands.reset()
    assert app.get("/read?key=k").text == "'v'"
    assert commands.counts() == {"getex": 1}


def test_a_serializer_returning_str_is_stored_as_utf8(redis_server, redis_client):
    app = make_app(redis_server.url, serialize=lambda payload: json.dumps(payload, ensure_ascii=False),
                   deserialize=json.loads)
    app.get("/write?key=k&value=caf%C3%A9")
    assert json.loads(only_value(redis_client)[1].decode("utf-8"))["m"] == {"k": "caf\u00e9"}
    assert app.get("/read?key=k").text == "'caf\u00e9'"
