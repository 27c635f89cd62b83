"""``pyramid-session-redis``: count, inspect and purge the sessions of an application.

Reads the application's ini file as ``pshell`` does, and finds Redis, the key
prefix, the serializer and the secret in its ``redis.sessions.*`` settings::

    pyramid-session-redis development.ini stats
    pyramid-session-redis development.ini#main show <session id or cookie value>
    pyramid-session-redis production.ini purge --dry-run

Every walk over the keys is a ``SCAN ... MATCH <prefix>* COUNT <batch>`` in
pages, with one pipeline (or one UNLINK) per page, never ``KEYS``: it is safe
on a large live server.  All Redis commands go through ``Keyspace``.
Exit status: 0 done, 1 not found or refused, 2 usage or settings error,
3 Redis failed.  See docs/cli.rst.
"""

from __future__ import annotations

import argparse
import bisect
import datetime
import json
import math
import pprint
import sys
import time
from array import array
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO, Tuple
from urllib.parse import urlsplit, urlunsplit

from . import options as option_table
from .connection import build_store, location_url
from .cookies import SENT_OLD_SECRET, CookieJar, SessionIdSigner, looks_signed, plausible_id
from .exceptions import InvalidSetting, SessionBackendError
from .factory import serializers
from .keyspace import Keyspace
from .payload import decode as decode_payload
from .store import RedisStore

PROG = "pyramid-session-redis"
OK, NOT_FOUND, USAGE, REDIS_FAILED = 0, 1, 2, 3
INTERRUPTED = 130  # what a shell reports for a command stopped by Ctrl-C

DEFAULT_BATCH = 1000
DEFAULT_PROGRESS_EVERY = 10  # batches between two progress lines when stderr is not a terminal

# Bucket bounds: a value v falls in the first bucket whose bound is > v.
SIZE_BOUNDS = (100, 1024, 10 * 1024, 100 * 1024, 1024 * 1024)
SIZE_LABELS = ("< 100 B", "100 B - 1 KiB", "1 - 10 KiB", "10 - 100 KiB", "100 KiB - 1 MiB", ">= 1 MiB")
TTL_BOUNDS = (60, 5 * 60, 20 * 60, 60 * 60, 24 * 60 * 60)
TTL_LABELS = ("< 1 min", "1 - 5 min", "5 - 20 min", "20 min - 1 h", "1 h - 1 day", ">= 1 day")
NO_TTL = "no TTL"
PERCENTILES = (("min", 0.0), ("median", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0))

# Options that say where Redis is; --redis-url replaces all of them.
_LOCATION_OPTIONS = (
    "redis_host", "redis_port", "redis_unix_socket_path", "redis_connection_pool", "redis_client_callable",
    "redis_sentinels", "redis_sentinel_master", "redis_sentinel_password",
)
_GLOB_SPECIALS = frozenset("*?[]\\")


class Failure(Exception):
    """Ends the command: ``message`` on stderr, ``status`` as the exit status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def setting(name: str) -> str:
    """How a setting is named in messages: as it is written in the ini file."""
    return option_table.settings_key(name)


# -- what the settings say ------------------------------------------------------------


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


def read_settings(config_uri: str) -> Dict[str, Any]:
    """The application's settings, read as ``pshell`` reads them (``file.ini#section``)."""
    from pyramid.paster import get_appsettings, setup_logging

    try:
        setup_logging(config_uri)
        settings = get_appsettings(config_uri)
    except (OSError, LookupError, ValueError) as exc:  # no file, no such section, no loader, bad URI
        raise Failure(USAGE, f"cannot read the settings of {config_uri}: {exc}") from None
    return dict(settings)


def load_target(args: argparse.Namespace) -> Target:
    """Validate the ``redis.sessions.*`` settings with the library's own checks, then apply the overrides."""
    settings = read_settings(args.config_uri)
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
    cookies = None if unsigned else cookie_jar(values)
    deserialize = serializers(values)[1]

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
    try:
        keys = open_keyspace(values)  # (connects to nothing yet)
    except InvalidSetting as exc:  # TLS files without TLS, a database in a cluster's URL...
        raise Failure(USAGE, f"{args.config_uri}: {exc}") from None
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


def cookie_jar(values: Dict[str, Any]) -> CookieJar:
    """What verifies the application's cookie values: its ``cookie_signer``, or its secrets."""
    signer = values["cookie_signer"] or SessionIdSigner(values["secret"], values["secret_fallbacks"] or ())
    return CookieJar(values, signer)


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


# -- walking the keys -------------------------------------------------------------------


class Progress:
    """``deleted/scanned`` on stderr: rewritten in place on a terminal, else a line every few batches."""

    def __init__(self, stream: TextIO, label: str, total: Optional[int], every: int):
        self.stream = stream
        self.label = label
        self.total = total
        self.every = every
        self.tty = _isatty(stream)
        self.batches = 0
        self._width = 0  # of the line on the terminal, to blank what a shorter one leaves
        self._last: Optional[Tuple[int, Optional[int]]] = None  # the counts of the last line written

    def line(self, scanned: int, deleted: Optional[int]) -> str:
        parts = [self.label + ":"]
        if self.total:
            done = min(1.0, scanned / self.total)  # (floored, as the bar is: 100% means all of them)
            filled = int(done * 30)
            parts.append(f"[{'#' * filled}{'.' * (30 - filled)}] {int(done * 100):3d}%")
        if deleted is not None:
            parts.append(f"deleted {deleted} /")
        parts.append(f"scanned {scanned}" + (f" of ~{self.total}" if self.total is not None else "") + " keys")
        return " ".join(parts)

    def update(self, scanned: int, deleted: Optional[int] = None) -> None:
        self.batches += 1
        if self.tty:
            self.stream.write("\r" + self._padded(self.line(scanned, deleted)))
            self.stream.flush()
        elif self.batches % self.every == 0:
            self.stream.write(self.line(scanned, deleted) + "\n")
            self.stream.flush()
            self._last = (scanned, deleted)

    def finish(self, scanned: int, deleted: Optional[int] = None) -> None:
        """The final count: ends the terminal's line, or is the last line (unless it just was)."""
        line = self.line(scanned, deleted)
        if self.tty:
            self.stream.write("\r" + self._padded(line) + "\n")
        elif self._last != (scanned, deleted):
            self.stream.write(line + "\n")
        self.stream.flush()

    def _padded(self, line: str) -> str:
        padded = line.ljust(self._width)
        self._width = len(line)
        return padded


class _Silent(Progress):
    def update(self, scanned: int, deleted: Optional[int] = None) -> None:
        pass

    def finish(self, scanned: int, deleted: Optional[int] = None) -> None:
        pass


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty()) if callable(isatty) else False


def count_keys(target: Target, batch: int, progress: Progress) -> int:
    """A counting pass: how many keys SCAN finds under the prefix."""
    found = 0
    for page in target.keys.scan_pages(target.match, batch):
        found += len(page)
        progress.update(found)
    progress.finish(found)
    return found


# -- stats ------------------------------------------------------------------------------------


@dataclass
class Census:
    """What one walk over the sessions found."""

    sizes: array[int] = field(default_factory=lambda: array("q"))
    ttls: array[int] = field(default_factory=lambda: array("q"))
    no_ttl: int = 0
    total_bytes: int = 0
    not_strings: int = 0  # keys under the prefix that are not strings, so not sessions
    vanished: int = 0  # returned by SCAN, gone (expired, deleted) before their TTL was read
    scanned: int = 0
    batches: int = 0

    @property
    def sessions(self) -> int:
        return len(self.sizes)

    def add(self, replies: Sequence[Tuple[Optional[int], int]]) -> None:
        for size, ttl in replies:
            if ttl == -2:
                self.vanished += 1
            elif size is None:
                self.not_strings += 1
            else:
                self.sizes.append(size)
                self.total_bytes += size
                if ttl == -1:
                    self.no_ttl += 1
                else:
                    self.ttls.append(ttl)


def percentiles(values: array[int]) -> Dict[str, Optional[int]]:
    """min, median, p90, p99, max by the nearest-rank method (each one a value that occurs)."""
    ordered = sorted(values)
    out: Dict[str, Optional[int]] = {}
    for name, p in PERCENTILES:
        if not ordered:
            out[name] = None
        else:
            rank = max(1, math.ceil(p / 100 * len(ordered)))
            out[name] = ordered[rank - 1]
    return out


def buckets(values: array[int], bounds: Sequence[int], labels: Sequence[str]) -> Dict[str, int]:
    counts = [0] * len(labels)
    for value in values:
        counts[bisect.bisect_right(bounds, value)] += 1
    return dict(zip(labels, counts))


def take_census(target: Target, batch: int, progress: Progress) -> Census:
    census = Census()
    for page in target.keys.scan_pages(target.match, batch):
        census.batches += 1
        census.scanned += len(page)
        census.add(target.keys.sizes_and_ttls(page))
        progress.update(census.scanned)
    progress.finish(census.scanned)
    return census


def stats_report(target: Target, census: Census, batch: int) -> Dict[str, Any]:
    ttl_buckets = buckets(census.ttls, TTL_BOUNDS, TTL_LABELS)
    ttl_buckets[NO_TTL] = census.no_ttl
    report: Dict[str, Any] = {
        "prefix": target.prefix,
        "match": target.match,
        "location": target.location,
        "db": target.db,
        "cluster": target.cluster,
        "whole_database": not target.prefix,
        "sessions": census.sessions,
        "total_bytes": census.total_bytes,
        "size_bytes": {**percentiles(census.sizes), "buckets": buckets(census.sizes, SIZE_BOUNDS, SIZE_LABELS)},
        "ttl_seconds": {
            **percentiles(census.ttls),
            "with_ttl": len(census.ttls),
            "no_ttl": census.no_ttl,
            "buckets": ttl_buckets,
        },
        "not_strings": census.not_strings,
        "vanished": census.vanished,
        "scanned": census.scanned,
        "scan_batches": census.batches,
        "batch": batch,
    }
    if not target.prefix:
        report["warning"] = empty_prefix_warning(target)
    return report


def human_bytes(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def stats_text(report: Dict[str, Any]) -> List[str]:
    prefix = report["prefix"]
    lines = [
        f"prefix:      {prefix!r}" + ("   <-- EMPTY: every key in the database counts" if not prefix else ""),
        f"redis:       {report['location']}, db {report['db']}" + (" (Redis Cluster)" if report["cluster"] else ""),
        f"scanned:     {report['scanned']} keys in {report['scan_batches']} SCAN batches "
        f"(MATCH {report['match']} COUNT {report['batch']})",
        f"sessions:    {report['sessions']}",
        f"total size:  {report['total_bytes']} bytes ({human_bytes(report['total_bytes'])})",
    ]
    if report["not_strings"]:
        lines.append(f"not strings: {report['not_strings']} keys (not sessions; left out)")
    if report["vanished"]:
        lines.append(f"vanished:    {report['vanished']} keys (expired or deleted during the scan; left out)")
    if not report["sessions"]:
        return lines
    size, ttl = report["size_bytes"], report["ttl_seconds"]
    names = [name for name, _ in PERCENTILES]
    lines += ["", f"{'':15}" + "".join(f"{name:>10}" for name in names)]
    lines.append(f"{'size (bytes)':15}" + "".join(f"{size[name]:>10}" for name in names))
    if ttl["with_ttl"]:
        lines.append(f"{'TTL (seconds)':15}" + "".join(f"{ttl[name]:>10}" for name in names))
    lines += ["", f"{'size':17}{'sessions':>10}"]
    lines += [f"  {label:15}{count:>10}" for label, count in size["buckets"].items()]
    lines += ["", f"{'TTL':17}{'sessions':>10}"]
    lines += [f"  {label:15}{count:>10}" for label, count in ttl["buckets"].items()]
    return lines


def cmd_stats(args: argparse.Namespace, target: Target, out: TextIO, err: TextIO) -> int:
    if not target.prefix:
        err.write(empty_prefix_warning(target) + "\n")
    progress = Progress(err, "stats", None, 1) if _isatty(err) else _Silent(err, "", None, 1)
    census = take_census(target, args.batch, progress)
    report = stats_report(target, census, args.batch)
    if args.json:
        out.write(json.dumps(report, indent=2) + "\n")
    else:
        out.write("\n".join(stats_text(report)) + "\n")
    return OK


# -- show and delete -----------------------------------------------------------------------------


@dataclass
class Given:
    """What the ID argument turned out to be."""

    text: str
    verified: Optional[str]  # the session id a signed cookie value carries, when a secret verified it
    how: str  # how it was verified, for messages

    @property
    def raw(self) -> Optional[str]:
        """The argument as a session id, if it can be one."""
        return self.text if plausible_id(self.text) else None


def read_id(text: str, cookies: Optional[CookieJar]) -> Given:
    """The ID argument, verified as a cookie value the way the application verifies its cookie."""
    if cookies is not None:
        session_id, sent = cookies.verify_value(text)
        if session_id is not None:
            if not isinstance(cookies.signer, SessionIdSigner):
                how = setting("cookie_signer")
            else:
                how = setting("secret") if sent != SENT_OLD_SECRET else f"one of {setting('secret_fallbacks')}"
            return Given(text, session_id, f"a cookie value verified with {how}")
    return Given(text, None, "")


def not_found(given: Given, target: Target) -> Failure:
    """Why nothing was found for the ID: no such session, or a cookie value nobody verified."""
    if given.verified is not None:
        return Failure(
            NOT_FOUND,
            f"no session {given.verified!r} (from {given.how}) under prefix {target.prefix!r} in {target.where}: "
            "expired, deleted, or another application's",
        )
    if looks_signed(given.text):
        if target.cookies is None:
            return Failure(
                USAGE,
                f"{given.text[:20]}... looks like a signed cookie value, and the settings give no "
                f"{setting('secret')} to verify it with: add it to the ini file, or give the raw session id",
            )
        return Failure(
            NOT_FOUND,
            f"refused: {given.text[:20]}... is not a stored session id, nor a cookie value signed with "
            f"{setting('secret')} or {setting('secret_fallbacks')} (forged, or signed with another secret)",
        )
    if given.raw is None:
        return Failure(
            USAGE,
            f"{given.text!r} is neither a session id (1-256 printable ASCII characters, no spaces) "
            "nor a cookie value the configured secret verifies",
        )
    return Failure(NOT_FOUND, f"no session {given.raw!r} under prefix {target.prefix!r} in {target.where}")


def _utc(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def pretty(data: Any) -> str:
    """JSON when the values allow (others as their repr), else Python's pprint.

    Session data comes from users: characters a terminal could act on (escape
    sequences, C1 controls, bidi overrides) are shown escaped, never sent as
    they are; json.dumps and repr escape the C0 controls themselves.
    """
    try:
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):  # keys JSON cannot have (tuples...), or unsortable mixed keys
        return pprint.pformat(data)
    return "".join(char if char.isprintable() or char == "\n" else json.dumps(char)[1:-1] for char in text)


def cmd_show(args: argparse.Namespace, target: Target, out: TextIO, err: TextIO) -> int:
    given = read_id(args.id, target.cookies)
    session_id = given.verified or given.raw
    found = target.keys.peek(session_id) if session_id is not None else None
    if found is None or session_id is None:
        raise not_found(given, target)
    raw, ttl = found
    now = time.time()
    lines = [f"session:  {session_id}" + (f"  (from {given.how})" if given.verified else "")]
    lines.append(f"key:      {target.prefix + session_id}")
    lines.append(f"size:     {len(raw)} bytes")
    if ttl >= 0:
        lines.append(f"TTL:      {ttl} s (Redis expires it at {_utc(now + ttl)})")
    elif ttl == -1:
        lines.append("TTL:      none (no Redis expiry: LRU mode, set_redis_ttl = false)")
    else:
        lines.append("TTL:      gone (expired while being read)")
    try:
        payload = decode_payload(target.deserialize(raw))
    except Exception as exc:  # a damaged payload, another serializer's bytes, an unknown version
        lines.append(f"data:     cannot be decoded with the configured serializer ({target.serializer}): {exc!r}")
        lines.append(f"raw:      {raw[:200]!r}" + (" ..." if len(raw) > 200 else ""))
        out.write("\n".join(lines) + "\n")
        return OK
    lines.append(f"created:  {_utc(payload.created)} ({payload.created})")
    lines.append(f"timeout:  {payload.timeout} s" if payload.timeout else "timeout:  none")
    if payload.expires is not None:
        lines.append(f"expiry:   {_utc(payload.expires)} ({payload.expires}), kept in the payload")
    else:
        lines.append("expiry:   not kept in the payload (the Redis TTL is the expiry)")
    lines.append("data:")
    lines.append(pretty(payload.data))
    out.write("\n".join(lines) + "\n")
    return OK


def cmd_delete(args: argparse.Namespace, target: Target, out: TextIO, err: TextIO) -> int:
    given = read_id(args.id, target.cookies)
    session_id = given.verified or given.raw
    if session_id is None or not target.keys.remove(session_id):
        raise not_found(given, target)
    out.write(f"deleted session {session_id} (key {target.prefix + session_id!r})\n")
    return OK


# -- purge ---------------------------------------------------------------------------------------------


def cmd_purge(args: argparse.Namespace, target: Target, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    if not target.prefix:
        if not args.all_keys_in_db and not args.dry_run:
            raise Failure(
                NOT_FOUND,
                f"refused: {setting('prefix')} is empty, so a purge would delete EVERY key in {target.where}, "
                "sessions or not. Set the prefix (or pass --prefix), or, if that is really what you want, "
                "pass --all-keys-in-db",
            )
        err.write(empty_prefix_warning(target) + "\n")
    interactive = _isatty(stdin)
    if not (args.yes or args.dry_run or interactive):
        raise Failure(NOT_FOUND, "refused: stdin is not a terminal, so nobody can confirm: pass --yes to purge anyway")

    total: Optional[int] = None
    if args.dry_run or not args.no_count:
        total = count_keys(target, args.batch, Progress(err, "counting", None, args.progress_every))
    if args.dry_run:
        out.write(f"dry run: {total} keys match {target.match} in {target.where}; nothing deleted\n")
        return OK
    if total == 0:
        out.write(f"no key matches {target.match} in {target.where}: nothing to delete\n")
        return OK
    if not args.yes:
        err.write(
            f"This deletes every key matching {target.match} ({setting('prefix')} = {target.prefix!r})\n"
            f"in {target.where}: {'unknown' if total is None else total} keys found.\n"
            'Type "yes" to delete them: '
        )
        err.flush()
        answer = stdin.readline().strip()
        if answer != "yes":
            raise Failure(NOT_FOUND, f"not confirmed ({answer!r} is not \"yes\"): nothing deleted")

    progress = Progress(err, "purge", total, args.progress_every)
    deleted = scanned = 0
    try:
        for page in target.keys.scan_pages(target.match, args.batch):
            scanned += len(page)
            deleted += target.keys.unlink_keys(page)
            progress.update(scanned, deleted)
    except KeyboardInterrupt:
        progress.finish(scanned, deleted)
        raise Failure(INTERRUPTED, f"interrupted: {deleted} keys deleted so far") from None
    except SessionBackendError as exc:
        progress.finish(scanned, deleted)
        raise Failure(
            REDIS_FAILED, f"Redis error at {target.where}: {redis_error(exc)} ({deleted} keys deleted before it)"
        ) from None
    progress.finish(scanned, deleted)
    out.write(f"deleted {deleted} keys matching {target.match} in {target.where} ({scanned} scanned)\n")
    return OK


# -- command line ------------------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1")
    return value


def _add_common(parser: argparse.ArgumentParser, top: bool) -> None:
    """The options every command takes; accepted before or after the command."""
    # After the command, an option not given must not replace what was given before it.
    default: Any = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--redis-url", metavar="URL", default=default,
        help="Redis to look at, instead of the location the redis.sessions.* settings give "
        "(for applications that configure their session factory in Python)",
    )
    parser.add_argument(
        "--prefix", default=default,
        help="key prefix of the sessions, instead of redis.sessions.prefix",
    )
    parser.add_argument(
        "--cluster", action="store_true", default=False if top else argparse.SUPPRESS,
        help="the Redis location is a node of a Redis Cluster (as redis.sessions.redis_cluster = true)",
    )


def _add_batch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch", type=_positive, default=DEFAULT_BATCH, metavar="N",
        help=f"SCAN COUNT, and so the size of each pipeline or UNLINK (default {DEFAULT_BATCH})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Count, inspect and purge the sessions an application keeps in Redis, "
        "reading its redis.sessions.* settings from its ini file as pshell does.",
        epilog="Exit status: 0 done, 1 not found or refused, 2 usage or settings error, 3 Redis failed.",
    )
    _add_common(parser, top=True)
    parser.add_argument("config_uri", help="the application's ini file, optionally with #section (default: main)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    stats = commands.add_parser("stats", help="count the sessions; size and TTL distributions")
    _add_common(stats, top=False)
    _add_batch(stats)
    stats.add_argument("--json", action="store_true", help="machine-readable output, for monitoring")

    for name, text in (("show", "show one session: TTL, size, times and data"), ("delete", "delete one session")):
        sub = commands.add_parser(name, help=text)
        _add_common(sub, top=False)
        sub.add_argument("id", metavar="ID", help="a session id, or the signed cookie value copied from a browser")

    purge = commands.add_parser("purge", help="delete every session under the prefix, after confirmation")
    _add_common(purge, top=False)
    _add_batch(purge)
    purge.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    purge.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    purge.add_argument("--no-count", action="store_true", help="skip the counting pass before the confirmation")
    purge.add_argument(
        "--all-keys-in-db", action="store_true",
        help="allow a purge with an empty prefix, which deletes every key of the database",
    )
    purge.add_argument(
        "--progress-every", type=_positive, default=DEFAULT_PROGRESS_EVERY, metavar="N",
        help=f"when stderr is not a terminal, a progress line every N batches (default {DEFAULT_PROGRESS_EVERY})",
    )
    return parser


_TAKES_VALUE = ("--redis-url", "--prefix")
_ID_COMMAND_OPTIONS = (*_TAKES_VALUE, "--cluster", "--help", "-h")


def protect_ids(argv: Sequence[str]) -> List[str]:
    """``argv`` with the ID of show and delete moved after a ``--`` when it starts with "-".

    Session ids and signed cookie values are base64url, and one in 64 starts
    with "-": argparse would take it for an option.
    """
    args = list(argv)
    words: List[str] = []  # config_uri, the command, the ID
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            break
        if arg in _TAKES_VALUE:
            i += 2
            continue
        if not arg.startswith("-") or arg == "-":
            words.append(arg)
        elif len(words) == 2 and words[1] in ("show", "delete") and arg.split("=", 1)[0] not in _ID_COMMAND_OPTIONS:
            return [*args[:i], *args[i + 1:], "--", arg]  # (options after the ID still count)
        i += 1
    return args


def _one_line(text: str) -> str:
    return " ".join(text.split())


def redis_error(exc: SessionBackendError) -> str:
    """The redis-py error behind ``exc``, on one line (its repr, in the message, can be as
    terse as ``network:ConnectionError``)."""
    cause = exc.__cause__
    return _one_line(f"{type(cause).__name__}: {cause}" if cause is not None else str(exc))


def _fail(err: TextIO, message: str) -> None:
    err.write(f"{PROG}: {message}\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    out, err, stdin = sys.stdout, sys.stderr, sys.stdin
    parser = build_parser()
    try:
        args = parser.parse_args(protect_ids(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help (0), or a usage error argparse has already printed (2)
        return exc.code if isinstance(exc.code, int) else USAGE
    try:
        target = load_target(args)
        try:
            if args.command == "stats":
                return cmd_stats(args, target, out, err)
            if args.command == "show":
                return cmd_show(args, target, out, err)
            if args.command == "delete":
                return cmd_delete(args, target, out, err)
            return cmd_purge(args, target, out, err, stdin)
        except SessionBackendError as exc:
            raise Failure(REDIS_FAILED, f"Redis error at {target.where}: {redis_error(exc)}") from None
    except Failure as failure:
        _fail(err, str(failure))
        return failure.status
    except KeyboardInterrupt:
        _fail(err, "interrupted")
        return INTERRUPTED


if __name__ == "__main__":  # pragma: no cover - run by the test that runs python -m pyramid_session_redis.cli
    raise SystemExit(main())
