"""Unit tests of the session cookie: signer, CookieJar, Vary, the cache check (no Redis needed)."""

from __future__ import annotations

import base64

import pytest
import webob
from webob.cookies import SignedSerializer

from pyramid_session_redis import check_response_allow_cookies, cookies
from pyramid_session_redis.cookies import CookieJar, SessionIdSigner
from pyramid_session_redis.options import validate

SECRET = "a secret for the cookie codec tests"

# -- helpers ---------------------------------------------------------------------


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


@pytest.mark.parametrize("result", ["has two spaces", "trailing ", " leading", "x" * 257, "", b"bytes-id", 42, None, "tab\there", "nön-ascii"])
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


def test_read_from_a_pyramid_dummy_request():
    # pyramid.testing.DummyRequest: its cookies are a plain dict beside an
    # environ without HTTP_COOKIE; 1.x read them, as tests written for it do.
    from pyramid.testing import DummyRequest

    signed = SessionIdSigner(SECRET).dumps("abc123").decode("ascii")
    assert jar().read(DummyRequest(cookies={"session": signed})) == ("abc123", True)
    assert jar().read(DummyRequest(environ={"HTTP_COOKIE": f"session={signed}"})) == (None, False)
    assert jar().read(DummyRequest()) == (None, False)


def test_read_from_a_request_class_with_its_own_cookies():
    # A WebOb request class that overrides ``cookies`` is asked, not its environ.
    class OwnCookies(webob.Request):
        @property
        def cookies(self):
            return {"session": SessionIdSigner(SECRET).dumps("abc123").decode("ascii")}

    assert jar().read(OwnCookies.blank("/")) == ("abc123", True)


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


@pytest.mark.parametrize("cache_control", [
    "no-store",
    "No-Store",
    "private",
    "private, max-age=0",
    "no-cache, no-store, must-revalidate",  # what login pages usually send
    'private="Set-Cookie"',  # a shared cache may keep the response, but not that header
    'private="X-Other, set-cookie"',
    "public, max-age=60, no-store",  # no-store wins: nobody keeps it
])
def test_cookies_on_a_response_no_shared_cache_keeps(cache_control):
    response = webob.Response()
    response.headers["Cache-Control"] = cache_control
    response.headers["Expires"] = "0"  # (Expires does not matter next to no-store or private)
    assert check_response_allow_cookies(response) is True


@pytest.mark.parametrize("cache_control", [
    "no-cache",  # a cache may keep it and, once revalidated, serve it with its Set-Cookie
    "max-age=0, must-revalidate",
    "public",
    's-maxage=60, private="X-Other"',
    "no-storage, privacy",  # not the directives
    'x-note="no-store, private"',  # inside another directive's value
])
def test_no_cookies_on_a_response_a_shared_cache_may_keep(cache_control):
    response = webob.Response()
    response.headers["Cache-Control"] = cache_control
    assert check_response_allow_cookies(response) is False


def test_no_store_in_a_second_cache_control_header_counts():
    response = webob.Response()
    response.headerlist.append(("Cache-Control", "max-age=0"))
    response.headerlist.append(("Cache-Control", "no-store"))
    assert check_response_allow_cookies(response) is True
