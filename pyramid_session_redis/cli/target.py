"""From the application's ini file and the command line's overrides to a ``Target``.

The ``redis.sessions.*`` settings are validated by the library's own checks,
so the tool reaches exactly the Redis, prefix and serializer that the
application uses, and describes where that is without showing a password.
"""

from __future__ import annotations

import argparse
import configparser
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from typing import Any, Callable, Dict, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

from .. import options as option_table
from ..connection import build_store, location_url
from ..cookies import CookieJar
from ..exceptions import InvalidSetting
from ..keyspace import Keyspace
from ..resolved import serializers, warn_if_unpickling
from ..store import RedisStore
from .errors import NOT_FOUND, USAGE, Failure, one_line, setting

# Options that say where Redis is; --redis-url replaces all of them.
_LOCATION_OPTIONS = (
    "redis_host", "redis_port", "redis_unix_socket_path", "redis_connection_pool", "redis_client_callable",
    "redis_sentinels", "redis_sentinel_master", "redis_sentinel_password",
)
_GLOB_SPECIALS = frozenset("*?[]\\")


@dataclass
class Target:
    """The sessions the command works on, and how to reach and read them."""

    keys: Keyspace
    prefix: str
    deserialize: Callable[[bytes], Any]
    serializer: str  # for messages
    cookies: Optional[CookieJar]  # None: the settings have no secret to verify cookie values with
    location: str  # where Redis is, password hidden
    db: int
    cluster: bool

    @property
    def match(self) -> str:
        return escape_glob(self.prefix) + "*"

    @property
    def where(self) -> str:
        return f"{self.location}, db {self.db}" + (" (Redis Cluster: every primary)" if self.cluster else "")


def escape_glob(text: str) -> str:
    """``text`` as a SCAN MATCH pattern that matches only itself: ``* ? [ ] \\`` escaped."""
    return "".join("\\" + char if char in _GLOB_SPECIALS else char for char in text)


def read_settings(config_uri: str, variables: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """The application's settings, read as ``pshell`` reads them (``file.ini#section``).

    ``variables`` are the command line's ``name=value`` words, handed to the
    loader as pshell and pserve hand theirs: they fill ``%(name)s`` and
    ``get setting = name`` in the ini file.  Whatever stops the ini file from
    being read is a ``Failure`` of one line: the operator needs what is wrong
    with the file, not where in PasteDeploy it was noticed.
    """
    from pyramid.paster import get_appsettings, setup_logging

    variables = variables or {}
    try:
        setup_logging(config_uri, global_conf=variables)
        settings = get_appsettings(config_uri, options=variables)
    except configparser.InterpolationMissingOptionError as exc:
        raise Failure(
            USAGE,
            f"{config_uri}: [{exc.section}] {exc.option} uses %({exc.reference})s, which is not defined: "
            f"give it after the file name ({exc.reference}=...) or in the file's [DEFAULT] section",
        ) from None
    except configparser.Error as exc:  # no section header, bad line, duplicate, bad %(...)s
        raise Failure(USAGE, f"cannot parse {config_uri}: {one_line(exc.message)}") from None
    except ImportError as exc:  # includes importlib.metadata.PackageNotFoundError
        raise Failure(USAGE, f"cannot load the application of {config_uri}: {_import_problem(exc)}") from None
    except FileNotFoundError:
        raise Failure(USAGE, f"cannot read the settings of {config_uri}: no such file") from None
    except (OSError, LookupError, ValueError) as exc:  # unreadable, no such section, no loader, bad URI
        raise Failure(USAGE, f"cannot read the settings of {config_uri}: {one_line(str(exc))}") from None
    except Exception as exc:
        # pkg_resources.DistributionNotFound, from a PasteDeploy that still uses pkg_resources.
        if not any(cls.__name__ == "DistributionNotFound" for cls in type(exc).__mro__):
            raise
        raise Failure(
            USAGE, f"cannot load the application of {config_uri}: {one_line(str(exc))} (is its package installed?)"
        ) from None
    return dict(settings)


def _import_problem(exc: ImportError) -> str:
    if isinstance(exc, PackageNotFoundError):
        return (
            f"the package {', '.join(map(str, exc.args))} is not installed "
            "(pip install it, or pip install -e its project directory)"
        )
    return one_line(f"{type(exc).__name__}: {exc}")


def load_target(args: argparse.Namespace) -> Target:
    """Validate the ``redis.sessions.*`` settings with the library's own checks, then apply the overrides."""
    settings = read_settings(args.config_uri, getattr(args, "variables", None))
    try:
        options = option_table.parse_settings(settings)
    except InvalidSetting as exc:
        raise Failure(USAGE, f"{args.config_uri}: {exc}") from None
    if args.prefix is not None:
        options["prefix"] = args.prefix
    if args.redis_url is not None:
        for name in _LOCATION_OPTIONS:
            options.pop(name, None)
        options["redis_url"] = args.redis_url
    if args.cluster:
        options["redis_cluster"] = True
    # Without secret, cookie_signer or secret_fallbacks this tool still reads raw ids; the
    # library would refuse such settings, since it could not sign a cookie.  (Fallbacks
    # alone stay the library's "give exactly one of" error.)
    unsigned = all(options.get(name) is None for name in ("secret", "cookie_signer", "secret_fallbacks"))
    try:
        values = option_table.validate(options, setting, require_signer=not unsigned)
    except InvalidSetting as exc:  # a bad value, a database on a cluster...
        raise Failure(USAGE, f"{args.config_uri}: {exc}") from None
    cookies = None if unsigned else CookieJar.from_options(values)
    deserialize = serializers(values)[1]
    warn_if_unpickling(values)

    url = location_url(values)
    if url is not None and url.startswith("memory:"):
        raise Failure(
            NOT_FOUND,
            f"{setting('redis_url')} = {url}: these sessions live inside the application's own processes, "
            "where this tool cannot reach them (give --redis-url to look at a Redis server instead)",
        )
    if values["redis_client_callable"] is not None:
        raise Failure(
            USAGE,
            f"{setting('redis_client_callable')} builds the Redis client inside the application, per request: "
            "give --redis-url (and --cluster for a Redis Cluster) to say where the sessions are",
        )
    if url is not None:
        shown = hide_password(url)
        _check_url(url, f"--redis-url {shown}" if args.redis_url is not None else
                   f"{args.config_uri}: {setting('redis_url')} = {shown}")
    keys = open_keyspace(values)  # (connects to nothing yet)
    location, db = describe_location(values, keys)
    return Target(
        keys=keys,
        prefix=keys.prefix,
        deserialize=deserialize,
        serializer=_serializer_name(values),
        cookies=cookies,
        location=location,
        db=db,
        cluster=values["redis_cluster"],
    )


def _check_url(url: str, source: str) -> None:
    """A URL redis-py cannot use is a usage error, found before any command (a cluster's
    client is built on first use, so its URL would otherwise fail in the middle of one)."""
    from redis import ConnectionPool

    try:
        ConnectionPool.from_url(url)  # parses the URL as the client will, and connects to nothing
    except ValueError as exc:
        raise Failure(USAGE, f"{source}: {one_line(str(exc))}") from None


def open_keyspace(values: Dict[str, Any]) -> Keyspace:
    """The sessions' keys in the Redis the validated options name (neither memory:// nor
    ``redis_client_callable``): the application's own store, seen by an operator."""
    store = build_store(values)
    assert isinstance(store, RedisStore)  # memory:// is the only other kind build_store makes
    return Keyspace(prefix=store.prefix, client_for=lambda: store.client, cluster=values["redis_cluster"])


def _serializer_name(values: Dict[str, Any]) -> str:
    if values["serialize"] is not None:
        return f"{setting('deserialize')} = {getattr(values['deserialize'], '__name__', 'custom')}"
    name = values["serializer"] or "json"
    return name + (" (with pickle_migration)" if values["pickle_migration"] else "")


def hide_password(url: str) -> str:
    """``url`` with any password in it replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = userinfo.split(":", 1)[0] + ":***@" + hostport
    query = parts.query
    if query:
        pairs = [pair.split("=", 1) for pair in query.split("&")]
        query = "&".join(
            f"{pair[0]}=***" if pair[0].lower() == "password" and len(pair) == 2 else "=".join(pair) for pair in pairs
        )
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # (urlunsplit would also turn unix:///path into unix:/path)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def describe_location(values: Dict[str, Any], keys: Keyspace) -> Tuple[str, int]:
    """Where the sessions are, as shown to the operator (no password), and the database number
    (as the client has it: a URL's database wins over ``redis_db``; always 0 on a cluster)."""
    password = " (with a password)" if values["redis_password"] is not None else ""
    db = keys.db
    if values["redis_sentinels"] is not None:
        hosts = ", ".join(f"{host}:{port}" for host, port in values["redis_sentinels"])
        return f"the master {values['redis_sentinel_master']!r} of the sentinels {hosts}{password}", db
    url = location_url(values)
    if url is not None:
        return hide_password(url) + password, db
    if values["redis_unix_socket_path"] is not None:
        return f"unix://{values['redis_unix_socket_path']}{password}", db
    scheme = "rediss" if values["redis_ssl"] else "redis"
    host = values["redis_host"] or "localhost"
    return f"{scheme}://{host}:{values['redis_port'] or 6379}{password}", db


def empty_prefix_warning(target: Target) -> str:
    return (
        f"WARNING: {setting('prefix')} is empty: the pattern '*' matches EVERY key in {target.where}, "
        f"sessions or not. Give the application a {setting('prefix')} (or pass --prefix)."
    )
