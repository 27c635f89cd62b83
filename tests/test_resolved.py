"""Resolved options (resolved.py): the frozen SessionSettings, the Hooks and the
serializer pair, made from validated options.  Pure: no Redis."""

from __future__ import annotations

import dataclasses
import datetime
import json
import pickle
import re

import msgpack
import pytest

from pyramid_session_redis.cookies import CookieJar, SessionIdSigner
from pyramid_session_redis.options import validate
from pyramid_session_redis.payload import json_deserialize, json_serialize, migrating_deserialize
from pyramid_session_redis.policy import resolve_rules
from pyramid_session_redis.resolved import Hooks, SessionSettings, default_id_generator, serializers, unpickles

SECRET = "a secret for the tests of resolved.py"


def options(**kwargs):
    kwargs.setdefault("secret", SECRET)
    return validate(kwargs)


def settings(**kwargs):
    opts = options(**kwargs)
    return SessionSettings.from_options(opts, CookieJar(opts, SessionIdSigner(SECRET)))


def report(request, exc):
    return None


def test_default_settings_are_the_documented_defaults():
    opts = options()
    jar = CookieJar(opts, SessionIdSigner(SECRET))
    resolved = SessionSettings.from_options(opts, jar)
    assert resolved.rules == resolve_rules(opts)
    assert resolved.cookies is jar
    assert (resolved.serialize, resolved.deserialize) == (json_serialize, json_deserialize)
    assert resolved.new_id is default_id_generator
    assert resolved.rewrite_pickles is True  # the default JSON stores a 1.x pickle read again as JSON
    assert SessionSettings.from_options(options(serializer="pickle"), jar).rewrite_pickles is False
    assert SessionSettings.from_options(options(serializer="msgpack"), jar).rewrite_pickles is False
    assert SessionSettings.from_options(options(serializer="orjson"), jar).rewrite_pickles is True
    assert SessionSettings.from_options(options(serializer="msgspec"), jar).rewrite_pickles is True
    assert resolved.max_payload_bytes == 1024 * 1024
    assert (resolved.checked_writes, resolved.merge_conflicts, resolved.degrade) == (True, True, False)
    assert resolved.conflict_seconds == 5.0  # redis_socket_timeout's default
    assert resolved.allow_cookies is None and resolved.cookie_on_exception is True
    assert (resolved.deserialized_fails_new, resolved.log_undecodable) == (True, True)


@pytest.mark.parametrize("on_conflict, checked, merged", [
    ("overwrite", False, False),
    ("merge", True, True),
    ("raise", True, False),
])
def test_on_conflict_decides_checked_writes_and_merging(on_conflict, checked, merged):
    resolved = settings(on_conflict=on_conflict)
    assert (resolved.checked_writes, resolved.merge_conflicts) == (checked, merged)


@pytest.mark.parametrize("mode, degrade", [("raise", False), ("degrade", True)])
def test_on_backend_error_decides_degrading(mode, degrade):
    assert settings(on_backend_error=mode).degrade is degrade


@pytest.mark.parametrize("value, fails_new, logs", [(None, True, True), (True, True, False), (False, False, False)])
def test_deserialized_fails_new_none_replaces_and_logs_true_replaces_quietly_false_raises(value, fails_new, logs):
    resolved = settings(deserialized_fails_new=value)
    assert (resolved.deserialized_fails_new, resolved.log_undecodable) == (fails_new, logs)


def test_given_callables_and_numbers_are_taken_as_they_are():
    def make_id():
        return "fixed-id"

    def allow(response):
        return True

    resolved = settings(id_generator=make_id, func_check_response_allow_cookies=allow, max_payload_bytes=None,
                        cookie_on_exception=False, timeout=60, set_redis_ttl=False)
    assert resolved.new_id is make_id and resolved.new_id() == "fixed-id"
    assert resolved.allow_cookies is allow
    assert resolved.max_payload_bytes is None and resolved.cookie_on_exception is False
    assert resolved.rules.timeout == 60 and resolved.rules.redis_ttl is False


def test_session_settings_are_frozen():
    resolved = settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        resolved.degrade = True  # type: ignore[misc]


def test_hooks_come_from_the_logger_options_and_decided_is_never_an_option():
    def invalid(request, exc):
        return None

    def conflict(request, exc):
        return None

    hooks = Hooks.from_options(options(func_invalid_logger=invalid, func_conflict_logger=conflict,
                                       func_backend_error_logger=report))
    assert (hooks.invalid, hooks.conflict, hooks.backend_error, hooks.decided) == (invalid, conflict, report, None)
    assert Hooks.from_options(options()) == Hooks()
    with pytest.raises(dataclasses.FrozenInstanceError):
        hooks.invalid = None  # type: ignore[misc]


def test_serializers_default_to_json():
    assert serializers(options()) == (json_serialize, json_deserialize)
    assert serializers(options(serializer="json")) == (json_serialize, json_deserialize)


def test_pickle_migration_writes_json_and_reads_both():
    serialize, deserialize = serializers(options(pickle_migration=True))
    assert (serialize, deserialize) == (json_serialize, migrating_deserialize)
    assert deserialize(pickle.dumps({"a": 1})) == {"a": 1} and deserialize(b'{"a":1}') == {"a": 1}


def test_the_pickle_serializer_round_trips_what_json_cannot_hold():
    serialize, deserialize = serializers(options(serializer="pickle"))
    value = {"when": datetime.date(2026, 1, 2)}
    assert serialize(value)[:1] == b"\x80" and deserialize(serialize(value)) == value


def test_the_msgpack_serializer_keeps_bytes_and_str_apart():
    serialize, deserialize = serializers(options(serializer="msgpack"))
    raw = serialize({"b": b"\x00\xff", "s": "é"})
    assert msgpack.unpackb(raw, raw=False) == {"b": b"\x00\xff", "s": "é"}
    assert deserialize(raw) == {"b": b"\x00\xff", "s": "é"}


@pytest.mark.parametrize("name", ["orjson", "msgspec"])
def test_orjson_and_msgspec_store_the_json_serializers_json(name):
    serialize, deserialize = serializers(options(serializer=name))
    value = {"s": "é", "n": [1, 2.5, None, True], "t": (1, 2)}
    assert serialize(value) == json_serialize(value)
    assert deserialize(json_serialize(value)) == json_deserialize(serialize(value)) == {**value, "t": [1, 2]}


def test_given_serialize_and_deserialize_are_used_as_they_are():
    assert serializers(options(serialize=json.dumps, deserialize=json.loads)) == (json.dumps, json.loads)


@pytest.mark.parametrize("kwargs, expected", [
    ({}, False),
    ({"serializer": "json"}, False),
    ({"serializer": "msgpack"}, False),
    ({"serializer": "orjson"}, False),
    ({"serializer": "msgspec"}, False),
    ({"serializer": "pickle"}, True),
    ({"pickle_migration": True}, True),
    ({"serialize": pickle.dumps, "deserialize": pickle.loads}, True),
    ({"serialize": json.dumps, "deserialize": json.loads}, False),
])
def test_unpickles_says_whether_sessions_load_pickles(kwargs, expected):
    assert unpickles(options(**kwargs)) is expected


def test_default_ids_are_256_random_bits_url_safe():
    ids = {default_id_generator() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", i) for i in ids)
