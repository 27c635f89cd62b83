"""Deprecated: the names 1.8 code imports from ``pyramid_session_redis.util``.

Each is a thin alias or adapter over what replaced it, kept so that an
application written for 1.8 runs unchanged; new code should use the
replacement named in each docstring (see ``docs/migration.rst``).  The option
lists are derived from the option table (``options.OPTIONS``), so they follow
it.
"""

from __future__ import annotations

from typing import Any, Tuple

import redis

from .connection import build_client
from .cookies import Signer
from .kinds import (
    BOOL,
    CALLABLE,
    COUNT,
    OPT_BOOL,
    OPT_COUNT,
    OPT_STR,
    SAMESITE,
    SECONDS,
    SIGNER,
    STR,
    Kind,
)
from .options import OPTIONS, validate

__all__ = [
    "LazyCreateSession",
    "SignedSerializerInterface",
    "configs_bool",
    "configs_dotable",
    "configs_int",
    "configs_int_none",
    "configs_str",
    "configs_unsupported",
    "get_default_connection",
]


def _names(*kinds: Kind) -> Tuple[str, ...]:
    return tuple(name for name, opt in OPTIONS.items() if any(opt.kind is kind for kind in kinds))


#: Deprecated: the options that are booleans (in ini: a boolean word).
configs_bool = _names(BOOL, OPT_BOOL)
#: Deprecated: the options that are callables or objects (in ini: a dotted Python name).
configs_dotable = _names(CALLABLE, SIGNER)
#: Deprecated: the options that are whole numbers.
configs_int = _names(COUNT)
#: Deprecated: the options that are whole numbers or None.
configs_int_none = _names(OPT_COUNT, SECONDS)
#: Deprecated: the options that are strings.
configs_str = _names(STR, OPT_STR, SAMESITE)
#: Deprecated: the options an ini file cannot give (Python objects only).
configs_unsupported = tuple(name for name, opt in OPTIONS.items() if opt.kind.python_only)

#: Deprecated: what ``session.session_id`` is while a new session has no id.
#: 1.8 used this marker; here it is None, so ``session_id is LazyCreateSession``
#: still tells whether the session has an id.
LazyCreateSession = None

#: Deprecated: the interface of a ``cookie_signer``; an alias of
#: ``pyramid_session_redis.cookies.Signer``.
SignedSerializerInterface = Signer

_REGISTRY_ATTR = "_pyramid_session_redis"


def get_default_connection(
    request: Any, url: Any = None, client_class: Any = redis.Redis, **redis_options: Any
) -> Any:
    """Deprecated: the Redis client for ``redis_options``, built once per registry.

    1.8's default connection maker, for ``redis_client_callable`` functions
    that fall back on it.  It takes the keywords such a callable receives
    (``host``, ``port``, ``db``, ``password``, ``socket_timeout``, ...) and,
    optionally, a ``url`` that wins over them; the client is built as the
    ``redis_*`` options would build it and kept on ``request.registry``, so
    that later calls return the same client.  Only ``redis.Redis`` (or its
    alias ``StrictRedis``) can be the ``client_class``.
    """
    client = getattr(request.registry, _REGISTRY_ATTR, None)
    if client is not None:
        return client
    if client_class is not redis.Redis:
        raise TypeError(
            "get_default_connection builds redis.Redis clients only; return your own client "
            "from redis_client_callable instead"
        )
    options = {"redis_" + name: value for name, value in redis_options.items()}
    options["redis_url"] = url
    client = build_client(validate(options, require_signer=False))
    setattr(request.registry, _REGISTRY_ATTR, client)
    return client
