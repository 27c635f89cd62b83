"""The public errors (exceptions.py): what subclasses what, so that handlers
written for 1.8 keep catching what they caught."""

from __future__ import annotations

import pytest
from pyramid.exceptions import ConfigurationError

from pyramid_session_redis import exceptions
from pyramid_session_redis.exceptions import (
    InvalidSession,
    InvalidSession_BadCookie,
    InvalidSession_DeserializationError,
    InvalidSession_NoSessionCookie,
    InvalidSession_NotInBackend,
    InvalidSession_PayloadLegacy,
    InvalidSession_PayloadTimeout,
    InvalidSetting,
    RawDeserializationError,
    SessionBackendError,
    SessionConflict,
    SessionPayloadError,
    SessionPayloadTooLarge,
)

# What 1.8's pyramid_session_redis.exceptions offered: code that imports them keeps working.
NAMES_1_8 = [
    "InvalidSession",
    "InvalidSession_NoSessionCookie",
    "InvalidSession_NotInBackend",
    "InvalidSession_DeserializationError",
    "InvalidSession_PayloadTimeout",
    "InvalidSession_PayloadLegacy",
    "RawDeserializationError",
    # Deprecated, kept only so that 1.8 code importing them still imports.
    "InvalidSession_Lazycreate",
    "InvalidSessionId_Serialization",
    "InvalidSessionId_Deserialization",
]


@pytest.mark.parametrize("name", NAMES_1_8)
def test_the_names_1_8_code_imports_still_exist_and_are_exceptions(name):
    assert issubclass(getattr(exceptions, name), Exception)
    assert name in exceptions.__all__


def test_everything_exported_exists():
    assert all(isinstance(getattr(exceptions, name), type) for name in exceptions.__all__)


@pytest.mark.parametrize("cls", [
    InvalidSession_NoSessionCookie,
    InvalidSession_BadCookie,
    InvalidSession_NotInBackend,
    InvalidSession_DeserializationError,
    InvalidSession_PayloadTimeout,
    InvalidSession_PayloadLegacy,
])
def test_every_reason_a_session_is_unusable_is_an_invalid_session(cls):
    assert issubclass(cls, InvalidSession)


def test_a_bad_cookie_counts_as_no_cookie_for_1x_loggers():
    assert issubclass(InvalidSession_BadCookie, InvalidSession_NoSessionCookie)
    assert not issubclass(InvalidSession_NoSessionCookie, InvalidSession_BadCookie)


@pytest.mark.parametrize("cls", [RawDeserializationError, SessionPayloadError, SessionPayloadTooLarge, SessionConflict,
                                 SessionBackendError])
def test_errors_raised_to_the_application_are_not_invalid_sessions(cls):
    assert not issubclass(cls, InvalidSession)


def test_invalid_setting_is_a_configuration_error_and_a_value_error():
    assert issubclass(InvalidSetting, ConfigurationError) and issubclass(InvalidSetting, ValueError)
    with pytest.raises(ValueError, match="timeout"):
        raise InvalidSetting("timeout is wrong")


def test_payload_too_large_is_a_value_error_that_says_size_and_limit():
    exc = SessionPayloadTooLarge(2000, 1000)
    assert isinstance(exc, ValueError) and (exc.size, exc.limit) == (2000, 1000)
    assert "2000 bytes" in str(exc) and "max_payload_bytes = 1000" in str(exc)


def test_every_session_that_cannot_be_stored_is_one_payload_error():
    # One except clause (or exception view) for both; still the ValueError SessionPayloadTooLarge was.
    assert issubclass(SessionPayloadTooLarge, SessionPayloadError) and issubclass(SessionPayloadError, ValueError)
    assert "SessionPayloadError" in exceptions.__all__


def test_session_conflict_carries_the_keys_and_whether_the_session_was_gone():
    assert (SessionConflict("m").keys, SessionConflict("m").gone) == ((), False)
    exc = SessionConflict("kept", keys=("a", "b"), gone=True)
    assert str(exc) == "kept" and exc.keys == ("a", "b") and exc.gone is True


def test_raw_deserialization_error_holds_the_deserializers_error():
    cause = ValueError("bad json")
    assert RawDeserializationError(cause).args[0] is cause


def test_every_name_1_8_1_exports_from_exceptions_is_listed():
    # 1.8.1's exceptions.py defined exactly these classes (and had no __all__).
    assert set(NAMES_1_8) == {
        "InvalidSession", "InvalidSession_NoSessionCookie", "InvalidSession_Lazycreate",
        "InvalidSession_NotInBackend", "InvalidSession_DeserializationError",
        "InvalidSession_PayloadTimeout", "InvalidSession_PayloadLegacy", "RawDeserializationError",
        "InvalidSessionId_Deserialization", "InvalidSessionId_Serialization",
    }


def test_the_deprecated_1_8_classes_sit_where_1_8_put_them_and_say_they_are_deprecated():
    # An InvalidSession, as in 1.8 (never raised here: ids are drawn when stored).
    assert issubclass(exceptions.InvalidSession_Lazycreate, InvalidSession)
    # The cookie signer's id errors: ValueErrors, what a cookie_signer raises for bad input.
    for cls in (exceptions.InvalidSessionId_Serialization, exceptions.InvalidSessionId_Deserialization):
        assert issubclass(cls, ValueError) and not issubclass(cls, InvalidSession)
    for cls in (exceptions.InvalidSession_Lazycreate, exceptions.InvalidSessionId_Serialization,
                exceptions.InvalidSessionId_Deserialization):
        assert "Deprecated" in (cls.__doc__ or "")


def test_a_signer_raising_the_1_8_id_error_makes_a_bad_cookie():
    from pyramid.request import Request

    from pyramid_session_redis import RedisSessionFactory

    class Signer18:
        def dumps(self, session_id: str) -> bytes:
            return session_id.encode()

        def loads(self, signed: bytes) -> str:
            raise exceptions.InvalidSessionId_Deserialization(signed)

    reports = []
    factory = RedisSessionFactory(cookie_signer=Signer18(), redis_url="memory://exc18",
                                  func_invalid_logger=lambda request, exc: reports.append(exc))
    request = Request.blank("/", headers={"Cookie": "session=whatever"})
    session = factory(request)
    assert session.new
    assert [type(r) for r in reports] == [InvalidSession_BadCookie]
