"""Loading (loading.py): from the request's cookie to the stored session, or the
``InvalidSession_*`` that says why there is none.  ``load`` is called directly,
with the factory's settings and store and the suite's real Redis.
"""

from __future__ import annotations

import json
import logging
import pickle

import pytest

from pyramid_session_redis.cookies import SessionIdSigner
from pyramid_session_redis.exceptions import (
    InvalidSession_BadCookie,
    InvalidSession_DeserializationError,
    InvalidSession_NoSessionCookie,
    InvalidSession_NotInBackend,
    InvalidSession_PayloadLegacy,
    InvalidSession_PayloadTimeout,
    RawDeserializationError,
)
from pyramid_session_redis.loading import Damaged, Loaded, load

from .helpers import Reports, factory_for, make_request, signed

NOW = 1_700_000_000


@pytest.fixture
def factory(redis_server):
    return factory_for(redis_server.url)


def load_id(factory, session_id, now=NOW):
    return load(make_request(signed(factory, session_id)), factory.settings, factory.store, now)


def plant(redis_client, session_id, data, **fields):
    raw = json.dumps({"m": data, "c": NOW - 10, "v": 1, **fields}).encode()
    redis_client.set(session_id, raw)
    return raw


def test_a_good_cookie_loads_the_stored_session_with_one_getex(factory, redis_client, commands):
    raw = plant(redis_client, "abc", {"a": 1}, t=1200)
    commands.reset()
    found = load_id(factory, "abc")
    assert commands.counts() == {"getex": 1}  # the read refreshes the TTL (the default rules)
    assert isinstance(found, Loaded)
    assert found.session_id == "abc" and found.raw == raw
    assert found.payload.data == {"a": 1} and found.payload.created == NOW - 10 and found.payload.timeout == 1200
    assert found.resign is False and found.migrate is False
    assert 0 < redis_client.ttl("abc") <= 1200


def test_without_redis_ttls_the_load_is_a_plain_get(redis_server, redis_client, commands):
    factory = factory_for(redis_server.url, set_redis_ttl=False)
    plant(redis_client, "abc", {"a": 1}, t=1200, x=NOW + 600)
    commands.reset()
    assert isinstance(load_id(factory, "abc"), Loaded)
    assert commands.counts() == {"get": 1}
    assert redis_client.ttl("abc") == -1


def test_no_cookie_is_no_session_cookie_and_sends_nothing(factory, commands):
    commands.reset()
    found = load(make_request(), factory.settings, factory.store, NOW)
    assert type(found) is InvalidSession_NoSessionCookie
    assert commands.counts() == {}


def test_a_cookie_with_a_bad_signature_is_a_bad_cookie_and_sends_nothing(factory, redis_client, commands):
    plant(redis_client, "abc", {"a": 1})
    forged = SessionIdSigner("another secret").dumps("abc").decode()
    commands.reset()
    found = load(make_request(forged), factory.settings, factory.store, NOW)
    assert type(found) is InvalidSession_BadCookie
    assert commands.counts() == {}


def test_a_good_cookie_for_a_session_redis_does_not_hold_is_not_in_backend(factory):
    assert type(load_id(factory, "nobody-home")) is InvalidSession_NotInBackend


@pytest.mark.parametrize(("raw", "logged"), [
    (b"{not json", "cannot be decoded (JSONDecodeError, 9 bytes)"),
    (b'{"m":[],"c":1,"v":1}', "is damaged (payload has no managed dict, 20 bytes)"),
    (b'{"m":{},"v":1}', "is damaged (payload has no creation time, 14 bytes)"),
    (b'{"m":{},"c":1,"v":1,"t":1000000000000000000000000000000}', "is damaged (payload field 't' is out of range"),
])
def test_an_undecodable_payload_is_a_deserialization_error_and_is_logged(factory, redis_client, caplog, raw, logged):
    redis_client.set("abc", raw)
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        found = load_id(factory, "abc")
    # Damaged: reported as a deserialization error, and its key marked for deletion.
    assert isinstance(found, Damaged) and found.session_id == "abc"
    assert type(found.reason) is InvalidSession_DeserializationError
    assert logged in caplog.text and logged in str(found.reason)


def test_an_undecodable_payload_is_not_logged_when_replacing_is_asked_for(redis_server, redis_client, caplog):
    factory = factory_for(redis_server.url, deserialized_fails_new=True)
    redis_client.set("abc", b"{not json")
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        found = load_id(factory, "abc")
    assert type(found.reason) is InvalidSession_DeserializationError
    assert caplog.text == ""


def test_the_log_and_the_report_of_an_undecodable_msgpack_payload_show_no_payload_bytes(
    redis_server, redis_client, caplog
):
    pytest.importorskip("msgpack")
    factory = factory_for(redis_server.url, serializer="msgpack")
    # msgpack's own error quotes what it found: b'...SECRET-TOKEN...'
    raw = b"\x93\x01\x02\x03" + b"SECRET-TOKEN" * 3
    redis_client.set("abc", raw)
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        found = load_id(factory, "abc")
    assert isinstance(found, Damaged)
    assert f"cannot be decoded (ExtraData, {len(raw)} bytes)" in caplog.text
    assert "SECRET" not in caplog.text and "SECRET" not in str(found.reason) and "SECRET" not in repr(found.reason)


def test_a_payload_over_max_payload_bytes_is_not_decoded(redis_server, redis_client, caplog, monkeypatch):
    factory = factory_for(redis_server.url, max_payload_bytes=1000)
    plant(redis_client, "abc", {"blob": "x" * 2000}, t=1200)
    decoded = []
    monkeypatch.setattr("pyramid_session_redis.payload.decode", lambda obj: decoded.append(obj))
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        found = load_id(factory, "abc")
    assert decoded == []  # refused before any decoding
    assert isinstance(found, Damaged) and type(found.reason) is InvalidSession_DeserializationError
    assert "more than max_payload_bytes = 1000" in str(found.reason) and "starting a new session" in caplog.text


def test_a_payload_of_max_payload_bytes_exactly_is_read(redis_server, redis_client):
    raw = plant(redis_client, "abc", {"blob": "x" * 100}, t=1200)
    factory = factory_for(redis_server.url, max_payload_bytes=len(raw))
    assert isinstance(load_id(factory, "abc"), Loaded)


def test_a_payload_over_max_payload_bytes_is_replaced_even_when_fails_new_is_false(redis_server, redis_client):
    # Not the deserializer's doing: the setting that raises for those does not apply.
    factory = factory_for(redis_server.url, max_payload_bytes=1000, deserialized_fails_new=False)
    plant(redis_client, "abc", {"blob": "x" * 2000}, t=1200)
    found = load_id(factory, "abc")
    assert isinstance(found, Damaged) and type(found.reason) is InvalidSession_DeserializationError


def test_an_undecodable_payload_raises_raw_deserialization_error_when_fails_new_is_false(redis_server, redis_client):
    factory = factory_for(redis_server.url, deserialized_fails_new=False)
    redis_client.set("abc", b"{not json")
    with pytest.raises(RawDeserializationError) as caught:
        load_id(factory, "abc")
    assert isinstance(caught.value.args[0], ValueError)
    assert caught.value.__cause__ is caught.value.args[0]


def test_an_unknown_payload_version_is_legacy_even_when_fails_new_is_false(redis_server, redis_client):
    factory = factory_for(redis_server.url, deserialized_fails_new=False)
    redis_client.set("abc", b'{"m":{},"c":1,"v":99}')
    assert type(load_id(factory, "abc")) is InvalidSession_PayloadLegacy


def test_a_payload_past_its_own_expiry_is_a_payload_timeout(redis_server, redis_client):
    factory = factory_for(redis_server.url, set_redis_ttl=False)  # LRU mode: the expiry is in the payload
    plant(redis_client, "abc", {"a": 1}, t=1200, x=NOW + 5)
    assert isinstance(load_id(factory, "abc", now=NOW + 4), Loaded)
    assert type(load_id(factory, "abc", now=NOW + 5)) is InvalidSession_PayloadTimeout


def test_the_payload_expiry_is_ignored_when_expiry_is_not_tracked(factory, redis_client):
    plant(redis_client, "abc", {"a": 1}, t=1200, x=NOW - 100)
    assert isinstance(load_id(factory, "abc"), Loaded)


def test_a_session_loaded_after_its_payload_expiry_starts_afresh_and_is_reported(redis_server, redis_client, clock):
    invalid = Reports()
    factory = factory_for(redis_server.url, set_redis_ttl=False, func_invalid_logger=invalid)
    plant(redis_client, "abc", {"a": 1}, t=1200, x=clock.now + 60)
    session = factory(make_request(signed(factory, "abc")))
    assert dict(session.items()) == {"a": 1} and not session.new
    clock.now += 60
    later = factory(make_request(signed(factory, "abc")))
    assert dict(later.items()) == {} and later.new
    assert [type(exc) for exc in invalid] == [InvalidSession_PayloadTimeout]


def test_a_pickled_payload_migrates_when_json_can_hold_it(redis_server, redis_client):
    factory = factory_for(redis_server.url, pickle_migration=True)
    redis_client.set("abc", pickle.dumps({"m": {"a": [1, "x"]}, "c": NOW, "v": 1, "t": 1200}))
    found = load_id(factory, "abc")
    assert isinstance(found, Loaded) and found.migrate is True and found.payload.data == {"a": [1, "x"]}


def test_a_pickled_payload_json_cannot_hold_is_legacy_under_pickle_migration(redis_server, redis_client):
    factory = factory_for(redis_server.url, pickle_migration=True)
    redis_client.set("abc", pickle.dumps({"m": {"when": {1, 2}}, "c": NOW, "v": 1, "t": 1200}))
    found = load_id(factory, "abc")
    assert type(found) is InvalidSession_PayloadLegacy
    assert "cannot be stored as JSON" in str(found)


def test_a_json_payload_under_pickle_migration_needs_no_migration(redis_server, redis_client):
    factory = factory_for(redis_server.url, pickle_migration=True)
    plant(redis_client, "abc", {"a": 1}, t=1200)
    found = load_id(factory, "abc")
    assert isinstance(found, Loaded) and found.migrate is False


def test_a_cookie_signed_with_a_fallback_secret_loads_and_asks_to_be_re_signed(redis_server, redis_client):
    old_secret = "the old secret, long enough to be accepted"
    factory = factory_for(redis_server.url, secret="the new secret, long enough to be accepted",
                          secret_fallbacks=[old_secret])
    plant(redis_client, "abc", {"a": 1}, t=1200)
    old = SessionIdSigner(old_secret).dumps("abc").decode()
    found = load(make_request(old), factory.settings, factory.store, NOW)
    assert isinstance(found, Loaded) and found.resign is True
    current = load(make_request(signed(factory, "abc")), factory.settings, factory.store, NOW)
    assert isinstance(current, Loaded) and current.resign is False
