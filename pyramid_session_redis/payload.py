"""The stored format of a session, and the default serializer.

A payload is a small dict with one-letter keys, the same layout the 1.x
releases stored, so that their sessions stay readable with a pickle serializer
(1.x ignores the stamp)::

    {"s": "...",   # the stamp: unique to this write (see ``new_stamp``); first, so
                   # that it sits in the first bytes of what any serializer makes
     "m": {...},   # the managed dict: what the application put in the session
     "c": 1700000000,  # created, whole seconds since the epoch
     "v": 1,       # payload version
     "t": 1200,    # this session's timeout, when it has one
     "x": 1700001200}  # its expiry, only when the expiry is tracked in the payload

The serialized bytes read from Redis are kept as they are: comparing them with
a fresh serialization tells whether anything changed, with no hashing.  The
stamp lets a write check that Redis still holds what the request loaded by
comparing a few leading bytes (``head_of``), not the whole payload.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import math
import os
import pickle
import secrets
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple, Type

from .exceptions import InvalidSession_PayloadLegacy, SessionPayloadError

VERSION = 1

# The ranges a payload's numbers must be in; outside them it is damaged (and
# an expiry computed from it could be one Redis refuses: EX must stay below
# about 2**63 milliseconds).  The ``timeout`` option is held to the same bound.
MAX_TIMEOUT = 3_155_760_000  # seconds: 100 years
MAX_EPOCH = 253_402_300_799  # 9999-12-31 23:59:59 UTC, for "c" and "x"
MAX_STAMP = 64  # characters; ours have 24

Serialize = Callable[[Dict[str, Any]], Any]
Deserialize = Callable[[bytes], Any]

_json_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_json_decode = json.loads
# What json.loads runs, without its checks of the input.  JSONDecoder sets it
# in __init__; typeshed does not declare it.
_json_scan: Callable[[str, int], Tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]

# The optional extra pyramid_session_redis[msgspec]: a decoder 2-4x faster.
# Only for decoding: on standard JSON it returns what json.loads returns (ints of
# any size included), and it refuses what json.loads alone accepts (NaN,
# Infinity, lone surrogates, non-UTF-8), which then goes to json.loads.  Encoding
# stays with the json module, whose output and errors are the documented ones.
_fast_decode: Optional[Callable[[bytes], Any]] = None
_FAST_ERRORS: Tuple[Type[Exception], ...] = ()
try:
    import msgspec as _msgspec
except ImportError:  # pragma: no cover - depends on what is installed
    pass
else:
    _fast_decode = _msgspec.json.Decoder().decode
    _FAST_ERRORS = (_msgspec.MsgspecError,)


def json_serialize(payload: Dict[str, Any]) -> bytes:
    """Compact JSON, UTF-8.  Values must be JSON types (str, int, float, bool,
    None, list, dict with str keys); tuples come back as lists."""
    try:
        return _json_encode(payload).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        # TypeError: not a JSON type; ValueError: a circular reference, or a lone
        # surrogate that UTF-8 cannot hold (UnicodeEncodeError); RecursionError:
        # nested deeper than the encoder goes.
        raise SessionPayloadError(
            f"a session value cannot be stored as JSON ({type(exc).__name__}: {exc}); store JSON types only "
            "(str without lone surrogates, numbers, bool, None, lists and dicts with str keys, not nested "
            "hundreds deep), or configure a serializer that handles it (serialize/deserialize)"
        ) from exc


class _PlainDataUnpickler(pickle.Unpickler):
    """Reads a pickle that holds plain data only (dict, list, tuple, str, bytes,
    int, float, bool, None): every other object needs a global, and none is ever
    resolved, so nothing planted in Redis can make this process run code."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"it names {module}.{name}, and plain data names nothing")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("it refers to a persistent object")


def plain_unpickle(raw: bytes) -> Any:
    """A 1.x session pickled with plain data only; ``InvalidSession_PayloadLegacy`` for anything else."""
    try:
        return _PlainDataUnpickler(io.BytesIO(raw)).load()
    except Exception as exc:  # (UnpicklingError, or whatever a damaged stream raises)
        raise InvalidSession_PayloadLegacy(f"payload is pickle data that is not plain data ({exc})") from None


def json_deserialize(raw: bytes) -> Any:
    if raw[:1] == b"\x80":
        # A pickle stream (protocol 2+), as written by 1.x with its default
        # serializer: read only if it holds plain data, and stored again as JSON
        # by the request that reads it (loading.load), so that an upgrade keeps
        # users logged in without ever unpickling an object.
        return plain_unpickle(raw)
    if _fast_decode is not None:
        try:
            return _fast_decode(raw)
        except _FAST_ERRORS:
            return _json_decode(raw)
    # The common case first: UTF-8 that is one JSON value, nothing around it.
    # Anything else (a BOM, UTF-16, whitespace, an error) goes to json.loads,
    # which decides, or raises, exactly as it always did.
    try:
        text = raw.decode("utf-8")
        obj, end = _json_scan(text, 0)
    except Exception:
        return _json_decode(raw)
    return obj if end == len(text) else _json_decode(raw)


def is_pickle(raw: bytes) -> bool:
    """Pickle protocol 2 and later start with PROTO (0x80); 1.x wrote protocol 3+."""
    return raw[:1] == b"\x80"


def _pickle_pair() -> Tuple[Serialize, Deserialize]:
    import pickle

    return pickle.dumps, pickle.loads


def _msgpack_pair() -> Tuple[Serialize, Deserialize]:
    import msgpack

    packer = functools.partial(msgpack.packb, use_bin_type=True)
    unpacker = functools.partial(msgpack.unpackb, raw=False)
    return packer, unpacker


def migrating_deserialize(raw: bytes) -> Any:
    """JSON, and, for a payload 1.x wrote with pickle, pickle (``pickle_migration``).

    Unpickling runs whatever the bytes say: it is only as safe as the Redis
    server is, which is why it is a migration mode and not a serializer.
    """
    if is_pickle(raw):
        import pickle

        return pickle.loads(raw)
    return json_deserialize(raw)


# -- serializer = orjson | msgspec: the same stored JSON, written and read faster ------------
#
# Either reads every payload the json serializer writes, and writes payloads it
# reads, with the same values (docs/serializers.rst lists the exceptions).  What
# the fast encoder refuses is written by json_serialize, which stores it or
# raises its TypeError; what the fast decoder refuses or might misread is read
# by json.loads; a 1.x pickle is read as json_deserialize reads it.


def _as_json_type(obj: Any) -> Any:
    """The fast encoders' hook: a subclass of a JSON type that the json module
    writes as its base type (``markupsafe.Markup``, a namedtuple) but the fast
    encoder does not take, as that base type; anything else is refused.  (A bool
    comes here only as a dict key, which msgspec would write as "1"; json writes "true".)"""
    if isinstance(obj, bool):
        raise TypeError("a bool dict key is left to json")
    if isinstance(obj, str):
        return str.__str__(obj)
    if isinstance(obj, int):
        return int.__int__(obj)
    if isinstance(obj, float):
        return float.__float__(obj)
    if isinstance(obj, (tuple, list)):
        return list(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _fast_json_pair(
    encode: Callable[[Any], bytes],
    decode: Callable[[bytes], Any],
    decode_errors: Tuple[Type[Exception], ...],
    misread: Optional[Callable[[bytes], bool]] = None,
) -> Tuple[Serialize, Deserialize]:
    def serialize(payload: Dict[str, Any]) -> bytes:
        try:
            return encode(payload)
        except Exception:
            # Integers beyond 64 bits, non-str keys, deep nesting... as json writes
            # them; or json's own TypeError, for a value that it cannot store either.
            return json_serialize(payload)

    def deserialize(raw: bytes) -> Any:
        if is_pickle(raw):
            return plain_unpickle(raw)  # a 1.x session, read as json_deserialize reads it
        if misread is None or not misread(raw):
            try:
                return decode(raw)
            except decode_errors:
                pass  # NaN, Infinity, lone surrogates, a byte order mark...
        return _json_decode(raw)

    return serialize, deserialize


# Digits become "0", "-" stays, anything else becomes a space.
_DIGIT_RUNS = bytes(48 if 48 <= b <= 57 else 45 if b == 45 else 32 for b in range(256))


def _wide_int_in(raw: bytes) -> bool:
    """Whether ``raw`` may hold an integer outside -2**63..2**64-1, which orjson
    reads as a float: a run of 20 digits, or "-" and 19.  Such a run can also be
    inside a string, or the decimals of a float between 1e-5 and 1e-4 as orjson
    and msgspec spell it (0.00008133515071629735): json.loads then reads that
    payload, more slowly, and gives the same values."""
    runs = raw.translate(_DIGIT_RUNS)
    return b"00000000000000000000" in runs or b"-0000000000000000000" in runs


def _orjson_pair() -> Tuple[Serialize, Deserialize]:
    import orjson

    return _fast_json_pair(
        functools.partial(orjson.dumps, default=_as_json_type), orjson.loads, (orjson.JSONDecodeError,), _wide_int_in
    )


def _msgspec_pair() -> Tuple[Serialize, Deserialize]:
    import msgspec

    return _fast_json_pair(
        msgspec.json.Encoder(enc_hook=_as_json_type).encode, msgspec.json.Decoder().decode, (msgspec.MsgspecError,)
    )


def named_serializer(name: str) -> Tuple[Serialize, Deserialize]:
    """``(serialize, deserialize)`` for ``serializer = json | pickle | msgpack | orjson | msgspec``."""
    if name == "pickle":
        return _pickle_pair()
    if name == "msgpack":
        return _msgpack_pair()
    if name == "orjson":
        return _orjson_pair()
    if name == "msgspec":
        return _msgspec_pair()
    return json_serialize, json_deserialize


class Payload(NamedTuple):
    """A decoded payload."""

    data: Dict[str, Any]
    created: int
    timeout: Optional[int]
    expires: Optional[int]
    stamp: Optional[str] = None  # None: written by 1.x, or by a version before stamps


# A stamp is this process's random prefix and a counter: unique to one write
# among all processes (72 random bits per process), and cheap (no system call
# per write).  A forked child draws a prefix of its own.
_stamp_prefix = ""
_stamp_counter = itertools.count()


def _new_stamp_prefix() -> None:
    global _stamp_prefix, _stamp_counter
    _stamp_prefix = secrets.token_urlsafe(9)
    _stamp_counter = itertools.count()


_new_stamp_prefix()
if hasattr(os, "register_at_fork"):  # (not on Windows)
    os.register_at_fork(after_in_child=_new_stamp_prefix)


def new_stamp() -> str:
    """A stamp no other write has: 12 URL-safe characters and a 12-digit hexadecimal
    count.  All stamps have one length (until a process has made 2**48 of them), so
    one can replace another in serialized bytes without changing any length in them."""
    return f"{_stamp_prefix}{next(_stamp_counter):012x}"


# How far into a payload the stamp may start for a write to compare only the
# bytes up to it; further (a serializer that sorts keys), the whole payload.
HEAD_LIMIT = 256


def head_of(raw: Any, stamp: Optional[str]) -> Tuple[Any, bool]:
    """``(head, whole)``: what Redis must still hold, at the start of the key, for a
    write over ``raw`` to be safe.  Up to and including the stamp when the
    serialized bytes show it near the start (every write has its own stamp, so
    the same head is the same write); otherwise ``raw`` itself, all of it."""
    if stamp is not None:
        needle = stamp if isinstance(raw, str) else stamp.encode("ascii")
        at = raw.find(needle, 0, HEAD_LIMIT)
        if at >= 0:
            return raw[: at + len(needle)], False
    return raw, True


def restamped(data: bytes, old: str, new: str) -> Optional[bytes]:
    """``data`` with its stamp ``old`` replaced by ``new``, or None when the
    serialized bytes do not show the stamp near the start (then serialize again)."""
    needle = old.encode("ascii")
    at = data.find(needle, 0, HEAD_LIMIT)
    if at < 0 or len(new) != len(old):
        return None
    return data[:at] + new.encode("ascii") + data[at + len(needle):]


class MalformedPayload(ValueError):
    """Decoded, with our version, but not shaped like a payload."""


def encode(
    data: Dict[str, Any], created: int, timeout: Optional[int], expires: Optional[int], stamp: Optional[str] = None
) -> Dict[str, Any]:
    out: Dict[str, Any] = {"s": stamp, "m": data, "c": created, "v": VERSION} if stamp else {
        "m": data, "c": created, "v": VERSION}
    if timeout:
        out["t"] = timeout
    if expires is not None:
        out["x"] = expires
    return out


def _number(obj: Dict[str, Any], key: str, low: int, high: int) -> Optional[int]:
    """Field ``key``: absent or None, or a number within ``low..high``, made
    whole (1.x payloads may hold floats); ``MalformedPayload`` for anything else."""
    value = obj.get(key)
    if type(value) is not int:  # (an int is what encode() writes: the fast path)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise MalformedPayload(f"payload field {key!r} is not a number ({type(value).__name__})")
    if not low <= value <= high:
        raise MalformedPayload(f"payload field {key!r} is out of range ({low}..{high})")
    return value if type(value) is int else int(value)


def decode(obj: Any) -> Payload:
    """Check a deserialized payload.

    Raises ``InvalidSession_PayloadLegacy`` for something that is not a payload
    of a version we know, ``MalformedPayload`` for a damaged one: a field
    missing, of the wrong type, or out of range (so that nothing computed from
    it, a TTL above all, is ever refused by Redis).
    """
    if not isinstance(obj, dict) or type(obj.get("v")) is not int or obj["v"] != VERSION:
        version = obj.get("v") if isinstance(obj, dict) else None
        raise InvalidSession_PayloadLegacy(f"unknown payload version {version!r}")
    data = obj.get("m")
    if not isinstance(data, dict):
        raise MalformedPayload("payload has no managed dict")
    created = _number(obj, "c", 1, MAX_EPOCH)
    if created is None:
        raise MalformedPayload("payload has no creation time")
    stamp = obj.get("s")
    if stamp is not None and not (type(stamp) is str and 0 < len(stamp) <= MAX_STAMP and stamp.isascii()):
        # A write compares and replaces the stamp as ASCII bytes (head_of, restamped).
        raise MalformedPayload("payload stamp is not a short ASCII string")
    return Payload(data, created, _number(obj, "t", 1, MAX_TIMEOUT), _number(obj, "x", 1, MAX_EPOCH), stamp)
