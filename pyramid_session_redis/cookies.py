"""The session cookie: signing, reading, setting and deleting it.

The signed value has the layout the 1.x releases used (base64url of an
HMAC-SHA512 signature followed by the session id, with the salt
``pyramid_session_redis.``), so cookies issued by them stay valid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any, Dict, Optional

SALT = b"pyramid_session_redis."
MAX_COOKIE_LENGTH = 4096  # a longer cookie is rejected before any hashing
_SIG_SIZE = hashlib.sha512().digest_size


def _as_bytes(text: str) -> bytes:
    # 1.x (through WebOb) encoded the secret as latin-1 when it could, else UTF-8.
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


class SessionIdSigner:
    """Signs and verifies session ids with a secret.  ``loads`` raises ValueError."""

    __slots__ = ("_mac",)

    def __init__(self, secret: str):
        self._mac = hmac.new(SALT + _as_bytes(secret), digestmod=hashlib.sha512)

    def _signature(self, data: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(data)
        return mac.digest()

    def dumps(self, session_id: str) -> bytes:
        data = session_id.encode("utf-8")
        return base64.urlsafe_b64encode(self._signature(data) + data).rstrip(b"=")

    def loads(self, signed: bytes) -> str:
        try:
            raw = base64.urlsafe_b64decode(signed + b"=" * (-len(signed) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"cookie is not base64: {exc}") from None
        signature, data = raw[:_SIG_SIZE], raw[_SIG_SIZE:]
        if not data or not hmac.compare_digest(signature, self._signature(data)):
            raise ValueError("cookie signature does not match")
        return data.decode("utf-8")


def plausible_id(value: Any) -> bool:
    """A verified id is still checked before it becomes part of a Redis key."""
    return isinstance(value, str) and 0 < len(value) <= 256 and value.isascii() and value.isprintable() and " " not in value


class CookieJar:
    """Everything the factory knows about its cookie, prepared once."""

    __slots__ = ("name", "signer", "_set_kwargs", "_delete_kwargs")

    def __init__(self, options: Dict[str, Any], signer: Any):
        self.name: str = options["cookie_name"]
        self.signer = signer
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

    def read(self, request: Any) -> "tuple[Optional[str], bool]":
        """Return ``(session_id, sent)``: the verified id or None, and whether a cookie was sent."""
        value = request.cookies.get(self.name)
        if value is None:
            return None, False
        if not value or len(value) > MAX_COOKIE_LENGTH or not value.isascii():
            return None, True
        try:
            session_id = self.signer.loads(value.encode("ascii"))
        except Exception:  # a custom signer may raise anything: a bad cookie is never a 500
            return None, True
        return (session_id, True) if plausible_id(session_id) else (None, True)

    def set(self, response: Any, session_id: str, overrides: Optional[Dict[str, Any]] = None) -> None:
        signed = self.signer.dumps(session_id)
        if isinstance(signed, bytes):
            signed = signed.decode("ascii")
        kwargs = self._set_kwargs if not overrides else {**self._set_kwargs, **overrides}
        response.set_cookie(self.name, signed, overwrite=True, **kwargs)
        add_vary_cookie(response)

    def delete(self, response: Any) -> None:
        response.set_cookie(self.name, None, overwrite=True, **self._delete_kwargs)
        add_vary_cookie(response)


def add_vary_cookie(response: Any) -> None:
    vary = response.vary or ()
    if not any(name.lower() == "cookie" for name in vary):
        response.vary = tuple(vary) + ("Cookie",)


def check_response_allow_cookies(response: Any) -> bool:
    """A ready ``func_check_response_allow_cookies``: no session cookie on a
    response that declares itself cacheable (it has ``Expires`` or
    ``Cache-Control``), so a shared cache never stores one user's cookie."""
    headers = response.headers
    return "expires" not in headers and "cache-control" not in headers
