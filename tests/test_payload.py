"""Unit tests of the stored payload: the JSON serializer and the payload layout (no Redis needed)."""

from __future__ import annotations

import datetime
import json
import pickle

import pytest

from pyramid_session_redis import payload
from pyramid_session_redis.exceptions import InvalidSession_PayloadLegacy, SessionPayloadError

# -- helpers ---------------------------------------------------------------------

UNPICKLED = []


def _record_unpickling(value):
    UNPICKLED.append(value)
    return value


class Tripwire:
    """Unpickling this calls _record_unpickling: a visible side effect."""

    def __reduce__(self):
        return (_record_unpickling, ("unpickled!",))


# -- json_serialize / json_deserialize -------------------------------------------------


def test_json_round_trip_unicode_nested_dicts_and_lists():
    data = {"m": {"name": "Zoë ✓ 日本", "cart": {"items": [1, 2.5, {"sku": "x"}], "n": 3}, "flags": [True, False, None]}}
    assert payload.json_deserialize(payload.json_serialize(data)) == data


def test_json_serialize_returns_bytes():
    assert isinstance(payload.json_serialize({"a": 1}), bytes)


def test_json_serialize_is_compact():
    raw = payload.json_serialize({"a": [1, 2], "b": {"c": "d"}})
    assert raw == b'{"a":[1,2],"b":{"c":"d"}}'
    assert b" " not in raw


def test_json_serialize_keeps_unicode_as_utf8():
    raw = payload.json_serialize({"k": "é✓"})
    assert raw == '{"k":"é✓"}'.encode()
    assert b"\\u" not in raw


def test_json_serialize_turns_tuples_into_lists():
    assert payload.json_deserialize(payload.json_serialize({"t": (1, 2)})) == {"t": [1, 2]}


@pytest.mark.parametrize("value", [{1, 2}, datetime.datetime(2024, 1, 1), b"bytes", object()])
def test_json_serialize_rejects_non_json_values_with_advice(value):
    with pytest.raises(SessionPayloadError, match=r"cannot be stored as JSON.*store JSON types only.*serialize/deserialize"):
        payload.json_serialize({"m": {"k": value}})


def test_json_serialize_error_mentions_the_offending_type():
    with pytest.raises(SessionPayloadError, match=r"set") as caught:
        payload.json_serialize({"k": {1}})
    assert isinstance(caught.value.__cause__, TypeError)


def _nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def _circular():
    value = []
    value.append(value)
    return value


@pytest.mark.parametrize(("value", "cause"), [
    ("\ud800", UnicodeEncodeError),  # a lone surrogate: JSON text, but not UTF-8
    (_nested(100_000), RecursionError),
    (_circular(), ValueError),
], ids=["lone surrogate", "nested 100000 deep", "circular"])
def test_every_failure_to_encode_is_one_error_a_view_can_catch(value, cause):
    with pytest.raises(SessionPayloadError, match="cannot be stored as JSON") as caught:
        payload.json_serialize({"m": {"k": value}})
    assert isinstance(caught.value.__cause__, cause) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_json_deserialize_refuses_pickle_without_unpickling(protocol):
    UNPICKLED.clear()
    raw = pickle.dumps({"m": {"x": Tripwire()}, "c": 1, "v": 1}, protocol=protocol)
    assert pickle.loads(raw) and UNPICKLED == ["unpickled!"]  # the tripwire works
    UNPICKLED.clear()
    with pytest.raises(InvalidSession_PayloadLegacy, match="pickle"):
        payload.json_deserialize(raw)
    assert UNPICKLED == []


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_json_deserialize_reads_a_1x_pickle_of_plain_data(protocol):
    data = {"m": {"s": "é", "l": [1, 2.5, None, True], "t": (1, 2), "d": {"k": b"raw"}}, "c": 1, "v": 1}
    assert payload.json_deserialize(pickle.dumps(data, protocol=protocol)) == data


def test_plain_unpickle_resolves_no_global_not_even_a_harmless_one():
    # (Sets need no global from protocol 4 on, and cannot run code; JSON then refuses them.)
    for value in (complex(1, 2), datetime.date(2026, 1, 1), ValueError("x")):
        with pytest.raises(InvalidSession_PayloadLegacy, match="not plain data"):
            payload.plain_unpickle(pickle.dumps({"m": {"v": value}, "c": 1, "v": 1}))
    with pytest.raises(InvalidSession_PayloadLegacy, match="not plain data"):
        payload.plain_unpickle(pickle.dumps(b"bytes", protocol=2))  # protocol 2 names _codecs.encode
    with pytest.raises(InvalidSession_PayloadLegacy, match="not plain data"):
        payload.plain_unpickle(b"\x80\x04truncated")


def test_json_deserialize_of_garbage_raises_value_error():
    with pytest.raises(ValueError):
        payload.json_deserialize(b"{not json")


# JSON that the json module reads in its own way, or refuses: the fast paths must give
# exactly what json.loads gives, or raise exactly what it raises.
JSON_CORPUS = [
    b'{"a":1}',
    b' {"a":1} ',
    b'\xef\xbb\xbf{"a":1}',
    '{"a":"\u00e9"}'.encode("utf-16"),
    b'{"a":NaN,"b":Infinity,"c":-Infinity}',
    b'{"a":1e400}',
    b'{"a":18446744073709551616,"b":-9223372036854775809,"c":123456789012345678901234567890}',
    b'{"a":"\\ud800"}',
    b'{"a":1,"a":2}',
    b'{"a":-0,"b":1.5e-7,"c":1E2,"d":0.1}',
    '{"\u00e9":"\u2028\u00e9"}'.encode("utf-8"),
    b'{"a":"\\u00e9\\n\\t\\"x"}',
    b'[' * 50 + b']' * 50,
    b'{"a":"\xff"}',
    b'{"a":1} x',
    b'{"a":1}{}',
    b"",
    b"[1,2,]",
    b"{'a':1}",
]


@pytest.fixture(params=["fast decoder", "json module only"])
def decoder(request, monkeypatch):
    if request.param == "json module only":
        monkeypatch.setattr(payload, "_fast_decode", None)
    elif payload._fast_decode is None:
        pytest.skip("msgspec is not installed")
    return request.param


@pytest.mark.parametrize("raw", JSON_CORPUS)
def test_json_deserialize_matches_json_loads_exactly(decoder, raw):
    try:
        expected = json.loads(raw)
    except Exception as exc:
        with pytest.raises(type(exc)):
            payload.json_deserialize(raw)
    else:
        got = payload.json_deserialize(raw)
        assert repr(got) == repr(expected)  # repr: NaN is not equal to itself; types count


def test_fast_decoder_is_msgspec_when_installed():
    msgspec = pytest.importorskip("msgspec")
    assert payload._fast_decode is not None
    assert (msgspec.MsgspecError,) == payload._FAST_ERRORS


# -- payload.encode / decode ---------------------------------------------------------


def test_encode_minimal_layout():
    assert payload.encode({"a": 1}, 1700000000, None, None) == {"m": {"a": 1}, "c": 1700000000, "v": 1}


def test_encode_with_timeout_and_expiry():
    assert payload.encode({}, 100, 1200, 1300) == {"m": {}, "c": 100, "v": 1, "t": 1200, "x": 1300}


def test_encode_zero_timeout_is_omitted_but_zero_expiry_kept():
    out = payload.encode({}, 100, 0, 0)
    assert "t" not in out
    assert out["x"] == 0


def test_decode_round_trip_without_timeout_and_expiry():
    decoded = payload.decode(payload.encode({"a": [1]}, 100, None, None))
    assert decoded == payload.Payload({"a": [1]}, 100, None, None)


def test_decode_round_trip_with_timeout_and_expiry():
    decoded = payload.decode(payload.encode({"a": 1}, 100, 1200, 1300))
    assert decoded.data == {"a": 1}
    assert decoded.created == 100
    assert decoded.timeout == 1200
    assert decoded.expires == 1300


def test_decode_round_trip_through_json():
    encoded = payload.encode({"ü": {"n": 1}}, 100, 60, 160)
    assert payload.decode(payload.json_deserialize(payload.json_serialize(encoded))) == payload.Payload(
        {"ü": {"n": 1}}, 100, 60, 160
    )


def test_decode_truncates_float_times_to_int():
    decoded = payload.decode({"m": {}, "c": 100.7, "v": 1, "x": 200.2})
    assert decoded.created == 100
    assert decoded.expires == 200


@pytest.mark.parametrize("obj", [[1, 2], "payload", None, 42, b"\x80\x04"])
def test_decode_non_dict_is_legacy(obj):
    with pytest.raises(InvalidSession_PayloadLegacy, match="unknown payload version None"):
        payload.decode(obj)


def test_decode_dict_without_version_is_legacy():
    with pytest.raises(InvalidSession_PayloadLegacy, match="unknown payload version None"):
        payload.decode({"m": {}, "c": 1})


def test_decode_future_version_is_legacy():
    with pytest.raises(InvalidSession_PayloadLegacy, match="unknown payload version 2"):
        payload.decode({"m": {}, "c": 1, "v": 2})


@pytest.mark.parametrize("managed", [None, [], "text", 3])
def test_decode_managed_not_a_dict_is_malformed(managed):
    obj = {"c": 1, "v": 1}
    if managed is not None:
        obj["m"] = managed
    with pytest.raises(payload.MalformedPayload, match="no managed dict"):
        payload.decode(obj)


def test_decode_created_missing_is_malformed():
    with pytest.raises(payload.MalformedPayload, match="no creation time"):
        payload.decode({"m": {}, "v": 1})


def test_decode_created_string_is_malformed():
    with pytest.raises(payload.MalformedPayload, match="'c' is not a number \\(str\\)"):
        payload.decode({"m": {}, "c": "1700000000", "v": 1})


@pytest.mark.parametrize("key", ["t", "x"])
def test_decode_bad_timeout_or_expiry_is_malformed(key):
    with pytest.raises(payload.MalformedPayload, match="is not a number \\(bool\\)"):
        payload.decode({"m": {}, "c": 1, "v": 1, key: True})


@pytest.mark.parametrize(("key", "value"), [
    ("t", 10**30), ("t", 0), ("t", -1), ("t", payload.MAX_TIMEOUT + 1), ("t", 1e300),
    ("c", 0), ("c", -5), ("c", 10**30), ("c", payload.MAX_EPOCH + 1),
    ("x", 0), ("x", -1), ("x", 10**30), ("x", 2**63),
])
def test_decode_a_number_out_of_range_is_malformed(key, value):
    # (A timeout of 10**30 used to reach Redis as EX 10**30, refused on every request.)
    obj = {"m": {}, "c": 1700000000, "v": 1, key: value}
    with pytest.raises(payload.MalformedPayload, match=f"{key!r} is out of range"):
        payload.decode(obj)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_decode_a_number_that_is_not_finite_is_malformed(value):
    with pytest.raises(payload.MalformedPayload, match="'t' is not a number"):
        payload.decode({"m": {}, "c": 1700000000, "v": 1, "t": value})


def test_decode_accepts_the_edges_of_every_range_and_1x_floats():
    top = payload.decode({"m": {}, "c": payload.MAX_EPOCH, "v": 1, "t": payload.MAX_TIMEOUT, "x": payload.MAX_EPOCH})
    assert (top.created, top.timeout, top.expires) == (payload.MAX_EPOCH, payload.MAX_TIMEOUT, payload.MAX_EPOCH)
    low = payload.decode({"m": {}, "c": 1.5, "v": 1, "t": 1, "x": 1})
    assert (low.created, low.timeout, low.expires) == (1, 1, 1)


@pytest.mark.parametrize("stamp", [5, b"bytes", ["s"], "", "é" * 12, "s" * (payload.MAX_STAMP + 1)])
def test_decode_a_stamp_that_is_not_a_short_ascii_string_is_malformed(stamp):
    # A write compares and replaces the stamp as ASCII: "é" would fail there, with a 500.
    with pytest.raises(payload.MalformedPayload, match="stamp"):
        payload.decode({"m": {}, "c": 1, "v": 1, "s": stamp})


def test_malformed_payload_is_a_value_error():
    assert issubclass(payload.MalformedPayload, ValueError)


def test_json_payload_is_valid_json():
    # the stored bytes are plain JSON, readable by any other client
    raw = payload.json_serialize(payload.encode({"a": "é"}, 1, 2, 3))
    assert json.loads(raw.decode("utf-8")) == {"m": {"a": "é"}, "c": 1, "v": 1, "t": 2, "x": 3}


# -- the stamp: what a checked write compares -----------------------------------------


def test_stamps_are_unique_and_of_one_length():
    from pyramid_session_redis.payload import new_stamp

    stamps = {new_stamp() for _ in range(10_000)}
    assert len(stamps) == 10_000
    assert {len(s) for s in stamps} == {24}
    assert all(s.isascii() and s.isprintable() and '"' not in s and "\\" not in s for s in stamps)


def test_a_forked_child_draws_stamps_of_its_own():
    import os

    from pyramid_session_redis.payload import new_stamp

    mine = new_stamp()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, new_stamp().encode())
        os._exit(0)
    os.close(write)
    theirs = os.read(read, 100).decode()
    os.waitpid(pid, 0)
    assert theirs[:12] != mine[:12]  # another random prefix, so no shared counter can collide


def test_the_stamp_is_the_first_key_so_it_sits_in_the_first_bytes():
    from pyramid_session_redis.payload import encode

    raw = payload.json_serialize(encode({"k": "v" * 1000}, 1, 60, None, "S" * 24))
    assert raw.startswith(b'{"s":"' + b"S" * 24 + b'",')
    assert payload.decode(payload.json_deserialize(raw)).stamp == "S" * 24


def test_a_payload_without_stamp_as_1x_wrote_it_decodes_with_none():
    assert payload.decode({"m": {}, "c": 1, "v": 1}).stamp is None
    assert payload.decode({"m": {}, "c": 1, "v": 1, "s": None}).stamp is None


def test_head_of_a_stamped_payload_ends_with_its_stamp_for_every_serializer():
    from pyramid_session_redis.payload import encode, head_of, new_stamp

    stamp = new_stamp()
    stored = encode({"k": "v" * 5000}, 1, 60, None, stamp)
    for serialize in (payload.json_serialize, pickle.dumps):
        raw = serialize(stored)
        head, whole = head_of(raw, stamp)
        assert not whole and head.endswith(stamp.encode()) and raw.startswith(head) and len(head) < 64


def test_head_of_a_payload_without_a_visible_stamp_is_the_whole_payload():
    import zlib

    from pyramid_session_redis.payload import encode, head_of, new_stamp

    stamp = new_stamp()
    squeezed = zlib.compress(payload.json_serialize(encode({"k": "v"}, 1, 60, None, stamp)))
    assert head_of(squeezed, stamp) == (squeezed, True)
    assert head_of(b'{"m":{}}', None) == (b'{"m":{}}', True)


def test_restamped_swaps_the_stamp_in_place_or_says_it_cannot():
    from pyramid_session_redis.payload import encode, new_stamp, restamped

    old, new = new_stamp(), new_stamp()
    raw = payload.json_serialize(encode({"k": "v"}, 1, 60, None, old))
    assert restamped(raw, old, new) == payload.json_serialize(encode({"k": "v"}, 1, 60, None, new))
    assert restamped(raw, old, new + "x") is None  # another length: serialize again
    assert restamped(b"opaque", old, new) is None
