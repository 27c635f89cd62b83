"""Deprecated: the names 1.8 code imports from ``pyramid_session_redis.util``.

Each is a thin alias or adapter over what replaced it, kept so that an
application written for 1.8 runs unchanged; new code should use the
replacement named in each docstring (see ``docs/migration.rst``).  The option
lists are derived from the option table (``options.OPTIONS``), so they follow
it.
"""

from __future__ import annotations

from typing import Tuple

from .connection import get_default_connection as get_default_connection
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
from .options import OPTIONS

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

