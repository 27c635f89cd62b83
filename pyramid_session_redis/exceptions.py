"""Public errors.

Everything that can be wrong with an *incoming* session is an ``InvalidSession``
subclass: the library catches it, reports it to ``func_invalid_logger`` and
starts a new session.  The other errors here are raised to the application.
"""

from __future__ import annotations

from typing import Tuple

from pyramid.exceptions import ConfigurationError

__all__ = [
    "InvalidSession",
    "InvalidSession_NoSessionCookie",
    "InvalidSession_BadCookie",
    "InvalidSession_NotInBackend",
    "InvalidSession_DeserializationError",
    "InvalidSession_PayloadTimeout",
    "InvalidSession_PayloadLegacy",
    "RawDeserializationError",
    "SessionPayloadError",
    "SessionPayloadTooLarge",
    "SessionConflict",
    "SessionBackendError",
    "SessionBackendUnavailable",
    "InvalidSetting",
    # Deprecated: 1.8 names, kept so that code importing them keeps working.
    "InvalidSession_Lazycreate",
    "InvalidSessionId_Serialization",
    "InvalidSessionId_Deserialization",
]


class InvalidSession(Exception):
    """Base class: the incoming session could not be used; a new one replaces it."""


class InvalidSession_NoSessionCookie(InvalidSession):
    """The request carried no session cookie (an ordinary first visit)."""


class InvalidSession_BadCookie(InvalidSession_NoSessionCookie):
    """A session cookie was sent but could not be verified.

    Its signature is wrong (a forged cookie, or a changed ``secret``), or it is
    malformed, oversized or not ASCII.  It subclasses
    ``InvalidSession_NoSessionCookie`` because, as far as the session is
    concerned, no usable cookie was sent; loggers written for the 1.x classes
    keep counting it there.
    """


class InvalidSession_NotInBackend(InvalidSession):
    """The cookie was valid but Redis holds no session under its id (expired or evicted)."""


class InvalidSession_DeserializationError(InvalidSession):
    """The stored payload cannot be used: the serializer cannot decode it, a
    field is missing or out of range (a timeout of ``10**30``), or it is larger
    than ``max_payload_bytes``.  Its key is deleted at the end of the request.

    With ``deserialized_fails_new = false``, a payload that cannot be decoded
    or is damaged raises ``RawDeserializationError`` instead, and its key is
    left alone; a payload over ``max_payload_bytes`` is replaced all the same.
    """


class InvalidSession_PayloadTimeout(InvalidSession):
    """The payload's own expiry (``python_expires``) has passed."""


class InvalidSession_PayloadLegacy(InvalidSession):
    """The stored payload has an unknown version or format (for example pickle bytes
    read by the JSON serializer)."""


class RawDeserializationError(Exception):
    """A stored payload could not be decoded and ``deserialized_fails_new`` is off.

    ``args[0]`` is the exception raised by the deserializer.  This is raised to
    the application, on purpose: a wrong ``deserialize`` setting should be loud.
    """


class SessionPayloadError(ValueError):
    """The session cannot be stored as it is: a value the serializer cannot
    encode (a ``set``, an object, a lone surrogate ``"\\ud800"``, nesting
    deeper than the encoder goes), or a payload over ``max_payload_bytes``
    (``SessionPayloadTooLarge``).  Nothing was stored; what Redis held before
    is left as it was.  The serializer's own exception is ``__cause__``.

    Raised to the view by ``do_persist()``.  At the end of the request, where
    no view or exception view can catch it any more, it is reported to
    ``func_payload_error_logger`` and logged instead of raised; old sessions
    the request ended (``invalidate()``, ``regenerate_id()``) are still deleted.
    """


class SessionPayloadTooLarge(SessionPayloadError):
    """The session, serialized, is larger than ``max_payload_bytes``; nothing was stored.

    A ``SessionPayloadError`` (and so a ``ValueError``): raised by
    ``do_persist()``, reported and logged at the end of the request.  What
    Redis held before is left as it was.
    """

    def __init__(self, size: int, limit: int):
        super().__init__(
            f"the session payload is {size} bytes, more than max_payload_bytes = {limit}; "
            "it was not stored (keep large data out of the session, or raise the limit)"
        )
        self.size = size
        self.limit = limit


class SessionConflict(Exception):
    """A concurrent request changed or ended this session while this one ran.

    Given to ``func_conflict_logger`` when a merge kept this request's value of
    keys the other request had also changed (``keys``), or when this request's
    write was dropped because the session had been invalidated or had expired
    meanwhile (``gone``).  Raised with ``on_conflict = raise``, and when the
    session kept changing under every attempt to merge.
    """

    def __init__(self, message: str, keys: Tuple[str, ...] = (), gone: bool = False):
        super().__init__(message)
        self.keys = keys
        self.gone = gone


class SessionBackendError(Exception):
    """Redis failed (unreachable, timed out, refused the command) while the
    session was being loaded or stored.  The redis-py error is ``__cause__``.

    Raised to the application by default, so that an exception view can
    render it; with ``on_backend_error = degrade`` the request goes on with an
    empty session instead.  Either way ``func_backend_error_logger`` is told.
    """


class SessionBackendUnavailable(SessionBackendError):
    """Redis failed moments ago and the circuit breaker is open: the command was
    not sent (see ``backend_cooldown``).

    Raised at once, where the failed command would have been sent, and handled
    as any ``SessionBackendError`` is.  It has no ``__cause__``: its message
    says what the failure that opened the breaker was, and when Redis is tried
    again.
    """


class InvalidSetting(ConfigurationError, ValueError):  # type: ignore[misc]  # pyramid is untyped: its class is Any
    """A session option has a wrong name, type, value or combination.

    A ``pyramid.exceptions.ConfigurationError`` (what Pyramid apps expect at
    start-up) that is also a ``ValueError`` (what the 1.x factory raised).
    """


# -- 1.8 names kept for compatibility (deprecated) ------------------------------


class InvalidSession_Lazycreate(InvalidSession):
    """Deprecated, kept for 1.8 code that imports it; never raised.

    1.8 raised it internally when a session without an id was about to be
    written.  Sessions here draw their id when they are first stored.
    """


class InvalidSessionId_Serialization(ValueError):
    """Deprecated, kept for 1.8 code that imports it; never raised by this package.

    In 1.8 its cookie signer raised it for a session id it could not encode.
    A ``cookie_signer`` may still raise it: it is a ``ValueError``, what a
    signer raises for bad input.
    """


class InvalidSessionId_Deserialization(ValueError):
    """Deprecated, kept for 1.8 code that imports it; never raised by this package.

    In 1.8 its cookie signer raised it for a cookie whose session id it could
    not decode.  A ``cookie_signer`` may still raise it from ``loads``: it is
    a ``ValueError``, and the cookie is then reported as
    ``InvalidSession_BadCookie`` like any other that does not verify.
    """
