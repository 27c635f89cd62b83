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
from pyramid.config import Configurator
from pyramid.response import Response
from webtest import TestApp

from pyramid_session_redis import RedisSessionFactory, session_factory_from_settings
from pyramid_session_redis.exceptions import InvalidSession_PayloadLegacy, InvalidSetting, SessionPayloadError

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
    ({"serializer": "yaml"}, "serializer = 'yaml' is not valid: serializer accepts 'json' or 'pickle' or 'msgpack' or "
                             "'orjson' or 'msgspec', or None"),
    ({"serializer": "orjson", "pickle_migration": True}, "pickle_migration moves sessions to JSON: it needs serializer = json"),
])
def test_impossible_serializer_settings(kw, message):
    with pytest.raises(InvalidSetting, match=message):
        RedisSessionFactory(secret=SECRET, **kw)


@pytest.mark.parametrize("name", ["msgpack", "orjson", "msgspec"])
def test_a_serializer_without_its_package_says_what_to_install(monkeypatch, name):
    monkeypatch.setitem(sys.modules, name, None)  # makes `import NAME` fail
    with pytest.raises(InvalidSetting, match=f"serializer = '{name}' needs the {name} package: pip install {name}$"):
        RedisSessionFactory(secret=SECRET, serializer=name)
    with pytest.raises(InvalidSetting, match=f"^redis.sessions.serializer = '{name}' needs the {name} package"):
        session_factory_from_settings({"redis.sessions.secret": SECRET, "redis.sessions.serializer": name})


def test_ini_serializer_names():
    from pyramid_session_redis.options import parse_settings

    assert parse_settings({"redis.sessions.serializer": " Pickle "})["serializer"] == "pickle"
    assert parse_settings({"redis.sessions.serializer": "orjson"})["serializer"] == "orjson"
    assert parse_settings({"redis.sessions.serializer": "MsgSpec"})["serializer"] == "msgspec"
    assert parse_settings({"redis.sessions.serializer": "None"})["serializer"] is None
    assert parse_settings({"redis.sessions.pickle_migration": "true"})["pickle_migration"] is True


# -- moving off pickle -----------------------------------------------------------------


@pytest.mark.parametrize("serializer", [None, "orjson", "msgspec"])
def test_an_upgrade_keeps_users_logged_in_a_plain_1x_pickle_is_read_and_stored_as_json(redis_server, redis_client,
                                                                                       serializer):
    seen = Seen()
    app = make_app(redis_server.url, func_invalid_logger=seen, serializer=serializer)  # no pickle_migration
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


@pytest.mark.parametrize("serializer", [None, "orjson", "msgspec"])
def test_a_1x_pickle_that_names_anything_is_never_unpickled(redis_server, redis_client, tmp_path, serializer):
    seen = Seen()
    app = make_app(redis_server.url, func_invalid_logger=seen, serializer=serializer)
    target = tmp_path / "ran"
    plant_1x_pickle_session(app, redis_client, {"user": "alice", "x": Planted(str(target))})
    assert app.get("/read?key=user").text == "None"
    assert not target.exists()  # no code ran
    assert seen == [InvalidSession_PayloadLegacy]


@pytest.mark.parametrize("serializer", [None, "orjson", "msgspec"])
def test_a_1x_pickle_holding_bytes_starts_a_new_session_since_json_cannot_store_it(redis_server, redis_client,
                                                                                   serializer):
    seen = Seen()
    app = make_app(redis_server.url, func_invalid_logger=seen, serializer=serializer)
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


# -- orjson and msgspec: the same JSON, so a site can switch either way -----------------

JSON_NAMES = ["json", "orjson", "msgspec"]
RICH = {
    "user": "alice",
    "cart": {"items": [1, 2.5, None, True, "caf\u00e9 \u2028"], "n": 0},
    "big": 2**70,
    "low": -(2**63) - 1,
    "tiny": 8.133515071629735e-05,
    "by_id": {"1": "one"},
    "nan": float("nan"),
}


def store_rich(request):
    request.session.update(RICH)
    return Response("ok")


def bump(request):
    request.session["cart"]["n"] += 1
    return Response("ok")


@pytest.mark.parametrize("before, after", [(a, b) for a in JSON_NAMES for b in JSON_NAMES if a != b])
def test_switching_between_json_orjson_and_msgspec_keeps_users_logged_in(redis_server, redis_client, commands,
                                                                        before, after):
    seen = Seen()
    views = {"store_rich": store_rich, "bump": bump}
    old = make_app(redis_server.url, views=views, serializer=before, func_invalid_logger=seen)
    new = make_app(redis_server.url, views=views, serializer=after, func_invalid_logger=seen)
    old.get("/store_rich")
    seen.clear()  # (that request had no cookie yet)
    new.set_cookie("session", old.cookies["session"])
    # NaN is the one value here stored differently: msgspec writes null; orjson would too,
    # but leaves this session to json, since it holds 2**70.
    nan = None if before == "msgspec" else RICH["nan"]
    assert new.get("/peek").text == repr(dict(RICH, nan=nan))  # what `before` wrote, read by `after`
    commands.reset()
    new.get("/bump")  # `after` writes it
    assert commands.counts() == {"getex": 1, "evalsha": 1}  # the checked write found its stamp
    _, raw = only_value(redis_client)
    stored = json.loads(raw)
    assert stored["m"]["big"] == 2**70 and stored["m"]["cart"]["n"] == 1
    # and `before` reads that
    expected = dict(RICH, cart={"items": RICH["cart"]["items"], "n": 1}, nan=None if after == "msgspec" else nan)
    assert old.get("/peek").text == repr(expected)
    assert old.get("/bump").status_int == 200 and new.get("/read?key=cart").text.endswith("'n': 2}")
    assert seen == []


@pytest.mark.parametrize("serializer", JSON_NAMES)
@pytest.mark.parametrize("value", [1j, {(1, 2): "tuple key"}, "\ud800"], ids=["complex", "tuple key", "surrogate"])
def test_a_value_none_of_them_can_store_is_the_json_serializers_payload_error(redis_server, redis_client,
                                                                             serializer, value):
    def store(request):
        request.session["v"] = value
        if request.params.get("now"):
            request.session.do_persist()
        return Response("ok")

    def handled(exc, request):
        return Response(str(exc), status=400)

    reports = []
    app = make_app(redis_server.url, views={"store": store}, serializer=serializer,
                   func_payload_error_logger=lambda request, exc: reports.append(exc))
    assert app.get("/store").status_int == 200  # at the end of the request: reported and logged
    (exc,) = reports
    assert type(exc) is SessionPayloadError and str(exc).startswith("a session value cannot be stored as JSON (")
    expected = str(exc)
    config = Configurator()
    config.set_session_factory(app.factory)
    config.add_route("store", "/store")
    config.add_view(store, route_name="store")
    config.add_view(handled, context=SessionPayloadError)
    response = TestApp(config.make_wsgi_app()).get("/store?now=1", expect_errors=True)  # do_persist() raises it
    assert response.status_int == 400 and response.text == expected
    assert redis_client.keys("*") == []


@pytest.mark.parametrize("serializer", ["orjson", "msgspec"])
def test_a_datetime_is_stored_by_orjson_and_msgspec_and_comes_back_as_a_string(redis_server, redis_client, serializer):
    def stamp(request):
        request.session["when"] = datetime.datetime(2026, 11, 23, 15, 43, 1)
        return Response("ok")

    app = make_app(redis_server.url, views={"stamp": stamp}, serializer=serializer)
    app.get("/stamp")
    assert json.loads(only_value(redis_client)[1])["m"] == {"when": "2026-11-23T15:43:01"}
    assert app.get("/read?key=when").text == "'2026-11-23T15:43:01'"
    reports = []
    make_app(redis_server.url, views={"stamp": stamp}, func_payload_error_logger=lambda request, exc: reports.append(exc)
             ).get("/stamp")
    assert "Object of type datetime is not JSON serializable" in str(reports[0])  # json refuses it


@pytest.mark.parametrize("serializer", ["orjson", "msgspec"])
def test_orjson_and_msgspec_send_the_commands_of_the_round_trip_table(redis_server, redis_client, commands,
                                                                      serializer):
    app = make_app(redis_server.url, serializer=serializer)
    commands.reset()
    app.get("/write?key=k&value=v")
    assert commands.counts() == {"set": 1}
    commands.reset()
    assert app.get("/read?key=k").text == "'v'"
    assert commands.counts() == {"getex": 1}
    commands.reset()
    app.get("/nested")
    app.get("/nested")
    assert commands.counts() == {"getex": 2, "evalsha": 2}
    commands.reset()
    assert app.get("/peek").text == "{'k': 'v', 'cart': {'n': 2}}"
    assert commands.counts() == {"getex": 1}  # a mutable value handed out, the same bytes: no write
