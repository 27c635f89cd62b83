"""The one table of options.

Every option is declared here once: name, kind, default and a one-line doc.
This table drives keyword validation (``RedisSessionFactory(**kw)``), ini
parsing (``redis.sessions.<name>``) and the settings reference in the docs.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from .cookies import MIN_SECRET_BYTES, plausible_id, secret_length
from .exceptions import InvalidSetting
from .kinds import (
    BOOL,
    CALLABLE,
    CERT_REQS,
    COOLDOWN,
    COUNT,
    EXPIRES,
    FLOAT,
    HOSTS,
    ON_BACKEND_ERROR,
    ON_CONFLICT,
    OPT_BOOL,
    OPT_COUNT,
    OPT_FLOAT,
    OPT_STR,
    POOL,
    SAMESITE,
    SECONDS,
    SECRETS,
    SERIALIZER,
    SIGNER,
    STR,
    Kind,
)
from .location import location_url, url_database

SETTINGS_PREFIX = "redis.sessions."

log = logging.getLogger("pyramid_session_redis")


@dataclass(frozen=True)
class Option:
    name: str
    kind: Kind
    default: Any
    doc: str
    group: str
    # The settings reference's words for the default, where ``default`` alone
    # would mislead (``secret``'s None is no default: one of it and ``cookie_signer`` is required).
    shown_default: Optional[str] = None

    @property
    def doc_rst(self) -> str:
        """``doc`` with its `code` spans made RST literals, as the generated docs show it."""
        return self.doc.replace("`", "``").replace("````", "``")


_OPTIONS: Tuple[Option, ...] = (
    # -- signing ------------------------------------------------------------
    Option("secret", OPT_STR, None, "Secret that signs the session cookie (HMAC-SHA512). Give exactly one of `secret` and `cookie_signer`.", "Cookie signing",
           shown_default="no default: required unless ``cookie_signer`` is given"),
    Option("secret_fallbacks", SECRETS, None, "Earlier secrets, still accepted when reading cookies so that `secret` can be rotated without logging everybody out. Cookies they signed are signed again with `secret` on their next response. In ini: one per line (a secret may hold spaces). Each must be at least 32 bytes long.", "Cookie signing"),
    Option("allow_short_secret", BOOL, False, "Accept a `secret` or `secret_fallbacks` shorter than 32 bytes without the start-up warning (`secret`) or error (`secret_fallbacks`). For tests and examples only: a short secret can be guessed offline from a single signed cookie.", "Cookie signing"),
    Option("cookie_signer", SIGNER, None, "An object with `dumps(str) -> bytes` and `loads(bytes) -> str` (raising ValueError on bad input) that signs the cookie instead of `secret`.", "Cookie signing"),
    # -- expiry policy --------------------------------------------------------
    Option("timeout", SECONDS, 1200, "Seconds of inactivity after which a session expires. At most 100 years; 0 or None: sessions never time out.", "Expiry and persistence"),
    Option("timeout_trigger", OPT_COUNT, None, "Push the expiry forward only once less than this many seconds remain, so most reads write nothing. Implies `python_expires`. In LRU mode (`set_redis_ttl = false`) it defaults to half the timeout; 0 turns it off.", "Expiry and persistence"),
    Option("python_expires", OPT_BOOL, None, "Also store the expiry in the payload and check it on load. None (the default) turns it on only where it is needed: LRU mode and `timeout_trigger`.", "Expiry and persistence"),
    Option("set_redis_ttl", BOOL, True, "Give session keys a Redis TTL. False runs Redis as an LRU cache: no TTL is ever sent and the expiry lives in the payload.", "Expiry and persistence"),
    Option("set_redis_ttl_readheavy", OPT_BOOL, None, "Refresh the TTL together with the read (GETEX) and send nothing at the end of a read-only request. Needs a timeout and Redis TTLs; not with `timeout_trigger` or `python_expires`. This is already what the defaults do.", "Expiry and persistence"),
    Option("detect_changes", BOOL, True, "Detect changes inside mutable values (`session['cart']['n'] += 1`) by comparing the serialized payload at the end of the request.", "Expiry and persistence"),
    Option("deserialized_fails_new", OPT_BOOL, None, "What a payload that cannot be decoded does. None (the default) and true: the session is replaced by a new one and `InvalidSession_DeserializationError` is reported (None also logs a warning). False: `RawDeserializationError` is raised to the application, as 1.x did by default.", "Expiry and persistence"),
    Option("invalidate_empty_session", BOOL, True, "When a request empties a stored session, delete it from Redis and delete the cookie.", "Expiry and persistence"),
    # -- cookie ---------------------------------------------------------------
    Option("cookie_name", STR, "session", "Name of the session cookie.", "Cookie"),
    Option("cookie_max_age", OPT_COUNT, None, "Max-Age of the cookie in seconds; None makes a browser-session cookie.", "Cookie"),
    Option("cookie_path", STR, "/", "Path of the cookie.", "Cookie"),
    Option("cookie_domain", OPT_STR, None, "Domain of the cookie; None: the host that set it.", "Cookie"),
    Option("cookie_secure", BOOL, False, "Send the cookie over HTTPS only. Turn it on in production.", "Cookie"),
    Option("cookie_httponly", BOOL, True, "Hide the cookie from JavaScript.", "Cookie"),
    Option("cookie_samesite", SAMESITE, "Lax", "SameSite attribute of the cookie: Strict, Lax or None (None needs `cookie_secure`). Python None or an empty ini value omits it.", "Cookie"),
    Option("cookie_expires", EXPIRES, None, "Expires attribute of the cookie (Python only). Prefer `cookie_max_age`.", "Cookie"),
    Option("cookie_comment", OPT_STR, None, "Comment attribute of the cookie.", "Cookie"),
    Option("cookie_on_exception", BOOL, True, "Set the cookie of a new session even when the view raised and an exception view rendered the response. When false, such a response sets no cookie, but still deletes that of a session that ended, and still sets the new cookie of a session given a new id by `regenerate_id()` (whose old id is dead).", "Cookie"),
    # -- redis ----------------------------------------------------------------
    Option("redis_url", OPT_STR, None, "Redis URL: redis://, rediss:// (TLS), unix://, or memory:// for an in-process store (development and tests only). With no Redis location at all, $REDIS_URL is used, then redis://localhost:6379/0.", "Redis connection"),
    Option("redis_host", OPT_STR, None, "Redis host (default localhost).", "Redis connection"),
    Option("redis_port", OPT_COUNT, None, "Redis port (default 6379).", "Redis connection"),
    Option("redis_db", COUNT, 0, "Redis database number. Other than 0, it replaces the database of $REDIS_URL or of the default URL; a `redis_url` that names another database is refused.", "Redis connection"),
    Option("redis_password", OPT_STR, None, "Redis password.", "Redis connection"),
    Option("redis_socket_timeout", OPT_FLOAT, 5.0, "Seconds to wait for a Redis reply before failing (1.x: None, which waits forever). None waits forever.", "Redis connection"),
    Option("redis_socket_connect_timeout", OPT_FLOAT, 5.0, "Seconds to wait for a connection to Redis before failing. None waits as long as the operating system does.", "Redis connection"),
    Option("redis_unix_socket_path", OPT_STR, None, "Path of a Redis unix socket (instead of host and port).", "Redis connection"),
    Option("redis_encoding", STR, "utf-8", "Encoding redis-py uses for str values.", "Redis connection"),
    Option("redis_encoding_errors", STR, "strict", "Error handling of that encoding.", "Redis connection"),
    Option("redis_connection_pool", POOL, None, "A ready redis-py connection pool (Python only).", "Redis connection"),
    Option("redis_client_callable", CALLABLE, None, "`f(request, **redis_options)` returning a Redis client; full control over the client.", "Redis connection"),
    Option("prefix", STR, "", "Prefix of the Redis keys: a session is stored under `prefix + id`; the cookie carries only the id.", "Redis connection"),
    Option("redis_ssl", BOOL, False, "Connect with TLS when the location is given by host and port, Sentinel or Cluster settings. A rediss:// URL always uses TLS; a redis:// URL never does.", "TLS"),
    Option("redis_ssl_ca_certs", OPT_STR, None, "File of CA certificates that the server's certificate must chain to. None: the system's trusted CAs.", "TLS"),
    Option("redis_ssl_certfile", OPT_STR, None, "Client certificate file, for servers that check clients (`tls-auth-clients yes`).", "TLS"),
    Option("redis_ssl_keyfile", OPT_STR, None, "Private key of the client certificate.", "TLS"),
    Option("redis_ssl_cert_reqs", CERT_REQS, "required", "Whether the server's certificate must be valid: required, optional or none. Leave it at required outside development.", "TLS"),
    Option("redis_ssl_check_hostname", BOOL, True, "Check that the server's certificate names the host connected to.", "TLS"),
    Option("redis_sentinels", HOSTS, None, "Sentinel addresses (`host:port`). With `redis_sentinel_master`, sessions go to that service's current master, found through the sentinels.", "Sentinel and Cluster"),
    Option("redis_sentinel_master", OPT_STR, None, "Service name of the master that the sentinels monitor.", "Sentinel and Cluster"),
    Option("redis_sentinel_password", OPT_STR, None, "Password of the sentinels themselves (`redis_password` is the master's).", "Sentinel and Cluster"),
    Option("redis_cluster", BOOL, False, "Talk to a Redis Cluster: `redis_url` (or host and port) names one node, the client finds the others. Every command is single-key, so nothing else changes.", "Sentinel and Cluster"),
    # -- hooks ----------------------------------------------------------------
    Option("serializer", SERIALIZER, None, "How payloads are stored, by name: json (None: json, unless `serialize` is given), pickle (logs a warning at start-up: whoever can write to Redis can then run code in the application), msgpack (needs the msgpack package), or orjson or msgspec (need that package): the same JSON as json, written and read faster, with a few values stored differently (docs/serializers.rst). json, orjson and msgspec read each other's sessions, so a site can switch between them without logging anyone out.", "Serialization and hooks"),
    Option("pickle_migration", BOOL, False, "With JSON, also read payloads stored with pickle (by 1.x) and store them again as JSON at the end of the request that reads them, so a site can leave pickle without logging anyone out. Unpickles what Redis holds while it is on: turn it off once the old sessions have expired.", "Serialization and hooks"),
    Option("max_payload_bytes", OPT_COUNT, 1048576, "Largest serialized session that is stored (1 MiB). A larger one is not stored: `do_persist()` raises `SessionPayloadTooLarge`; at the end of the request it goes to `func_payload_error_logger`. A larger payload found in Redis is not decoded: the session is replaced (`InvalidSession_DeserializationError`). None: no limit (1.x had none).", "Serialization and hooks"),
    Option("serialize", CALLABLE, None, "`f(payload_dict) -> bytes`. Default: compact JSON. Give `deserialize` too.", "Serialization and hooks", shown_default="default JSON"),
    Option("deserialize", CALLABLE, None, "`f(bytes) -> payload_dict`, the inverse of `serialize`.", "Serialization and hooks", shown_default="default JSON"),
    Option("id_generator", CALLABLE, None, "`f() -> str` making new session ids. Default: 256 random bits, URL-safe.", "Serialization and hooks"),
    Option("func_check_response_allow_cookies", CALLABLE, None, "`f(response) -> bool`; False keeps session cookies off that response (for responses a shared cache may store). See `check_response_allow_cookies`. After `regenerate_id()`, a response refused a cookie ends the session (the old id must not stay in use).", "Serialization and hooks"),
    Option("func_invalid_logger", CALLABLE, None, "`f(request, exc)`, called with the `InvalidSession` subclass that explains why an incoming session was replaced.", "Serialization and hooks"),
    Option("func_payload_error_logger", CALLABLE, None, "`f(request, exc)`, called with every `SessionPayloadError` (a value the serializer cannot encode, or a session over `max_payload_bytes`): those `do_persist()` raises to the view, and those met at the end of the request, which are logged instead of raised (the response stands; Redis keeps what it held).", "Serialization and hooks"),
    Option("on_backend_error", ON_BACKEND_ERROR, "raise", "When Redis fails (down, timing out): raise `SessionBackendError`, which an exception view can render; or degrade: serve the request with an empty session that is neither stored nor given a cookie, and let a failed end-of-request write go (logged). Either way `func_backend_error_logger` is told.", "Redis failures"),
    Option("func_backend_error_logger", CALLABLE, None, "`f(request, exc)`, called with every `SessionBackendError`, in both modes, so that failures can be counted.", "Redis failures"),
    Option("backend_cooldown", COOLDOWN, 5.0, "The circuit breaker: after Redis failed to answer (a timeout, a refused or lost connection), this process's session commands fail at once for this many seconds (`SessionBackendUnavailable`, handled as `on_backend_error` says) instead of each waiting for `redis_socket_timeout`; then one request at a time tries Redis again, and an answer closes the breaker. 0 or None: no breaker, every request tries Redis. Not used with a memory:// `redis_url`.", "Redis failures"),
    Option("on_conflict", ON_CONFLICT, "merge", "When another request changed the session after this one loaded it: merge (the default: a checked write, one EVALSHA that compares the payload's stamp, and, on a conflict, this request's changes re-applied key by key on top of theirs, flash queues as queues), overwrite (last write wins, as 1.x: one SET XX), or raise `SessionConflict`. In every mode a write never brings back a session that was ended (invalidated, regenerated away, deleted) after the request loaded it.", "Concurrent requests"),
    Option("func_conflict_logger", CALLABLE, None, "`f(request, exc)`, called with a `SessionConflict` when a merge overwrote keys the other request had also changed, or a write was dropped because the session ended meanwhile.", "Concurrent requests"),
    Option("local_cache", COUNT, 0, "How many sessions each process keeps in memory to serve read-only requests with no Redis command (0: none, the default). The cookie then also names the version of the session it last got from a write; an entry is used only for that version, so a browser's own changes are seen on every worker at once. Changes from outside the browser's own requests (another device, `invalidate()` of another session, the command-line tool, eviction) are seen within `local_cache_max_age`. See docs/localcache.rst.", "Local read cache"),
    Option("local_cache_max_age", FLOAT, 5.0, "Seconds a cached session is served before Redis is asked again: the longest a change from outside the browser's own requests (a revocation) can go unseen by a worker, and, with the default expiry policy, by how much a session may expire early.", "Local read cache"),
    Option("local_cache_max_bytes", OPT_COUNT, 64 * 1024 * 1024, "The most memory the cached sessions of one process may take, in bytes (payload sizes plus about 400 bytes each), 64 MiB by default. None: bounded by `local_cache` entries only.", "Local read cache"),
)

OPTIONS: Dict[str, Option] = {opt.name: opt for opt in _OPTIONS}

# The order in which 1.8 accepted options positionally; kept so that calls such
# as ``RedisSessionFactory("secret", 1200)`` work unchanged.  New options are
# keyword-only.
POSITIONAL_1X = (
    "secret", "timeout", "cookie_name", "cookie_max_age", "cookie_path", "cookie_domain",
    "cookie_secure", "cookie_httponly", "cookie_expires", "cookie_comment", "cookie_samesite",
    "cookie_on_exception", "redis_url", "redis_host", "redis_port", "redis_db", "redis_password",
    "redis_client_callable", "serialize", "deserialize", "id_generator", "set_redis_ttl",
    "set_redis_ttl_readheavy", "detect_changes", "deserialized_fails_new",
    "func_check_response_allow_cookies", "func_invalid_logger", "timeout_trigger", "python_expires",
    "cookie_signer", "redis_socket_timeout", "redis_connection_pool", "redis_encoding",
    "redis_encoding_errors", "redis_unix_socket_path", "invalidate_empty_session",
)


def positional(args: Tuple[Any, ...], kwargs: Mapping[str, Any]) -> Dict[str, Any]:
    """Merge positional arguments, in 1.8's order, into the keyword options."""
    if len(args) > len(POSITIONAL_1X):
        raise TypeError(
            f"RedisSessionFactory takes at most {len(POSITIONAL_1X)} positional arguments ({len(args)} given)"
        )
    merged = dict(kwargs)
    for name, value in zip(POSITIONAL_1X, args):
        if name in merged:
            raise TypeError(f"RedisSessionFactory got multiple values for argument {name!r}")
        merged[name] = value
    return merged


# Keyword names of the 1.x factory that 1.8 removed, for a helpful error.
RENAMED = {
    "url": "redis_url",
    "host": "redis_host",
    "port": "redis_port",
    "db": "redis_db",
    "password": "redis_password",
    "client_callable": "redis_client_callable",
    "socket_timeout": "redis_socket_timeout",
    "connection_pool": "redis_connection_pool",
    "charset": "redis_encoding",
    "errors": "redis_encoding_errors",
    "unix_socket_path": "redis_unix_socket_path",
}


def _unknown(name: str, shown_as: Callable[[str], str]) -> InvalidSetting:
    hint = ""
    if name in RENAMED:
        hint = f"; it was renamed to {shown_as(RENAMED[name])!r}"
    else:
        close = difflib.get_close_matches(name, OPTIONS, n=1, cutoff=0.7)
        if close:
            hint = f"; did you mean {shown_as(close[0])!r}?"
    return InvalidSetting(f"unknown session option {shown_as(name)!r}{hint}")


def _bad(opt: Option, shown: str, value: Any, why: str = "") -> InvalidSetting:
    detail = f" ({why})" if why else ""
    return InvalidSetting(f"{shown} = {value!r} is not valid{detail}: {shown} accepts {opt.kind.accepts}")


def validate(
    kwargs: Mapping[str, Any], shown_as: Callable[[str], str] = str, *, require_signer: bool = True
) -> Dict[str, Any]:
    """Check keyword options against the table; return every option, defaults filled in.

    ``shown_as`` names a setting in messages as the user wrote it (``settings_key``
    for ini settings).  ``require_signer=False`` accepts options without
    ``secret`` or ``cookie_signer``, for tools that read sessions but never
    check a cookie; every other check still runs.
    """
    values = {name: opt.default for name, opt in OPTIONS.items()}
    for name, value in kwargs.items():
        opt = OPTIONS.get(name)
        if opt is None:
            raise _unknown(name, shown_as)
        try:
            values[name] = opt.kind.check(value)
        except ValueError:
            raise _bad(opt, shown_as(name), value) from None
    _check_combinations(values, shown_as, require_signer)
    return values


def parse_settings(settings: Mapping[str, Any]) -> Dict[str, Any]:
    """Read the ``redis.sessions.*`` keys of Pyramid settings into keyword options.

    Strings are coerced by each option's kind; values that are already Python
    objects (settings built in code) are passed through to ``validate``.
    """
    options: Dict[str, Any] = {}
    for key, raw in settings.items():
        if not key.startswith(SETTINGS_PREFIX):
            continue
        name = key[len(SETTINGS_PREFIX):]
        opt = OPTIONS.get(name)
        if opt is None:
            raise _unknown(name, settings_key)
        if isinstance(raw, str):
            try:
                raw = opt.kind.from_ini(raw)
            except ValueError as exc:
                raise _bad(opt, key, raw, str(exc)) from None
        options[name] = raw
    return options


def settings_key(name: str) -> str:
    return SETTINGS_PREFIX + name


def _check_combinations(values: Dict[str, Any], shown_as: Callable[[str], str], require_signer: bool) -> None:
    s = shown_as
    signers = (values["secret"] is not None) + (values["cookie_signer"] is not None)
    if signers == 2 or (signers == 0 and require_signer):
        raise InvalidSetting(
            f"give exactly one of {s('secret')} and {s('cookie_signer')} (the cookie must be signed, by one of them)"
        )
    if values["secret_fallbacks"] is not None and values["secret"] is None:
        raise InvalidSetting(
            f"{s('secret_fallbacks')} needs {s('secret')}: a {s('cookie_signer')} does its own verifying"
        )
    if values["secret"] is not None and not values["secret"].strip():
        raise InvalidSetting(f"{s('secret')} is empty: use a long random string")
    _check_secret_lengths(values, shown_as)
    if values["set_redis_ttl_readheavy"]:
        if not values["timeout"]:
            raise InvalidSetting(f"{s('set_redis_ttl_readheavy')} needs a {s('timeout')}")
        if not values["set_redis_ttl"]:
            raise InvalidSetting(f"{s('set_redis_ttl_readheavy')} needs {s('set_redis_ttl')} = true")
        if values["timeout_trigger"]:
            raise InvalidSetting(f"{s('set_redis_ttl_readheavy')} cannot be used with {s('timeout_trigger')}")
        if values["python_expires"]:
            raise InvalidSetting(f"{s('set_redis_ttl_readheavy')} cannot be used with {s('python_expires')} = true")
    if (values["serialize"] is None) != (values["deserialize"] is None):
        raise InvalidSetting(f"give {s('serialize')} and {s('deserialize')} together, or neither (JSON)")
    _check_serializer(values, shown_as)
    if values["cookie_samesite"] == "None" and not values["cookie_secure"]:
        raise InvalidSetting(
            f"{s('cookie_samesite')} = 'None' needs {s('cookie_secure')} = true; browsers drop such cookies otherwise"
        )
    if values["id_generator"] is not None:
        try:
            sample = values["id_generator"]()
        except Exception as exc:
            raise InvalidSetting(f"{s('id_generator')} failed when called: {exc!r}") from exc
        if not plausible_id(sample):
            raise InvalidSetting(
                f"{s('id_generator')} returned {sample!r}: it must return a str of 1-256 printable ASCII "
                "characters without spaces (the id goes into the cookie and the Redis key)"
            )
    if values["redis_client_callable"] is not None and values["redis_connection_pool"] is not None:
        raise InvalidSetting(f"give {s('redis_client_callable')} or {s('redis_connection_pool')}, not both")
    _check_topology(values, shown_as)
    _check_location(values, shown_as)


def _check_secret_lengths(values: Dict[str, Any], s: Callable[[str], str]) -> None:
    """Short secrets can be guessed offline from one signed cookie: refused in
    ``secret_fallbacks`` (new in 2.0), a warning for ``secret`` (1.x took any)."""
    if values["allow_short_secret"]:
        return
    fallbacks = values["secret_fallbacks"] or ()
    for number, old in enumerate(fallbacks, 1):
        if secret_length(old) < MIN_SECRET_BYTES:
            which = f"secret {number} of {len(fallbacks)}" if len(fallbacks) > 1 else "its secret"
            raise InvalidSetting(
                f"{s('secret_fallbacks')}: {which} is {secret_length(old)} bytes long; each must be at least "
                f"{MIN_SECRET_BYTES} bytes (a short secret can be guessed offline from one cookie it signed). "
                f"In ini, give one secret per line. For tests only: {s('allow_short_secret')} = true"
            )
    secret = values["secret"]
    if secret is not None and secret_length(secret) < MIN_SECRET_BYTES:
        log.warning(
            "pyramid_session_redis: %s is %d bytes long; use at least %d random bytes, such as "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))' prints: a short secret can be "
            "guessed offline from a single signed cookie, and whoever guesses it can sign any session id. "
            "For tests only, %s = true silences this.",
            s("secret"), secret_length(secret), MIN_SECRET_BYTES, s("allow_short_secret"),
        )


def _check_serializer(values: Dict[str, Any], s: Callable[[str], str]) -> None:
    name = values["serializer"]
    if name is not None and values["serialize"] is not None:
        raise InvalidSetting(f"give {s('serializer')} or {s('serialize')}/{s('deserialize')}, not both")
    if values["pickle_migration"] and (values["serialize"] is not None or name not in (None, "json")):
        raise InvalidSetting(f"{s('pickle_migration')} moves sessions to JSON: it needs {s('serializer')} = json")
    if name in ("msgpack", "orjson", "msgspec"):  # (the serializer's package has the same name)
        try:
            importlib.import_module(name)
        except ImportError:
            raise InvalidSetting(
                f"{s('serializer')} = {name!r} needs the {name} package: pip install {name}"
            ) from None


def _check_topology(values: Dict[str, Any], s: Callable[[str], str]) -> None:
    """Sentinel, Cluster, memory:// and TLS settings that cannot go together."""
    url = values["redis_url"] or ""
    given = [name for name in ("redis_client_callable", "redis_connection_pool") if values[name] is not None]
    if (values["redis_sentinels"] is None) != (values["redis_sentinel_master"] is None):
        raise InvalidSetting(f"give {s('redis_sentinels')} and {s('redis_sentinel_master')} together")
    if values["redis_sentinel_password"] is not None and values["redis_sentinels"] is None:
        raise InvalidSetting(f"{s('redis_sentinel_password')} needs {s('redis_sentinels')}")
    if values["redis_sentinels"] is not None:
        for name in ("redis_url", "redis_host", "redis_port", "redis_unix_socket_path"):
            if values[name] is not None:
                raise InvalidSetting(
                    f"{s(name)} cannot be used with {s('redis_sentinels')}: the sentinels say where the master is"
                )
        if values["redis_cluster"]:
            raise InvalidSetting(f"give {s('redis_sentinels')} or {s('redis_cluster')}, not both")
        if given:
            raise InvalidSetting(f"{s(given[0])} cannot be used with {s('redis_sentinels')}")
    if values["redis_cluster"]:
        if values["redis_db"]:
            raise InvalidSetting(
                f"{s('redis_db')} must be 0 with {s('redis_cluster')}: a Redis Cluster has only database 0"
            )
        if values["redis_unix_socket_path"] is not None or url.startswith("unix:"):
            raise InvalidSetting(f"{s('redis_cluster')} needs a TCP address (redis:// or rediss://), not a unix socket")
        if given:
            raise InvalidSetting(f"{s(given[0])} cannot be used with {s('redis_cluster')}")
    if url.startswith("memory:"):
        for name in ("redis_cluster", "redis_ssl"):
            if values[name]:
                raise InvalidSetting(f"{s(name)} cannot be used with a memory:// {s('redis_url')}")
        if given:
            raise InvalidSetting(f"{s(given[0])} cannot be used with a memory:// {s('redis_url')}")
    if values["redis_db"] and url.startswith(("redis://", "rediss://", "unix://")):
        db = url_database(url)
        if db not in ("", str(values["redis_db"])):
            # redis-py would let the URL win, silently; 1.8 ignored redis_db
            # next to any URL.  Which one was meant cannot be told.
            raise InvalidSetting(
                f"{s('redis_url')} selects database {db!r}, but {s('redis_db')} = {values['redis_db']}: "
                f"give the database in one place (leave it out of the URL, or leave out {s('redis_db')})"
            )
    if url.startswith("redis://") and values["redis_ssl"]:
        raise InvalidSetting(f"{s('redis_ssl')} = true with a redis:// {s('redis_url')}: use rediss:// for TLS")
    if values["redis_ssl"] and values["redis_unix_socket_path"] is not None:
        raise InvalidSetting(f"{s('redis_ssl')} cannot be used with {s('redis_unix_socket_path')}")
    if values["redis_ssl_keyfile"] is not None and values["redis_ssl_certfile"] is None:
        raise InvalidSetting(f"{s('redis_ssl_keyfile')} needs {s('redis_ssl_certfile')}")


def _check_location(values: Dict[str, Any], s: Callable[[str], str]) -> None:
    """TLS and Cluster settings that the URL the client will use cannot honour.

    That URL may come from $REDIS_URL, so these run last: the other checks
    speak of the settings alone.
    """
    url = location_url(values)
    if values["redis_client_callable"] is not None or (url and url.startswith("memory:")):
        return  # no client of ours is built: there is no connection to check
    tls = url.startswith("rediss://") if url else values["redis_ssl"]
    if not tls and values["redis_ssl"]:
        # A unix:// redis_url, or no location at all: $REDIS_URL or the default
        # redis://localhost.  Either way the connection would be clear text.
        raise InvalidSetting(
            f"{s('redis_ssl')} = true but Redis is reached through a {str(url).split(':', 1)[0]}:// URL "
            f"({s('redis_url')}, $REDIS_URL or the default), which does not use TLS: "
            f"give a rediss:// {s('redis_url')}, or {s('redis_host')} with {s('redis_ssl')}"
        )
    if not tls:
        # TLS files without TLS are a mistake worth stopping for: the
        # connection would go out in clear text.
        for name in ("redis_ssl_ca_certs", "redis_ssl_certfile", "redis_ssl_keyfile"):
            if values[name] is not None:
                raise InvalidSetting(
                    f"{s(name)} is set but the connection to Redis does not use TLS: "
                    f"use a rediss:// {s('redis_url')}, or {s('redis_ssl')} = true"
                )
    if values["redis_cluster"] and url:
        db = url_database(url)
        if db not in ("", "0"):
            # (redis-py would refuse it too, but only at the first request.)
            source = s("redis_url") if values["redis_url"] else "$REDIS_URL"
            raise InvalidSetting(
                f"{source} selects database {db!r}, but a Redis Cluster ({s('redis_cluster')}) has only "
                "database 0: leave the database out of the URL or make it /0"
            )


def reference_rst() -> str:
    """The settings reference page, generated from the table (docs/settings.rst)."""
    lines = [
        ".. This file is generated from pyramid_session_redis/options.py by",
        "   ``python -m pyramid_session_redis.options > docs/settings.rst``; do not edit.",
        "",
        "Settings reference",
        "==================",
        "",
        "Every option can be given as a keyword of ``RedisSessionFactory`` or, in an",
        "ini file, as ``redis.sessions.<name>`` (except the few marked *Python only*).",
        "In ini files, booleans are ``true``/``false`` (also ``1``/``0``, ``yes``/``no``,",
        "``on``/``off``), ``None`` means Python ``None``, and callables are dotted",
        "Python names such as ``myapp.sessions.log_invalid``.  An unknown key, a wrong",
        "value or an impossible combination stops the application at start-up with a",
        "message naming the setting.",
        "",
    ]
    group = None
    for opt in _OPTIONS:
        if opt.group != group:
            group = opt.group
            lines += [group, "-" * len(group), ""]
        default = f"default ``{opt.default!r}``" if opt.shown_default is None else opt.shown_default
        where = "Python only (no ini key)" if opt.kind.python_only else f"ini: ``{settings_key(opt.name)}``"
        lines += [
            f"``{opt.name}``",
            f"    *{opt.kind.name}*, {default}; {where}",
            "",
            "    " + opt.doc_rst,
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(reference_rst(), end="")
