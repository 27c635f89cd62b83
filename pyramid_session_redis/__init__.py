"""Server-side Pyramid sessions in Redis: lazy, and one Redis command per request.

The public face only; each piece lives in a module of its own.
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Any, Mapping

from .cookies import check_response_allow_cookies
from .factory import SessionFactory, make_factory
from .options import OPTIONS, POSITIONAL_1X, parse_settings, positional, settings_key
from .session import RedisSession
from .util import configs_bool, configs_dotable, get_default_connection

__version__ = "2.0.0.dev0"

__all__ = [
    "RedisSessionFactory",
    "session_factory_from_settings",
    "includeme",
    "check_response_allow_cookies",
    "RedisSession",
    # Deprecated 1.8 names (see pyramid_session_redis.util):
    "configs_bool",
    "configs_dotable",
    "get_default_connection",
]


def RedisSessionFactory(*args: Any, **options: Any) -> SessionFactory:
    """Build a Pyramid session factory that keeps sessions in Redis.

    Options are keywords (the first ones may also be given positionally, in
    the order 1.8 accepted them: ``secret``, ``timeout``, ``cookie_name``...);
    the settings reference (``docs/settings.rst``,
    generated from ``pyramid_session_redis.options``) lists them with their
    defaults.  The common ones::

        RedisSessionFactory(
            secret="a long random string",     # or cookie_signer=...
            timeout=1200,                      # seconds of inactivity
            redis_url="redis://localhost:6379/0",
            cookie_secure=True,
        )

    An unknown option, a wrong value or an impossible combination raises
    ``pyramid_session_redis.exceptions.InvalidSetting`` (a Pyramid
    ``ConfigurationError`` and a ``ValueError``) that names it.
    """
    return make_factory(positional(args, options) if args else options)


def _describe_options(factory: Any) -> None:
    """Give ``factory`` a signature and docstring listing every option with its default.

    ``*args, **options`` is what the function takes (it checks them against the
    table itself), but ``help()``, ``inspect.signature``, Sphinx and IDEs show
    these instead, so that every option can be seen where the factory is called.
    The options 1.8 took positionally come first, in its order, as they are
    accepted; every other option is keyword-only.
    """
    Parameter = inspect.Parameter
    first = [Parameter(name, Parameter.POSITIONAL_OR_KEYWORD, default=OPTIONS[name].default) for name in POSITIONAL_1X]
    rest = [Parameter(name, Parameter.KEYWORD_ONLY, default=opt.default)
            for name, opt in OPTIONS.items() if name not in POSITIONAL_1X]
    factory.__signature__ = inspect.Signature(first + rest, return_annotation=SessionFactory)
    lines = ["Every option, with its default:", ""]
    group = None
    for name, opt in OPTIONS.items():
        if opt.group != group:
            group = opt.group
            lines.append(group)
        lines.append(f"    ``{name}={opt.default!r}``")
        lines += textwrap.wrap(opt.doc_rst, 76, initial_indent=" " * 8, subsequent_indent=" " * 8)
    # (The docstring's own lines are indented by 4, which inspect.cleandoc removes.)
    factory.__doc__ = factory.__doc__.rstrip() + "\n\n" + textwrap.indent("\n".join(lines), "    ") + "\n"


_describe_options(RedisSessionFactory)


def session_factory_from_settings(settings: Mapping[str, Any]) -> SessionFactory:
    """Build the factory from the ``redis.sessions.*`` keys of Pyramid settings."""
    return make_factory(parse_settings(settings), settings_key)


def includeme(config: Any) -> None:
    """``config.include('pyramid_session_redis')``: configure sessions from the settings.

    As in 1.8, the settings that name callables or objects by dotted name
    (``serialize``, ``func_invalid_logger``, ``cookie_signer``...: the
    options listed in ``configs_dotable``) are replaced in
    ``registry.settings`` by what they name; every other value is left as
    it was written.
    """
    settings = config.registry.settings
    options = parse_settings(settings)
    for name in configs_dotable:
        if settings_key(name) in settings:
            settings[settings_key(name)] = options[name]
    config.set_session_factory(make_factory(options, settings_key))
