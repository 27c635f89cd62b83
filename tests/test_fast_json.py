"""serializer = orjson | msgspec against the json serializer, value by value (no Redis needed).

The stored format is the same JSON; these tests pin down where the values differ
(docs/serializers.rst has the same table) and where they must not.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import json
import pickle
import uuid

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyramid_session_redis import payload
from pyramid_session_redis.exceptions import InvalidSession_PayloadLegacy, SessionPayloadError

from .test_payload import JSON_CORPUS, UNPICKLED, Tripwire

FAST = ("orjson", "msgspec")
PAIRS = {name: payload.named_serializer(name) for name in ("json", *FAST)}
REFUSED = "refused"  # the json serializer's SessionPayloadError


@pytest.fixture(params=FAST)
def fast(request):
    return request.param


def stored_and_read(name, value):
    """``value`` stored by serializer ``name`` and read back, or REFUSED."""
    serialize, deserialize = PAIRS[name]
    try:
        raw = serialize({"m": {"k": value}})
    except SessionPayloadError as exc:
        assert str(exc).startswith("a session value cannot be stored as JSON (")  # json's error, as it is
        return REFUSED
    return deserialize(raw)["m"]["k"]


class Markup(str):
    """As markupsafe's: a str subclass, often flashed."""


class Count(int):
    pass


class Price(float):
    pass


class Pair(tuple):
    pass


Point = collections.namedtuple("Point", "x y")


class Colour(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 2


class Tone(str, enum.Enum):
    LOW = "low"


class Items(list):
    pass


@dataclasses.dataclass
class Item:
    sku: str
    qty: int


class Spot(msgspec.Struct):
    x: int
    y: int


def nested(depth):
    value = top = {}
    for _ in range(depth):
        value["a"] = {}
        value = value["a"]
    return top


# Values json stores: orjson and msgspec store them too, and every one of the three reads
# back what json reads back.  (orjson itself refuses integers beyond 64 bits, non-str keys,
# more than 254 levels and tuple or float subclasses: json_serialize writes those.)
SAME = [
    pytest.param(2**64, id="int 2**64"),
    pytest.param(-(2**63) - 1, id="int -2**63-1"),
    pytest.param(2**200, id="int 2**200"),
    pytest.param(12345678901234567890, id="20 digits within 64 bits"),
    pytest.param(8.133515071629735e-05, id="float orjson spells with 21 digits"),
    pytest.param(1e16, id="float 1e16"),
    pytest.param(-0.0, id="-0.0"),
    pytest.param((1, "a"), id="tuple"),
    pytest.param({1: "a", 2.5: "b", None: "d"}, id="int float None keys"),
    pytest.param({True: "t", False: "f"}, id="bool keys"),
    pytest.param({Count(3): "a"}, id="int subclass key"),
    pytest.param(Markup("<b>hi</b>"), id="str subclass"),
    pytest.param(Count(3), id="int subclass"),
    pytest.param(Price(1.5), id="float subclass"),
    pytest.param(Pair((1, 2)), id="tuple subclass"),
    pytest.param(Point(1, 2), id="namedtuple"),
    pytest.param(collections.OrderedDict(b=1, a=2), id="OrderedDict"),
    pytest.param(collections.defaultdict(list, a=[1]), id="defaultdict"),
    pytest.param(Size.BIG, id="IntEnum"),
    pytest.param(Tone.LOW, id="str Enum"),
    pytest.param(Items([1, (2,)]), id="list subclass"),
    pytest.param("caf\u00e9 \U0001f600 \u2028 \x00\x1f\x7f \"\\/", id="unicode and escapes"),
    pytest.param("12345678901234567890123", id="digits in a string"),
    pytest.param(nested(400), id="400 levels"),
]


@pytest.mark.parametrize("value", SAME)
def test_what_json_stores_is_stored_and_read_back_alike(fast, value):
    expected = repr(stored_and_read("json", value))
    assert repr(stored_and_read(fast, value)) == expected  # repr: types count (1 is not 1.0)


# Where they differ: what each one reads back, or REFUSED.
DIFFERENCES = [
    # value, json, orjson, msgspec
    pytest.param(float("nan"), float("nan"), None, None, id="NaN"),
    pytest.param(float("inf"), float("inf"), None, None, id="Infinity"),
    pytest.param(float("-inf"), float("-inf"), None, None, id="-Infinity"),
    pytest.param({1e16: 1}, {"1e+16": 1}, {"1e+16": 1}, {"1e16": 1}, id="float key 1e16"),
    pytest.param({float("nan"): 1}, {"NaN": 1}, {"NaN": 1}, {"nan": 1}, id="float key NaN"),
    pytest.param({1, 2}, REFUSED, REFUSED, [1, 2], id="set"),
    pytest.param(frozenset([1]), REFUSED, REFUSED, [1], id="frozenset"),
    pytest.param(b"\x00\xff", REFUSED, REFUSED, "AP8=", id="bytes"),
    pytest.param(bytearray(b"a"), REFUSED, REFUSED, "YQ==", id="bytearray"),
    pytest.param(decimal.Decimal("1.10"), REFUSED, REFUSED, "1.10", id="Decimal"),
    pytest.param(datetime.timedelta(seconds=5), REFUSED, REFUSED, "PT5S", id="timedelta"),
    pytest.param(datetime.datetime(2026, 11, 23, 15, 43, 1, 5), REFUSED, "2026-11-23T15:43:01.000005",
                 "2026-11-23T15:43:01.000005", id="naive datetime"),
    pytest.param(datetime.datetime(2026, 11, 23, tzinfo=datetime.timezone.utc), REFUSED, "2026-11-23T00:00:00+00:00",
                 "2026-11-23T00:00:00Z", id="UTC datetime"),
    pytest.param(datetime.date(2026, 11, 23), REFUSED, "2026-11-23", "2026-11-23", id="date"),
    pytest.param(datetime.time(1, 2, 3), REFUSED, "01:02:03", "01:02:03", id="time"),
    pytest.param(uuid.UUID(int=1), REFUSED, "00000000-0000-0000-0000-000000000001",
                 "00000000-0000-0000-0000-000000000001", id="UUID"),
    pytest.param(Item("x", 2), REFUSED, {"sku": "x", "qty": 2}, {"sku": "x", "qty": 2}, id="dataclass"),
    pytest.param(Colour.RED, REFUSED, "red", "red", id="Enum"),
    pytest.param(Spot(1, 2), REFUSED, REFUSED, {"x": 1, "y": 2}, id="msgspec.Struct"),
    pytest.param({datetime.date(2026, 1, 2): 1}, REFUSED, REFUSED, {"2026-01-02": 1}, id="date key"),
    pytest.param({uuid.UUID(int=1): 1, Colour.RED: 2}, REFUSED, REFUSED,
                 {"00000000-0000-0000-0000-000000000001": 1, "red": 2}, id="UUID and Enum keys"),
    pytest.param({(1, 2): 1}, REFUSED, REFUSED, REFUSED, id="tuple key"),
    pytest.param(1j, REFUSED, REFUSED, REFUSED, id="complex"),
    pytest.param(object(), REFUSED, REFUSED, REFUSED, id="object"),
]


@pytest.mark.parametrize("name, session", [
    ("orjson", {"nan": float("nan"), "big": 2**64}),
    ("orjson", {"nan": float("nan"), "keys": {1: "a"}}),
    ("msgspec", {"nan": float("nan"), "keys": {True: "a"}}),
    ("msgspec", {"nan": float("nan"), "keys": {None: "a"}}),
])
def test_a_session_left_to_json_keeps_nan_as_json_does(name, session):
    serialize, deserialize = PAIRS[name]
    raw = serialize({"m": session})
    assert raw == payload.json_serialize({"m": session}) and b"NaN" in raw
    assert repr(deserialize(raw)) == repr(json.loads(raw))


@pytest.mark.parametrize("value, as_json, as_orjson, as_msgspec", DIFFERENCES)
def test_where_values_differ_from_json(value, as_json, as_orjson, as_msgspec):
    got = {name: stored_and_read(name, value) for name in ("json", "orjson", "msgspec")}
    expected = {"json": as_json, "orjson": as_orjson, "msgspec": as_msgspec}
    assert {name: repr(v) for name, v in got.items()} == {name: repr(v) for name, v in expected.items()}


def circular():
    loop = []
    loop.append(loop)
    return loop


@pytest.mark.parametrize("value, cause", [
    (1j, TypeError),
    ({(1, 2): 1}, TypeError),
    ("\ud800", UnicodeEncodeError),
    (circular(), ValueError),
    (nested(100_000), RecursionError),
], ids=["complex", "tuple key", "lone surrogate", "circular", "100,000 levels"])
def test_what_none_of_them_can_store_raises_the_json_serializers_error(fast, value, cause):
    stored = {"m": {"k": value}}
    with pytest.raises(SessionPayloadError) as by_json:
        payload.json_serialize(stored)
    with pytest.raises(SessionPayloadError) as by_fast:
        PAIRS[fast][0](stored)
    assert str(by_fast.value) == str(by_json.value) and str(by_json.value).startswith("a session value cannot be")
    assert type(by_fast.value.__cause__) is type(by_json.value.__cause__) is cause


def test_the_stored_format_is_the_json_serializers_byte_for_byte_for_plain_values(fast):
    stored = payload.encode({"user": "alice", "cart": [1, 2.5, None, True], "é": {"n": 0}}, 1700000000, 1200,
                            None, payload.new_stamp())
    assert PAIRS[fast][0](stored) == payload.json_serialize(stored)


@pytest.mark.parametrize("raw", [
    *JSON_CORPUS,
    b"18446744073709551616",
    b"-9223372036854775809",
    b'{"a":12345678901234567890,"b":-9223372036854775808}',
    b'{"a":"12345678901234567890123","b":0.00008133515071629735}',
    b'{"a":"00000000-0000-0000-0000-000000000001","b":"2026-11-23"}',
    b"[" * 600 + b"]" * 600,  # (as deep as json writes and reads)
])
def test_reads_what_json_loads_reads_exactly(fast, raw):
    deserialize = PAIRS[fast][1]
    try:
        expected = json.loads(raw)
    except Exception as exc:
        with pytest.raises(type(exc)):
            deserialize(raw)
    else:
        assert repr(deserialize(raw)) == repr(expected)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text().filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8).filter(
        lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)), children, max_size=4),
    max_leaves=20,
)


@given(value=json_values)
def test_any_json_value_is_written_and_read_alike_by_all_three(value):
    stored = {"m": {"k": value}, "c": 1, "v": 1}
    written = {name: PAIRS[name][0](stored) for name in PAIRS}
    expected = repr(json.loads(written["json"]))
    for name, raw in written.items():
        for reader in PAIRS:
            assert repr(PAIRS[reader][1](raw)) == expected, (name, reader)


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_a_1x_pickle_of_plain_data_is_read_as_json_deserialize_reads_it(fast, protocol):
    data = {"m": {"s": "é", "l": [1, 2.5, None, True], "t": (1, 2), "d": {"k": b"raw"}}, "c": 1, "v": 1}
    raw = pickle.dumps(data, protocol=protocol)
    assert PAIRS[fast][1](raw) == payload.json_deserialize(raw) == data


def test_a_1x_pickle_that_names_anything_is_refused_without_unpickling(fast):
    UNPICKLED.clear()
    with pytest.raises(InvalidSession_PayloadLegacy, match="not plain data"):
        PAIRS[fast][1](pickle.dumps({"m": {"x": Tripwire()}, "c": 1, "v": 1}))
    assert UNPICKLED == []


def test_the_stamp_is_in_the_head_and_can_be_swapped_in_place(fast):
    serialize = PAIRS[fast][0]
    old, new = payload.new_stamp(), payload.new_stamp()
    raw = serialize(payload.encode({"k": "v" * 5000}, 1, 60, None, old))
    head, whole = payload.head_of(raw, old)
    assert not whole and head.endswith(old.encode()) and len(head) < 64
    assert payload.restamped(raw, old, new) == serialize(payload.encode({"k": "v" * 5000}, 1, 60, None, new))


@pytest.mark.parametrize("raw, wide", [
    (b'{"a":18446744073709551616}', True),
    (b'{"a":[12345678901234567890]}', True),  # (within 64 bits, but 20 digits: read by json)
    (b'{"a":-9223372036854775809}', True),
    (b'{"a":-9223372036854775808}', True),  # (-2**63 itself, but 19 digits after "-": read by json)
    (b"18446744073709551616", True),
    (b'{"a":"x12345678901234567890"}', True),  # (a string: read by json, the same)
    (b'{"a":9223372036854775807,"b":-999999999999999999}', False),
    (b'{"a":0.00008133515071629735}', True),  # (decimals: read by json, the same)
    (b'{"a":0.0008133515071629735,"b":-0.0008133515071629735}', False),
    (b'{"a":1.2345678901234567e+19,"b":"2026-11-23T15:43:01.000005"}', False),
    (b'{"a":"00000000-0000-0000-0000-000000000001"}', False),
])
def test_orjson_leaves_to_json_what_may_hold_an_integer_beyond_64_bits(raw, wide):
    assert payload._wide_int_in(raw) is wide


def test_the_hook_refuses_what_json_does_not_write_as_a_base_type():
    assert payload._as_json_type(Markup("x")) == "x" and type(payload._as_json_type(Markup("x"))) is str
    assert type(payload._as_json_type(Count(3))) is int and type(payload._as_json_type(Price(1.5))) is float
    assert payload._as_json_type(Point(1, 2)) == [1, 2]
    for value in (True, object(), {1}):
        with pytest.raises(TypeError):
            payload._as_json_type(value)
