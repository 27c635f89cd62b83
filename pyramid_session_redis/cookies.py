"""The session cookie: signing, reading, setting and deleting it.

The signed value has the layout the 1.x releases used (base64url of an
HMAC-SHA512 signature followed by the session id, with the salt
``pyramid_session_redis.``), so cookies issued by them stay valid.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re
from typing import Any, Callable, Dict, Optional, Protocol, Sequence, Tuple, Union

from webob.cookies import make_cookie, parse_cookie
from webob.request import BaseRequest

SALT = b"pyramid_session_redis."
MAX_COOKIE_LENGTH = 4096  # a longer cookie is rejected before any hashing
# What CookieJar.read says about the cookie: 0 is falsy, so ``if sent`` still reads well.
NO_COOKIE, SENT, SENT_OLD_SECRET = 0, 1, 2
SIGNATURE_SIZE = _SIG_SIZE = hashlib.sha512().digest_size  # HMAC-SHA512
# base64.urlsafe_b64encode/-decode, without their Python-level wrappers.
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_URLSAFE_SAMPLE = "Aa0-_"  # every kind of character a signed id can hold
# The property through which a WebOb request derives its cookies from its environ.
_ENVIRON_COOKIES = BaseRequest.cookies


def _as_bytes(text: str) -> bytes:
    # 1.x (through WebOb) encoded the secret as latin-1 when it could, else UTF-8.
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


# Shorter secrets can be guessed offline from a single signed cookie.
MIN_SECRET_BYTES = 32


def secret_length(secret: str) -> int:
    """The length in bytes of ``secret`` as the HMAC key uses it."""
    return len(_as_bytes(secret))


class Signer(Protocol):
    """What ``cookie_signer`` must provide (``SessionIdSigner`` is one)."""

    def dumps(self, session_id: str) -> Union[bytes, str]: ...

    def loads(self, signed: bytes) -> str: ...


class SessionIdSigner:
    """Signs session ids with a secret; verifies them with it or an older one.

    ``loads`` raises ValueError for a cookie that none of the secrets signed.
    ``fallbacks`` are earlier secrets, accepted for reading only, so that a
    secret can be rotated without logging everybody out.
    """

    __slots__ = ("_mac", "_fallback_macs")

    def __init__(self, secret: str, fallbacks: Sequence[str] = ()):
        self._mac = _keyed(secret)
        self._fallback_macs = tuple(_keyed(old) for old in fallbacks)

    def _signature(self, data: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(data)
        return mac.digest()

    def dumps(self, session_id: str) -> bytes:
        data = session_id.encode("utf-8")
        return binascii.b2a_base64(self._signature(data) + data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")

    def loads(self, signed: bytes) -> str:
        return self.verify(signed)[0]

    def verify(self, signed: bytes) -> Tuple[str, bool]:
        """``(session_id, signed_with_the_current_secret)``; ValueError when no secret signed it."""
        try:
            raw = _from_base64url(signed)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"cookie is not base64: {exc}") from None
        signature, data = raw[:_SIG_SIZE], raw[_SIG_SIZE:]
        if data:
            # compare_digest: the time taken says nothing about how much of a
            # forged signature was right.
            if hmac.compare_digest(signature, self._signature(data)):
                return data.decode("utf-8"), True
            for old in self._fallback_macs:
                mac = old.copy()
                mac.update(data)
                if hmac.compare_digest(signature, mac.digest()):
                    return data.decode("utf-8"), False
        raise ValueError("cookie signature does not match")


def _keyed(secret: str) -> hmac.HMAC:
    return hmac.new(SALT + _as_bytes(secret), digestmod=hashlib.sha512)


def _from_base64url(signed: bytes) -> bytes:
    """What ``dumps`` encoded: its "=" padding was stripped, so it is put back first."""
    return binascii.a2b_base64((signed + b"=" * (-len(signed) % 4)).translate(_FROM_URLSAFE))


def plausible_id(value: Any) -> bool:
    """A verified id is still checked before it becomes part of a Redis key."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 256
        and value.isascii()
        and value.isprintable()
        and " " not in value
    )


_URLSAFE = re.compile(r"[A-Za-z0-9_-]+")
_VERSION = re.compile(r"[A-Za-z0-9_-]{1,64}")


def split_token(token: Any) -> Tuple[Any, Optional[str]]:
    """What a cookie signs: the session id, or the id and the payload's version
    (``local_cache``) after a space, which no plausible id holds.  A token with
    anything else after the space gives no id (None): a bad cookie."""
    if type(token) is not str or " " not in token:
        return token, None
    session_id, _, version = token.partition(" ")
    return (session_id, version) if _VERSION.fullmatch(version) else (None, None)


def looks_signed(text: str) -> bool:
    """Shaped like what ``SessionIdSigner`` makes, whatever secret signed it: base64url
    of a signature followed by a plausible id.

    Verifies nothing: the operators' tool uses it to tell a cookie value it
    cannot verify (no secret, or not this application's) from a raw session id.
    """
    if not _URLSAFE.fullmatch(text) or len(text) % 4 == 1:  # (a length base64 never has)
        return False
    raw = _from_base64url(text.encode("ascii"))
    session_id, _ = split_token(raw[SIGNATURE_SIZE:].decode("latin-1"))
    return len(raw) > SIGNATURE_SIZE and plausible_id(session_id)


def _cookie_finder(name: str) -> Optional[Callable[[str], Optional[re.Match[str]]]]:
    """``search(header)`` for a base64url value of cookie ``name`` after "; " or
    at the start, or None when WebOb would not read ``name`` as a plain cookie name."""
    if not name.isascii():
        return None
    if list(parse_cookie(f"{name}={_URLSAFE_SAMPLE}")) != [(name.encode(), _URLSAFE_SAMPLE.encode())]:
        return None
    return re.compile(r"(?:\A|; )" + re.escape(name) + r"=([A-Za-z0-9_-]*)(?=;|\Z)").search


def _set_cookie_template(name: str, kwargs: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    """The Set-Cookie header WebOb writes, split around the value, when it does
    not depend on the time (no Max-Age or Expires, which carry a date)."""
    if kwargs["max_age"] is not None or "expires" in kwargs:
        return None
    try:
        sample = make_cookie(name, _URLSAFE_SAMPLE.encode(), **kwargs)
    except Exception:  # let set_cookie() raise it, when a cookie is set
        return None
    before, found, after = sample.partition(_URLSAFE_SAMPLE)
    return (before, after) if found and before == name + "=" else None


class CookieJar:
    """Everything the factory knows about its cookie, prepared once."""

    __slots__ = ("name", "signer", "_verify", "_set_kwargs", "_delete_kwargs", "_finder", "_header")

    @classmethod
    def from_options(cls, options: Dict[str, Any]) -> CookieJar:
        """The jar validated options describe, signing with ``cookie_signer`` or the secrets."""
        signer = options["cookie_signer"] or SessionIdSigner(options["secret"], options["secret_fallbacks"] or ())
        return cls(options, signer)

    def __init__(self, options: Dict[str, Any], signer: Signer):
        self.name: str = options["cookie_name"]
        self.signer = signer
        self._verify = signer.verify if isinstance(signer, SessionIdSigner) else None
        kwargs: Dict[str, Any] = {
            "max_age": options["cookie_max_age"],
            "path": options["cookie_path"],
            "domain": options["cookie_domain"],
            "secure": options["cookie_secure"],
            "httponly": options["cookie_httponly"],
        }
        for name in ("samesite", "comment", "expires"):
            if options["cookie_" + name] is not None:
                kwargs[name] = options["cookie_" + name]
        self._set_kwargs = kwargs
        # A deletion carries the same scope and flags: browsers ignore a
        # Set-Cookie without Secure for __Secure-/__Host- names.
        self._delete_kwargs = {k: v for k, v in kwargs.items() if k not in ("max_age", "expires", "comment")}
        self._finder = _cookie_finder(self.name)
        self._header = _set_cookie_template(self.name, kwargs)

    def _value(self, request: Any) -> Optional[str]:
        """``request.cookies.get(name)``, read straight from the header when that
        is sure to give the same answer (WebOb parses every cookie in it)."""
        try:
            from_environ = type(request).cookies is _ENVIRON_COOKIES
        except AttributeError:  # (faster than getattr() with a default, on a real request)
            from_environ = False
        if not from_environ:
            # Not a request whose cookies come from its environ: a test double
            # such as pyramid.testing.DummyRequest (a plain dict beside an
            # environ without the header), or a class with its own ``cookies``.
            cookie: Optional[str] = request.cookies.get(self.name)
            return cookie
        header = request.environ.get("HTTP_COOKIE")
        if not header:
            return None
        finder = self._finder
        if finder is not None and header.isascii() and '"' not in header and "\\" not in header:
            # Without quotes or escapes WebOb sees a cookie only at a "name=";
            # with the name there once, and right after "; ", that one is ours.
            count = header.count(self.name)
            if count == 0:
                return None
            if count == 1:
                found = finder(header)
                if found is not None:
                    return found.group(1)
        try:
            cookie = request.cookies.get(self.name)
        except UnicodeDecodeError:
            return self._value_despite_undecodable(header)
        return cookie

    def _value_despite_undecodable(self, header: str) -> Optional[str]:
        """Our cookie from a header where some value is not UTF-8 once unescaped.

        WebOb decodes every cookie of the header at once and raises when one of
        them (``"\\200"``) is not UTF-8: a header anyone can send.  Our cookie is
        read on its own, so a stray cookie of another name cannot cost the
        session, and an undecodable one of ours is a bad cookie (""), not a 500.
        """
        found: Optional[bytes] = None
        wanted = self.name.encode("utf-8")
        for name, value in parse_cookie(header):
            if name == wanted:
                found = value  # the last one wins, as in WebOb's dict
        if found is None:
            return None
        try:
            return found.decode("utf-8")
        except UnicodeDecodeError:
            return ""

    def read(self, request: Any) -> Tuple[Optional[str], int]:
        """Return ``(session_id, sent)``: the verified id or None, and whether a
        cookie was sent: ``NO_COOKIE`` (falsy), ``SENT``, or ``SENT_OLD_SECRET``
        when an older secret signed it and it should be signed again."""
        session_id, _, sent = self.read_versioned(request)
        return session_id, sent

    def read_versioned(self, request: Any) -> Tuple[Optional[str], Optional[str], int]:
        """``read()``, and the version the cookie names (None: it names none)."""
        value = self._value(request)
        if value is None:
            return None, None, NO_COOKIE
        return self._verified(value)

    def verify_value(self, value: str) -> Tuple[Optional[str], int]:
        """``read()`` for a cookie value given as text (the operators' tool takes
        one pasted from a browser): ``(session_id or None, SENT or SENT_OLD_SECRET)``."""
        session_id, _, sent = self._verified(value)
        return session_id, sent

    def _verified(self, value: str) -> Tuple[Optional[str], Optional[str], int]:
        if not value or len(value) > MAX_COOKIE_LENGTH or not value.isascii():
            return None, None, SENT
        sent = SENT
        try:
            if self._verify is not None:
                session_id, current = self._verify(value.encode("ascii"))
                if not current:
                    sent = SENT_OLD_SECRET
            else:
                session_id = self.signer.loads(value.encode("ascii"))
        except Exception:  # a custom signer may raise anything: a bad cookie is never a 500
            return None, None, SENT
        session_id, version = split_token(session_id)
        return (session_id, version, sent) if plausible_id(session_id) else (None, None, SENT)

    def set(
        self, response: Any, session_id: str, overrides: Optional[Dict[str, Any]] = None, version: Optional[str] = None
    ) -> None:
        """Send the cookie; with ``version``, it names the payload's version too (``local_cache``)."""
        signed = self.signer.dumps(session_id if version is None else f"{session_id} {version}")
        if isinstance(signed, bytes):
            signed = signed.decode("ascii")
        header = self._header
        if header is not None and not overrides and _URLSAFE.fullmatch(signed):
            headers = response.headerlist
            for name, _ in headers:
                if name.lower() in ("set-cookie", "vary"):
                    break
            else:
                # What set_cookie(overwrite=True) and add_vary_cookie() would add.
                headers.append(("Set-Cookie", header[0] + signed + header[1]))
                headers.append(("Vary", "Cookie"))
                return
        kwargs = self._set_kwargs if not overrides else {**self._set_kwargs, **overrides}
        response.set_cookie(self.name, signed, overwrite=True, **kwargs)
        add_vary_cookie(response)

    def delete(self, response: Any) -> None:
        response.set_cookie(self.name, None, overwrite=True, **self._delete_kwargs)
        add_vary_cookie(response)

    def unset(self, response: Any) -> None:
        """Take back what ``set`` or ``delete`` put on ``response``: it leaves the browser's cookie as it is."""
        response.unset_cookie(self.name, strict=False)


def add_vary_cookie(response: Any) -> None:
    headers = response.headerlist
    for name, _ in headers:
        if name.lower() == "vary":
            break
    else:
        headers.append(("Vary", "Cookie"))  # what setting response.vary would do
        return
    vary = response.vary or ()
    if not any(name.lower() == "cookie" for name in vary):
        response.vary = (*vary, "Cookie")


# One Cache-Control directive: a name, and a value that may be a quoted list.
_DIRECTIVE = re.compile(r'([^\s,="]+)(?:\s*=\s*("[^"]*"|[^\s,]*))?')


def _kept_from_shared_caches(cache_control: str) -> bool:
    """Whether a response with this Cache-Control cannot give its Set-Cookie to
    a shared cache: ``no-store`` (no cache keeps it), ``private`` (only the
    browser may), or ``private="set-cookie"`` (a shared cache may keep the
    response, but not that header).  ``no-cache`` is not enough: a cache may
    keep such a response, and serve it, cookie included, once revalidated."""
    for found in _DIRECTIVE.finditer(cache_control):
        name, value = found.group(1).lower(), found.group(2)
        if name == "no-store":
            return True
        if name == "private":
            if not value:
                return True
            fields = value.strip('"').lower().replace(",", " ").split()
            if "set-cookie" in fields:
                return True
    return False


def check_response_allow_cookies(response: Any) -> bool:
    """A ready ``func_check_response_allow_cookies``: no session cookie on a
    response that a shared cache may store (it has ``Expires`` or
    ``Cache-Control``), so that a cache never hands one user's cookie to
    another.  A response marked ``no-store`` or ``private`` is not one: a
    shared cache keeps neither, so it may carry the cookie (a login response
    usually is such a response, and must carry the new id)."""
    headers = response.headers
    cache_control = [value for name, value in headers.items() if name.lower() == "cache-control"]
    if cache_control and _kept_from_shared_caches(", ".join(cache_control)):
        return True
    return "expires" not in headers and not cache_control
