"""Unit tests of the payload codec and the session cookie (no Redis needed)."""

from __future__ import annotations

import base64
import datetime
import json
import pickle

import pytest
import webob
from webob.cookies import SignedSerializer

from pyramid_session_redis import check_response_allow_cookies, cookies, payload
from pyramid_session_redis.cookies import CookieJar, SessionIdSigner
from pyramid_session_redis.exceptions import InvalidSession_PayloadLegacy
from pyramid_session_redis.options import validate

SECRET = "a secret for the codec tests"

# -- helpers ---------------------------------------------------------------------

UNPICKLED = []


def _record_unpickling(value):
    UNPICKLED.append(value)
    return value


class Tripwire:
    """Unpickling this calls _record_unpickling: a visible side effect."""

    def __reduce__(self):
        return (_record_unpickling, ("unpickled!",))


class Utf8Serializer:
    """The serializer 1.x gave WebOb's SignedSerializer: str <-> UTF-8 bytes."""

    def dumps(self, value):
        return value.encode("utf-8")

    def loads(self, raw):
        return raw.decode("utf-8")


class FakeRequest:
    def __init__(self, cookies=None):
        self.cookies = cookies or {}


class StubSigner:
    """A custom signer: ``loads`` returns or raises what it is told."""

    def __init__(self, result=None, error=None):
        self.result = result
        self.error = error

    def dumps(self, session_id):
        return session_id.encode("ascii")

    def loads(self, raw):
        if self.error is not None:
            raise self.error
        return self.result


def jar(signer=None, **opts):
    opts.setdefault("secret", SECRET)
    return CookieJar(validate(opts), signer or SessionIdSigner(SECRET))


def set_cookie_headers(response):
    return [value for name, value in response.headerlist if name.lower() == "set-cookie"]


def vary_values(response):
    return [v.strip() for name, value in response.headerlist if name.lower() == "vary" for v in value.split(",")]


def flip_char(text, index):
    char = text[index]
    return text[:index] + ("B" if char == "A" else "A") + text[index + 1:]


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
    with pytest.raises(TypeError, match=r"cannot be stored as JSON.*store JSON types only.*serialize/deserialize"):
        payload.json_serialize({"m": {"k": value}})


def test_json_serialize_error_mentions_the_offending_type():
    with pytest.raises(TypeError, match=r"set"):
        payload.json_serialize({"k": {1}})


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_json_deserialize_refuses_pickle_without_unpickling(protocol):
    UNPICKLED.clear()
    raw = pickle.dumps({"m": {"x": Tripwire()}, "c": 1, "v": 1}, protocol=protocol)
    assert pickle.loads(raw) and UNPICKLED == ["unpickled!"]  # the tripwire works
    UNPICKLED.clear()
    with pytest.raises(InvalidSession_PayloadLegacy, match="pickle"):
        payload.json_deserialize(raw)
    assert UNPICKLED == []


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
    with pytest.raises(payload.MalformedPayload, match="expected a number, got str"):
        payload.decode({"m": {}, "c": "1700000000", "v": 1})


@pytest.mark.parametrize("key", ["t", "x"])
def test_decode_bad_timeout_or_expiry_is_malformed(key):
    with pytest.raises(payload.MalformedPayload, match="got bool"):
        payload.decode({"m": {}, "c": 1, "v": 1, key: True})


def test_malformed_payload_is_a_value_error():
    assert issubclass(payload.MalformedPayload, ValueError)


# -- SessionIdSigner -----------------------------------------------------------------


def test_signer_round_trip():
    signer = SessionIdSigner(SECRET)
    signed = signer.dumps("abc-DEF_123")
    assert isinstance(signed, bytes)
    assert signer.loads(signed) == "abc-DEF_123"


def test_signer_output_is_unpadded_urlsafe_base64():
    signed = SessionIdSigner(SECRET).dumps("x" * 43)
    assert b"=" not in signed
    assert set(signed) <= set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_signer_is_deterministic_and_depends_on_id():
    signer = SessionIdSigner(SECRET)
    assert signer.dumps("a") == signer.dumps("a")
    assert signer.dumps("a") != signer.dumps("b")


def test_signer_rejects_other_secret():
    signed = SessionIdSigner("other secret").dumps("abc")
    with pytest.raises(ValueError, match="signature does not match"):
        SessionIdSigner(SECRET).loads(signed)


def test_signer_rejects_truncated_value():
    signer = SessionIdSigner(SECRET)
    signed = signer.dumps("abcdefgh")
    for cut in (1, 4, 10, len(signed) - 4):
        with pytest.raises(ValueError):
            signer.loads(signed[:-cut])


def test_signer_rejects_signature_alone():
    signer = SessionIdSigner(SECRET)
    raw = base64.urlsafe_b64decode(signer.dumps("abc") + b"=" * 4)
    signature_only = base64.urlsafe_b64encode(raw[:64]).rstrip(b"=")
    with pytest.raises(ValueError, match="signature does not match"):
        signer.loads(signature_only)


@pytest.mark.parametrize("index", [0, 10, 63, 86, 90])
def test_signer_rejects_bit_flipped_value(index):
    signer = SessionIdSigner(SECRET)
    signed = signer.dumps("abcdefghij").decode("ascii")
    tampered = flip_char(signed, index).encode("ascii")
    assert tampered != signed.encode("ascii")
    with pytest.raises(ValueError):
        signer.loads(tampered)


def test_signer_rejects_tampered_id_with_original_signature():
    signer = SessionIdSigner(SECRET)
    raw = base64.urlsafe_b64decode(signer.dumps("victim") + b"==")
    forged = base64.urlsafe_b64encode(raw[:64] + b"attacker").rstrip(b"=")
    with pytest.raises(ValueError, match="signature does not match"):
        signer.loads(forged)


@pytest.mark.parametrize("value", [b"", b"!!!!", b"not base64 at all", b"A", b"abcde", "é".encode()])
def test_signer_rejects_empty_and_non_base64(value):
    with pytest.raises(ValueError):
        SessionIdSigner(SECRET).loads(value)


@pytest.mark.parametrize("secret", ["latin-1 secret é", "sécret✓"])
def test_signer_reads_cookies_signed_by_webob_1x(secret):
    webob_signer = SignedSerializer(secret, "pyramid_session_redis.", "sha512", serializer=Utf8Serializer())
    signed = webob_signer.dumps("session-id-from-1.x")
    assert SessionIdSigner(secret).loads(signed) == "session-id-from-1.x"


@pytest.mark.parametrize("secret", ["latin-1 secret é", "sécret✓"])
def test_webob_1x_reads_cookies_signed_by_signer(secret):
    webob_signer = SignedSerializer(secret, "pyramid_session_redis.", "sha512", serializer=Utf8Serializer())
    signed = SessionIdSigner(secret).dumps("session-id-from-2.x")
    assert webob_signer.loads(signed) == "session-id-from-2.x"


@pytest.mark.parametrize("secret", ["latin-1 secret é", "sécret✓"])
def test_signer_output_equals_webob_1x_output(secret):
    webob_signer = SignedSerializer(secret, "pyramid_session_redis.", "sha512", serializer=Utf8Serializer())
    assert SessionIdSigner(secret).dumps("abc") == webob_signer.dumps("abc")


def test_signer_rejects_webob_cookie_with_other_salt():
    webob_signer = SignedSerializer(SECRET, "other.salt.", "sha512", serializer=Utf8Serializer())
    with pytest.raises(ValueError):
        SessionIdSigner(SECRET).loads(webob_signer.dumps("abc"))


# -- CookieJar.read -----------------------------------------------------------------


def test_read_without_cookie():
    assert jar().read(FakeRequest()) == (None, False)


def test_read_ignores_other_cookies():
    signed = SessionIdSigner(SECRET).dumps("abc").decode("ascii")
    assert jar().read(FakeRequest({"other": signed})) == (None, False)


def test_read_valid_cookie():
    signed = SessionIdSigner(SECRET).dumps("abc123").decode("ascii")
    assert jar().read(FakeRequest({"session": signed})) == ("abc123", True)


def test_read_uses_configured_cookie_name():
    signed = SessionIdSigner(SECRET).dumps("abc123").decode("ascii")
    assert jar(cookie_name="sid").read(FakeRequest({"sid": signed})) == ("abc123", True)
    assert jar(cookie_name="sid").read(FakeRequest({"session": signed})) == (None, False)


def test_read_cookie_from_other_secret():
    signed = SessionIdSigner("other").dumps("abc123").decode("ascii")
    assert jar().read(FakeRequest({"session": signed})) == (None, True)


def test_read_oversized_cookie_is_rejected_before_the_signer():
    signer = StubSigner(result="would-be-accepted")
    value = "A" * (cookies.MAX_COOKIE_LENGTH + 1)
    assert jar(signer).read(FakeRequest({"session": value})) == (None, True)
    assert jar(signer).read(FakeRequest({"session": "A" * cookies.MAX_COOKIE_LENGTH})) == ("would-be-accepted", True)


def test_read_non_ascii_cookie():
    signed = SessionIdSigner(SECRET).dumps("abc").decode("ascii")
    assert jar().read(FakeRequest({"session": signed + "é"})) == (None, True)
    assert jar(StubSigner(result="ok")).read(FakeRequest({"session": "é"})) == (None, True)


@pytest.mark.parametrize("value", ["", "garbage", "!!!!", "a b c"])
def test_read_garbage_cookie(value):
    assert jar().read(FakeRequest({"session": value})) == (None, True)


@pytest.mark.parametrize("error", [KeyError("x"), RuntimeError("boom"), TypeError("t"), UnicodeDecodeError("utf-8", b"", 0, 1, "r")])
def test_read_custom_signer_raising_anything(error):
    assert jar(StubSigner(error=error)).read(FakeRequest({"session": "abc"})) == (None, True)


@pytest.mark.parametrize("result", ["has space", "x" * 257, "", b"bytes-id", 42, None, "tab\there", "nön-ascii"])
def test_read_custom_signer_returning_implausible_id(result):
    assert jar(StubSigner(result=result)).read(FakeRequest({"session": "abc"})) == (None, True)


def test_read_custom_signer_returning_256_chars_is_accepted():
    assert jar(StubSigner(result="x" * 256)).read(FakeRequest({"session": "abc"})) == ("x" * 256, True)


def test_read_passes_ascii_bytes_to_signer():
    seen = []

    class Recorder(StubSigner):
        def loads(self, raw):
            seen.append(raw)
            return "id"

    jar(Recorder()).read(FakeRequest({"session": "abc"}))
    assert seen == [b"abc"]


# The jar reads its cookie straight from the header when it can; WebOb's
# request.cookies is the reference for every header.
HEADERS = [
    None,
    "",
    "session=abc",
    "session=",
    "session=abc;",
    "a=1; session=abc",
    "session=abc; a=1",
    "a=1;session=abc",
    "xsession=abc",
    "sessionx=1; session=abc",
    "session=abc; session=def",
    'a="x; session=evil"; session=good',
    'session=good; a="x"',
    "a=b c session=evil; session=good",
    "session=good; a=b c session=evil",
    "session = abc",
    "session=abc def",
    "session=ab\\143",
    "session=abc,def",
    "session=a=b",
    "session=Wed, 09 Jun 2021 10:18:14 GMT",
    "Session=abc",
    "other=session",
    "a=\xe9; session=abc",
    "session=abc\n",
    "$session=abc",
]


@pytest.mark.parametrize("name", ["session", "sid", "my.sess-id_2", "path", "Secure", "$x", "sid!"])
@pytest.mark.parametrize("header", HEADERS)
def test_read_finds_the_cookie_webob_finds(name, header):
    environ = {} if header is None else {"HTTP_COOKIE": header}
    expected = webob.Request(dict(environ)).cookies.get(name)
    assert jar(cookie_name=name)._value(webob.Request(dict(environ))) == expected


def test_read_from_a_real_request():
    signed = SessionIdSigner(SECRET).dumps("abc123").decode("ascii")
    request = webob.Request.blank("/", headers={"Cookie": f"a=1; session={signed}; b=2"})
    assert jar().read(request) == ("abc123", True)


# -- CookieJar.set / delete ---------------------------------------------------------


def test_set_cookie_attributes():
    response = webob.Response()
    jar().set(response, "abc123")
    [header] = set_cookie_headers(response)
    assert header.startswith("session=")
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Path=/" in header
    assert "Secure" not in header
    assert "Max-Age" not in header


def test_set_cookie_value_is_the_signed_id():
    response = webob.Response()
    jar().set(response, "abc123")
    [header] = set_cookie_headers(response)
    value = header.split(";")[0].split("=", 1)[1]
    assert SessionIdSigner(SECRET).loads(value.encode("ascii")) == "abc123"


def test_set_cookie_adds_vary_cookie():
    response = webob.Response()
    jar().set(response, "abc")
    assert vary_values(response) == ["Cookie"]


def test_set_cookie_twice_keeps_one_cookie_and_one_vary():
    response = webob.Response()
    j = jar()
    j.set(response, "first")
    j.set(response, "second")
    assert vary_values(response).count("Cookie") == 1
    headers = set_cookie_headers(response)
    assert len(headers) == 1
    value = headers[0].split(";")[0].split("=", 1)[1]
    assert SessionIdSigner(SECRET).loads(value.encode("ascii")) == "second"


def test_vary_keeps_existing_values():
    response = webob.Response()
    response.vary = ("Accept-Encoding",)
    jar().set(response, "abc")
    assert vary_values(response) == ["Accept-Encoding", "Cookie"]


def test_vary_lowercase_cookie_is_not_duplicated():
    response = webob.Response()
    response.vary = ("cookie",)
    jar().set(response, "abc")
    assert [v.lower() for v in vary_values(response)] == ["cookie"]


def test_set_cookie_overrides_appear():
    response = webob.Response()
    jar().set(response, "abc", {"max_age": 10})
    [header] = set_cookie_headers(response)
    assert "Max-Age=10" in header


def test_set_cookie_overrides_do_not_stick():
    j = jar()
    j.set(webob.Response(), "abc", {"max_age": 10})
    response = webob.Response()
    j.set(response, "abc")
    assert "Max-Age" not in set_cookie_headers(response)[0]


def test_set_cookie_configured_attributes():
    response = webob.Response()
    j = jar(
        cookie_name="sid",
        cookie_max_age=3600,
        cookie_path="/app",
        cookie_domain="example.com",
        cookie_secure=True,
        cookie_httponly=False,
        cookie_samesite="Strict",
    )
    j.set(response, "abc")
    [header] = set_cookie_headers(response)
    assert header.startswith("sid=")
    assert "Max-Age=3600" in header
    assert "Path=/app" in header
    assert "Domain=example.com" in header
    assert "secure" in header.lower()
    assert "HttpOnly" not in header
    assert "SameSite=Strict" in header


def test_set_cookie_samesite_omitted():
    response = webob.Response()
    jar(cookie_samesite=None).set(response, "abc")
    assert "SameSite" not in set_cookie_headers(response)[0]


@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"cookie_name": "sid", "cookie_path": "/app", "cookie_domain": "example.com", "cookie_secure": True},
        {"cookie_httponly": False, "cookie_samesite": None, "cookie_comment": "c"},
        {"cookie_samesite": "None", "cookie_secure": True},
        {"cookie_max_age": 3600},
    ],
)
@pytest.mark.parametrize("existing", [[], [("Vary", "Accept")], [("Set-Cookie", "a=1")], [("Set-Cookie", "session=old; Path=/")]])
@pytest.mark.parametrize("overrides", [None, {"max_age": 10}])
def test_set_cookie_writes_what_webob_writes(opts, existing, overrides):
    j = jar(**opts)
    signed = j.signer.dumps("abc123").decode("ascii")
    ours, reference = webob.Response(), webob.Response()
    for response in (ours, reference):
        response.headerlist.extend(existing)
    j.set(ours, "abc123", overrides)
    reference.set_cookie(j.name, signed, overwrite=True, **{**j._set_kwargs, **(overrides or {})})
    cookies.add_vary_cookie(reference)
    assert ours.headerlist == reference.headerlist


def test_set_cookie_template_falls_back_when_webob_refuses_the_attributes():
    assert cookies._set_cookie_template("session", {"max_age": None, "samesite": "bogus"}) is None


def test_set_cookie_with_str_returning_signer():
    class StrSigner(StubSigner):
        def dumps(self, session_id):
            return "signed-" + session_id

    response = webob.Response()
    jar(StrSigner()).set(response, "abc")
    assert set_cookie_headers(response)[0].startswith("session=signed-abc;")


def test_delete_cookie_expires_it():
    response = webob.Response()
    jar().delete(response)
    [header] = set_cookie_headers(response)
    assert header.startswith("session=;")
    assert "Max-Age=0" in header
    assert "Path=/" in header
    assert vary_values(response) == ["Cookie"]


def test_delete_cookie_uses_configured_path_and_domain():
    response = webob.Response()
    jar(cookie_name="sid", cookie_path="/app", cookie_domain="example.com").delete(response)
    [header] = set_cookie_headers(response)
    assert header.startswith("sid=;")
    assert "Path=/app" in header
    assert "Domain=example.com" in header
    assert "Max-Age=0" in header


def test_delete_after_set_vary_once():
    response = webob.Response()
    j = jar()
    j.set(response, "abc")
    j.delete(response)
    assert vary_values(response).count("Cookie") == 1


def test_delete_secure_prefixed_cookie_keeps_secure_attribute():
    response = webob.Response()
    jar(cookie_name="__Host-session", cookie_secure=True).delete(response)
    [header] = set_cookie_headers(response)
    assert "secure" in [part.strip().lower() for part in header.split(";")]


# -- check_response_allow_cookies -------------------------------------------------------


def test_allow_cookies_on_plain_response():
    assert check_response_allow_cookies(webob.Response()) is True


def test_no_cookies_on_response_with_cache_control():
    response = webob.Response()
    response.headers["Cache-Control"] = "max-age=60"
    assert check_response_allow_cookies(response) is False


def test_no_cookies_on_response_with_expires():
    response = webob.Response()
    response.headers["Expires"] = "Wed, 21 Oct 2037 07:28:00 GMT"
    assert check_response_allow_cookies(response) is False


def test_no_cookies_on_response_with_cache_expires_helper():
    response = webob.Response()
    response.cache_expires(60)
    assert check_response_allow_cookies(response) is False


def test_other_headers_do_not_block_cookies():
    response = webob.Response()
    response.headers["X-Cache"] = "miss"
    response.headers["ETag"] = '"abc"'
    assert check_response_allow_cookies(response) is True


def test_json_payload_is_valid_json():
    # the stored bytes are plain JSON, readable by any other client
    raw = payload.json_serialize(payload.encode({"a": "é"}, 1, 2, 3))
    assert json.loads(raw.decode("utf-8")) == {"m": {"a": "é"}, "c": 1, "v": 1, "t": 2, "x": 3}
