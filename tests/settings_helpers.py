"""Factories built from keywords or from ini-style settings, for the tests of the settings."""

from __future__ import annotations

from typing import Any, Dict

from pyramid_session_redis import RedisSessionFactory, session_factory_from_settings
from pyramid_session_redis.cookies import SessionIdSigner
from pyramid_session_redis.factory import SessionFactory

P = "redis.sessions."


def ini(**values: Any) -> Dict[str, Any]:
    """Settings as an ini file gives them: every value a string."""
    settings = {P + name: value for name, value in values.items()}
    settings.setdefault(P + "secret", "s3cret-of-thirty-two-bytes-or-more")
    return settings


def from_ini(**values: Any) -> SessionFactory:
    return session_factory_from_settings(ini(**values))


def factory(**kw: Any) -> SessionFactory:
    kw.setdefault("secret", "s3cret-of-thirty-two-bytes-or-more")
    return RedisSessionFactory(**kw)


# -- objects that ini files refer to by dotted name ---------------------------


def log_invalid(request: Any, exc: Exception) -> None:
    return None


def my_serialize(payload: Any) -> bytes:
    return b"{}"


def my_deserialize(raw: bytes) -> Dict[str, Any]:
    return {}


def my_id_generator() -> str:
    return "fixed-session-id"


def id_generator_returning_int() -> int:
    return 42


def id_generator_returning_space() -> str:
    return "has a space"


def id_generator_raising() -> str:
    raise RuntimeError("no entropy today")


def client_callable(request: Any, **kw: Any) -> None:
    return None


MY_SIGNER = SessionIdSigner("signer secret")
